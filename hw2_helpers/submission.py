"""The hand-in, made by the notebook's last cell: ``hw2.make_submission()`` writes ``hw2_submission.zip``.

The toolkit's hand-in (``casekit.handin``, through ``Homework.make_submission``) with HW2's files: the zip holds
``hw2.ipynb`` and ``hw2_models.py``, after the saved notebook is checked to be the one this kernel ran; it says what a
grader would notice (the module edited since the import, whether it compiles, errored and never-run cells, unfinished
parts). It prints; it returns nothing.
"""

from casekit import handin
from casekit.handin import NO_ANSWER, run_problems, unsaved_cells  # noqa: F401

from .checks import homework

NAME = "hw2_submission.zip"  # the toolkit's NAME_submission.zip: named here for the tests and the notebook's text
FILES = ("hw2.ipynb", "hw2_models.py")


def _class_problem(source, name):
    """Why class ``name`` of hw2_models.py is unfinished, or None."""
    return handin.definition_problem(source, name, "hw2_models.py")


def unfinished(folder):
    """[(part name, why)] for every part still unfinished in the files of ``folder``, read without running them."""
    return homework().unfinished(folder)


def make_submission(folder=None, history=None):
    """Write ``hw2_submission.zip`` (hw2.ipynb and hw2_models.py) in ``folder`` (default: the working directory) and
    print where, and what a grader would notice; ``history``: the sources run (default: this kernel's)."""
    return homework().make_submission(folder, history)
