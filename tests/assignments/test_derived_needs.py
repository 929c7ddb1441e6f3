"""What HW2's graded cells need from earlier cells is derived from its notebook (grading.intake.needs): the plan it
gives runs exactly the cells that assignment.json's ``needed`` list made it run, on the solved notebook and on the
generated student version (whose blanked cells do not parse), and never a cell that trains."""

import nbformat
import pytest

from grading.assignment import load as load_assignment
from grading.intake import notebook
from grading.student import make as ms

HW = load_assignment()
# assignment.json's list before the derivation replaced it
LISTED = ["device", "validation_dataloader", "loader_generator", "batch_size", "mnist_training_set",
          "mnist_validation_set", "data_root", "SEED", "QUICK"]


@pytest.fixture(scope="module")
def notebooks():
    solved = notebook.load(HW.solved("notebook"))[0]
    student = nbformat.writes(ms.student_notebook(assignment=HW))
    return {"solved": solved, "student": notebook.parse(student.encode())[0]}


@pytest.mark.parametrize("which", ["solved", "student"])
def test_the_derived_plan_runs_the_cells_the_listed_names_ran(notebooks, which):
    nb = notebooks[which]
    assert "needed" not in HW.data  # derived, not listed
    last = HW.cell_parts()[-1].follows
    listed = set(LISTED) | {part.follows for part in HW.cell_parts()}
    before, now = notebook.plan(nb, listed, last), notebook.plan(nb, HW.needed(), last)
    assert [index for index, _ in now] == [index for index, _ in before]
    assigned = {name for _, names in before for name in names}
    assert set(LISTED) <= assigned  # each listed name is defined by a cell the derived plan runs
    texts = dict(notebook.code_cells(nb))
    assert not any("train_autoencoder(" in texts[i] or "classifier_epoch(model" in texts[i] for i, _ in now)


def test_the_derived_names_are_the_listed_ones_but_what_a_graded_cell_defines_for_itself():
    derived, missing = HW.needs
    assert missing == []
    assert set(LISTED) - derived == {"batch_size"}  # the dataloaders' own cell assigns it before reading it
