"""The student's toolkit (``casekit.student.Homework``) on homeworks other than HW2: the tiny example as its student
version ships it, and a homework with a dataset (a few MNIST-format images, gzipped, with their checksums) in a
temporary folder. Configured from assignment.json alone: the hand-in's refusals and notices, the import of a module
whose blanks are open, the dataset prepared before a check reads it. Nothing here runs the sandbox.
"""

import gzip
import hashlib
import json
import shutil
import struct
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from casekit import source
from casekit.student import Homework, HomeworkError
from grading.assignment import load as load_assignment
from grading.student import aids
from grading.student import make as ms

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "tiny"
HAND_IN = "Ctrl-S / Cmd-S"


@pytest.fixture(scope="module")
def tiny_version(tmp_path_factory):
    """The tiny example's student version, as ``python -m grading.student --assignment examples/tiny`` writes it."""
    return ms.make_student(tmp_path_factory.mktemp("tiny") / "student", assignment=load_assignment(TINY))


@pytest.fixture
def tiny(tiny_version, tmp_path, monkeypatch):
    """A fresh copy of the tiny student version, the working directory (as a notebook's kernel has it)."""
    folder = tmp_path / "tiny"
    shutil.copytree(tiny_version, folder)
    monkeypatch.chdir(folder)
    return folder


def _code_cells(folder):
    return [c.source for c in nbformat.read(folder / "tiny.ipynb", as_version=4).cells if c.cell_type == "code"]


def _hand_in(folder, capsys, history=None):
    assert Homework().make_submission(folder, history=history) is None  # it prints; the cell echoes nothing
    return capsys.readouterr().out


def _line(text, needle):
    return text[:text.index(needle)].count("\n") + 1


