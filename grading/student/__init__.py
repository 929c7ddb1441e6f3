"""The student version, made from an assignment's solved files: ``python -m grading.student [--assignment DIR]
[--out DIR]``. ``make`` makes it (the blanks, the text rules, the round trip back to the solution); ``aids`` adds its
cells and files (the check cells, the hand-in cell, its README, the public checks with the case toolkit);
``annotate`` marks the solved notebook's graded cells (``python -m grading.student.annotate``)."""

from grading.assignment import load as load_assignment


def _assignment(assignment):
    """``assignment``, or the repository's own when it is None."""
    return assignment if assignment is not None else load_assignment()


def _source(cell):
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)
