"""The assignment's own notebook, rebuilt from its handed-out text: HW2's builder lives in its folder
(``grading/assignments/hw2/assignment_notebook.py``, used by the grading benchmark too); loaded here for the tests."""

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "grading" / "assignments" / "hw2" / "assignment_notebook.py"
_SPEC = importlib.util.spec_from_file_location("hw2_assignment_notebook", _PATH)
_MODULE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)

ASSIGNMENT = _MODULE.ASSIGNMENT
assignment_notebook, fill, notebook_from_text, solution_fills = (
    _MODULE.assignment_notebook, _MODULE.fill, _MODULE.notebook_from_text, _MODULE.solution_fills)
