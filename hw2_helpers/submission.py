"""The hand-in, made by the notebook's last cell: ``hw2.make_submission()`` writes ``hw2_submission.zip``.

The zip holds exactly what the grader reads, ``hw2.ipynb`` and ``hw2_models.py``, taken from the notebook's folder.
Before writing it, the helper checks that the notebook on disk is the one this kernel ran (the latest version of
every cell run, from IPython's input history, is among the saved cells), so an unsaved notebook is not handed in;
then it says whether ``hw2_models.py`` compiles and which parts are still unfinished, read from the files (nothing
runs): a blank left in a graded cell or class, an empty answer.
"""

import ast
import difflib
import json
import os
import re
import zipfile
from pathlib import Path

from .checks import table
from .models_import import statement_failure, top_level_statements

NAME = "hw2_submission.zip"
FILES = ("hw2.ipynb", "hw2_models.py")


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


def _kernel_history():
    """The sources this kernel ran before the current cell (raw, as typed), or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None:
        return None
    return list(shell.history_manager.input_hist_raw[1:-1])  # [0] is empty; [-1] is the cell running now


def _cells(notebook):
    return [("".join(c["source"]) if isinstance(c["source"], list) else c["source"], c.get("cell_type"))
            for c in notebook.get("cells", [])]


def _compile_error(source):
    try:
        compile(source, "hw2_models.py", "exec")
        return None
    except SyntaxError as error:
        return error


def _class_problem(source, name):
    """Why class ``name`` of hw2_models.py is unfinished (a blank, a statement that does not compile, a ``_`` left),
    or None."""
    found = [(first, text) for first, text in top_level_statements(source)
             if re.search(rf"(?m)^class\s+{name}\b", text)]
    if not found:
        error = _compile_error(source)
        if error is not None:
            return (f"hw2_models.py does not compile (line {error.lineno}: {error.msg}), and no class {name} could be "
                    "read from it")
        return f"hw2_models.py defines no class {name}"
    first, text = found[-1]
    failure = statement_failure(first, text)
    if failure is not None and failure.at_blank:
        return f"{name} (hw2_models.py line {failure.line}: `{failure.text}` is still blank)"
    if failure is not None:
        return (f"hw2_models.py does not compile (line {failure.line}: {failure.msg}): {name}, on lines "
                f"{failure.first}-{failure.last}, cannot be loaded")
    tree = ast.parse("\n" * (first - 1) + text)
    blanks = sorted({node.lineno for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "_"})
    if blanks:
        return f"{name} (hw2_models.py line {', '.join(map(str, blanks))}: `_` left)"
    return None


def unfinished(folder):
    """[(part name, why)] for every part still unfinished in the files of ``folder``, read without running them."""
    info = table()
    notebook = json.loads((Path(folder) / "hw2.ipynb").read_text(encoding="utf-8"))
    cells = _cells(notebook)
    code = [text for text, kind in cells if kind == "code"]
    module = Path(folder) / "hw2_models.py"
    source = module.read_text(encoding="utf-8") if module.exists() else ""
    blank = re.escape(info["your_code"])
    found = []
    for part in info["parts"]:
        if part["kind"] == "written":
            at = next((i for i, (text, _) in enumerate(cells) if part["follows"] in text), None)
            answer = cells[at + 1][0].strip() if at is not None and at + 1 < len(cells) else ""
            if answer in ("", info["empty_answer"]):
                found.append((part["name"], "no answer yet in the cell under its question"))
        elif part["where"] == "hw2_models.py":
            problem = _class_problem(source, part["follows"])
            if problem:
                found.append((part["name"], problem))
        else:
            for name in part["fills"]:
                if any(re.search(rf"(?m)^\s*{name}\s*=\s*{blank}", text) for text in code):
                    found.append((part["name"], f"`{name} = {info['your_code']}` is still blank"))
                elif not any(re.search(rf"(?m)^\s*{name}\s*=", text) for text in code):
                    found.append((part["name"], f"no cell assigns {name}"))
    return found


def make_submission(folder=None, history=None):
    """Write ``hw2_submission.zip`` (hw2.ipynb and hw2_models.py) in ``folder`` (default: the working directory, the
    notebook's in Jupyter) and print what it wrote and what is unfinished. ``history``: the sources run (default: this
    kernel's). Returns the zip's path, or None when the saved notebook is not the one run (then nothing is written)."""
    folder = Path(folder or os.getcwd())
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        print(f"No {' and no '.join(missing)} in {folder}: run this cell in hw2.ipynb, next to hw2_models.py.")
        return None
    history = _kernel_history() if history is None else history
    saved = [text for text, kind in _cells(json.loads((folder / "hw2.ipynb").read_text(encoding="utf-8"))) if kind == "code"]
    if history is not None:
        stale = unsaved_cells(history, saved)
        if stale:
            first = stale[-1].splitlines()[0][:80]
            print(f"hw2.ipynb on disk is not the notebook you ran: {len(stale)} cell(s) ran here in a form the saved "
                  f"file lacks (the latest starts `{first}`).\nSave the notebook (Ctrl-S / Cmd-S) and run this cell "
                  "again. (If it is a cell you ran and then deleted, or rewrote without running it again: restart the "
                  "kernel, run all cells, and run this one again.)")
            return None
    try:
        compile((folder / "hw2_models.py").read_text(encoding="utf-8"), "hw2_models.py", "exec")
        compiles = "hw2_models.py compiles"
    except SyntaxError as error:
        compiles = (f"hw2_models.py does NOT compile (line {error.lineno}: {error.msg}); the grader then grades the "
                    "definitions that do")
    target, partial = folder / NAME, folder / (NAME + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in FILES:
            archive.write(folder / name, name)
    partial.replace(target)  # a zip that is there is a whole one
    left = unfinished(folder)
    lines = [f"Wrote {target} ({target.stat().st_size:,} bytes): {', '.join(FILES)}. {compiles}."]
    if left:
        lines.append("Still unfinished:")
        lines += [f"  {name}: {why}" for name, why in left]
    else:
        lines.append("Every part is filled in.")
    lines.append(f"Upload {NAME} to Canvas.")
    print("\n".join(lines))
    return target
