"""The assignment's own format: one ``hw2.ipynb`` whose cells define ``LeNet_5``, ``Encoder``, ``Decoder``,
``AutoEncoder`` and ``VariationalAutoEncoder``, with no ``hw2_models.py`` (what a course that handed out the
assignment as written receives).

It is graded as the kit's format is, by the same sandbox, checks and points. The sandboxed runner
(``grading/child/notebook.py``, ``load_assignment``) runs the cells that define the graded classes first, each on its
own and under the cell time limit, into a module that stands in for ``hw2_models.py`` (so the module checks apply
unchanged, and a cell that does not compile costs its own class and what is built from it, never another class);
the notebook's run then skips those cells and finds the classes already defined. This module only decides the
format, in the parent. Training never runs: the sandbox runs only the cells that define what a check needs, and the
assignment's ``MNIST("data", download=True)`` finds the shipped files in the copy's ``data`` folder (offline).

Which format wins when a submission holds both ``hw2.ipynb`` and ``hw2_models.py``: the notebook decides. If its
cells define a graded class and it never imports ``hw2_models``, running it top to bottom uses its own classes and
never the file, so it is graded as the assignment's notebook and the file is ignored (the row's status says so);
otherwise it is the kit's format.
"""

import ast
import json
import re
from pathlib import Path

KIT, ASSIGNMENT = "kit", "assignment"
CLASSES = ("LeNet_5", "AutoEncoder", "Encoder", "Decoder", "VariationalAutoEncoder")
NOTEBOOK_LIMIT = 20 * 1024 * 1024
_IMPORTS_MODELS = re.compile(r"(?m)^\s*(from\s+hw2_models\s+import|import\s+hw2_models\b)")


def _code_cells(nb):
    """[(index, source)] of the code cells of a notebook given as a dict (nbformat's JSON)."""
    found = []
    for index, cell in enumerate(nb.get("cells") or []):  # a null or missing list: no cells
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            found.append((index, source if isinstance(source, str) else "".join(map(str, source))))
    return found


def defined_classes(source):
    """The graded classes a cell defines at its top level; read from the text when the cell does not compile."""
    try:
        tree = ast.parse(_python(source))
        return [node.name for node in tree.body if isinstance(node, ast.ClassDef) and node.name in CLASSES]
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # the grader's process reads it: nothing may escape
        return [name for name in CLASSES if re.search(rf"(?m)^class\s+{name}\b", source)]


def _python(source):
    """A cell's text as Python (IPython's magics and shell escapes translated)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def read_notebook(path):
    """The notebook at ``path`` as a dict, or None when it is missing, too large or not JSON."""
    try:
        if Path(path).stat().st_size > NOTEBOOK_LIMIT:
            return None
        nb = json.loads(Path(path).read_text(errors="replace"))
    except (OSError, ValueError):
        return None
    return nb if isinstance(nb, dict) else None


def detect(notebook_path):
    """``ASSIGNMENT`` when the notebook's cells define a graded class and never import hw2_models, else ``KIT``."""
    nb = read_notebook(notebook_path)
    if nb is None:
        return KIT
    cells = _code_cells(nb)
    if any(_IMPORTS_MODELS.search(source) for _, source in cells):
        return KIT
    return ASSIGNMENT if any(defined_classes(source) for _, source in cells) else KIT


def decide(workdir, problems):
    """(format, problems, note) for the submission copied into ``workdir``; ``problems`` as grade.extract made them.

    In the assignment's format the missing hw2_models.py is no problem; when the copy holds one anyway, ``note``
    says it was ignored.
    """
    workdir = Path(workdir)
    found = detect(workdir / "hw2.ipynb")
    if found == KIT:
        return found, problems, None
    problems = [p for p in problems if p != "no hw2_models.py in the submission"]
    note = None
    if (workdir / "hw2_models.py").exists():
        note = ("graded as the assignment's notebook (its cells define the classes and it never imports "
                "hw2_models); hw2_models.py ignored")
        (workdir / "hw2_models.py").unlink()  # nothing of it may run, not even through an import
    return found, problems, note
