"""The assignment's own format: one ``hw2.ipynb`` whose cells define ``LeNet_5``, ``Encoder``, ``Decoder``,
``AutoEncoder`` and ``VariationalAutoEncoder``, with no ``hw2_models.py`` (what a course that handed out the
assignment as written receives).

It is graded as the kit's format is, by the same sandbox, checks and points. The cells that define the graded
classes are run first, each on its own and under the cell time limit, into a module that stands in for
``hw2_models.py`` (so the module checks apply unchanged, and a cell that does not compile costs its own class and
what is built from it, never another class); the notebook's run then skips those cells and finds the classes
already defined. Training never runs: the sandbox runs only the cells that define what a check needs, and the
assignment's ``MNIST("data", download=True)`` finds the shipped files in the copy's ``data`` folder (offline).

Which format wins when a submission holds both ``hw2.ipynb`` and ``hw2_models.py``: the notebook decides. If its
cells define a graded class and it never imports ``hw2_models``, running it top to bottom uses its own classes and
never the file, so it is graded as the assignment's notebook and the file is ignored (the row's status says so);
otherwise it is the kit's format.
"""

import ast
import sys
import types

from grading.notebook import ASSIGNMENT, CLASSES, KIT, code_cells, decide, defined_classes, detect, load, python

__all__ = ["ASSIGNMENT", "CLASSES", "KIT", "classes_of", "decide", "detect", "load_module"]


def load_module(notebook_path, problems, execute):
    """A module ``hw2_models`` made of the notebook's class cells: (module, indices of the cells it ran).

    ``execute(code, module, where)`` runs compiled code in the module under the sandbox's time limit and records what
    went wrong; the notebook's import statements run first, so the classes find what their cells would.
    """
    module = types.ModuleType("hw2_models")
    module.__file__ = str(notebook_path)
    module.GRADING_SOURCE = "hw2.ipynb"  # what the checks name instead of hw2_models.py
    sys.modules["hw2_models"] = module
    nb, _ = load(notebook_path)
    if nb is None:
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
    cells = code_cells(nb)
    for index, source in cells:  # the import statements only: an imports cell may hold anything else too
        try:
            tree = ast.parse(python(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        if imports:
            execute(compile(ast.Module(body=imports, type_ignores=[]), f"<cell {index + 1}>", "exec"), module,
                    f"cell {index + 1}'s imports")
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
        execute(code, module, where)
    return module, ran


def classes_of(module):
    """The graded classes the module defines: what the notebook's other cells find already defined."""
    return {name: getattr(module, name) for name in CLASSES if isinstance(getattr(module, name, None), type)}
