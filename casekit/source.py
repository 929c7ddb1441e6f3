"""A homework's module read as its top-level statements, for the student's kernel and the grader's child alike.

A blank left as a student version writes it (``self.conv_1 = ### YOUR CODE HERE ###``) is a syntax error, and Python
then refuses the whole file. ``install(name)`` puts an import finder in front of Python's: when the module ``name``
does not compile, it is loaded one top-level statement at a time instead (``top_level_statements``), everything that
compiles works as usual, and each class or function that does not becomes a stand-in that stops, when used, with a
message naming it, the file, the line and its text (``statement_failure``). A file that compiles is imported by
Python's own machinery, untouched. The sandboxed child splits a submission's module with the same
``top_level_statements``, so the student's kernel and the grader keep the same definitions.

A definition that does not compile because of a blank is "not finished"; one that does not compile for another reason
(a typo, a bracket left open) is named as such. Either way the finder records a hash of the source it imported, so
``module_changed(name)`` tells when the file was edited after this kernel imported it. Imports only the standard
library.
"""

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import os
import re
import sys
import tokenize
import warnings
from pathlib import Path

YOUR_CODE = "### YOUR CODE HERE ###"  # a blank, as the student version writes it (grading.assignment's too)
_WATCHED = set()  # the module names the finder loads statement by statement when they do not compile
_IMPORTED = {}  # the resolved path of each watched module imported -> SHA-256 of the source then


class UnfinishedError(NotImplementedError):
    """A class or function of the module is used before its blanks are filled in."""


def changed_message(file):
    """What a check and the hand-in say when ``file`` changed after the kernel imported it."""
    return f"{file} changed since this kernel imported it: restart the kernel (Kernel > Restart) and run all"


def top_level_statements(source):
    """Split Python source into its top-level statements: [(first line number, text)], decorators kept with what
    they decorate; comments between two statements go with the first. Works on files that do not compile, as long
    as their brackets and strings are closed (tokenize needs no more)."""
    lines = source.splitlines(keepends=True)
    starts, depth, new_line = [], 0, True
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.INDENT:
                depth += 1
            elif token.type == tokenize.DEDENT:
                depth -= 1
            elif token.type == tokenize.NEWLINE:
                new_line = True
            elif token.type not in (tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER):
                if new_line and depth == 0 and not (starts and lines[starts[-1] - 1].startswith("@")):
                    starts.append(token.start[0])
                new_line = False
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # a bracket or string left open: after the last statement found, a line that starts at column 0 with
        # code starts the next one (the statement holding the fault then fails alone)
        last = starts[-1] if starts else 0
        for number, line in enumerate(lines[last:], last + 1):
            if (number > last and line[:1] not in ("", " ", "\t", "\n", "\r", "#", ")", "]", "}")
                    and not (starts and lines[starts[-1] - 1].startswith("@"))):
                starts.append(number)
        starts = sorted(set(starts))
    if not starts:
        return [(1, source)] if source else []
    bounds = starts + [len(lines) + 1]
    head = [(1, "".join(lines[: bounds[0] - 1]))] if bounds[0] > 1 else []
    return head + [(first, "".join(lines[first - 1: end - 1])) for first, end in zip(bounds, bounds[1:])]


def _code(text):
    """The statement without the comments and blank lines in front of it."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if line.strip() and not line.lstrip().startswith("#")) if text.strip() else ""


def definition_text(text):
    """A definition as inspect.getsource shows it: without the comments and blank lines that follow it."""
    lines = text.splitlines(keepends=True)
    while lines and (not lines[-1].strip() or lines[-1].startswith("#")):
        lines.pop()
    return "".join(lines)


def definition_name(text):
    """The name a top-level statement defines (a class or a function), or None."""
    match = re.search(r"^(?:class|def|async\s+def)\s+(\w+)", _code(text), re.M)
    return match.group(1) if match else None


def blank_lines(text, first=1):
    """The line numbers of the blanks in a statement's text (its first line numbered ``first``): each line holding
    ``### YOUR CODE HERE ###`` or a name ``_``. Reads tokens, so it works on text that does not compile."""
    found = {number for number, line in enumerate(text.splitlines(), first) if YOUR_CODE in line}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NAME and token.string == "_":
                found.add(token.start[0] + first - 1)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # the tokens up to the fault are counted
    return sorted(found)


def _plural(names, one, several):
    return f"{', '.join(names)} {one if len(names) == 1 else several}"


class Failure:
    """A top-level definition of the module ``file`` that does not compile: why, where, and whether a blank is the
    cause."""

    def __init__(self, name, kind, first, text, error, file):
        self.name, self.kind, self.error, self.file = name, kind, error, file
        self.first = first
        self.last = first + len(definition_text(text).splitlines()) - 1
        self.line, self.msg = error.lineno, error.msg
        self.text = (error.text or "").strip()
        self.blanks = blank_lines(text, first)  # `_` compiles: only a ### YOUR CODE HERE ### blank stops the compiler
        self.at_blank = YOUR_CODE in (error.text or "")  # it stopped at one: the definition is not finished

    @property
    def message(self):
        """What using the definition's stand-in says."""
        if self.at_blank:
            return (f"{self.name} is not finished: {self.file} line {self.line}, `{self.text}` does not compile yet "
                    f"({self.msg}). Fill in its blanks in {self.file}, then restart the kernel.")
        quoted = f" (`{self.text}`)" if self.text else ""
        also = (f" It also still has blanks (line{'s' if len(self.blanks) > 1 else ''} "
                f"{', '.join(map(str, self.blanks))})." if self.blanks else "")
        return (f"{self.file} does not compile (line {self.line}: {self.msg}): {self.name} is defined on lines "
                f"{self.first}-{self.last}, which could not be loaded; fix the line{quoted} and restart the "
                f"kernel.{also}")


