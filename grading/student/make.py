"""Write an assignment's student version from its solved files:
``python -m grading.student [--assignment DIR] [--out DIR]`` (default: the repository's own assignment, into
``dist/student``).

Everything the generator knows of the assignment comes from its folder (``grading.assignment``): the file names, the
parts, and the student version's texts in ``student/`` (``note.md``, the note inserted after the notebook's first
cell; ``readme.md``, the README's template; ``rules.json``, the text rules; ``submission_cell.py``, the hand-in cell)
and ``assignment.json``'s ``student`` entry (``check_cell``, the public check cell's template with ``{part}``;
``checks_folder``, where the toolkit's assignment.json and public cases ship, ``checking`` by default; ``ship``:
``files`` copied beside the notebook and ``data``, paths or patterns under the dataset's folder). What a student
gets, every file generated on every run:

- the notebook (``files.notebook``): the solved one without its ``solution-only`` cells, outputs cleared, each
  ``answer`` cell replaced by ``*Your answer here.*`` (one per written part) and, in each graded cell, the
  assignment of every variable its metadata names (``grading.blank``, written by ``grading.student.annotate``) made
  ``NAME = ### YOUR CODE HERE ###``; the note (tagged ``student-only``), a public check cell (tag ``check``) after
  the graded cell of each automatic part with public cases (``check_positions``) and last the hand-in cell (tag
  ``submission``), all tagged ``student-only`` (so ``fill_back`` leaves them out);
- the module (``files.module``): the solved one with a blank on every line that ends with a marker (``MARKER``) and
  the prose that would give an answer away rewritten by the module's text rules;
- ``README.md`` (``student_readme``), the provided helpers as they are, the student's toolkit (``ship_toolkit``:
  ``casekit`` with the assignment's data and public cases), the images the notebook shows, the shipped files and
  data, and the data's README generated from assignment.json (``data_readme``).

The blanks come from the solved files themselves, so no copy of the solution lives here. A text rule is (what,
solved text, student text), made of whole lines, and must match exactly once, so a change to the solution that
breaks one stops the generator (and the tests) instead of shipping the answer. ``fill_back`` puts the solution back
where each blank stands: the round trip gives the solved sources back.
"""

import argparse
import ast
import copy
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat

from grading import assignment as assignment_option
from grading.assignment import EMPTY_ANSWER, YOUR_CODE, AssignmentError, load as load_assignment
from grading.student import _assignment, _source
from grading.student.aids import (
    STUDENT_ONLY, RuleError, add_check_cells, check_positions, copy_helpers, ship, ship_toolkit, shown_images,
    student_readme,
)
from grading.student.annotate import blanks_of

REPO = Path(__file__).resolve().parents[2]
STUDENT_NOTE_TAG = STUDENT_ONLY  # also on the generated check and hand-in cells (grading.student_aids)


def text_rules(assignment=None):
    """{"notebook": [(what, solved, student)], "module": [...]}: the assignment's ``student/rules.json`` (none without
    one). Prose of the solved files that differs in the student version, with no blank a marker could derive it from."""
    path = _assignment(assignment).folder / "student" / "rules.json"
    found = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {kind: [tuple(rule) for rule in found.get(kind, [])] for kind in ("notebook", "module")}


def student_note(assignment=None):
    """The note inserted after the notebook's first cell (``student/note.md``), or None without one."""
    path = _assignment(assignment).folder / "student" / "note.md"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


# A line of the solved module that a student fills ends with a marker, its last text; deleting every match of MARKER
# gives back the solved line (the solved notebook's show_source deletes them so).
#   # blank: line                 the right-hand side becomes ### YOUR CODE HERE ###
#   # blank: args[, KEYWORD...]   the call's positional arguments and the named keywords' values become _
#   # blank: comment              the line's comment goes (it gives the answer away)
# Each drops the line's own comment. In the solved notebook, a graded cell's metadata ``grading.blank`` lists the variables
# whose assignments become ``NAME = ### YOUR CODE HERE ###`` (written by ``python -m grading.student.annotate``).
MARKER = re.compile(r"[ \t]+# blank\b[^\n]*")
_MARKER_FORM = re.compile(r"[ \t]+# blank: (line|comment|args(?:, \w+)*)$")
NOTEBOOK_KEY = "grading"