# ------------------------------------------------------------------------------------------------
# Where the toolkit reads the homework
# ------------------------------------------------------------------------------------------------
def test_homework_reads_the_shipped_checking_folder_else_the_working_directory(tiny, tmp_path, monkeypatch, capsys):
    assert Homework().folder == tiny / "checking" and Homework().zip_name == "tiny_submission.zip"
    monkeypatch.chdir(TINY)  # the instructors' copy: assignment.json in the notebook's own folder
    assert Homework().folder == TINY and Homework().files == {"notebook": "tiny.ipynb", "module": "tiny_models.py"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    lost = Homework()  # constructing it never fails: the grader runs the notebook's import cell without checking/
    lost.make_submission()
    assert capsys.readouterr().out.startswith(f"No assignment.json in {elsewhere} nor in checking/: open the notebook")
    with pytest.raises(HomeworkError, match="No assignment.json"):
        lost.results("doubler", {})
    with pytest.raises(HomeworkError, match="No assignment.json"):
        lost.prepare_data()
    (elsewhere / "data").mkdir()  # as the grader's sandbox holds a submission: its dataset, checked by the grader
    assert Homework().prepare_data() == elsewhere / "data"


# ------------------------------------------------------------------------------------------------
# The hand-in, for the tiny example: every check HW2's has, with the names assignment.json gives
# ------------------------------------------------------------------------------------------------
def test_the_hand_in_names_what_is_unfinished_then_zips_the_files(tiny, capsys):
    module = (tiny / "tiny_models.py").read_text()
    printed = _hand_in(tiny, capsys, history=[])
    assert printed.startswith(f"Wrote {tiny / 'tiny_submission.zip'} (") and "tiny_models.py compiles." in printed
    with zipfile.ZipFile(tiny / "tiny_submission.zip") as archive:
        assert archive.namelist() == ["tiny.ipynb", "tiny_models.py"]
    blanks = f"{_line(module, 'nn.Linear(_, _)')}, {_line(module, 'self.linear(_)')}"
    assert ("Still unfinished:\n"
            f"  doubler: Doubler (tiny_models.py line {blanks}: `_` left)\n"
            "  net: `net = ### YOUR CODE HERE ###` is still blank\n"
            f"  count_parameters: count_parameters (tiny_models.py line {_line(module, 'sum(_)')}: `_` left)\n"
            "  why_linear: no answer yet in the cell under its question\n") in printed
    assert printed.rstrip().endswith("Upload tiny_submission.zip to Canvas.")


def test_a_function_part_is_read_in_the_module(tiny, capsys):
    """A part that follows a module function (``functions`` in assignment.json) is unfinished while it is missing or
    has a blank left, like a class's part."""
    spec = json.loads((tiny / "checking" / "assignment.json").read_text())
    spec["functions"] = ["double"]
    spec["parts"].append({"name": "double", "points": 1, "kind": "automatic", "follows": "double",
                          "title": "a function that doubles"})
    (tiny / "checking" / "assignment.json").write_text(json.dumps(spec))
    homework = Homework()
    part = next(p for p in homework.table()["parts"] if p["name"] == "double")
    assert (part["where"], part["defines"]) == ("tiny_models.py", "function")
    assert ("double", "tiny_models.py defines no function double") in homework.unfinished()
    module = (tiny / "tiny_models.py").read_text()
    (tiny / "tiny_models.py").write_text(module + "\n\ndef double(x):\n    return _ * x\n")
    line = _line((tiny / "tiny_models.py").read_text(), "return _ * x")
    assert ("double", f"double (tiny_models.py line {line}: `_` left)") in homework.unfinished()
    (tiny / "tiny_models.py").write_text(module + "\n\ndef double(x):\n    return 2 * x\n")
    assert "double" not in dict(homework.unfinished())


def test_the_hand_in_refuses_an_unsaved_notebook_and_removes_the_older_zip(tiny, capsys):
    saved = _code_cells(tiny)
    net_cell = next(text for text in saved if text.startswith("net = "))
    _hand_in(tiny, capsys, history=saved[:1])
    zipped = tiny / "tiny_submission.zip"
    assert zipped.is_file()
    ran = net_cell.replace("### YOUR CODE HERE ###", "Doubler()")  # filled and run, never saved
    printed = _hand_in(tiny, capsys, history=saved[:1] + [ran])
    assert printed.startswith("tiny.ipynb on disk is not the notebook you ran: 1 cell(s) ran here in a form the saved "
                              "file lacks (in the latest, the line `net = Doubler()` is `net = ### YOUR CODE HERE ###` "
                              f"in the saved file).\nSave the notebook ({HAND_IN}) and run this cell again.")
    assert printed.rstrip().endswith(f"Removed the older tiny_submission.zip ({zipped}), so that it is not uploaded "
                                     "instead.")
    assert not zipped.exists()


def test_the_hand_in_names_an_errored_cell_and_a_cell_that_never_ran(tiny, capsys):
    nb = nbformat.read(tiny / "tiny.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first, net = code[0], next(c for c in code if c.source.startswith("net = "))
    first.execution_count = 1
    first.outputs = [nbformat.v4.new_output("error", ename="ModuleNotFoundError", evalue="No module named 'casekit'",
                                            traceback=[])]
    for cell in code:  # everything ran but the net cell
        if cell is not net and cell is not first:
            cell.execution_count = 2
    nbformat.write(nb, tiny / "tiny.ipynb")
    printed = _hand_in(tiny, capsys)
    assert ("In the saved tiny.ipynb, a grader will notice:\n"
            "  `import torch` (cell [1]): its saved output is an error, ModuleNotFoundError: No module named 'casekit'\n"
            "  1 code cell never ran (no output saved): `net = ### YOUR CODE HERE ###`\n"
            f"  Fix the errors, run all cells, save the notebook ({HAND_IN}), then run this cell again.\n") in printed
    assert (tiny / "tiny_submission.zip").is_file()  # noticed, not refused: the grader grades what is there


def test_the_hand_in_names_a_module_that_does_not_compile(tiny, capsys):
    module = (tiny / "tiny_models.py").read_text().replace("nn.Linear(_, _)", "nn.Linear(4 4)")
    (tiny / "tiny_models.py").write_text(module)
    line = _line(module, "nn.Linear(4 4)")
    start = _line(module, "class Doubler")
    end = len(module[:module.index("def count_parameters")].rstrip().splitlines())  # the class: up to the function
    printed = _hand_in(tiny, capsys)
    assert (f"tiny_models.py does NOT compile (line {line}: invalid syntax. Perhaps you forgot a comma?); the grader "
            "then grades the definitions that do.") in printed
    assert (f"  doubler: tiny_models.py does not compile (line {line}: invalid syntax. Perhaps you forgot a comma?): "
            f"Doubler, on lines {start}-{end}, cannot be loaded\n") in printed
    (tiny / "tiny_models.py").unlink()
    printed = _hand_in(tiny, capsys)
    assert printed.startswith(f"No tiny_models.py in {tiny}: run this cell in tiny.ipynb, next to tiny_models.py.")


# ------------------------------------------------------------------------------------------------
# The module imported while its blanks are open; a stale kernel named
# ------------------------------------------------------------------------------------------------
def test_homework_lets_the_module_import_with_its_blanks_open_and_names_a_stale_kernel(tiny, monkeypatch, capsys):
    path = tiny / "tiny_models.py"
    path.write_text(path.read_text().replace("self.linear = nn.Linear(_, _)", "self.linear = ### YOUR CODE HERE ###"))
    monkeypatch.syspath_prepend(str(tiny))
    monkeypatch.delitem(sys.modules, "tiny_models", raising=False)
    homework = Homework()  # before the import, as the notebook's first cell
    with pytest.warns(UserWarning, match="tiny_models.py does not compile yet: Doubler still has blanks"):
        import tiny_models
    monkeypatch.setitem(sys.modules, "tiny_models", tiny_models)
    with pytest.raises(source.UnfinishedError, match=r"Doubler is not finished: tiny_models.py line \d+"):
        tiny_models.Doubler()
    homework.check("doubler", {})
    printed = capsys.readouterr().out
    assert printed.startswith("Public checks of doubler (2 points): not finished")
    assert "Doubler is not finished: tiny_models.py line" in printed
    path.write_text(path.read_text() + "\n# edited after the import\n")
    homework.check("doubler", {})
    assert capsys.readouterr().out.startswith(source.changed_message("tiny_models.py") + "\n")


# ------------------------------------------------------------------------------------------------
# A homework with a dataset: checked, extracted, refused when damaged, with the fix
# ------------------------------------------------------------------------------------------------
MNIST_FILES = {"train-images-idx3-ubyte.gz": (2051, 6), "train-labels-idx1-ubyte.gz": (2049, 6),
               "t10k-images-idx3-ubyte.gz": (2051, 4), "t10k-labels-idx1-ubyte.gz": (2049, 4)}
PUBLIC_CASES = '''
from casekit import case


@case("reader", "the validation images are read", 1, public=True)
def reads(ask):
    images = ask.images(2)
    assert tuple(images.shape) == (2, 1, 28, 28), f"read {tuple(images.shape)}"
'''


def _idx(magic, n):
    """An MNIST-format file of ``n`` items: 28x28 images or labels."""
    if magic == 2051:
        return struct.pack(">IIII", magic, n, 28, 28) + bytes(range(256)) * (n * 28 * 28 // 256) + bytes(n * 28 * 28 % 256)
    return struct.pack(">II", magic, n) + bytes(i % 10 for i in range(n))


@pytest.fixture
def digits(tmp_path, monkeypatch):
    """A homework folder as a student version ships one: checking/ (assignment.json with the dataset's checksums,
    public_cases.py) and data/MNIST/raw/*.gz, nothing extracted."""
    folder = tmp_path / "digits"
    raw = folder / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    checksums = {}
    for name, (magic, n) in MNIST_FILES.items():
        (raw / name).write_bytes(gzip.compress(_idx(magic, n), mtime=0))
        checksums[f"MNIST/raw/{name}"] = hashlib.md5((raw / name).read_bytes()).hexdigest()
    (folder / "checking").mkdir()
    spec = {"name": "digits", "files": {"notebook": "digits.ipynb", "module": "digits_models.py"}, "classes": [],
            "parts": [{"name": "reader", "points": 1, "kind": "automatic", "follows": "reader", "fills": ["reader"],
                       "title": "the images read"}],
            "dataset": {"torchvision": "MNIST"}, "data": "../data", "checksums": checksums}
    (folder / "checking" / "assignment.json").write_text(json.dumps(spec))
    (folder / "checking" / "public_cases.py").write_text(PUBLIC_CASES)
    monkeypatch.chdir(folder)
    return folder


def test_prepare_data_extracts_the_shipped_files(digits):
    raw = digits / "data" / "MNIST" / "raw"
    assert Homework().prepare_data() == (digits / "data").resolve()
    for name in MNIST_FILES:
        assert (raw / name[:-3]).read_bytes() == gzip.decompress((raw / name).read_bytes())


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_a_damaged_dataset_is_refused_with_the_fix(digits, damage):
    path = digits / "data" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    expected = hashlib.md5(path.read_bytes()).hexdigest()
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(HomeworkError) as refused:
        Homework().prepare_data()
    message = str(refused.value)
    assert (f"{path}: missing (expected MD5 {expected})" if damage == "missing"
            else f"{path}: MD5 expected {expected}, found ") in message
    assert "train-images" not in message  # only the damaged file is named
    assert message.endswith("Copy the data/ folder again from the homework as you downloaded it (unzip it afresh and "
                            "replace this one), then run this cell again.")
    assert not (path.with_suffix("")).exists()  # nothing extracted from a damaged file


def test_a_check_reads_the_dataset_it_prepared_and_never_says_download(digits, capsys):
    homework = Homework()
    homework.check("reader", {})  # the shipped .gz files only: torchvision alone would ask for download=True
    printed = capsys.readouterr().out
    assert printed.startswith("Public checks of reader (1 point): all passed"), printed
    (digits / "data" / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    Homework().check("reader", {})
    printed = capsys.readouterr().out
    assert printed.startswith("Public checks of reader: they cannot run yet.\nThe homework's dataset is incomplete")
    assert "t10k-images-idx3-ubyte.gz: MD5 expected" in printed and "download=True" not in printed


# ------------------------------------------------------------------------------------------------
# HW2's student version: the toolkit finds its dataset, whose README is generated from assignment.json
# ------------------------------------------------------------------------------------------------
def test_the_student_versions_data_readme_and_data_path_come_from_assignment_json(student_version):
    out = student_version["out"]
    spec = json.loads((REPO / "grading" / "assignments" / "hw2" / "assignment.json").read_text())
    readme = (out / "data" / "README.md").read_text()
    assert readme == aids.data_readme(load_assignment())
    for path, md5 in spec["checksums"].items():
        assert f"| `{path}` | `{md5}` |" in readme
    assert "`hw2.prepare_data()`" in readme and "verify_mnist" not in readme and "git " not in readme
    assert "Yann LeCun" in readme and "CC BY-SA 3.0" in readme  # the attribution the license asks for
    homework = Homework(out / "hw2_helpers" / "checking")
    assert homework.data_folder() == (out / "data").resolve()
    assert homework.zip_name == "hw2_submission.zip" and homework.check_call == "hw2.check"
