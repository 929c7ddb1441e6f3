"""HW2's reference, in the trusted parent only (never mounted in the sandbox, never in a student version): the
solved classes of the repository's ``hw2_models.py``, loaded as a private module."""

import functools
import importlib.util
from pathlib import Path

SOLVED = Path(__file__).resolve().parents[3] / "hw2_models.py"


@functools.lru_cache(maxsize=None)
def models():
    spec = importlib.util.spec_from_file_location("grading_reference_hw2_models", SOLVED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
