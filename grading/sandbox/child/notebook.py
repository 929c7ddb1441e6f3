"""Inside the sandbox: build the submission's module and run the notebook cells the parent names.

What the assignment is (its files, graded classes, the splitter) arrives as data in the ``load`` request (``assignment``).
The kit's format: the module imported whole, or, when it does not compile, statement by statement with the
toolkit's splitter (``casekit.source``, mounted as students get it; or one the assignment names among its provided
files), so the notebook's import hook and the grader build the same module from the same file. The assignment's
format: its class cells run, each on its own, into a stand-in module. Each piece of code runs under ``limit`` seconds
(SIGALRM) with its printing capped; what goes wrong becomes a problem (text), never an exception.
"""

import ast
import importlib.util
import io
import json
import signal
import sys
import types
from pathlib import Path

LIMITS = {}  # "file" (bytes of a submitted file) and "output" (characters of printing kept): the parent's, from "load"


def configure(limits):
    """The limits the parent sends in its first request (``grading.settings`` declares them once)."""
    LIMITS.update(file=int(limits["file"]), output=int(limits["output"]))


class CellTimeout(BaseException):
    """A piece of code ran past its limit (a BaseException: `except Exception` in submitted code does not swallow it)."""


def alarm(signum, frame):
    raise CellTimeout()


class BoundedWriter(io.TextIOBase):
    """A stdout that keeps the first ``LIMITS["output"]`` characters and counts the rest."""

    def __init__(self):
        self.kept, self.total = [], 0

    def write(self, text):
        text = str(text)
        room = LIMITS["output"] - sum(map(len, self.kept))
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
    """(result, error text or None, characters printed) of ``function()`` run under ``limit`` s (or what is left of
    the request's own alarm, if less), printing captured; the alarm it found is armed again with what is left."""
    import time

    writer, saved = BoundedWriter(), (sys.stdout, sys.stderr)
    outer = signal.getitimer(signal.ITIMER_REAL)[0]
    started = time.monotonic()
    sys.stdout = sys.stderr = writer
    signal.setitimer(signal.ITIMER_REAL, min(limit, outer) if outer > 0 else limit)
    try:
        return function(), None, writer.total
    except CellTimeout:
        return None, f"ran past {limit:g} s", writer.total
    except Exception as error:
        return None, f"{type(error).__name__}: {first_line(error)}", writer.total
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stdout, sys.stderr = saved
        if outer > 0:  # the request's own deadline goes on (at once, if it has passed)
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 1e-3))


def python(source):
    """A cell's text as Python (IPython's magics and shell escapes translated)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def code_cells(path):
    """[(index, source)] of the notebook's code cells; None when it is missing, too large or not a notebook."""
    try:
        if Path(path).stat().st_size > LIMITS["file"]:
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


def defined_classes(source, graded):
    """The graded classes and functions a cell defines at its top level, by one rule for the grader's plan and this
    child's load (both call this function): only a cell with a line starting ``class NAME`` or ``def NAME`` can define
    NAME; of those candidates, the ones the cell's plain Python defines at its top level, or all of them when it does
    not parse (magics are not translated here: IPython's translation can take minutes on a crafted cell, and the
    parent plans without it). Linear in the cell's length: no regular expression."""
    candidates = []
    for line in source.splitlines():
        keyword = next((k for k in ("class", "def") if line.startswith(k)), "")
        rest = line[len(keyword):] if keyword else ""
        if rest[:1].isspace():
            rest = rest.lstrip()
            end = 0
            while end < len(rest) and (rest[end].isalnum() or rest[end] == "_"):
                end += 1
            if rest[:end] in graded and rest[:end] not in candidates:
                candidates.append(rest[:end])
    if not candidates:
        return []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return candidates
    return [node.name for node in tree.body
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in graded]


def splitter(workdir, assignment):
    """The splitter the assignment names (``file:function`` of a provided file, never a package's __init__), else the
    toolkit's, which the student's kernel imports the module with (``casekit.source``)."""
    if not assignment.get("splitter"):
        from casekit.source import top_level_statements

        return top_level_statements
    file, _, function = assignment["splitter"].partition(":")
    loaded = importlib.util.spec_from_file_location("_assignment_splitter", Path(workdir) / file)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return getattr(module, function)


def _fresh_module(path, name, source_name):
    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.GRADING_SOURCE = source_name
    sys.modules[name] = module
    return module


def _run(code, module, limit, where, problems, at_import=""):
    _, error, printed = guarded(lambda: exec(code, module.__dict__), limit)
    if error and error.startswith("ran past"):
        problems.append(f"{where} {error}{at_import}")
    elif error:
        kind, _, message = error.partition(": ")
        problems.append(f"{where} raised {kind}{at_import}: {message}")
    if printed > LIMITS["output"]:
        problems.append(f"{where} printed {printed:,} characters{at_import} (kept the first "
                        f"{LIMITS['output'] // 1024} KiB)")


def load_kit(workdir, problems, limit, assignment):
    """The submission's module file as its module, keeping every top-level statement that works."""
    file = assignment["files"]["module"]
    path = Path(workdir) / file
    module = _fresh_module(path, Path(file).stem, file)
    if not path.is_file():
        problems.append(f"no {file}")
        return module
    source = path.read_text(errors="replace")
    try:
        codes = [compile(source, str(path), "exec")]
    except (SyntaxError, ValueError) as error:
        problems.append(f"{file} does not compile (line {getattr(error, 'lineno', '?')}: "
                        f"{getattr(error, 'msg', error)}); its other top-level definitions are graded")
        codes = []
        for first, text in splitter(workdir, assignment)(source):
            try:
                codes.append(compile("\n" * (first - 1) + text, str(path), "exec"))
            except (SyntaxError, ValueError):
                pass
    for code in codes:
        _run(code, module, limit, file, problems, " at import")
    return module


def load_assignment(workdir, problems, limit, assignment):
    """(module, indices of the cells it ran): the notebook's imports, then each cell defining a graded class or
    function, on its own."""
    file = assignment["files"]["notebook"]
    path = Path(workdir) / file
    module = _fresh_module(path, Path(assignment["files"].get("module") or "module").stem, file)
    cells = code_cells(path)
    if cells is None:
        problems.append(f"{file} could not be read")
        return module, set()
    exec(assignment.get("preamble", ""), module.__dict__)
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
        classes = defined_classes(source, [*assignment["classes"], *assignment.get("functions", [])])
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
