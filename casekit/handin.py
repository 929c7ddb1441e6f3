"""The hand-in a homework's last cell makes (``Homework.make_submission``): the zip of the files ``assignment.json``
names, taken from the notebook's folder.

Before writing it, the notebook on disk must be the one this kernel ran (the latest version of every cell run, from
IPython's input history, is among the saved cells), so an unsaved notebook is not handed in: the refusal quotes the
line that differs and removes an older zip, so that a stale one is not uploaded instead. Then it says, read from the
files (nothing runs), what a grader would notice: the module edited since the kernel imported it, whether it
compiles, cells whose saved output is an error or that never ran, and which parts are still unfinished (a blank left
in a graded cell, class or function, an empty or unsaved answer). It prints; it returns nothing. Imports only the
standard library and ``casekit.source``.
"""

import ast
import difflib
import json
import re
import zipfile
from pathlib import Path

from casekit.source import statement_failure, top_level_statements

NO_ANSWER = "no answer yet in the cell under its question"
SAVE = "Ctrl-S / Cmd-S"


def _normal(text):
    """A cell's text as compared: trailing spaces and blank lines at either end dropped."""
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _same_cell(earlier, later):
    """Whether ``later`` looks like an edit of ``earlier`` (the same cell run again after a change)."""
    matcher = difflib.SequenceMatcher(None, earlier, later, autojunk=False)
    return matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6 and matcher.ratio() >= 0.6


def unsaved_cells(history, saved):
    """The cells this kernel ran, in their latest version, that the saved notebook lacks.

    ``history``: the sources run, in order (IPython's ``In``, without this cell); ``saved``: the code cells' sources
    on disk. A source run and later run again in an edited form counts in its latest form only."""
    ran = [text for text in map(_normal, history) if text]
    saved = {_normal(text) for text in saved}
    return [text for i, text in enumerate(ran)
            if text not in saved and not any(_same_cell(text, later) for later in ran[i + 1:])]


def kernel_history():
    """The sources this kernel ran before the current cell (raw, as typed), or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None:
        return None
    return list(shell.history_manager.input_hist_raw[1:-1])  # [0] is empty; [-1] is the cell running now


def cells(notebook):
    """[(source, cell type)] of a notebook read as JSON."""
    return [("".join(c["source"]) if isinstance(c["source"], list) else c["source"], c.get("cell_type"))
            for c in notebook.get("cells", [])]


def compile_error(source, file):
    try:
        compile(source, file, "exec")
        return None
    except (SyntaxError, ValueError) as error:
        return error if isinstance(error, SyntaxError) else SyntaxError(str(error))


def definition_problem(source, name, file, kind="class"):
    """Why the class (or function, ``kind``) ``name`` of the module ``file`` (its text ``source``) is unfinished (a
    blank, a statement that does not compile, a ``_`` left), or None."""
    keyword = "class" if kind == "class" else r"(?:async\s+)?def"
    found = [(first, text) for first, text in top_level_statements(source)
             if re.search(rf"(?m)^{keyword}\s+{name}\b", text)]
    if not found:
        error = compile_error(source, file)
        if error is not None:
            return (f"{file} does not compile (line {error.lineno}: {error.msg}), and no {kind} {name} could be "
                    "read from it")
        return f"{file} defines no {kind} {name}"
    first, text = found[-1]
    failure = statement_failure(first, text, file)
    if failure is not None and failure.at_blank:
        return f"{name} ({file} line {failure.line}: `{failure.text}` is still blank)"
    if failure is not None:
        return (f"{file} does not compile (line {failure.line}: {failure.msg}): {name}, on lines "
                f"{failure.first}-{failure.last}, cannot be loaded")
    tree = ast.parse("\n" * (first - 1) + text)
    blanks = sorted({node.lineno for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "_"})
    if blanks:
        return f"{name} ({file} line {', '.join(map(str, blanks))}: `_` left)"
    return None


def unfinished(folder, table, files):
    """[(part name, why)] for every part still unfinished in the files of ``folder``, read without running them;
    ``table``: ``Homework.table()``, ``files``: assignment.json's ``files``."""
    notebook = json.loads((Path(folder) / files["notebook"]).read_text(encoding="utf-8"))
    found_cells = cells(notebook)
    code = [text for text, kind in found_cells if kind == "code"]
    module = Path(folder) / files["module"] if files.get("module") else None
    source = module.read_text(encoding="utf-8") if module is not None and module.exists() else ""
    blank = re.escape(table["your_code"])
    found = []
    for part in table["parts"]:
        if part["kind"] == "written":
            at = next((i for i, (text, _) in enumerate(found_cells) if part["follows"] in text), None)
            answer = found_cells[at + 1][0].strip() if at is not None and at + 1 < len(found_cells) else ""
            if answer in ("", table["empty_answer"]):
                found.append((part["name"], NO_ANSWER))
        elif module is not None and part["where"] == files["module"]:
            problem = definition_problem(source, part["follows"], files["module"], part.get("defines", "class"))
            if problem:
                found.append((part["name"], problem))
        else:
            for name in part["fills"]:
                if any(re.search(rf"(?m)^\s*{name}\s*=\s*{blank}", text) for text in code):
                    found.append((part["name"], f"`{name} = {table['your_code']}` is still blank"))
                elif not any(re.search(rf"(?m)^\s*{name}\s*=", text) for text in code):
                    found.append((part["name"], f"no cell assigns {name}"))
    return found


