"""Helpers for the tiny example's notebook, imported as ``tiny``: ``tiny.check(PART)`` runs the public checks of a
part on the notebook's variables, ``tiny.make_submission()`` writes the hand-in zip.

A student version holds the public checks in ``checking/`` (assignment.json, public_cases.py) and the case toolkit
with its kernel runner in ``casekit/``, beside the notebook; in the instructors' repository they are read where they
live.
"""

import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHIPPED = HERE / "checking"
FILES = ("tiny.ipynb", "tiny_models.py")
NAME = "tiny_submission.zip"


def _kernel():
    """(the kernel runner, the assignment's folder): the shipped public checks, or the repository's own."""
    from casekit import kernel

    return kernel, SHIPPED if (SHIPPED / "assignment.json").is_file() else HERE


def results(part, namespace):
    """[(status, case title, message)] of the public cases of ``part`` on ``namespace``."""
    kernel, folder = _kernel()
    return kernel.results(folder, part, namespace)


def check(part, namespace=None):
    """Print the public cases of ``part`` on the caller's variables (or ``namespace``)."""
    kernel, folder = _kernel()
    kernel.check(folder, part, sys._getframe(1).f_globals if namespace is None else namespace)


def make_submission(folder=None):
    """Write ``tiny_submission.zip`` (the notebook and the module) in ``folder`` (default: the working directory)."""
    folder = Path(folder or ".")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        print(f"No {' and no '.join(missing)} in {folder.resolve()}: run this cell in tiny.ipynb.")
        return None
    with zipfile.ZipFile(folder / NAME, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in FILES:
            archive.write(folder / name, name)
    print(f"Wrote {folder / NAME}: upload it.")
    return folder / NAME
