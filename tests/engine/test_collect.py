"""Canvas's download as the grader reads it (grading.intake.collect), and everything made from records alone (grading.outputs.store,
publish, feedback, summary, merge): no submission's code runs here, so these tests are quick. The sandboxed round
trip on an archive made from the generated student version is tests/engine/test_canvas_grading.py."""

import csv
import json
import zipfile

import pytest

from conftest import zip_bytes
from grading import grade, merge
from grading.batch import pipeline
from grading.assignment import load as load_assignment
from grading.intake import canvas, collect, submissions
from grading.outputs import publish, results, store

HW = load_assignment()

NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
ENTRIES = {  # Canvas's top-level names -> content
    "garcialuis_48213_901_hw2.ipynb": NB,
    "garcialuis_48213_902_hw2_models.py": "# garcia",
    "garcialuis_48213_903_report.pdf": "%PDF",
    "leejisoo_48214_904_hw2.zip": {"HW2/HW2_JisooLee.ipynb": NB, "HW2/hw2_models.py": "# lee",
                                   "__MACOSX/HW2/._HW2_JisooLee.ipynb": "junk",
                                   "HW2/.ipynb_checkpoints/HW2_JisooLee-checkpoint.ipynb": NB},
    "moreauana_LATE_48215_905_hw2-1.ipynb": NB,
    "moreauana_LATE_48215_906_hw2_models.py": "# moreau",
    "kimmin_48216_907_Kim_HW2.ipynb": NB,  # the assignment's notebook, renamed, alone
    "kimmin_48216_908_.DS_Store": "junk",
    "parkjun_48217_909_hw2_models.py": "# park, loose: wins over the zip's",
    "parkjun_48217_910_hw2_submission.zip": {"hw2.ipynb": NB, "hw2_models.py": "# park, zipped"},
    "anon_Zq9_911_hw2.ipynb": NB,
}





