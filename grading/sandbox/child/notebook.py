"""Inside the sandbox: build the submission's ``hw2_models`` module and run the notebook cells the questions need.

The kit's format: ``hw2_models.py`` imported whole, or, when it does not compile, statement by statement with the
splitter the notebook's import hook uses (``hw2_helpers.models_import.top_level_statements``, loaded from the
provided helpers copied into the workdir), so both build the same module from the same file. The assignment's
format: its class cells run, each on its own, into a stand-in module. Each piece of code runs under ``limit``
seconds (SIGALRM) with its printing capped; what goes wrong becomes a problem (text), never an exception.
"""

import ast
import importlib.util
import io
import json
import re
import signal
import sys
import types
from pathlib import Path

from grading.sandbox.child.shared import FILE_LIMIT as NOTEBOOK_LIMIT, GRADED_CLASSES as GRADED, OUTPUT_LIMIT


class CellTimeout(BaseException):
    """A piece of code ran past its limit (a BaseException: `except Exception` in submitted code does not swallow it)."""


def alarm(signum, frame):
    raise CellTimeout()


class BoundedWriter(io.TextIOBase):
    """A stdout that keeps the first OUTPUT_LIMIT characters and counts the rest."""

    def __init__(self):
        self.kept, self.total = [], 0

    def write(self, text):
        text = str(text)
        room = OUTPUT_LIMIT - sum(map(len, self.kept))
        if room > 0:
            self.kept.append(text[:room])
        self.total += len(text)
        return len(text)

    def flush(self):
        pass


def first_line(error):
    text = str(error).strip().splitlines()
    return text[0][:160] if text else ""


def guarded(function, limit):
    """(result, error text or None, characters printed) of ``function()`` run under ``limit`` s, printing captured."""
    writer, saved = BoundedWriter(), (sys.stdout, sys.stderr)
    sys.stdout = sys.stderr = writer
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return function(), None, writer.total
    except CellTimeout:
        return None, f"ran past {limit:g} s", writer.total
    except Exception as error:
        return None, f"{type(error).__name__}: {first_line(error)}", writer.total
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stdout, sys.stderr = saved


def python(source):
    """A cell's text as Python (IPython's magics and shell escapes translated)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def code_cells(path):
    """[(index, source)] of the notebook's code cells; None when it is missing, too large or not a notebook."""
    try:
        if Path(path).stat().st_size > NOTEBOOK_LIMIT:
            return None
        nb = json.loads(Path(path).read_text(errors="replace"))
    except (OSError, ValueError):
        return None
    if not isinstance(nb, dict):
        return None
    found = []
    for index, cell in enumerate(nb.get("cells") or []):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            found.append((index, source if isinstance(source, str) else "".join(map(str, source))))
    return found


def defined_classes(source):
    """The graded classes a cell defines at its top level; read from the text when the cell does not compile."""
    try:
        tree = ast.parse(python(source))
        return [node.name for node in tree.body if isinstance(node, ast.ClassDef) and node.name in GRADED]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return [name for name in GRADED if re.search(rf"(?m)^class\s+{name}\b", source)]


def splitter(workdir):
    """The import hook's own splitter, from the provided helpers in the workdir (never the package's __init__)."""
    spec = importlib.util.spec_from_file_location("_hw2_models_import", Path(workdir) / "hw2_helpers" / "models_import.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.top_level_statements


def _fresh_module(path, source_name):
    module = types.ModuleType("hw2_models")
    module.__file__ = str(path)
    module.GRADING_SOURCE = source_name
    sys.modules["hw2_models"] = module
    return module


def _run(code, module, limit, where, problems, at_import=""):
    _, error, printed = guarded(lambda: exec(code, module.__dict__), limit)
    if error and error.startswith("ran past"):
        problems.append(f"{where} {error}{at_import}")
    elif error:
        kind, _, message = error.partition(": ")
        problems.append(f"{where} raised {kind}{at_import}: {message}")
    if printed > OUTPUT_LIMIT:
        problems.append(f"{where} printed {printed:,} characters{at_import} (kept the first 64 KiB)")


def load_kit(workdir, problems, limit):
    """The submission's hw2_models.py as module ``hw2_models``, keeping every top-level statement that works."""
    path = Path(workdir) / "hw2_models.py"
    module = _fresh_module(path, "hw2_models.py")
    if not path.is_file():
        problems.append("no hw2_models.py")
        return module
    source = path.read_text(errors="replace")
    try:
        codes = [compile(source, str(path), "exec")]
    except (SyntaxError, ValueError) as error:
        problems.append(f"hw2_models.py does not compile (line {getattr(error, 'lineno', '?')}: "
                        f"{getattr(error, 'msg', error)}); its other top-level definitions are graded")
        codes = []
        for first, text in splitter(workdir)(source):
            try:
                codes.append(compile("\n" * (first - 1) + text, str(path), "exec"))
            except (SyntaxError, ValueError):
                pass
    for code in codes:
        _run(code, module, limit, "hw2_models.py", problems, " at import")
    return module


def load_assignment(workdir, problems, limit):
    """(module, indices of the cells it ran): the notebook's imports, then each class cell on its own."""
    path = Path(workdir) / "hw2.ipynb"
    module = _fresh_module(path, "hw2.ipynb")
    cells = code_cells(path)
    if cells is None:
        problems.append("hw2.ipynb could not be read")
        return module, set()
    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision
    import torchvision.transforms as transforms

    module.__dict__.update(np=np, torch=torch, nn=nn, F=F, torchvision=torchvision, transforms=transforms, plt=plt)
    for index, source in cells:  # the import statements only: an imports cell may hold anything else too
        try:
            tree = ast.parse(python(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        if imports:
            code = compile(ast.Module(body=imports, type_ignores=[]), f"<cell {index + 1}>", "exec")
            _run(code, module, limit, f"cell {index + 1}'s imports", problems)
    ran = set()
    for index, source in cells:
        classes = defined_classes(source)
        if not classes:
            continue
        ran.add(index)
        where = f"cell {index + 1} ({', '.join(classes)})"
        try:
            code = compile(python(source), f"<cell {index + 1}>", "exec")
        except SyntaxError as error:
            problems.append(f"{where} does not compile (line {error.lineno}: {error.msg})")
            continue
        except (ValueError, RecursionError, MemoryError) as error:
            problems.append(f"{where} does not compile ({type(error).__name__})")
            continue
        _run(code, module, limit, where, problems)
    return module, ran


def assigned(tree):
    """Names a cell assigns at its top level (functions' and classes' bodies left out)."""
    names, stack = set(), list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            if not isinstance(node, ast.Lambda):
                names.add(node.name)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return names


def plan(workdir, follows, needed, skip):
    """[(index, source, names)] of the cells to run: those that import something or assign a name in ``needed``,
    up to the last that assigns ``vae_model``; ``skip``: cells already run (the assignment's class cells)."""
    cells = code_cells(Path(workdir) / "hw2.ipynb")
    if cells is None:
        return None
    found = []
    for index, source in cells:
        try:
            tree = ast.parse(python(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None
        names = assigned(tree) if tree is not None else {  # a cell that does not compile: by its text
            name for name in follows if re.search(rf"(?m)^\s*{name}\s*=", source)}
        imports = tree is not None and any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body)
        found.append((index, source, names, imports))
    last = max([k for k, (_, _, names, _) in enumerate(found) if "vae_model" in names], default=len(found) - 1)
    return [(index, source, sorted(names)) for index, source, names, imports in found[:last + 1]
            if index not in skip and (set(names) & set(needed) or imports)]
