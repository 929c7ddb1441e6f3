"""A second assignment proves the seam: ``examples/tiny`` (one class, one function, one notebook variable, one written
question)
goes end to end through the same engine as HW2, with no line of the engine written for it: its student version
generated, its public checks run on a kernel's variables, a correct, a wrong and an untouched submission graded in
the real sandbox from a Canvas download, then grades.csv, the feedback pages, the written-answer page and the Canvas
import written, and the written scores merged without running code again.
"""

import csv
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from casekit import kernel
from conftest import zip_bytes
from grading.assignment import AssignmentError, load as load_assignment
from grading import grade as grading
from grading.student import aids
from grading.student import make as ms
from grading.sandbox import isolation
from grading.settings import Limits

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "tiny"
EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,Tiny (5001),Current Points
    Points Possible,,,,,5.00,(read only)
"Right, Ann",501,R001,aright,Design 101,,0
"Wrong, Bo",502,W002,bwrong,Design 101,,0
"Blank, Cy",503,B003,cblank,Design 101,,0
"""
WRONG_FORWARD = ("        y = self.linear(x)\n", "        y = torch.relu(self.linear(x))\n")
MISCOUNT = ("    return count\n", "    return count + len(list(model.parameters())) * 2\n")  # 15 + 2 * 2


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def tiny():
    return load_assignment(TINY)


@pytest.fixture(scope="module")
def student(tiny, tmp_path_factory):
    """The student version (as ``python -m grading.student --assignment examples/tiny --out DIR`` writes it) and
    its blanks filled back: (folder, student notebook, student module, solved sources, solved module)."""
    out = tmp_path_factory.mktemp("tiny") / "student"
    assert ms.main(["--assignment", str(TINY), "--out", str(out)]) == 0
    nb = nbformat.read(out / "tiny.ipynb", as_version=4)
    module = (out / "tiny_models.py").read_text()
    sources, filled = ms.fill_back(nb, module, nbformat.read(TINY / "tiny.ipynb", as_version=4), assignment=tiny)
    return out, nb, module, sources, filled


def _notebook(student, answer="My own answer."):
    """The student notebook with every blank filled (the solved sources) and the question answered."""
    _, nb, _, sources, _ = student
    nb = nbformat.from_dict(nb)
    solved = iter(sources)
    for cell in nb.cells:
        if ms.STUDENT_NOTE_TAG not in _tags(cell):
            cell.source = answer if "answer" in _tags(cell) else next(solved)
    return nb


def test_the_student_version_is_generated_from_the_folder(tiny, student):
    out, nb, module, _, filled = student
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["README.md", "casekit/__init__.py", "casekit/data.py", "casekit/handin.py", "casekit/kernel.py",
                     "casekit/source.py", "casekit/student.py", "checking/assignment.json", "checking/public_cases.py",
                     "requirements.txt", "tiny.ipynb", "tiny_models.py"]
    assert "nn.Linear(_, _)" in module and "self.linear(_)" in module and "twice the identity" not in module
    assert "count = sum(_)" in module
    assert filled == ms.solved_module(assignment=tiny)
    checks = [c.source for c in nb.cells if aids.CHECK_TAG in _tags(c)]
    assert checks == ['tiny.check("doubler")', 'tiny.check("net")', 'tiny.check("count_parameters")']
    assert nb.cells[-1].source.endswith("tiny.make_submission()") and aids.SUBMISSION_TAG in _tags(nb.cells[-1])
    assert [c.source for c in nb.cells if "answer" in _tags(c)] == [ms.EMPTY_ANSWER]  # one per written part
    assert any(c.source.startswith(f"net = {ms.YOUR_CODE}") for c in nb.cells)
    readme = (out / "README.md").read_text()
    assert "(5 points)" in readme and "| `doubler` | 2 | `tiny_models.py`, class `Doubler` |" in readme
    assert "| `count_parameters` | 1 | `tiny_models.py`, function `count_parameters` |" in readme
    text = "\n".join(c.source for c in nb.cells) + readme
    assert "Doubler()" not in text and "**Answer.**" not in text and "hidden_cases" not in " ".join(files)


def test_the_public_checks_run_on_a_kernels_variables(student, monkeypatch, capsys):
    out, nb, module, _, filled = student
    monkeypatch.syspath_prepend(str(out))
    monkeypatch.chdir(out)  # a notebook's kernel runs in the notebook's folder: Homework() reads checking/ there
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # the shipped toolkit's import hook ends with the test
    for name in ("tiny_models", "casekit", "casekit.kernel", "casekit.student", "casekit.source", "casekit.handin",
                 "casekit.data"):  # the shipped copies import here
        monkeypatch.delitem(sys.modules, name, raising=False)

    def kernel_state(module_text, notebook):
        """The variables of a kernel that ran ``notebook``'s code cells (a failing cell leaves its names undefined),
        with ``tiny_models`` imported from ``module_text``."""
        (out / "tiny_models.py").write_text(module_text)
        spec = importlib.util.spec_from_file_location("tiny_models", out / "tiny_models.py")
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        monkeypatch.setitem(sys.modules, "tiny_models", loaded)
        namespace = {"__name__": "__main__"}
        for cell in notebook.cells:
            if cell.cell_type == "code" and ms.STUDENT_NOTE_TAG not in _tags(cell):
                try:
                    exec(cell.source, namespace)
                except Exception:
                    pass
        return namespace

    solved = kernel_state(filled, _notebook(student))
    for part in ("doubler", "net", "count_parameters"):
        assert [status for status, _, _ in kernel.results(out / "checking", part, solved)] == [kernel.PASSED], part
    exec('tiny.check("net")', solved)  # the check cell, through the shipped toolkit and the shipped kernel runner
    assert Path(sys.modules["casekit.kernel"].__file__).is_relative_to(out)
    assert Path(sys.modules["casekit.student"].__file__).is_relative_to(out)
    assert "Public checks of net (1 point): all passed" in capsys.readouterr().out

    wrong = kernel_state(filled.replace(*WRONG_FORWARD), _notebook(student))
    assert [s for s, _, _ in kernel.results(out / "checking", "doubler", wrong)] == [kernel.PASSED]  # the layer is right
    assert [s for s, _, _ in kernel.results(out / "checking", "count_parameters", wrong)] == [kernel.PASSED]
    (status, _, message), = kernel.results(out / "checking", "net", wrong)
    assert (status, message) == (kernel.FAILED, "net(x) is not 2 * x")

    miscounted = kernel_state(filled.replace(*MISCOUNT), _notebook(student))
    (status, _, message), = kernel.results(out / "checking", "count_parameters", miscounted)
    assert (status, message) == (kernel.FAILED, "count_parameters(nn.Linear(4, 3)) is 19, expected 15: count every "
                                                "parameter's elements")

    untouched = kernel_state(module, nb)
    for part in ("doubler", "net", "count_parameters"):
        (status, _, message), = kernel.results(out / "checking", part, untouched)
        assert status == kernel.UNFINISHED, (part, message)
    assert "still has a blank `_`" in kernel.results(out / "checking", "doubler", untouched)[0][2]
    (out / "tiny_models.py").write_text(module)


@pytest.fixture(scope="module")
def graded(student, tmp_path_factory):
    if isolation.problem() is not None:
        pytest.skip(f"no sandbox here: {isolation.problem()}")
    out, nb, module, _, filled = student
    base = tmp_path_factory.mktemp("tiny_grading")
    right = nbformat.writes(_notebook(student))
    entries = {
        "rightann_501_901_tiny.ipynb": right, "rightann_501_902_tiny_models.py": filled,
        "wrongbo_502_903_tiny.zip": zip_bytes({"tiny/tiny.ipynb": right,
                                               "tiny/tiny_models.py": filled.replace(*WRONG_FORWARD)}),
        "blankcy_503_904_tiny_submission.zip": zip_bytes({"tiny.ipynb": (out / "tiny.ipynb").read_text(),
                                                          "tiny_models.py": module}),
    }
    archive = base / "submissions.zip"
    archive.write_bytes(zip_bytes(entries))
    export = base / "export.csv"
    export.write_text(EXPORT)
    results, messages = base / "results", []
    rows, records = grading.grade(archive, results, assignment_folder=str(TINY), gradebook=export, messages=messages, jobs=1,
                                  limits=Limits(timeout=60, cell_timeout=20), quiet=True)
    return {"archive": archive, "export": export, "out": results, "rows": {r["submission"]: r for r in rows},
            "records": {r["name"]: r for r in records}, "messages": messages}


def test_each_submission_earns_what_its_cases_say(graded):
    rows = graded["rows"]
    found = {name: (row["doubler"], row["net"], row["count_parameters"], row["automatic"]) for name, row in rows.items()}
    assert found == {"rightann_501": ("2", "1", "1", "4"), "wrongbo_502": ("1", "0", "1", "2"),
                     "blankcy_503": ("0", "0", "0", "0")}
    assert [r["submission"] for r in _csv(graded["out"] / "grades.csv")] == ["blankcy_503", "rightann_501", "wrongbo_502"]
    cases = {(r["case"], r["public"], r["passed"]) for r in graded["records"]["wrongbo_502"]["results"]}
    assert ("Doubler's layer: linear is nn.Linear(4, 4)", True, True) in cases
    assert ("Doubler computes what the reference Doubler computes, on the grader's weights", False, False) in cases
    assert graded["records"]["rightann_501"]["answers"] == {"why_linear": "My own answer."}


def test_feedback_answers_and_the_canvas_import_are_written(graded):
    out = graded["out"]
    page = (out / "feedback" / "wrongbo_502.html").read_text()
    assert "net(x) is not 2 * x" in page and "Doubler" in page
    answers = (out / "written_why_linear.html").read_text()
    assert "My own answer." in answers and "Doubling is linear" in answers  # beside the solved notebook's answer
    imported = list(csv.reader(open(out / "canvas_import.csv", newline="")))
    assert imported[0][-1] == "Tiny (5001)" and imported[1][-1] == "5"
    assert [(r[1], r[-1]) for r in imported[2:]] == [("501", "4"), ("502", "2"), ("503", "0")]
    assert any("automatic points only" in m for m in graded["messages"])
    assert (out / "summary.html").is_file() and (out / "feedback_for_canvas.zip").is_file()


def test_written_scores_merge_into_the_totals_without_running_code(graded, tmp_path):
    scores = tmp_path / "written_scores.csv"
    scores.write_text("submission,why_linear\nrightann_501,1\nwrongbo_502,0.5\nblankcy_503,0\n")
    rows, _ = grading.grade(graded["archive"], graded["out"], written_scores=scores, assignment_folder=str(TINY),
                            gradebook=graded["export"], jobs=1, limits=Limits(timeout=60, cell_timeout=20), quiet=True)
    assert {r["submission"]: r["total"] for r in rows} == {"rightann_501": "5", "wrongbo_502": "2.5", "blankcy_503": "0"}
    imported = list(csv.reader(open(graded["out"] / "canvas_import.csv", newline="")))
    assert [(r[1], r[-1]) for r in imported[2:]] == [("501", "5"), ("502", "2.5"), ("503", "0")]


def test_an_assignment_whose_cases_disagree_with_its_points_is_refused_before_anything_runs(tmp_path):
    folder = tmp_path / "tiny"
    shutil.copytree(TINY, folder)
    spec = json.loads((folder / "assignment.json").read_text())
    next(part for part in spec["parts"] if part["name"] == "net")["points"] = 2
    (folder / "assignment.json").write_text(json.dumps(spec))
    with pytest.raises(AssignmentError, match="cases award 1 points to net; assignment.json gives it 2"):
        grading.grade(tmp_path / "none", tmp_path / "results", assignment_folder=str(folder), quiet=True)
    assert ms.main(["--assignment", str(folder), "--out", str(tmp_path / "student")]) == 1
    assert not (tmp_path / "results").exists() and not (tmp_path / "student").exists()