def make_download(path, entries=ENTRIES):
    """Canvas's Download Submissions zip of ``entries`` at ``path`` (a nested dict is a zip the student uploaded)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, zip_bytes(content) if isinstance(content, dict) else content)
        archive.writestr("__MACOSX/._garcialuis_48213_901_hw2.ipynb", "junk")
    return path


@pytest.fixture(params=["zip", "folder", "nested folder"])
def download(request, tmp_path):
    archive = make_download(tmp_path / "submissions.zip")
    if request.param == "zip":
        return archive
    folder = tmp_path / "submissions"
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(folder / "submissions" if request.param == "nested folder" else folder)
    return folder


def _extracted(entries, name, tmp_path):
    entry = dict(entries)[name]
    workdir = tmp_path / name / "in"
    workdir.mkdir(parents=True)
    notes = []
    problems = collect.extract(entry, workdir, notes, tuple(HW.files.values()))
    return {p.name: p.read_text() for p in workdir.iterdir()}, problems, notes


def test_canvas_download_is_one_submission_per_user(download, tmp_path):
    entries, ignored = collect.find(download)
    assert [name for name, _ in entries] == ["anon_Zq9", "garcialuis_48213", "kimmin_48216", "leejisoo_48214",
                                             "moreauana_48215", "parkjun_48217"]
    assert ignored == []  # __MACOSX is never a submission nor worth a word
    meta = {name: collect.meta(entry) for name, entry in entries}
    assert meta["moreauana_48215"] == {"canvas_user_id": "48215", "late": True, "canvas_name": "moreauana",
                                       "canvas_attachment_id": "906", "source": collect.fingerprint(dict(entries)["moreauana_48215"])}
    assert meta["anon_Zq9"]["canvas_user_id"] == "anon_Zq9" and not meta["garcialuis_48213"]["late"]

    files, problems, notes = _extracted(entries, "garcialuis_48213", tmp_path)
    assert files == {"hw2.ipynb": NB, "hw2_models.py": "# garcia"} and problems == []
    assert notes == ["not graded (only hw2.ipynb and hw2_models.py are): report.pdf"]
    files, problems, notes = _extracted(entries, "leejisoo_48214", tmp_path)
    assert files == {"hw2.ipynb": NB, "hw2_models.py": "# lee"} and problems == []
    assert notes == ["hw2.zip: graded from HW2/HW2_JisooLee.ipynb, the only notebook (not named hw2.ipynb)"]
    files, problems, _ = _extracted(entries, "moreauana_48215", tmp_path)  # the re-upload's suffix undone
    assert files == {"hw2.ipynb": NB, "hw2_models.py": "# moreau"} and problems == []
    files, problems, notes = _extracted(entries, "kimmin_48216", tmp_path)
    assert files == {"hw2.ipynb": NB} and problems == ["no hw2_models.py in the submission"]
    assert notes == ["graded from Kim_HW2.ipynb, the only notebook uploaded (not named hw2.ipynb)"]
    files, problems, _ = _extracted(entries, "parkjun_48217", tmp_path)
    assert files == {"hw2.ipynb": NB, "hw2_models.py": "# park, loose: wins over the zip's"} and problems == []


def test_a_plain_folder_works_as_before_and_a_renamed_notebook_is_taken(tmp_path):
    folder = tmp_path / "plain"
    (folder / "alice" / ".ipynb_checkpoints").mkdir(parents=True)
    (folder / "alice" / "My HW2.ipynb").write_text(NB)
    (folder / "alice" / ".ipynb_checkpoints" / "hw2.ipynb").write_text("old")  # never the work
    (folder / "bob.zip").write_bytes(zip_bytes({"a.ipynb": NB, "b.ipynb": NB, "hw2_models.py": "x"}))
    entries, ignored = collect.find(folder)
    assert [name for name, _ in entries] == ["alice", "bob"] and ignored == []
    assert set(collect.meta(entries[0][1])) == {"source"}  # no Canvas fields
    files, problems, notes = _extracted(entries, "alice", tmp_path)
    assert files == {"hw2.ipynb": NB} and notes == ["graded from My HW2.ipynb, the only notebook (not named hw2.ipynb)"]
    files, problems, notes = _extracted(entries, "bob", tmp_path)  # two notebooks: which one is not guessed
    assert "hw2.ipynb" not in files and "no hw2.ipynb in the submission" in problems and notes == []


def test_the_outer_archive_is_read_with_the_bounds_of_any_zip(tmp_path, monkeypatch):
    archive = make_download(tmp_path / "submissions.zip")
    monkeypatch.setattr(submissions.settings, "_in_force", submissions.settings.Limits(zip_entries=5))
    with pytest.raises(ValueError, match="entries"):
        collect.find(archive)
    monkeypatch.undo()
    other = tmp_path / "other.zip"
    other.write_bytes(zip_bytes({"alice/hw2.ipynb": NB}))
    with pytest.raises(ValueError, match="none of its entries is named as Canvas names them"):
        collect.find(other)


def test_a_bomb_inside_the_download_costs_its_own_row_only(tmp_path, monkeypatch):
    monkeypatch.setattr(collect.settings, "_in_force", collect.settings.Limits(file_size=1000))
    archive = make_download(tmp_path / "s.zip", {"a_1_2_hw2.ipynb": "x" * 5000, "a_1_3_hw2_models.py": "# ok"})
    entries, _ = collect.find(archive)
    staged, copy = [], collect.submissions._copy_regular
    monkeypatch.setattr(collect.submissions, "_copy_regular",
                        lambda path, target: staged.append(path.stat().st_size) or copy(path, target))
    files, problems, _ = _extracted(entries, "a_1", tmp_path)
    assert staged == [4]  # the notebook was never written out of the archive whole: the copy stops at the limit
    assert files == {"hw2_models.py": "# ok"}
    assert "hw2.ipynb is larger than 0 MB" in problems and "no hw2.ipynb in the submission" in problems


def test_shards_are_stable_and_cover_every_name_once():
    names = [f"student{i}_{48000 + i}" for i in range(200)]
    shares = [[n for n in names if grade.in_shard(n, (k, 3))] for k in (1, 2, 3)]
    assert sorted(sum(shares, [])) == sorted(names) and all(shares)
    more = names + ["newcomer_49999"]
    assert [[n for n in more if grade.in_shard(n, (k, 3))] for k in (1, 2, 3)] == [
        s + (["newcomer_49999"] if grade.in_shard("newcomer_49999", (k, 3)) else []) for k, s in enumerate(shares, 1)]
    for bad in ["0/2", "3/2", "2", "a/b"]:
        with pytest.raises(ValueError, match="expected K/N"):
            grade.parse_shard(bad)


def test_only_takes_names_or_canvas_ids_and_names_what_it_cannot_match(tmp_path):
    entries, _ = collect.find(make_download(tmp_path / "s.zip"))
    assert [n for n, _ in grade.select(entries, ["48214", "anon_Zq9"])] == ["anon_Zq9", "leejisoo_48214"]
    with pytest.raises(ValueError, match="garcialuis_4821 is not a submission.*close names: garcialuis_48213"):
        grade.select(entries, ["garcialuis_4821"])


def test_a_mistyped_written_score_name_is_an_error_that_lists_close_names(tmp_path):
    path = tmp_path / "written_scores.csv"
    path.write_text("submission,hw1_comparison,vae_use_case\ngarcialuis_48312,1,2\n")
    with pytest.raises(ValueError, match="'garcialuis_48312' is not a submission.*close names: 'garcialuis_48213'"):
        results.read_written_scores(path, {"garcialuis_48213", "leejisoo_48214"}, HW)


# ------------------------------------------------------------------------------------------------
# From records alone: rows, feedback, summary, the Canvas import, shards joined
# ------------------------------------------------------------------------------------------------
EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (48200),Homework 2 (48213),Current Points
    Points Possible,,,,,10.00,15.00,(read only)
"Garcia, Luis",48213,G001,lgarcia,Design 101,9,,9
"Moreau, Ana",48215,M003,amoreau,Design 101,7,,7
"Nobody, Sam",48218,N004,snobody,Design 101,7,,7
"""