def whole_line_matches(text, needle):
    """Start offsets where ``needle`` occurs in ``text`` as whole lines (from a line's start to a line's end)."""
    starts, at = [], text.find(needle)
    while at != -1:
        end = at + len(needle)
        if (at == 0 or text[at - 1] == "\n") and (end == len(text) or text[end] == "\n"):
            starts.append(at)
        at = text.find(needle, at + 1)
    return starts


def apply_rules(texts, rules, reverse=False, where="the module"):
    """Apply each (what, solved, blank) rule to ``texts`` (a list of strings: a file, or a notebook's cells).

    Each rule's text to replace must occur exactly once over all of ``texts``, as whole lines; RuleError otherwise.
    Returns the new list.
    """
    texts = list(texts)
    for what, solved, blank in rules:
        old, new = (blank, solved) if reverse else (solved, blank)
        found = [(i, at) for i, text in enumerate(texts) for at in whole_line_matches(text, old)]
        if len(found) != 1:
            raise RuleError(
                f"{where}: the rule for {what!r} must match exactly once, as whole lines, and matches {len(found)} "
                f"times:\n{old}\nUpdate the rule in the assignment's student/rules.json to the solved file's current text."
            )
        (i, at), = found
        texts[i] = texts[i][:at] + new + texts[i][at + len(old):]
    return texts


def _tags(cell):
    return list(cell.get("metadata", {}).get("tags", []))


def kept_cells(nb):
    """The solved notebook's cells a student gets (all but ``solution-only``), deep-copied."""
    return [copy.deepcopy(cell) for cell in nb.cells if "solution-only" not in _tags(cell)]


def answer_rules(nb):
    """One rule per ``answer`` cell: its whole solved text -> the empty answer (so the round trip restores it)."""
    return [(f"answer {k + 1}", _source(cell), EMPTY_ANSWER)
            for k, cell in enumerate(c for c in nb.cells if "answer" in _tags(c) and "solution-only" not in _tags(c))]


def _statement(code, where):
    """The one statement of ``code`` (a line of the module, stripped), parsed; RuleError if it is not one."""
    try:
        body = ast.parse(code).body
    except SyntaxError as error:
        raise RuleError(f"{where}: a marked line must be a whole statement ({error.msg}): {code}; put the "
                        "statement on one line, or mark it '# blank: comment'") from None
    if len(body) != 1:
        raise RuleError(f"{where}: a marked line must hold one statement: {code}; split it over lines")
    return body[0]


def blank_line(line, form, where="the module"):
    """The student's version of a solved ``line`` (its marker already deleted) under the marker's ``form``."""
    indent = line[:len(line) - len(line.lstrip())]
    code = line.strip()
    node = _statement(code, where)
    statement = code[:node.end_col_offset]  # the line without its comment
    if form == "comment":
        return indent + statement
    if not isinstance(node, ast.Assign):
        raise RuleError(f"{where}: '# blank: {form}' marks an assignment, not: {code}; mark the line "
                        "'# blank: comment', or write it as an assignment")
    if form == "line":
        return indent + code[:node.value.col_offset] + YOUR_CODE
    keywords = form.split(", ")[1:]
    call = node.value
    if not isinstance(call, ast.Call):
        raise RuleError(f"{where}: '# blank: {form}' marks an assignment of a call, not: {code}; use "
                        "'# blank: line'")
    spans = [(arg.col_offset, arg.end_col_offset) for arg in call.args]
    for keyword in keywords:
        found = [k.value for k in call.keywords if k.arg == keyword]
        if not found:
            raise RuleError(f"{where}: '# blank: {form}' names {keyword}=, which the call lacks: {code}; add "
                            f"{keyword}= to the call or remove it from the marker")
        spans.append((found[0].col_offset, found[0].end_col_offset))
    for begin, end in sorted(spans, reverse=True):
        statement = statement[:begin] + "_" + statement[end:]
    return indent + statement


