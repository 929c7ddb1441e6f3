"""Public checks of HW2's automatic parts, for the student: ``hw2.check("encoder")`` in the cell after a graded cell.

The toolkit's ``casekit.student.Homework`` runs them, read from HW2's ``assignment.json``: a student version ships it
with ``public_cases.py`` in ``hw2_helpers/checking/``; in the instructors' repository they are read where they live
(nothing here imports the grader's engine). The grader runs the same cases on its own inputs, plus hidden ones.
"""

import functools
import sys
from pathlib import Path

from casekit.student import EMPTY_ANSWER, YOUR_CODE, Homework  # noqa: F401

from .data import DATA_ROOT

SHIPPED = Path(__file__).with_name("checking")
REPO = Path(__file__).resolve().parents[1]


def folder():
    """The assignment's folder: the shipped copy in a student version, else the repository's own."""
    return SHIPPED if (SHIPPED / "assignment.json").is_file() else REPO / "grading" / "assignments" / "hw2"


@functools.lru_cache(maxsize=None)
def homework():
    """HW2 as the toolkit reads it (once per kernel); its dataset where the notebook reads MNIST."""
    return Homework(folder(), data=DATA_ROOT)


def table():
    """The graded parts: {"parts": [{name, points, kind, title, follows, fills, where}], "your_code", "empty_answer"}."""
    return homework().table()


def results(part, namespace):
    """[(status, case title, message)] of the public cases of ``part`` on ``namespace`` (the notebook's variables)."""
    return homework().results(part, namespace)


def check(part, namespace=None):
    """Print the public cases of ``part`` on the caller's variables (or ``namespace``); returns nothing."""
    homework().check(part, sys._getframe(1).f_globals if namespace is None else namespace)


def failures_of(class_name, namespace=None):
    """The failing public checks' messages of the parts that follow the class ``class_name`` (a provided cell's
    hint); never raises."""
    return homework().failures_of(class_name, namespace)


def prepare_data():
    """MNIST's shipped files checked against HW2's checksums and extracted; returns their folder."""
    return homework().prepare_data()
