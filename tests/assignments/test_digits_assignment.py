"""The second example, ``examples/digits`` (a DataLoader over the shipped MNIST, a class, a graded function, a short
training run in quick mode and a written question), end to end as a new homework goes: the self-test's checks that
run nothing pass (its runs, a kernel and five gradings, take minutes: this file makes its own and checks more), the
student version is generated, its notebook runs in a Jupyter kernel (the public check cells pass on the solution
filled back and say what is unfinished on the untouched version), and a Canvas download (a correct, a
one-layer-wrong, a wrong-count_parameters and an untouched submission) is graded in the real sandbox, with grades.csv
and the Canvas import written.
"""

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from conftest import zip_bytes
from grading import grade as grading
from grading.assignment import load as load_assignment
from grading.sandbox import isolation
from grading.settings import Limits
from grading.student import aids
from grading.student import make as ms

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "examples" / "digits"
EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,Digits (6001),Current Points
    Points Possible,,,,,7.00,(read only)
"Right, Ann",601,R001,aright,Design 101,,0
"Layer, Bo",602,L002,blayer,Design 101,,0
"Count, Cy",603,C003,ccount,Design 101,,0
"Blank, Di",604,B004,dblank,Design 101,,0
"""
# the mistakes: conv1 without its padding (fc then gets 16x6x6 numbers, not 784), and the parameter tensors counted
# instead of their numbers
NO_PADDING = ("nn.Conv2d(1, width, 3, padding=1)", "nn.Conv2d(1, width, 3)")
TENSORS_COUNTED = ("sum([p.numel() for p in model.parameters()])", "len(list(model.parameters()))")
# the quick mode, the figures as Jupyter shows them (the tests' own Agg would drop them), and one thread: torch's
# threads spin against each other on a shared machine
ANSWER = "The filters are shared across positions."
KERNEL = {"DIGITS_QUICK": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline", "OMP_NUM_THREADS": "1"}


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _printed(cell):
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def _checks(nb):
    """{part: what its check cell printed} of an executed student notebook."""
    return {cell.source.split('"')[1]: _printed(cell) for cell in nb.cells if aids.CHECK_TAG in _tags(cell)}


def _execute(nb, folder, monkeypatch):
    """``nb`` executed (errors allowed, as a student's Run All leaves them) in a Jupyter kernel working in ``folder``,
    in quick mode; written there as the notebook a student saves."""
    from nbclient import NotebookClient

    for key, value in KERNEL.items():
        monkeypatch.setenv(key, value)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    nbformat.write(nb, Path(folder) / "digits.ipynb")
    return nb


def test_the_self_test_passes():
    from grading import selftest

    assert selftest.main(["--assignment", str(DIGITS), "--static"]) == 0


@pytest.fixture(scope="module")
def digits():
    return load_assignment(DIGITS)


@pytest.fixture(scope="module")
def student(digits, tmp_path_factory):
    """The student version (``python -m grading.student --assignment examples/digits --out DIR``) and its blanks
    filled back: (folder, student notebook, student module, solved sources, solved module)."""
    out = tmp_path_factory.mktemp("digits") / "student"
    assert ms.main(["--assignment", str(DIGITS), "--out", str(out)]) == 0
    nb = nbformat.read(out / "digits.ipynb", as_version=4)
    module = (out / "digits_models.py").read_text()
    sources, filled = ms.fill_back(nb, module, nbformat.read(DIGITS / "digits.ipynb", as_version=4), assignment=digits)
    return out, nb, module, sources, filled


def _filled(student):
    """The student notebook with every blank filled (the solved sources) and the question answered."""
    _, nb, _, sources, _ = student
    nb = nbformat.from_dict(nb)
    solved = iter(sources)
    for cell in nb.cells:
        if ms.STUDENT_NOTE_TAG not in _tags(cell):
            cell.source = ANSWER if "answer" in _tags(cell) else next(solved)
    return nb


def test_the_student_version_is_generated_from_the_folder(digits, student):
    out, nb, module, _, filled = student
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and "casekit" not in p.parts)
    mnist = [f"data/MNIST/raw/{name}-ubyte.gz" for name in ("t10k-images-idx3", "t10k-labels-idx1",
                                                             "train-images-idx3", "train-labels-idx1")]
    assert files == ["README.md", "checking/assignment.json", "checking/public_cases.py", *mnist, "data/README.md",
                     "digits.ipynb", "digits_models.py", "requirements.txt"]
    assert (out / "casekit" / "student.py").is_file()  # the checks, the hand-in and the dataset, shipped with it
    assert "nn.Conv2d(_, _, _, padding=_)" in module and "nn.Linear(_, _)" in module and "sum(_)" in module
    assert "2 * width * 7 * 7" not in module and filled == ms.solved_module(assignment=digits)
    checks = [c.source for c in nb.cells if aids.CHECK_TAG in _tags(c)]
    assert checks == ['digits.check("small_cnn")', 'digits.check("count_parameters")', 'digits.check("dataloader")']
    assert nb.cells[-1].source.endswith("digits.make_submission()") and aids.SUBMISSION_TAG in _tags(nb.cells[-1])
    assert [c.source for c in nb.cells if "answer" in _tags(c)] == [ms.EMPTY_ANSWER]
    assert any(c.source.startswith(f"training_dataloader = {ms.YOUR_CODE}") for c in nb.cells)
    readme = (out / "README.md").read_text()
    assert "(7 points)" in readme and "| `count_parameters` | 1 | `digits_models.py`" in readme
    text = "\n".join(c.source for c in nb.cells) + readme
    assert "**Answer.**" not in text and "shuffle=True" not in text and "hidden_cases" not in " ".join(files)


@pytest.fixture(scope="module")
def kernels(student, tmp_path_factory):
    """The student version run in a Jupyter kernel in quick mode, twice: with the solution filled back (and the
    question answered), then untouched. {"solved": notebook, "untouched": notebook}, each saved in its own copy."""
    out, nb, module, _, filled = student
    found = {}
    with pytest.MonkeyPatch.context() as patch:
        runs = (("solved", _filled(student), filled), ("untouched", nbformat.from_dict(nb), module))
        for name, notebook, text in runs:
            folder = tmp_path_factory.mktemp(name) / "student"
            shutil.copytree(out, folder)
            (folder / "digits_models.py").write_text(text)
            found[name] = _execute(notebook, folder, patch)
    return found


@pytest.mark.slow
def test_the_public_checks_pass_in_a_kernel_on_the_solution(kernels):
    checks = _checks(kernels["solved"])
    assert list(checks) == ["small_cnn", "count_parameters", "dataloader"]
    for part, printed in checks.items():
        assert f"Public checks of {part} (" in printed and "all passed" in printed, printed
    errors = [o for c in kernels["solved"].cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    assert any("image/png" in o.get("data", {}) for c in kernels["solved"].cells for o in c.get("outputs", []))


@pytest.mark.slow
def test_the_public_checks_say_what_is_unfinished_on_the_student_version(kernels):
    checks = _checks(kernels["untouched"])
    assert "not finished" in checks["dataloader"] and "`training_dataloader` is not defined yet" in checks["dataloader"]
    assert "not finished" in checks["small_cnn"] and "SmallCNN still has a blank `_`" in checks["small_cnn"]
    assert "not finished" in checks["count_parameters"]
    assert "count_parameters still has a blank `_`" in checks["count_parameters"]


@pytest.fixture(scope="module")
def graded(student, kernels, tmp_path_factory):
    if isolation.problem() is not None:
        pytest.skip(f"no sandbox here: {isolation.problem()}")
    out, nb, module, _, filled = student
    base = tmp_path_factory.mktemp("digits_grading")
    right = nbformat.writes(kernels["solved"])  # handed in as a student saves it: with its outputs
    entries = {
        "rightann_601_901_digits_submission.zip": zip_bytes({"digits.ipynb": right, "digits_models.py": filled}),
        "layerbo_602_902_digits.ipynb": right,
        "layerbo_602_903_digits_models.py": filled.replace(*NO_PADDING),
        "countcy_603_904_digits.zip": zip_bytes({"digits/digits.ipynb": right,
                                                 "digits/digits_models.py": filled.replace(*TENSORS_COUNTED)}),
        "blankdi_604_905_digits_submission.zip": zip_bytes({"digits.ipynb": (out / "digits.ipynb").read_text(),
                                                            "digits_models.py": module}),
    }
    archive = base / "submissions.zip"
    archive.write_bytes(zip_bytes(entries))
    export = base / "export.csv"
    export.write_text(EXPORT)
    results, messages = base / "results", []
    rows, records = grading.grade(archive, results, assignment_folder=str(DIGITS), gradebook=export, messages=messages,
                                  jobs=1, limits=Limits(timeout=90, cell_timeout=30), quiet=True)
    return {"out": results, "rows": {r["submission"]: r for r in rows}, "records": {r["name"]: r for r in records},
            "messages": messages}


def test_each_submission_earns_what_its_cases_say(graded):
    found = {name: (row["dataloader"], row["small_cnn"], row["count_parameters"], row["automatic"])
             for name, row in graded["rows"].items()}
    assert found == {"rightann_601": ("1", "3", "1", "5"), "layerbo_602": ("1", "0", "1", "2"),
                     "countcy_603": ("1", "3", "0", "4"), "blankdi_604": ("0", "0", "0", "0")}
    failed = {r["case"]: r["message"] for r in graded["records"]["layerbo_602"]["results"] if not r["passed"]}
    assert "SmallCNN.conv1: (in, out, kernel, stride, padding) is (1, 8, (3, 3), (1, 1), (0, 0))" \
        in "".join(failed.values())
    counted = [r["message"] for r in graded["records"]["countcy_603"]["results"] if not r["passed"]]
    assert counted == ["count_parameters(DenseNet()) is 4; DenseNet() holds 79,510 parameters",
                       "count_parameters(DenseNet(32)) is 4; DenseNet(32) holds 25,450 parameters"]
    assert graded["records"]["rightann_601"]["answers"] == {"convolution_saves": ANSWER}


def test_grades_and_the_canvas_import_are_written(graded):
    out = graded["out"]
    assert [r["submission"] for r in _csv(out / "grades.csv")] == ["blankdi_604", "countcy_603", "layerbo_602",
                                                                    "rightann_601"]
    imported = list(csv.reader(open(out / "canvas_import.csv", newline="")))
    assert imported[0][-1] == "Digits (6001)" and imported[1][-1] == "7"
    assert [(r[1], r[-1]) for r in imported[2:]] == [("601", "5"), ("602", "2"), ("603", "4"), ("604", "0")]
    answers = (out / "written_convolution_saves.html").read_text()
    assert ANSWER in answers and "image/png" in answers  # the loss curve shown
