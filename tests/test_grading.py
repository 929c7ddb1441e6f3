"""The instructor's kit: the generated student version and the autograder, proven on submissions built from it.

Every submission below starts from the GENERATED student version: the solution filled back in, the untouched
version, one per typical mistake, and a few that misbehave (hang, raise at import, print without end, try to
overwrite or read the grader's files). They are graded in one batch (module-scoped fixture), and each test asserts
the exact points of every part.
"""

import csv
import hashlib
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from grading import grade as grading
from grading import make_student as ms

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = REPO.parent / "shared" / "assignment" / "hw2_assignment.txt"
AUTO = ["transform", "dataloaders", "lenet_layers", "lenet_instantiated", "encoder", "decoder", "ae_built", "vae_built"]
FULL = {"transform": 1, "dataloaders": 1, "lenet_layers": 3, "lenet_instantiated": 1, "encoder": 2, "decoder": 2,
        "ae_built": 1, "vae_built": 1}
ZERO = dict.fromkeys(AUTO, 0)


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


# ------------------------------------------------------------------------------------------------
# The student version
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def student(tmp_path_factory):
    out = ms.make_student(tmp_path_factory.mktemp("dist") / "student")
    return out, nbformat.read(out / "hw2.ipynb", as_version=4), (out / "hw2_models.py").read_text()


@pytest.fixture(scope="module")
def solved():
    return nbformat.read(REPO / "hw2.ipynb", as_version=4)


def test_every_rule_matches_exactly_once(solved):
    module = (REPO / "hw2_models.py").read_text()
    for rule in ms.MODULE_RULES:
        assert len(ms.whole_line_matches(module, rule[1])) == 1, rule[0]
    cells = [c.source for c in ms.kept_cells(solved)]
    for rule in ms.NOTEBOOK_RULES:
        assert sum(len(ms.whole_line_matches(text, rule[1])) for text in cells) == 1, rule[0]
    with pytest.raises(ms.RuleError, match="matches 2 times"):
        ms.apply_rules(["a\nb\na"], [("twice", "a", "x")])
    with pytest.raises(ms.RuleError, match="matches 0 times"):
        ms.apply_rules(["ab"], [("not a whole line", "a", "x")])


def test_student_version_files(student):
    out, nb, module = student
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["data/MNIST/raw/t10k-images-idx3-ubyte.gz", "data/MNIST/raw/t10k-labels-idx1-ubyte.gz",
                     "data/MNIST/raw/train-images-idx3-ubyte.gz", "data/MNIST/raw/train-labels-idx1-ubyte.gz",
                     "data/README.md", "hw2.ipynb", "hw2_helpers.py", "hw2_models.py", "imgs/lenet-5.png",
                     "requirements.txt"]
    assert (out / "hw2_helpers.py").read_bytes() == (REPO / "hw2_helpers.py").read_bytes()
    assert (out / "requirements.txt").read_bytes() == (REPO / "requirements.txt").read_bytes()
    assert not any(p.name.startswith("grading") or p.name == "checks" for p in out.rglob("*"))


def test_student_notebook_has_no_solution(student, solved):
    _, nb, module = student
    assert not any("solution-only" in _tags(c) for c in nb.cells)
    assert all(not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    assert "widgets" not in nb.metadata
    answers = [c.source for c in nb.cells if "answer" in _tags(c)]
    assert answers == [ms.EMPTY_ANSWER, ms.EMPTY_ANSWER]
    text = "\n".join(c.source for c in nb.cells)
    for giveaway in ["transforms.Normalize((0.1307,)", "shuffle=True, generator=loader_generator", "LeNet_5().to(",
                     "AutoEncoder(Encoder(), Decoder())", "Encoder(latent_dimensionality=4)", "**Answer.**"]:
        assert giveaway not in text, giveaway
    for giveaway in ["Conv2d(1, 6", "Conv2d(6, 16", "Conv2d(16, 120", "Linear(120, 84)", "Linear(84, 10)",
                     "Conv2d(1, 16", "Linear(64 * 5 * 5, 32)", "UpsamplingNearest2d", "6x28x28", "Build it as"]:
        assert giveaway not in module, giveaway
    assert "HW2_QUICK" in text  # quick mode kept


def test_round_trip_gives_the_solved_sources(student, solved):
    _, nb, module = student
    sources, filled_module = ms.fill_back(nb, module, solved)
    assert filled_module == (REPO / "hw2_models.py").read_text()
    assert sources == [c.source for c in ms.kept_cells(solved)]


def _assignment_blanks():
    """(blank line, prose line before its code block) for every blank line of the assignment, in order."""
    lines = ASSIGNMENT.read_text().splitlines()
    found, anchor = [], None
    for i, line in enumerate(lines):
        if re.fullmatch(r"In \[[^\]]*\]:", line.strip()):
            anchor = next(l for l in reversed(lines[:i]) if l.strip()).strip()
        if "### YOUR CODE HERE ###" in line or re.search(r"nn\.(Conv2d|Linear)\(_", line):
            found.append((line.strip(), anchor))
    return found


def test_every_blank_of_the_assignment_is_in_the_student_version_at_its_place(student):
    _, nb, module = student
    blanks = _assignment_blanks()
    assert len(blanks) == 25  # transform 1, loaders 2, LeNet-5 5, model 1, Encoder 7, Decoder 7, AE 1, VAE 1
    # the module's classes, by text (the student module does not compile until its blanks are filled)
    classes = dict(re.findall(r"(?ms)^class (\w+)(.*?)(?=^\S)", module + "\nEND"))
    reading, anchors = [], []  # the student's lines in reading order, each with the markdown just above its cell
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        above, j = [], i - 1
        while j >= 0 and nb.cells[j].cell_type == "markdown":
            above.append(nb.cells[j].source.strip().splitlines()[-1].strip())
            j -= 1
        text = cell.source
        for name in re.findall(r"show_source\((\w+)\)", cell.source):
            text += "\n" + classes.get(name, "")
        for line in text.splitlines():
            reading.append(line.strip())
            anchors.append(above)
    position = 0
    for line, anchor in blanks:
        assert line in reading[position:], f"{line!r} missing or out of order"
        position = reading.index(line, position) + 1
        assert anchor in anchors[position - 1], f"{line!r} is not under the assignment's text {anchor!r}"
