"""Write the student version of HW2 from the solved files: ``python -m grading.make_student [--out dist/student]``.

What a student gets (every file generated from the solved sources on every run, never edited by hand):

- ``hw2.ipynb``: the solved notebook without its ``solution-only`` cells, with outputs cleared, each
  ``answer`` cell replaced by ``*Your answer here.*`` and, in each graded cell, the assignment of every variable its
  metadata names (``grading.blank``, written by ``python -m grading.annotate``) made ``NAME = ### YOUR CODE HERE ###``;
  one short note (tagged ``student-only``) says where the code goes. Generated cells, tagged ``student-only`` too (so
  ``fill_back`` leaves them out): a public check ``hw2.check("PART")`` (tag ``check``) after the graded cell of each
  automatic part (``check_positions``), and last the hand-in, ``hw2.make_submission()`` (tag ``submission``), which
  the notebook's closing instruction points at.
- ``hw2_models.py``: the solved module with a blank on every line that ends with a marker (``MARKER``: ``_`` for
  LeNet-5's layer sizes, ``### YOUR CODE HERE ###`` for the layer lines of ``Encoder`` and ``Decoder``, LeNet-5's
  shape comments dropped); the prose that would give an answer away (LeNet-5's docstring, the VAE's "Build it as
  ..." hint) is rewritten by ``MODULE_TEXT_RULES``.
- ``README.md`` (one screen, ``student_readme``: install, open, quick mode, where each part goes, check, hand in).
- ``hw2_helpers`` as it is (a file or a package) plus ``parts.json`` (``student_table``: what the public checks and
  the hand-in read of ``grading/parts.py``, which is not shipped), ``imgs/`` (only the images the student notebook shows), ``data/``
  (the four MNIST ``.gz`` files and their README: source, attribution, licence) and ``requirements.txt``.

The blanks come from the solved files themselves, so no copy of the solution lives here. A text rule is (what,
solved text, student text), made of whole lines, and must match exactly once, so a change to the solution that
breaks one stops the generator (and ``tests/test_grading.py``) instead of shipping the answer. ``fill_back`` puts
the solution back where each blank stands: the round trip gives the solved sources back.
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

from grading import assignment as assignments
from grading.student_aids import (  # noqa: F401  (the student-side cells and files, in a room of their own)
    CHECK_TAG, SUBMISSION_TAG, RuleError, add_check_cells, check_positions, public_checks, student_readme,
)

REPO = Path(__file__).resolve().parents[1]
YOUR_CODE, EMPTY_ANSWER = assignments.YOUR_CODE, assignments.EMPTY_ANSWER
STUDENT_NOTE_TAG = "student-only"  # also on the generated check and hand-in cells (grading.student_aids)
STUDENT_NOTE = (
    "> **Where your code goes.** The model classes live in [`hw2_models.py`](hw2_models.py), next to this notebook: "
    "fill in its blanks there (the `_` of `LeNet_5` and the `### YOUR CODE HERE ###` lines of `Encoder` and `Decoder`); "
    "the notebook imports them and shows the file's current code. The other blanks are in the notebook's cells. "
    "The folder `hw2_helpers/` holds provided helpers: leave it as it is. After editing `hw2_models.py`, restart the kernel. "
    "You can run Part 1 while Part 2's `### YOUR CODE HERE ###` lines are still open: the notebook imports the rest "
    "of the file, and a cell that uses an unfinished class stops with a message naming it and its line. "
    "Set the environment variable `HW2_QUICK=1` before starting Jupyter for a quick run (small subsets, one epoch per "
    "model) while you work. A `hw2.check(...)` cell follows each graded cell: it prints what its public checks found "
    "(shapes and types only; the grader's hidden checks decide the points). The last cell writes `hw2_submission.zip`, "
    "what you upload. [`README.md`](README.md) says more."
)

# Prose of the solved files that differs in the student version: no blank, so no marker can derive it; each is
# (what, solved text, student text), whole lines that must match exactly once.
NOTEBOOK_TEXT_RULES = [
    ("where LeNet-5 is filled in",
     "# The class lives in hw2_models.py (one source of truth); here is the filled-in code.",
     "# The class lives in hw2_models.py: replace its _ there, then restart the kernel. Here is the file's current code."),
    ("where the encoder is filled in",
     "# Filled in hw2_models.py. Fix: the provided shape comment on conv_1 said 3x28x28; MNIST images have 1 channel.",
     "# Define the layers in hw2_models.py. Fix: the provided shape comment on conv_1 said 3x28x28; MNIST images have 1 channel."),
    ("how to hand in: the notebook's last cell makes the zip",
     "Congratulations, you have made it to the end of HW2! Please save you changes and then commit and sync them to github. "
     "Also, zip the folder for HW2 and upload it to Canvas.",
     "Congratulations, you have made it to the end of HW2! Please save you changes and then commit and sync them to github. "
     "Also, zip the folder for HW2 and upload it to Canvas: the cell below does the zipping. Save the notebook "
     "(Ctrl-S / Cmd-S), run it, and upload the `hw2_submission.zip` it writes next to this notebook (it holds "
     "`hw2.ipynb` and `hw2_models.py`, what the grader reads)."),
]
MODULE_TEXT_RULES = [  # a docstring and a message continued over lines: text a trailing marker cannot carry
    ("LeNet-5 docstring (gives the layer sizes away)",
     '    C1: 6 maps from 5x5 neighbourhoods of the input, C3: 16 maps from 5x5 neighbourhoods of S2,\n'
     '    C5: 120 maps from 5x5 neighbourhoods of S4 (1x1 each, so C5 is fully connected), F6: 84 units,\n'
     '    output: 10 units. Differences from the paper, as the assignment asks: each C3 map sees all 6\n'
     '    S2 maps (the paper\'s Table I connects each to a subset of 3, 4 or 6, giving 1,516 weights\n'
     '    instead of 2,416); subsampling is max pooling without trainable coefficients; the output layer\n'
     '    is a linear layer trained with cross-entropy instead of Euclidean RBF units.',
     "    Replace every _ below with the sizes of the paper's C1, C3, C5, F6 and output layers (pp. 7-8 and the\n"
     "    architecture figure). As the assignment asks, each C3 map sees all the S2 maps, subsampling is max pooling,\n"
     "    and the output layer is a linear layer trained with cross-entropy."),
    ("the VAE's width check spells out the answer of the VAE cell",
     '                    f"latent width {expected}; received one of width {found}. Build it as "\n'
     '                    f"VariationalAutoEncoder(Encoder({2 * latent_dimensionality}), "\n'
     '                    f"Decoder({latent_dimensionality}), {latent_dimensionality})."',
     '                    f"latent width {expected}; received one of width {found}."'),
]

# A line of hw2_models.py that a student fills ends with a marker, its last text; deleting every match of MARKER
# gives back the solved line (the solved notebook's show_source deletes them so).
#   # blank: line                 the right-hand side becomes ### YOUR CODE HERE ###
#   # blank: args[, KEYWORD...]   the call's positional arguments and the named keywords' values become _
#   # blank: comment              the line's comment goes (it gives the answer away)
# Each drops the line's own comment. In hw2.ipynb, a graded cell's metadata ``grading.blank`` lists the variables
# whose assignments become ``NAME = ### YOUR CODE HERE ###`` (written by ``python -m grading.annotate``).
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


def apply_rules(texts, rules, reverse=False, where="hw2_models.py"):
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
                f"times:\n{old}\nUpdate the rule in grading/make_student.py to the solved file's current text."
            )
        (i, at), = found
        texts[i] = texts[i][:at] + new + texts[i][at + len(old):]
    return texts


def _source(cell):
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


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
        raise RuleError(f"{where}: a marked line must be a whole statement ({error.msg}): {code}") from None
    if len(body) != 1:
        raise RuleError(f"{where}: a marked line must hold one statement: {code}")
    return body[0]


def blank_line(line, form, where="hw2_models.py"):
    """The student's version of a solved ``line`` (its marker already deleted) under the marker's ``form``."""
    indent = line[:len(line) - len(line.lstrip())]
    code = line.strip()
    node = _statement(code, where)
    statement = code[:node.end_col_offset]  # the line without its comment
    if form == "comment":
        return indent + statement
    if not isinstance(node, ast.Assign):
        raise RuleError(f"{where}: '# blank: {form}' marks an assignment, not: {code}")
    if form == "line":
        return indent + code[:node.value.col_offset] + YOUR_CODE
    keywords = form.split(", ")[1:]
    call = node.value
    if not isinstance(call, ast.Call):
        raise RuleError(f"{where}: '# blank: {form}' marks an assignment of a call, not: {code}")
    spans = [(arg.col_offset, arg.end_col_offset) for arg in call.args]
    for keyword in keywords:
        found = [k.value for k in call.keywords if k.arg == keyword]
        if not found:
            raise RuleError(f"{where}: '# blank: {form}' names {keyword}=, which the call lacks: {code}")
        spans.append((found[0].col_offset, found[0].end_col_offset))
    for begin, end in sorted(spans, reverse=True):
        statement = statement[:begin] + "_" + statement[end:]
    return indent + statement


def module_blanks(text, where="hw2_models.py"):
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
        raise RuleError(f"{where}: the cell does not parse ({error.msg})") from None
    lines = source.split("\n")
    spans = []
    for name in names:
        found = [node for node in tree.body if isinstance(node, ast.Assign) and len(node.targets) == 1
                 and isinstance(node.targets[0], ast.Name) and node.targets[0].id == name]
        if len(found) != 1:
            raise RuleError(f"{where}: the cell's metadata blanks {name!r}, which the cell assigns {len(found)} times "
                            "at its top level; run python -m grading.annotate on the solved notebook again")
        node = found[0]
        indent = lines[node.lineno - 1][:node.col_offset]
        spans.append((node.lineno - 1, node.end_lineno, f"{indent}{name} = {YOUR_CODE}"))
    for first, last, text in sorted(spans, reverse=True):
        lines[first:last] = [text]
    return "\n".join(lines)


def _blanked_cells(cells):
    """{index: the names to blank} of ``cells``, from the metadata annotate writes; RuleError when it is missing."""
    from grading.annotate import blanks_of

    found = {i: blanks_of(cell) for i, cell in enumerate(cells)}
    found = {i: names for i, names in found.items() if names}
    expected = {name for part in assignments.load().cell_parts() for name in part.fills}
    marked = {name for names in found.values() for name in names}
    if marked != expected:
        raise RuleError(f"hw2.ipynb: the graded cells' metadata blanks {sorted(marked)}, expected {sorted(expected)}: "
                        "run python -m grading.annotate hw2.ipynb")
    return found


def student_notebook(solved_path=REPO / "hw2.ipynb"):
    """The student notebook (an nbformat node) made from the solved one."""
    nb = nbformat.read(solved_path, as_version=4)
    cells = kept_cells(nb)
    answers = [i for i, cell in enumerate(cells) if "answer" in _tags(cell)]
    if len(answers) != 2:
        raise RuleError(f"hw2.ipynb: expected 2 cells tagged 'answer' (the two written questions), found {len(answers)}")
    sources = [_source(cell) for cell in cells]
    for i in answers:  # whole cells: an answer cell's text is unique, and never shipped
        sources[i] = EMPTY_ANSWER
    for i, names in _blanked_cells(cells).items():
        sources[i] = notebook_blanks(sources[i], names, f"hw2.ipynb cell {i}")
    sources = apply_rules(sources, NOTEBOOK_TEXT_RULES, where="hw2.ipynb")
    public_checks()
    checks = check_positions(cells, NOTEBOOK_KEY)  # before the marks go: the graded cells are found by them
    for cell, text in zip(cells, sources):
        cell.source = text
        tags = ["answer"] if "answer" in _tags(cell) else []
        cell.metadata = {"tags": tags} if tags else {}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.pop("attachments", None)
    add_check_cells(cells, checks)
    note = nbformat.v4.new_markdown_cell(STUDENT_NOTE, metadata={"tags": [STUDENT_NOTE_TAG]})
    note.id = "student-note"
    cells.insert(1, note)
    student = nbformat.v4.new_notebook(cells=cells, metadata={
        key: nb.metadata[key] for key in ("kernelspec", "language_info") if key in nb.metadata})
    student.nbformat, student.nbformat_minor = nb.nbformat, nb.nbformat_minor
    return student


def solved_module(solved_path=REPO / "hw2_models.py"):
    """The solved module as it runs and as the solved notebook shows it: its markers deleted."""
    return MARKER.sub("", Path(solved_path).read_text())


def student_module(solved_path=REPO / "hw2_models.py"):
    """The student ``hw2_models.py`` text made from the solved one."""
    text, blanks = module_blanks(Path(solved_path).read_text())
    lines = text.split("\n")
    for index, _, student in blanks:
        lines[index] = student
    return apply_rules(["\n".join(lines)], MODULE_TEXT_RULES)[0]


def fill_back(student_nb, student_module_text, solved_nb, solved_module_path=REPO / "hw2_models.py"):
    """Fill the student version's blanks with the solution: (notebook cell sources, module text).

    The notebook's sources are those of the cells a student gets (the ``student-only`` note left out), in order;
    the module is the solved one without its markers. Each blank is put back where it stands, and everything else
    must be as the solved files make it (RuleError otherwise), so the round trip proves no solution text is left.
    """
    cells = [cell for cell in student_nb.cells if STUDENT_NOTE_TAG not in _tags(cell)]
    sources = apply_rules([_source(cell) for cell in cells], NOTEBOOK_TEXT_RULES, reverse=True,
                          where="student hw2.ipynb")
    solved_cells = kept_cells(solved_nb)
    if len(solved_cells) != len(cells):
        raise RuleError(f"student hw2.ipynb has {len(cells)} cells, the solved one gives {len(solved_cells)}")
    answers = iter(solved for _, solved, _ in answer_rules(solved_nb))
    for i, cell in enumerate(cells):  # the answer cells, in order (each holds the same empty answer)
        if "answer" in _tags(cell):
            if sources[i] != EMPTY_ANSWER:
                raise RuleError(f"student hw2.ipynb: answer cell {i} is not the empty answer")
            sources[i] = next(answers)
    for i, names in _blanked_cells(solved_cells).items():
        solved = _source(solved_cells[i])
        if sources[i] != notebook_blanks(solved, names, f"hw2.ipynb cell {i}"):
            raise RuleError(f"student hw2.ipynb: cell {i} is not the solved cell with {', '.join(names)} blanked")
        sources[i] = solved
    text, blanks = module_blanks(Path(solved_module_path).read_text())
    lines = apply_rules([student_module_text], MODULE_TEXT_RULES, reverse=True, where="student hw2_models.py")[0]
    lines = lines.split("\n")
    if len(lines) != len(text.split("\n")):
        raise RuleError("student hw2_models.py: its lines do not match the solved file's")
    for index, solved, student in blanks:
        if lines[index] != student:
            raise RuleError(f"student hw2_models.py line {index + 1} is {lines[index]!r}, expected the blank {student!r}")
        lines[index] = solved
    return sources, "\n".join(lines)


def copy_helpers(target):
    """Copy hw2_helpers (a module file or a package folder) into the folder ``target``; returns what was written."""
    package, module = REPO / "hw2_helpers", REPO / "hw2_helpers.py"
    if package.is_dir():
        shutil.copytree(package, target / "hw2_helpers", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return target / "hw2_helpers"
    shutil.copy2(module, target / "hw2_helpers.py")
    return target / "hw2_helpers.py"


def ship_public_checks(target, assignment=None):
    """What the public checks run in a student's kernel: the assignment's data and public cases, the case toolkit and
    its kernel runner (never the hidden cases nor the reference)."""
    from grading.judge import casekit, kernel

    assignment = assignment or assignments.load()
    target.mkdir(parents=True, exist_ok=True)
    for source in (assignment.folder / "assignment.json", assignment.folder / "public_cases.py",
                   Path(casekit.__file__), Path(kernel.__file__)):
        shutil.copy2(source, target / source.name)
    return target


def shown_images(nb):
    """The files under imgs/ that the notebook's markdown cells show."""
    found = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found.update(re.findall(r"imgs/[\w.\-]+", _source(cell)))
    return sorted(found)


def make_student(out=REPO / "dist" / "student", notebook=REPO / "hw2.ipynb"):
    """Write the student version into ``out`` (replaced if it exists) from the solved ``notebook``; return its path."""
    out = Path(out)
    nb = student_notebook(notebook)
    module = student_module()
    if out.exists():
        shutil.rmtree(out)
    (out / "imgs").mkdir(parents=True)
    nbformat.write(nb, out / "hw2.ipynb")
    (out / "hw2_models.py").write_text(module)
    copy_helpers(out)
    shutil.copy2(REPO / "requirements.txt", out / "requirements.txt")
    for image in shown_images(nb):
        shutil.copy2(REPO / image, out / image)
    raw = out / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in sorted((REPO / "data" / "MNIST" / "raw").glob("*.gz")):
        shutil.copy2(gz, raw / gz.name)
    shutil.copy2(REPO / "data" / "README.md", out / "data" / "README.md")
    ship_public_checks(out / "hw2_helpers" / "checking")
    (out / "README.md").write_text(student_readme())
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "dist" / "student"),
                        help="folder to write (replaced if it exists; default: dist/student)")
    args = parser.parse_args(argv)
    try:
        out = make_student(args.out)
    except RuleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    print(f"Wrote the student version to {out}: {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
