"""Submissions in the assignment's own format, built from the assignment's text and filled from the solved files.

``notebook_from_text`` rebuilds the handed-out notebook from ``hw2_assignment.txt`` (a code cell starts at each
``In [N]:`` line); ``solution_fills`` reads each blank's solution from the solved files (the module's markers and the
notebook's graded cells), so nothing here repeats the solution. Used by tests/assignments/test_hw2_cases.py and bench/.
"""

import ast
import re
from pathlib import Path

import nbformat

from grading.student import annotate
from grading import assignment as assignments
from grading.student import make as ms

HW = assignments.load()

ASSIGNMENT = Path(__file__).with_name("hw2_assignment.txt")  # the assignment as handed out
_IN = re.compile(r"In \[[^\]]*\]:")


def _compiles(paragraphs):
    try:
        ast.parse("\n\n".join("\n".join(p) for p in paragraphs).replace(ms.YOUR_CODE, "None"))
        return True
    except SyntaxError:
        return False


def _code_length(paragraphs):
    """How many of a block's paragraphs are its code cell: the most that compile together (a loop's header may stand
    apart from its body), less trailing markdown headings (which read as Python comments)."""
    k = next((k for k in range(len(paragraphs), 0, -1) if _compiles(paragraphs[:k])), 1)
    while k > 1 and all(re.match(r"#{2,} ", line) for line in paragraphs[k - 1]):
        k -= 1
    return k


def notebook_from_text(text):
    """The assignment's notebook (nbformat v4) from its text: markdown between the code cells, and an answer cell
    (``*Your answer here.*``) after each written question, which says "Answer in the markdown cell below"."""
    cells, markdown = [], []

    def add_markdown(lines):
        body = "\n".join(lines).strip()
        if body:
            cells.append(nbformat.v4.new_markdown_cell(body))
            if any(part.question in body for part in HW.written()):
                cells.append(nbformat.v4.new_markdown_cell(ms.EMPTY_ANSWER))

    blocks = re.split(r"(?m)^In \[[^\]]*\]:[ \t]*\n", text)
    add_markdown(blocks[0].splitlines())
    for block in blocks[1:]:
        paragraphs = [p.splitlines() for p in re.split(r"\n[ \t]*\n", block) if p.strip()]
        k = _code_length(paragraphs)
        code, paragraphs = paragraphs[:k], paragraphs[k:]
        cells.append(nbformat.v4.new_code_cell("\n\n".join("\n".join(p) for p in code).rstrip()))
        add_markdown([line for p in paragraphs for line in p + [""]])
    return nbformat.v4.new_notebook(cells=cells)


def assignment_notebook():
    return notebook_from_text(ASSIGNMENT.read_text())


def _statement_text(source, name):
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == name for t in n.targets))
    return "\n".join(source.split("\n")[node.lineno - 1:node.end_lineno])


def _for_the_assignment(statement):
    """A solved statement as the assignment's notebook can run it: without the kit's loader generator and
    memory-format helper (names the assignment does not define)."""
    statement = statement.replace(", generator=loader_generator", "")
    statement = statement.replace(", memory_format=hw2.memory_format(device)", "")
    assert "hw2." not in statement and "loader_generator" not in statement, statement
    return statement


def solution_fills(solved_notebook):
    """{(class or None, the blank line, stripped): the solved text} for every blank of the assignment."""
    fills = {}
    text, blanks = ms.module_blanks(HW.solved("module").read_text())
    lines = text.split("\n")
    for index, solved, student in blanks:
        owner = next(m.group(1) for m in (re.match(r"class (\w+)", l) for l in reversed(lines[:index])) if m)
        fills[(owner, student.strip())] = solved.strip()
    nb = nbformat.read(solved_notebook, as_version=4)
    for cell in nb.cells:
        for name in annotate.blanks_of(cell):
            fills[(None, f"{name} = {ms.YOUR_CODE}")] = _for_the_assignment(_statement_text(cell.source, name))
    return fills


def fill(nb, fills):
    """A copy of the assignment notebook ``nb`` with every blank filled; AssertionError naming a blank left over."""
    nb = nbformat.from_dict(nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(c)) for c in nb.cells]))
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        owner, out = None, []
        for line in cell.source.split("\n"):
            match = re.match(r"class (\w+)", line)
            owner = match.group(1) if match else owner
            key = (owner if line.startswith(" ") else None, line.strip())
            if key in fills:
                indent = line[:len(line) - len(line.lstrip())]
                out.append("\n".join(l if k else indent + l for k, l in enumerate(fills[key].split("\n"))))
            else:
                out.append(line)
        cell.source = "\n".join(out)
        assert ms.YOUR_CODE not in cell.source and not re.search(r"(Conv2d|Linear)\(_|=_\b", cell.source), cell.source
    return nb
