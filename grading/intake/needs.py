"""What a notebook's graded cells need from earlier cells, derived from the solved notebook: the names the plan
(``grading.intake.notebook.plan``) must run cells for, so that every planned cell finds what it reads, and the names a
planned cell reads that no earlier cell defines (``python -m grading.selftest`` names each with its cell). The
assignment's ``needed`` overrides the derivation (``grading.assignment.Assignment.needed``)."""

import ast
import builtins

from grading.intake.notebook import _tree, assigned, cells, code_cells, plan, tags

SOLUTION_ONLY = "solution-only"  # a solved notebook's cells a student version leaves out
IPYTHON_NAMES = {"get_ipython", "display", "In", "Out", "exit", "quit", "__name__", "__file__"}


def _trusted_tree(text):
    """A solved notebook's cell parsed, its IPython syntax translated (the instructor's own file, never a
    submission's: the translation can take minutes on a crafted cell)."""
    tree = _tree(text)
    if tree is None:
        from IPython.core.inputtransformer2 import TransformerManager

        tree = _tree(TransformerManager().transform_cell(text))
    return tree


def reads(tree):
    """(names a cell reads when it runs, names its functions read when called): those it never binds itself."""
    now, later, bound, stack = set(), set(), set(), [(node, False) for node in tree.body]
    while stack:
        node, deferred = stack.pop()
        if isinstance(node, ast.Name):
            (later if deferred else now).add(node.id) if isinstance(node.ctx, ast.Load) else bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        inside = deferred or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        stack.extend((child, inside) for child in ast.iter_child_nodes(node))
    known = bound | set(dir(builtins)) | IPYTHON_NAMES
    return now - known, later - known


def needs(nb, graded, last):
    """(needed, missing) of a solved notebook (its ``solution-only`` cells left out): ``needed``, the names the plan
    must run cells for so that every planned cell finds what it reads: ``graded``, then each name a planned cell reads
    that an earlier cell assigns, until nothing is added (imports run anyway); ``missing``, [(cell index, name)] that
    a planned cell reads and no earlier cell defines (functions' reads: no cell)."""
    found = [(i, text) for i, text in code_cells(nb) if SOLUTION_ONLY not in tags(cells(nb)[i])]
    skip = {i for i, _ in code_cells(nb)} - {i for i, _ in found}
    trees = {i: _trusted_tree(text) for i, text in found}
    assigns = {i: assigned(tree) if tree else set() for i, tree in trees.items()}
    imports = {i: {(a.asname or a.name).split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                   for a in node.names} if tree else set() for i, tree in trees.items()}
    read = {i: reads(tree) if tree else (set(), set()) for i, tree in trees.items()}
    needed = set(graded)
    while True:
        planned = [i for i, _ in plan(nb, needed, last, skip)]
        wanted = {name for i in planned for name in read[i][0] | read[i][1]
                  if any(name in assigns[j] for j in trees if j < i)}
        if wanted <= needed:
            break
        needed |= wanted
    everywhere = set().union(*assigns.values(), *imports.values())
    missing = [(i, name) for i in planned for name in sorted(read[i][0])
               if not any(name in assigns[j] | imports[j] for j in trees if j < i)]
    missing += [(i, name) for i in planned for name in sorted(read[i][1] - everywhere)]
    return needed, missing