def _first_code_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    code = [line for line in lines if not line.startswith("#")]
    return ((code or lines or [""])[0])[:80]


def _output_text(output):
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else text


def run_problems(notebook):
    """[text] of what a grader notices in the saved code cells before the hand-in cell: an error in a cell's saved
    output (an ``error`` output, or a traceback printed), cells that never ran."""
    all_cells = notebook.get("cells", [])
    sources = [text for text, _ in cells(notebook)]
    end = max((i for i, (c, text) in enumerate(zip(all_cells, sources))
               if c.get("cell_type") == "code" and "make_submission(" in text), default=len(all_cells))
    errors, never = [], []
    for cell, text in zip(all_cells[:end], sources[:end]):
        if cell.get("cell_type") != "code" or not text.strip():
            continue
        where = f"`{_first_code_line(text)}`"
        if cell.get("execution_count") is None:
            never.append(where)
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                value = (str(output.get("evalue") or "").splitlines() or [""])[0][:120]
                error = f"{output.get('ename') or 'Error'}: {value}" if value else output.get("ename") or "Error"
                errors.append(f"  {where} (cell [{cell['execution_count']}]): its saved output is an error, {error}")
                break
            if output.get("output_type") == "stream" and "Traceback" in _output_text(output):
                errors.append(f"  {where} (cell [{cell['execution_count']}]): its saved output holds a traceback")
                break
    found = list(errors)
    if never:
        shown = ", ".join(never[:3]) + (f" and {len(never) - 3} more" if len(never) > 3 else "")
        several = len(never) > 1
        found.append(f"  {len(never)} code cell{'s' if several else ''} never ran (no output saved): {shown}")
    if found:
        fix = "Fix the errors, run" if errors else "Run"
        found.append(f"  {fix} all cells, save the notebook ({SAVE}), then run this cell again.")
    return found


def _changed_line(text, saved):
    """(the line of ``text`` that differs first from the closest saved cell, that cell's line there), either None
    where there is none; None if no saved cell is close."""
    candidates = [cell for cell in map(_normal, saved) if cell]
    if not candidates:
        return None
    closest = max(candidates, key=lambda cell: difflib.SequenceMatcher(None, cell, text, autojunk=False).ratio())
    if not _same_cell(closest, text):
        return None
    before, after = closest.splitlines(), text.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if tag != "equal":
            return (after[j1].strip() if j1 < j2 else None), (before[i1].strip() if i1 < i2 else None)
    return None