def import_warning(failures, file):
    """The warning of an import of ``file`` that needed stand-ins: the definitions that do not compile, then those
    with blanks."""
    broken = [f for f in failures if not f.at_blank]
    blank = [f.name for f in failures if f.at_blank]
    if not broken:
        return (f"{file} does not compile yet: {_plural(blank, 'still has', 'still have')} blanks, and using "
                "them stops with a message naming the line. The rest of the file works, so the cells before them run.")
    if len(broken) == 1:
        f = broken[0]
        text = (f"{file} does not compile (line {f.line}: {f.msg}): {f.name} is defined on lines "
                f"{f.first}-{f.last}, which could not be loaded; fix the line and restart the kernel.")
    else:
        text = (f"{file} does not compile: " + "; ".join(
            f"line {f.line} ({f.msg}) in {f.name}, lines {f.first}-{f.last}" for f in broken)
            + ". These definitions could not be loaded; fix those lines and restart the kernel.")
    if blank:
        text += f" {_plural(blank, 'still has', 'still have')} blanks."
    them = "it" if len(failures) == 1 else "them"
    return text + (f" Using {them} stops with a message naming the line; the rest of the file works, so the cells "
                   f"before {them} run.")


def _stand_in(failure):
    message = failure.message

    def refuse(*args, **kwargs):
        raise UnfinishedError(message)

    if failure.kind == "class":
        # the case runner (casekit.kernel) reads an attribute ending in _unfinished__ as "not finished yet"
        return type(failure.name, (), {"__new__": lambda cls, *args, **kwargs: refuse(), "__doc__": message,
                                       "__casekit_unfinished__": message})
    refuse.__name__, refuse.__doc__, refuse.__casekit_unfinished__ = failure.name, message, message
    return refuse


def statement_failure(first, text, filename, file=None):
    """A ``Failure`` if the top-level definition ``text`` (first line ``first``) of the module ``filename`` does not
    compile, else None; messages name the file ``file`` (default: ``filename``'s name). A statement that is no
    definition and does not compile raises the SyntaxError the import shows."""
    file = file or Path(filename).name
    try:
        compile("\n" * (first - 1) + text, filename, "exec")
        return None
    except SyntaxError as error:
        name = definition_name(text)
        if name is None:
            raise SyntaxError(f"{file} line {error.lineno} does not compile ({error.msg}): "
                              f"`{(error.text or '').strip()}`. Fix that line, then restart the kernel.") from None
        kind = "class" if re.match(r"\s*class\b", _code(text)) else "function"
        return Failure(name, kind, first, text, error, file)


def load_statement_by_statement(module, source, filename):
    """Run ``source`` in ``module``'s namespace statement by statement; returns the ``Failure`` of each stand-in
    (a definition that does not compile), in the file's order. Messages name the file ``module.__name__ + ".py"``."""
    file = module.__name__.rpartition(".")[2] + ".py"
    failures = []
    for first, text in top_level_statements(source):
        padded = "\n" * (first - 1) + text  # line numbers as in the file, for tracebacks and messages
        failure = statement_failure(first, text, filename, file)
        if failure is not None:
            stand_in = _stand_in(failure)
            stand_in.__module__ = module.__name__
            stand_in.__casekit_source__ = definition_text(text)
            setattr(module, failure.name, stand_in)
            failures.append(failure)
            continue
        exec(compile(padded, filename, "exec"), module.__dict__)
        name = definition_name(text)
        if name is not None and name in module.__dict__:
            try:  # inspect.getsource cannot parse a file that does not compile: keep each definition's own text
                module.__dict__[name].__casekit_source__ = definition_text(text)
            except (AttributeError, TypeError):
                pass
    return failures


class _Loader(importlib.abc.Loader):
    def __init__(self, path):
        self.path = path

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        with open(self.path, encoding="utf-8") as f:
            source = f.read()
        failures = load_statement_by_statement(module, source, self.path)
        if failures:
            warnings.warn(import_warning(failures, Path(self.path).name), stacklevel=2)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in _WATCHED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return None
        with open(spec.origin, "rb") as f:
            data = f.read()
        _IMPORTED[os.path.realpath(spec.origin)] = hashlib.sha256(data).hexdigest()  # what this import reads
        try:
            compile(data.decode("utf-8"), spec.origin, "exec")
            return None  # it compiles: Python's own import, as if this finder were not there
        except (SyntaxError, ValueError, UnicodeDecodeError):
            return importlib.util.spec_from_file_location(name, spec.origin, loader=_Loader(spec.origin))


def install(name):
    """Let ``import name`` succeed while the module's blanks are open (idempotent); before the module is imported."""
    _WATCHED.add(name)
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def module_changed(name, path=None):
    """``changed_message`` of the module ``name`` if the file this kernel imported differs now on disk from the source
    it imported, else None. ``path``: only if the kernel imported that file (default: whichever it imported). None
    when the module is not imported, or was imported before ``install(name)``."""
    module = sys.modules.get(name)
    origin = getattr(getattr(module, "__spec__", None), "origin", None) or getattr(module, "__file__", None)
    if not origin:
        return None
    origin = os.path.realpath(origin)
    if path is not None and os.path.realpath(path) != origin:
        return None
    recorded = _IMPORTED.get(origin)
    if recorded is None:
        return None
    message = changed_message(Path(origin).name)
    try:
        with open(origin, "rb") as f:
            now = hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return message  # moved or deleted: not what the kernel imported either
    return message if now != recorded else None
