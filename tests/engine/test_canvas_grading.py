"""From Canvas to Canvas, sandboxed, on a Download Submissions zip made from the GENERATED student version: loose
files, a zip with a renamed notebook, a late re-upload with one mistake, the assignment's own notebook renamed and
alone, the kit's hand-in zip (untouched), an anonymous student not in the gradebook; the export also lists a student
who submitted nothing. Graded once (module-scoped fixture); then one student again (--only), the written scores
merged without running code, and two shards joined, compared with the one run."""

import csv
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import zip_bytes
from grading import merge
from grading.judge import session
from grading import grade as grading
from grading.batch import pipeline
from grading.settings import Limits

REPO = Path(__file__).resolve().parents[2]


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])

EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (48200),Homework 2 (48213),Current Points
    Points Possible,,,,,10.00,15.00,(read only)
"Garcia, Luis",48213,G001,lgarcia,Design 101,9,,9
"Lee, Jisoo",48214,L002,jlee,Design 101,9,,9
"Moreau, Ana",48215,M003,amoreau,Design 101,7,,7
"Kim, Min",48216,K004,mkim,Design 101,7,,7
"Park, Jun",48217,P005,jpark,Design 101,7,,7
"Nobody, Sam",48218,N006,snobody,Design 101,7,,7
"""
pytestmark = pytest.mark.slow  # every test reads the sandboxed run of the download
OPTIONS = {"jobs": 2, "limits": Limits(timeout=75, cell_timeout=20), "quiet": True}
FULL_AUTO = "12"





def build(base, student=None):
    """(Canvas's Download Submissions zip, its gradebook export) in the folder ``base``, made from ``student`` (the
    session's student version, or one generated in ``base``)."""
    import assignment_notebooks as an
    import hw2_submissions

    student = student or hw2_submissions.student_version(base)
    solved_path, out, module = student["solved_path"], student["out"], student["module"]
    sources, filled, kept = student["sources"], student["filled"], student["kept"]
    cells = []
    for cell, text in zip(kept, sources):
        cell = nbformat.from_dict(dict(cell))
        cell.source = "My own answer." if "answer" in _tags(cell) else text
        cells.append(cell)
    full = nbformat.writes(nbformat.v4.new_notebook(cells=cells))
    untouched = (out / "hw2.ipynb").read_text()
    c1_kernel_3 = filled.replace("nn.Conv2d(1, 6, kernel_size=5, stride=1)", "nn.Conv2d(1, 6, kernel_size=3, stride=1)")
    assert c1_kernel_3 != filled
    assignment = nbformat.writes(an.fill(an.assignment_notebook(), an.solution_fills(solved_path)))
    entries = {
        "garcialuis_48213_901_hw2.ipynb": full, "garcialuis_48213_902_hw2_models.py": filled,
        "garcialuis_48213_903_report.pdf": "%PDF-1.4",
        "leejisoo_48214_904_HW2.zip": zip_bytes({"HW2/HW2_JisooLee.ipynb": full, "HW2/hw2_models.py": filled,
                                            "__MACOSX/HW2/._HW2_JisooLee.ipynb": "junk"}),
        "moreauana_LATE_48215_905_hw2-1.ipynb": full, "moreauana_LATE_48215_906_hw2_models.py": c1_kernel_3,
        "kimmin_48216_907_HW2_Kim.ipynb": assignment,
        "parkjun_48217_908_hw2_submission.zip": zip_bytes({"hw2.ipynb": untouched, "hw2_models.py": module}),
        "anon_Zq9_909_hw2.ipynb": full, "anon_Zq9_910_hw2_models.py": filled,
    }
    archive = base / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as opened:
        for name, content in entries.items():
            opened.writestr(name, content)
        opened.writestr(".DS_Store", "junk")
    export = base / "export.csv"
    export.write_text(EXPORT)
    return archive, export


@pytest.fixture(scope="module")
def download(tmp_path_factory, student_version):
    """Canvas's zip, its gradebook export and the one run's results."""
    base = tmp_path_factory.mktemp("canvas")
    archive, export = build(base, student_version)
    results = base / "results"
    messages = []
    rows, records = grading.grade(archive, results, gradebook=export, column="Homework 2", late_penalty=0.1,
                                  messages=messages, **OPTIONS)
    return {"archive": archive, "export": export, "out": results, "rows": {r["submission"]: r for r in rows},
            "records": records, "messages": messages}


def _csv(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_each_student_is_one_row_graded_as_uploaded(download):
    rows = download["rows"]
    assert sorted(rows) == ["anon_Zq9", "garcialuis_48213", "kimmin_48216", "leejisoo_48214", "moreauana_48215",
                            "parkjun_48217"]
    for name in ["garcialuis_48213", "leejisoo_48214", "kimmin_48216", "anon_Zq9"]:
        assert rows[name]["automatic"] == FULL_AUTO, (name, rows[name]["status"])
    assert "report.pdf" in rows["garcialuis_48213"]["status"]
    assert "graded from HW2/HW2_JisooLee.ipynb" in rows["leejisoo_48214"]["status"]
    assert "graded from HW2_Kim.ipynb" in rows["kimmin_48216"]["status"]
    record = next(r for r in download["records"] if r["name"] == "leejisoo_48214")
    assert record["answers"]["hw1_comparison"] == "My own answer."  # the renamed notebook's answers are read
    late = rows["moreauana_48215"]
    assert (late["lenet_layers"], late["automatic"], late["late"], late["late_penalty"], late["total"]) == (
        "1", "10", "late", "1", "9")  # C1's size costs the public parameter count and the hidden C1 case
    assert rows["parkjun_48217"]["automatic"] == "0" and rows["garcialuis_48213"]["canvas_user_id"] == "48213"


def test_the_import_canvas_reads_and_the_feedback(download):
    out = download["out"]
    imported = _csv(out / "canvas_import.csv")
    assert imported[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 2 (48213)"]
    assert [(r[1], r[-1]) for r in imported[2:]] == [("48213", "12"), ("48214", "12"), ("48215", "9"),
                                                     ("48216", "12"), ("48217", "0"), ("48218", "")]
    assert any("anon_Zq9" in m and "left out" in m for m in download["messages"])
    assert any("automatic points only" in m for m in download["messages"])
    page = (out / "feedback" / "moreauana_48215.html").read_text()
    assert "expected (1, 6, (5, 5)" in page and "Late: 1 point(s) off" in page
    assert "checkhelpers" not in page and "def " not in page
    with zipfile.ZipFile(out / "feedback_for_canvas.zip") as archive:
        assert "moreauana_LATE_48215_906_feedback.html" in archive.namelist()  # her latest upload's attachment id
    assert "could not be graded" in (out / "summary.html").read_text().lower()


def test_grading_one_again_keeps_every_other_row_and_file(download, tmp_path):
    out = download["out"]
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and "moreauana" not in p.name}
    rows, _ = grading.grade(download["archive"], out, only=["48215"], late_penalty=0.1, **OPTIONS)
    assert {r["submission"]: r for r in rows} == download["rows"]
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and "moreauana" not in p.name}
    kept = [p for p in before if p.parts[0] in ("details", "logs", "records", "feedback")]
    assert kept and all(after[p] == before[p] for p in kept)
    assert (out / "logs" / "moreauana_48215.txt").exists()


def test_written_scores_merge_without_running_code_and_name_a_mistyped_name(download, monkeypatch, tmp_path):
    scores = tmp_path / "written_scores.csv"
    scores.write_text("submission,hw1_comparison,vae_use_case\ngarcialuis_48213,1,2\nmoreauana_48215,1,1\n")

    def refuse(*args, **kwargs):
        raise AssertionError("a submission's code ran again")

    monkeypatch.setattr(session, "grade_submission", refuse)
    monkeypatch.setattr(pipeline, "IN_PROCESS", True)  # were any graded, it would be here, where refuse is
    started = time.monotonic()
    rows, _ = grading.grade(download["archive"], download["out"], scores, late_penalty=0.1,
                            gradebook=download["export"], column="48213", **OPTIONS)
    assert time.monotonic() - started < 30
    by_name = {r["submission"]: r for r in rows}
    assert by_name["garcialuis_48213"]["total"] == "15" and by_name["moreauana_48215"]["total"] == "10.8"
    assert by_name["leejisoo_48214"]["automatic"] == FULL_AUTO  # every other row kept
    imported = {r[1]: r[-1] for r in _csv(download["out"] / "canvas_import.csv")[2:]}
    assert imported["48213"] == "15" and imported["48215"] == "10.8"
    scores.write_text("submission,hw1_comparison,vae_use_case\ngarcialuis_48231,1,2\n")
    with pytest.raises(ValueError, match="'garcialuis_48231' is not a submission.*close names: 'garcialuis_48213'"):
        grading.grade(download["archive"], download["out"], scores, **OPTIONS)


def test_shards_joined_are_the_one_run(download, tmp_path):
    shards = [tmp_path / f"results-{k}" for k in (1, 2)]
    for k, out in enumerate(shards, 1):
        grading.grade(download["archive"], out, shard=(k, 2), late_penalty=0.1, **OPTIONS)
    assert all(list((out / "records").glob("*.json")) for out in shards)  # each shard graded some
    assert merge.main([*map(str, shards), "--out", str(tmp_path / "joined"), "--late-penalty", "0.1"]) == 0
    # (no --timeout: each record keeps the time limit it was graded under)
    with open(tmp_path / "joined" / "grades.csv", newline="") as handle:
        joined = list(csv.DictReader(handle))
    assert joined == sorted(download["rows"].values(), key=lambda r: r["submission"])  # the module's one run
