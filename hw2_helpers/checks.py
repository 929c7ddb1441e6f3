"""Public checks of HW2's automatic parts, for the student: ``hw2.check("encoder")`` in the cell after a graded cell.

The cases are the grader's own public cases (``grading/assignments/hw2/public_cases.py``), run here on the kernel's
objects by the case toolkit's kernel runner (``casekit.kernel``, the package beside the notebook in a student
version as in the instructors' repository): the grader runs the same functions, on its own inputs, plus hidden cases.
A student version ships the assignment's two files in ``hw2_helpers/checking/``; in the instructors' repository they
are read where they live (nothing here imports the grader's engine).
"""

import json
import sys
from pathlib import Path

from .data import DATA_ROOT

SHIPPED = Path(__file__).with_name("checking")
REPO = Path(__file__).resolve().parents[1]
YOUR_CODE, EMPTY_ANSWER = "### YOUR CODE HERE ###", "*Your answer here.*"


def folder():
    """The assignment's folder: the shipped copy in a student version, else the repository's own."""
    return SHIPPED if (SHIPPED / "assignment.json").is_file() else REPO / "grading" / "assignments" / "hw2"


def _kernel():
    from casekit import kernel  # on first use: importing the notebook's helpers runs no check

    return kernel


def table():
    """The graded parts: {"parts": [{name, points, kind, title, follows, fills, where}], "your_code", "empty_answer"};
    a written part follows its question (the hand-in finds the answer cell under it)."""
    data = json.loads((folder() / "assignment.json").read_text(encoding="utf-8"))
    parts = [dict(part, fills=part.get("fills", []), follows=part.get("follows") or part.get("question"),
                  where=data["files"]["module"] if part.get("follows") in data["classes"] else data["files"]["notebook"])
             for part in data["parts"]]
    return {"parts": parts, "your_code": YOUR_CODE, "empty_answer": EMPTY_ANSWER}


def results(part, namespace):
    """[(status, case title, message)] of the public cases of ``part`` on ``namespace`` (the notebook's variables)."""
    return _kernel().results(folder(), part, namespace, DATA_ROOT)


def check(part, namespace=None):
    """Print the public cases of ``part`` on the caller's variables (or ``namespace``); returns nothing."""
    if namespace is None:
        namespace = sys._getframe(1).f_globals  # in a notebook: the kernel's variables
    from .models_import import models_changed

    stale = models_changed()
    if stale:  # what the kernel runs is not the file on disk: a verdict now would judge the old code
        print(stale)
    _kernel().check(folder(), part, namespace, DATA_ROOT)


def failures_of(class_name, namespace=None):
    """The failing public checks' messages of the automatic parts that follow the class ``class_name``: what a
    provided cell adds to its error when a model of that class gives the wrong shape (the hint is written once,
    in the case). Empty for a class no part follows; never raises."""
    found = []
    for part in table()["parts"]:
        if part["kind"] == "automatic" and part["follows"] == class_name:
            try:
                found += [f"hw2.check({part['name']!r}): {message}" for status, _, message in
                          results(part["name"], namespace or {}) if message and status != "passed"]
            except Exception:  # a hint is a courtesy: the cell's own error is raised whatever happens here
                pass
    return found
