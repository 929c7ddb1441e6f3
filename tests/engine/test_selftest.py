"""The self-test of an assignment folder (``python -m grading.selftest``): the tiny example passes it, with the table's
full, zero and own-part rows; copies of it with one mistake of configuration each are refused with the fix (the ones
that run nothing without grading anything)."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from grading import selftest
from grading.assignment import AssignmentError, Assignment
from grading.sandbox import isolation

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "tiny"
NET_CELL = "net = Doubler()\nprint(net(torch.arange(4.0)))"


def tiny_copy(tmp_path, settings=None, cell=None, parts=(), cases="", after=None):
    """A copy of examples/tiny with ``settings`` changed in assignment.json ({key: value}, None removes), the graded
    cell's text replaced by ``cell``, ``parts`` added, ``cases`` appended to public_cases.py and a code cell ``after``
    appended to the notebook."""
    folder = tmp_path / "tiny"
    shutil.copytree(TINY, folder)
    data = json.loads((folder / "assignment.json").read_text())
    for key, value in (settings or {}).items():
        data.pop(key) if value is None else data.__setitem__(key, value)
    data["parts"][2:2] = list(parts)
    (folder / "assignment.json").write_text(json.dumps(data))
    nb = nbformat.read(folder / "tiny.ipynb", as_version=4)
    graded = next(c for c in nb.cells if c.source == NET_CELL)
    graded.source = cell if cell is not None else graded.source
    if after is not None:
        nb.cells.append(nbformat.v4.new_code_cell(after))
    nbformat.write(nb, folder / "tiny.ipynb")
    if cases:
        (folder / "public_cases.py").write_text((folder / "public_cases.py").read_text() + cases)
    return folder


def refused(folder, capsys):
    """The FAIL lines of a self-test that runs nothing (it must exit 1)."""
    assert selftest.main(["--assignment", str(folder), "--static"]) == 1
    return [line[len("FAIL: "):] for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL: ")]


def test_a_misspelt_setting_is_named_with_the_closest_known_one(tmp_path, capsys):
    folder = tiny_copy(tmp_path, {"stand_in": {"net": [["Doubler", []]]}, "stand_ins": None})
    folder.joinpath("assignment.json").write_text(folder.joinpath("assignment.json").read_text().replace(
        '"fills": ["net"]', '"fill": ["net"]'))
    assert refused(folder, capsys) == [
        "assignment.json: no setting 'stand_in' (did you mean 'stand_ins'? rename it)",
        "assignment.json part net: no setting 'fill' (did you mean 'fills'? rename it)"]
    with pytest.raises(AssignmentError, match="no setting 'stand_in' .did you mean 'stand_ins'"):
        Assignment(folder)  # loading refuses it too: every command says so


def test_a_class_that_does_not_exist_is_refused(tmp_path, capsys):
    folder = tiny_copy(tmp_path, {"classes": ["Dubler"]})
    assert refused(folder, capsys) == [
        "classes names Dubler, which tiny_models.py does not define at its top level (did you mean 'Doubler'?): fix "
        "the name in classes",
        "part doubler follows Doubler, which classes does not list: add it to classes"]


def test_two_graded_variables_in_one_cell_are_refused(tmp_path, capsys):
    twin = {"name": "twin", "points": 1, "kind": "automatic", "follows": "twin", "fills": ["twin"], "title": "a twin"}
    case = '\n\n@case("twin", "twin is built", 1, public=True)\ndef twin_built(ask):\n    ask.describe({"var": "twin"})\n'
    folder = tiny_copy(tmp_path, cell="net = Doubler()\ntwin = Doubler()", parts=[twin], cases=case)
    assert refused(folder, capsys) == ["cell 4 assigns both net and twin: give each graded variable a cell of its own"]


def test_a_graded_variable_inside_an_if_is_refused(tmp_path, capsys):
    folder = tiny_copy(tmp_path, cell="if True:\n    net = Doubler()\nprint(net(torch.arange(4.0)))")
    assert refused(folder, capsys) == [
        "cell 4 assigns net (part net) inside an `if` (line 2): assign a graded variable at the top level of its "
        "cell (`net = ...`, not inside if/for/with/try), so the student version can blank it"]


def test_a_name_no_earlier_cell_defines_is_refused(tmp_path, capsys):
    folder = tiny_copy(tmp_path, cell="net = Doubler()\nprint(net(torch.arange(4.0) * scale))", after="scale = 2.0")
    last = len(nbformat.read(folder / "tiny.ipynb", as_version=4).cells) - 1  # the cell appended
    assert refused(folder, capsys) == [
        f"cell 4 (net) reads scale, which no earlier cell defines (cell {last} does, after it): move that definition "
        "before cell 4 (net)"]
    folder = tiny_copy(tmp_path / "nowhere", cell="net = Doubler()\nprint(net(torch.arange(4.0) * factor))")
    assert refused(folder, capsys) == [
        "cell 4 (net) reads factor, which no earlier cell defines: define factor at the top level of a cell before "
        "cell 4 (net)"]


def test_needed_overrides_the_derivation_and_must_hold_what_the_cells_read(tmp_path, capsys):
    folder = tiny_copy(tmp_path, {"needed": []}, cell="net = Doubler()\nprint(net(torch.arange(4.0) * scale))")
    nb = nbformat.read(folder / "tiny.ipynb", as_version=4)
    nb.cells.insert(4, nbformat.v4.new_code_cell("scale = 2.0"))  # the graded cell, now cell 5, reads it
    nbformat.write(nb, folder / "tiny.ipynb")
    assert refused(folder, capsys) == [
        "cell 5 (net) reads scale, which needed in assignment.json leaves out, so the grader never defines it: add "
        "'scale' to needed, or remove needed (the grader then derives it from the notebook)"]
    data = json.loads((folder / "assignment.json").read_text())
    del data["needed"]
    (folder / "assignment.json").write_text(json.dumps(data))
    assert Assignment(folder).needed() == {"net", "scale"}  # derived: the grader runs cell 4 for it
    assert selftest.main(["--assignment", str(folder), "--static"]) == 0


def _table(out):
    """{row: [each part's points, the automatic total]} of the self-test's table (its header: the parts)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("submission "))
    width = len(lines[start].split()) - 1
    rows = {}
    for line in lines[start + 2:]:
        if line.startswith(("note:", "FAIL:", "grading.selftest:")) or not line.strip():
            break
        rows[line.rsplit(None, width)[0].strip()] = line.split()[-width:]
    return rows


@pytest.mark.slow
def test_the_tiny_example_passes_with_full_zero_and_own_part_rows(capsys):
    if isolation.problem() is not None:
        pytest.skip(f"no sandbox here: {isolation.problem()}")
    assert selftest.main(["--assignment", str(TINY)]) == 0
    out = capsys.readouterr().out
    assert "the public cases on the solved notebook's objects, in a kernel: 3 of 3 pass" in out
    assert _table(out) == {"solved": ["2", "1", "1", "4"], "student": ["0", "0", "0", "0"],
                           "mistake in doubler": ["0", "0", "1", "1"], "mistake in net": ["2", "0", "1", "3"],
                           "mistake in count_parameters": ["2", "1", "0", "3"]}
    assert "note: the planted mistake in doubler also costs net (0 of 1): its cell builds Doubler (stand_ins)" in out
    assert "everything holds" in out


@pytest.mark.slow
def test_a_planted_mistake_that_costs_another_part_is_refused(tmp_path, capsys):
    if isolation.problem() is not None:
        pytest.skip(f"no sandbox here: {isolation.problem()}")
    folder = tiny_copy(tmp_path, {"stand_ins": None})  # net's cell no longer runs without a Doubler
    assert selftest.main(["--assignment", str(folder)]) == 1
    out = capsys.readouterr().out
    assert _table(out)["mistake in doubler"] == ["0", "0", "1", "1"]
    fails = [line for line in out.splitlines() if line.startswith("FAIL: ")]
    assert len(fails) == 1 and fails[0].startswith("FAIL: the planted mistake in doubler also costs net (0 of 1: ")
    assert fails[0].endswith("a mistake must cost its own part only: make net's cases check net alone, or give its "
                             "cell what it needs from Doubler (fallbacks; a stand-in for a class in stand_ins)")