def unsaved_message(stale, saved, notebook_file):
    """The refusal of a hand-in whose saved notebook lacks the cells ``stale`` that ran."""
    latest = stale[-1]
    changed = _changed_line(latest, saved)
    if changed is None:
        where = f"the latest, a cell the saved file does not have, starts `{_first_code_line(latest)}`"
    elif changed[0] is None:
        where = f"in the latest, the saved file still has the line `{changed[1][:80]}`, which the cell you ran lacks"
    elif changed[1] is None:
        where = f"in the latest, the line `{changed[0][:80]}` is not in the saved file"
    else:
        where = f"in the latest, the line `{changed[0][:80]}` is `{changed[1][:80]}` in the saved file"
    return (f"{notebook_file} on disk is not the notebook you ran: {len(stale)} cell(s) ran here in a form the saved "
            f"file lacks ({where}).\nSave the notebook ({SAVE}) and run this cell again. (If it is a cell you ran "
            "and then deleted, or rewrote without running it again: restart the kernel, run all cells, and run this "
            "one again.)")


def _refuse(message, target):
    """Print ``message``; remove an older zip (and a partial one) so that a stale hand-in cannot be uploaded."""
    for leftover in (target.with_name(target.name + ".part"), target):
        if leftover.exists():
            leftover.unlink()
            if leftover == target:
                message += f"\nRemoved the older {target.name} ({target}), so that it is not uploaded instead."
    print(message)


def make_submission(homework, folder, history):
    """Write ``homework.zip_name`` (the files assignment.json names) in ``folder`` and print where, and what a grader
    would notice; ``history``: the sources run (None outside a kernel: no unsaved check). When the saved notebook is
    not the one run, nothing is written and an older zip is removed. Returns None: the printed message is the
    result."""
    folder, files = Path(folder), homework.files
    notebook_file, module_file = files["notebook"], files.get("module")
    names = [notebook_file] + ([module_file] if module_file else [])
    target, partial = folder / homework.zip_name, folder / (homework.zip_name + ".part")
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        beside = f", next to {module_file}" if module_file else ""
        _refuse(f"No {' and no '.join(missing)} in {folder}: run this cell in {notebook_file}{beside}.", target)
        return None
    notebook = json.loads((folder / notebook_file).read_text(encoding="utf-8"))
    saved = [text for text, kind in cells(notebook) if kind == "code"]
    if history is not None:
        stale = unsaved_cells(history, saved)
        if stale:
            _refuse(unsaved_message(stale, saved, notebook_file), target)
            return None
    compiles = ""
    if module_file:
        error = compile_error((folder / module_file).read_text(encoding="utf-8"), module_file)
        compiles = (f" {module_file} compiles." if error is None else
                    f" {module_file} does NOT compile (line {error.lineno}: {error.msg}); the grader then grades the "
                    "definitions that do.")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(folder / name, name)
    partial.replace(target)  # a zip that is there is a whole one
    lines = [f"Wrote {target} ({target.stat().st_size:,} bytes): {', '.join(names)}.{compiles}"]
    changed = homework.module_changed(folder / module_file) if module_file else None
    if changed:
        lines.append(changed)
    noticed = run_problems(notebook)
    if noticed:
        lines.append(f"In the saved {notebook_file}, a grader will notice:")
        lines += noticed
    left = unfinished(folder, homework.table(), files)
    if left:
        lines.append("Still unfinished:")
        lines += [f"  {name}: {why}" for name, why in left]
    else:
        lines.append("Every part is filled in.")
    if any(why == NO_ANSWER for _, why in left):
        lines.append(f"An answer typed but not saved looks empty on disk: if you wrote one, save the notebook "
                     f"({SAVE}) and run this cell again.")
    lines.append(f"Upload {homework.zip_name} to Canvas.")
    print("\n".join(lines))
    return None