def module_blanks(text, where="the module"):
    """(the module with its markers deleted, [(line index, solved line, student line)] for every marked line)."""
    lines, blanks = text.split("\n"), []
    for index, line in enumerate(lines):
        match = MARKER.search(line)
        if match is None:
            continue
        form = _MARKER_FORM.search(line)
        if form is None or form.start() != match.start():
            raise RuleError(f"{where} line {index + 1}: a marker must be the last text of its line, one of "
                            f"'# blank: line', '# blank: args[, KEYWORD...]', '# blank: comment': {line.strip()}")
        solved = line[:match.start()]
        lines[index] = solved
        blanks.append((index, solved, blank_line(solved, form.group(1), f"{where} line {index + 1}")))
    return "\n".join(lines), blanks


def notebook_blanks(source, names, where):
    """A cell's ``source`` with the top-level assignment of each of ``names`` made ``NAME = ### YOUR CODE HERE ###``."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise RuleError(f"{where}: the cell does not parse ({error.msg}): fix the solved cell") from None
    lines = source.split("\n")
    spans = []
    for name in names:
        found = [node for node in tree.body if isinstance(node, ast.Assign) and len(node.targets) == 1
                 and isinstance(node.targets[0], ast.Name) and node.targets[0].id == name]
        if len(found) != 1:
            raise RuleError(f"{where}: the cell's metadata blanks {name!r}, which the cell assigns {len(found)} times "
                            "at its top level; run python -m grading.student.annotate on the solved notebook again")
        node = found[0]
        indent = lines[node.lineno - 1][:node.col_offset]
        spans.append((node.lineno - 1, node.end_lineno, f"{indent}{name} = {YOUR_CODE}"))
    for first, last, text in sorted(spans, reverse=True):
        lines[first:last] = [text]
    return "\n".join(lines)


def _blanked_cells(cells, assignment=None):
    """{index: the names to blank} of ``cells``, from the metadata annotate writes; RuleError when it is missing."""
    assignment = _assignment(assignment)
    notebook = assignment.files["notebook"]
    found = {i: blanks_of(cell) for i, cell in enumerate(cells)}
    found = {i: names for i, names in found.items() if names}
    expected = {name for part in assignment.cell_parts() for name in part.fills}
    marked = {name for names in found.values() for name in names}
    if marked != expected:
        raise RuleError(f"{notebook}: the graded cells' metadata blanks {sorted(marked)}, expected {sorted(expected)}: "
                        f"run python -m grading.student.annotate {notebook}")
    return found


def student_notebook(solved_path=None, assignment=None):
    """The student notebook (an nbformat node) made from the solved one (default: the assignment's)."""
    assignment = _assignment(assignment)
    notebook = assignment.files["notebook"]
    nb = nbformat.read(solved_path or assignment.solved("notebook"), as_version=4)
    cells = kept_cells(nb)
    answers = [i for i, cell in enumerate(cells) if "answer" in _tags(cell)]
    if len(answers) != len(assignment.written()):
        raise RuleError(f"{notebook}: expected {len(assignment.written())} cells tagged 'answer' (the written "
                        f"questions), found {len(answers)}: tag the markdown cell after each question 'answer'")
    sources = [_source(cell) for cell in cells]
    for i in answers:  # whole cells: an answer cell's text is unique, and never shipped
        sources[i] = EMPTY_ANSWER
    for i, names in _blanked_cells(cells, assignment).items():
        sources[i] = notebook_blanks(sources[i], names, f"{notebook} cell {i}")
    sources = apply_rules(sources, text_rules(assignment)["notebook"], where=notebook)
    checks = check_positions(cells, NOTEBOOK_KEY, assignment)  # before the marks go: the graded cells are found by them
    for cell, text in zip(cells, sources):
        cell.source = text
        tags = ["answer"] if "answer" in _tags(cell) else []
        cell.metadata = {"tags": tags} if tags else {}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.pop("attachments", None)
    add_check_cells(cells, checks, assignment)
    text = student_note(assignment)
    if text:
        note = nbformat.v4.new_markdown_cell(text, metadata={"tags": [STUDENT_NOTE_TAG]})
        note.id = "student-note"
        cells.insert(1, note)
    student = nbformat.v4.new_notebook(cells=cells, metadata={
        key: nb.metadata[key] for key in ("kernelspec", "language_info") if key in nb.metadata})
    student.nbformat, student.nbformat_minor = nb.nbformat, nb.nbformat_minor
    return student


def solved_module(solved_path=None, assignment=None):
    """The solved module as it runs and as the solved notebook shows it: its markers deleted."""
    return MARKER.sub("", Path(solved_path or _assignment(assignment).solved("module")).read_text())


def student_module(solved_path=None, assignment=None):
    """The student module's text made from the solved one."""
    assignment = _assignment(assignment)
    module = assignment.files["module"]
    text, blanks = module_blanks(Path(solved_path or assignment.solved("module")).read_text(), module)
    lines = text.split("\n")
    for index, _, student in blanks:
        lines[index] = student
    return apply_rules(["\n".join(lines)], text_rules(assignment)["module"], where=module)[0]


def fill_back(student_nb, student_module_text, solved_nb, solved_module_path=None, assignment=None):
    """Fill the student version's blanks with the solution: (notebook cell sources, module text).

    The notebook's sources are those of the cells a student gets (the ``student-only`` note left out), in order;
    the module is the solved one without its markers. Each blank is put back where it stands, and everything else
    must be as the solved files make it (RuleError otherwise), so the round trip proves no solution text is left.
    """
    assignment = _assignment(assignment)
    notebook, module = assignment.files["notebook"], assignment.files["module"]
    rules = text_rules(assignment)
    cells = [cell for cell in student_nb.cells if STUDENT_NOTE_TAG not in _tags(cell)]
    sources = apply_rules([_source(cell) for cell in cells], rules["notebook"], reverse=True,
                          where=f"student {notebook}")
    solved_cells = kept_cells(solved_nb)
    if len(solved_cells) != len(cells):
        raise RuleError(f"student {notebook} has {len(cells)} cells, the solved one gives {len(solved_cells)}: "
                        "make the student version again (python -m grading.student)")
    answers = iter(solved for _, solved, _ in answer_rules(solved_nb))
    for i, cell in enumerate(cells):  # the answer cells, in order (each holds the same empty answer)
        if "answer" in _tags(cell):
            if sources[i] != EMPTY_ANSWER:
                raise RuleError(f"student {notebook}: answer cell {i} is not the empty answer")
            sources[i] = next(answers)
    for i, names in _blanked_cells(solved_cells, assignment).items():
        solved = _source(solved_cells[i])
        if sources[i] != notebook_blanks(solved, names, f"{notebook} cell {i}"):
            raise RuleError(f"student {notebook}: cell {i} is not the solved cell with {', '.join(names)} blanked")
        sources[i] = solved
    text, blanks = module_blanks(Path(solved_module_path or assignment.solved("module")).read_text(), module)
    lines = apply_rules([student_module_text], rules["module"], reverse=True, where=f"student {module}")[0]
    lines = lines.split("\n")
    if len(lines) != len(text.split("\n")):
        raise RuleError(f"student {module}: its lines do not match the solved file's: make the student version "
                        "again (python -m grading.student)")
    for index, solved, student in blanks:
        if lines[index] != student:
            raise RuleError(f"student {module} line {index + 1} is {lines[index]!r}, expected the blank {student!r}")
        lines[index] = solved
    return sources, "\n".join(lines)


def make_student(out=REPO / "dist" / "student", notebook=None, assignment=None):
    """Write the student version of ``assignment`` (default: the repository's own) into ``out`` (replaced if it
    exists) from the solved ``notebook`` (default: the assignment's); return its path."""
    assignment = _assignment(assignment)
    notebook = Path(notebook or assignment.solved("notebook"))
    out = Path(out)
    nb = student_notebook(notebook, assignment)
    module = student_module(assignment=assignment)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    nbformat.write(nb, out / assignment.files["notebook"])
    (out / assignment.files["module"]).write_text(module)
    copy_helpers(out, assignment)
    ship(out, assignment)
    for image in shown_images(nb, notebook.parent):
        (out / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(notebook.parent / image, out / image)
    ship_toolkit(out, assignment)
    (out / "README.md").write_text(student_readme(assignment))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    assignment_option.add_option(parser)
    parser.add_argument("--out", default=str(REPO / "dist" / "student"),
                        help="folder to write (replaced if it exists; default: dist/student)")
    args = parser.parse_args(argv)
    try:
        out = make_student(args.out, assignment=load_assignment(assignment_option.folder_from(args, "grading.student")))
    except (RuleError, AssignmentError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    print(f"Wrote the student version to {out}: {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
