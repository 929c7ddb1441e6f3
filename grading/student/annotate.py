"""Mark the graded cells of the solved notebook:
``python -m grading.student.annotate [NOTEBOOK] [--assignment DIR] [--check]``.

For each automatic part that follows a notebook variable (the assignment's parts, ``grading.assignment``; default
notebook: the assignment's solved one), the first code cell a student gets
(not ``solution-only``) that assigns the variable at its top level gets ``metadata.grading = {"part": NAME,
"blank": [the variables a student writes]}``; ``grading.student.make`` blanks exactly those assignments. The cells
are found by what they assign, never by position, so the step can run again on any later version of the notebook: it is
idempotent and writes the file only when something changes. ``--check`` writes nothing and exits 1 when the
notebook's marks are missing or stale.
"""

import argparse
import ast
import sys

import nbformat

from grading import assignment as assignment_option
from grading.assignment import AssignmentError, load as load_assignment
from grading.student import _assignment, _source

KEY = "grading"


def _assigns(cell):
    """Names a code cell assigns at its top level (its IPython syntax translated first); empty if it does not parse."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(_source(cell)))
    except SyntaxError:
        return set()
    return {target.id for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def blanks_of(cell):
    """The variables a cell's metadata says a student writes (empty for an unmarked cell)."""
    return list(cell.get("metadata", {}).get(KEY, {}).get("blank", []))


def marks(nb, assignment=None):
    """{cell index: the metadata it should carry} for every graded cell of ``nb``; ValueError if one is not found."""
    wanted = {}
    for part in _assignment(assignment).cell_parts():
        found = next((i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
                      and "solution-only" not in cell.get("metadata", {}).get("tags", [])
                      and part.follows in _assigns(cell)), None)
        if found is None:
            raise ValueError(f"no code cell assigns {part.follows!r} (part {part.name}) at its top level: assign "
                             f"it as `{part.follows} = ...` at the top level of its cell (not inside if/for/with/try), "
                             "or fix the part's follows")
        missing = [name for name in part.fills if name not in _assigns(nb.cells[found])]
        if missing:
            raise ValueError(f"the cell defining {part.follows!r} (cell {found}) does not assign {', '.join(missing)}: "
                             "assign it there at the top level, or fix the part's fills")
        if found in wanted:
            raise ValueError(f"cell {found} holds two graded parts ({wanted[found]['part']}, {part.name}): "
                             "give each its own cell")
        wanted[found] = {"part": part.name, "blank": list(part.fills)}
    return wanted


def annotate(nb, assignment=None):
    """Set the marks on ``nb`` in place (and remove stale ones); returns whether anything changed."""
    wanted, changed = marks(nb, assignment), False
    for index, cell in enumerate(nb.cells):
        current = cell.get("metadata", {}).get(KEY)
        if index in wanted and current != wanted[index]:
            cell.metadata[KEY] = wanted[index]
            changed = True
        elif index not in wanted and current is not None:
            del cell.metadata[KEY]
            changed = True
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", nargs="?", help="the solved notebook (default: the assignment's)")
    assignment_option.add_option(parser)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the marks are missing or stale")
    args = parser.parse_args(argv)
    try:
        assignment = load_assignment(assignment_option.folder_from(args, "grading.student.annotate"))
    except AssignmentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    args.notebook = args.notebook or str(assignment.solved("notebook"))
    nb = nbformat.read(args.notebook, as_version=4)
    try:
        changed = annotate(nb, assignment)
    except ValueError as error:
        print(f"error: {args.notebook}: {error}", file=sys.stderr)
        return 1
    graded = ", ".join(f"cell {i}: {cell.metadata[KEY]['part']}"
                       for i, cell in enumerate(nb.cells) if KEY in cell.metadata)
    if args.check:
        print(f"{args.notebook}: {'marks missing or stale' if changed else 'marks up to date'} ({graded})")
        return 1 if changed else 0
    if changed:
        nbformat.write(nb, args.notebook)
    print(f"{args.notebook}: {'marked' if changed else 'already marked'} ({graded})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