def record(name, user=None, late=False, earned=1.0, answers=None):
    """A record as the grader makes one: every automatic case passed but the first of lenet_layers (``earned``)."""
    found = [{"part": p.name, "case": "all", "points": p.points, "passed": True, "message": ""}
             for p in HW.automatic() if p.name != "lenet_layers"]
    found += [{"part": "lenet_layers", "case": "a", "points": 1, "passed": earned > 0, "message": "C1 is 3x3"},
              {"part": "lenet_layers", "case": "b", "points": 2, "passed": True, "message": ""}]
    made = {"name": name, "format": "kit", "notes": [], "problems": [], "results": found,
            "events": [{"event": "finished"}], "rejected": [], "timed_out": False, "returncode": 0, "seconds": 1.0,
            "log": "log of " + name, "answers": answers or {"hw1_comparison": "mine"}}
    if user:
        made.update(canvas_user_id=user, late=late, canvas_name=name.split("_")[0], canvas_attachment_id=user[::-1])
    return made


def _csv(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_records_give_rows_feedback_summary_and_the_canvas_import(tmp_path):
    out = tmp_path / "results"
    records = [record("garcialuis_48213", "48213", earned=0), record("moreauana_48215", "48215", late=True),
               record("strangerx_49999", "49999"), results.failed_record("broken", "copying the submission: OSError")]
    export = canvas.read_export(EXPORT)
    book = (export, canvas.choose_column(export, "48213"))
    written = {"garcialuis_48213": {"hw1_comparison": 1, "vae_use_case": 2}}
    rows, messages = publish.write(out, records, written, {"timeout": 60, "late_penalty": 0.1}, book, assignment=HW)
    by_name = {row["submission"]: row for row in rows}
    assert by_name["garcialuis_48213"]["total"] == "14" and by_name["garcialuis_48213"]["late"] == ""
    late = by_name["moreauana_48215"]
    assert (late["late"], late["late_penalty"], late["total"], late["canvas_user_id"]) == ("late", "1.2", "10.8", "48215")
    imported = _csv(out / "canvas_import.csv")
    assert imported[0][-1] == "Homework 2 (48213)" and imported[1][-1] == "15"
    assert [(r[1], r[-1]) for r in imported[2:]] == [("48213", "14"), ("48215", "10.8"), ("48218", "")]
    assert any("strangerx_49999" in m and "left out" in m for m in messages)
    assert any("automatic points only" in m for m in messages)  # moreauana's written parts are not merged
    page = (out / "feedback" / "garcialuis_48213.html").read_text()
    assert "a (1 pt): not earned: C1 is 3x3" in page and "Total: 14 / 15" in page and "scored by your instructor" in page
    assert "def " not in page and "assert" not in page  # the checks' words, never their source
    with zipfile.ZipFile(out / "feedback_for_canvas.zip") as archive:
        names = archive.namelist()
    assert names == ["garcialuis_48213_31284_feedback.html", "moreauana_LATE_48215_51284_feedback.html",
                     "strangerx_49999_99994_feedback.html"]  # each with an attachment id of its student's
    page = (out / "summary.html").read_text()
    assert "data:image/png;base64," in page and "<td>lenet_layers</td><td>3</td><td>2.00</td><td>1</td>" in page
    failed = page.split("Could not be graded")[1]
    assert "<strong>broken</strong>: the grader failed on this submission (copying the submission: OSError)" in failed
    assert "garcialuis" not in failed


def test_grading_again_keeps_the_other_rows_and_shards_join_as_one_run(tmp_path):
    records = [record(f"s{i}_{48300 + i}", str(48300 + i), earned=i % 2) for i in range(6)]
    one = tmp_path / "one"
    for r in records:
        store.save(one, r)
    rows, _ = publish.write(one, list(store.load(one).values()), {}, {"timeout": 60}, assignment=HW)
    shards = [tmp_path / f"shard{k}" for k in (1, 2)]
    for r in records:
        store.save(shards[0] if grade.in_shard(r["name"], (1, 2)) else shards[1], r)
    assert merge.main([str(s) for s in shards] + ["--out", str(tmp_path / "joined")]) == 0
    assert _csv(tmp_path / "joined" / "grades.csv") == _csv(one / "grades.csv")
    assert (tmp_path / "joined" / "logs" / "s1_48301.txt").read_text() == "log of s1_48301"
    store.save(shards[1], records[0] if not grade.in_shard(records[0]["name"], (1, 2)) else records[1])
    store.save(shards[0], records[0] if not grade.in_shard(records[0]["name"], (1, 2)) else records[1])
    with pytest.raises(SystemExit):  # one submission graded in two shards: which row is right is not guessed
        merge.main([str(s) for s in shards] + ["--out", str(tmp_path / "twice")])
    saved = json.loads((one / "records" / "s0_48300.json").read_text())
    assert saved == records[0] and not list((one / "records").glob(".*"))  # whole, and no partial file left


def test_merging_written_scores_runs_only_what_changed_since_its_record(tmp_path, monkeypatch):
    folder = tmp_path / "subs"
    for name in ["alice", "bob"]:
        (folder / name).mkdir(parents=True)
        (folder / name / "hw2.ipynb").write_text(NB)
    ran = []

    def grade_one(index, name, entry, scratch, options, assignment):  # what the sandbox would report, without running it
        ran.append(name)
        return {**record(name), **collect.meta(entry)}

    monkeypatch.setattr(pipeline, "grade_one", grade_one)
    monkeypatch.setattr(grade.isolation, "problem", lambda: None)
    out = tmp_path / "out"
    grade.grade(folder, out, quiet=True)
    scores = tmp_path / "written_scores.csv"
    scores.write_text("submission,hw1_comparison,vae_use_case\nalice,1,2\n")
    messages = []
    rows, _ = grade.grade(folder, out, scores, quiet=True, messages=messages)
    assert ran == ["alice", "bob"] and [r["total"] for r in rows] == ["15", "12"] and messages == []
    (folder / "bob" / "hw2_models.py").write_text("# handed in late")  # bob's submission changed since its record
    rows, _ = grade.grade(folder, out, scores, quiet=True, messages=messages)
    assert ran == ["alice", "bob", "bob"] and messages == ["graded again, changed since their records: bob"]
    assert rows[1]["canvas_user_id"] == "" and rows[1]["late"] == ""  # a plain folder: no Canvas columns


def test_a_new_upload_changes_a_canvas_submissions_fingerprint(tmp_path):
    before = dict(collect.find(make_download(tmp_path / "a.zip"))[0])
    after = dict(collect.find(make_download(tmp_path / "b.zip", {**ENTRIES, "leejisoo_48214_990_hw2.ipynb": NB}))[0])
    changed = [name for name in before if collect.fingerprint(before[name]) != collect.fingerprint(after[name])]
    assert changed == ["leejisoo_48214"]
