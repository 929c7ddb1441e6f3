"""The checks, run in the parent (never in the sandbox): one module per automatic part of ``grading/parts.py``,
each a few cases registered with ``@case(name, points)``. A case gets ``ask`` (``grading.judge.session.Ask``: questions
to the sandboxed child, fresh inputs, the reference) and raises AssertionError with the student's message when it
fails. ``cases()`` refuses a table whose points disagree with parts.py.
"""

import importlib

from grading import parts

_REGISTERED = {}


def case(name, points):
    """Register the decorated function as a case of the part its module is named after."""
    def register(function):
        part = function.__module__.rpartition(".")[2]
        _REGISTERED.setdefault(part, []).append((name, float(points), function))
        return function
    return register


def cases():
    """{part: [(case name, points, function)]} for every automatic part; RuntimeError when a part's cases do not
    add up to its points in parts.py (never grade with a check that disagrees with the table)."""
    found = {}
    for part in parts.automatic():
        importlib.import_module(f"grading.checks.{part.name}")
        found[part.name] = _REGISTERED.get(part.name, [])
        points = sum(points for _, points, _ in found[part.name])
        if points != part.points:
            raise RuntimeError(f"grading/checks/{part.name}.py awards {points:g} points; grading/parts.py gives "
                               f"{part.name} {part.points:g}")
    return found
