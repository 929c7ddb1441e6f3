"""Import ``hw2_models`` while some of its blanks are still open, so that a student can run Part 1 before Part 2.

A ``### YOUR CODE HERE ###`` line left as the assignment writes it (``self.conv_1 = ### YOUR CODE HERE ###``) is a
syntax error, and Python then refuses the whole file. When ``hw2_models.py`` does not compile, the finder installed
by ``install()`` loads it one top-level statement at a time instead: everything that compiles works as usual, and
each class or function that does not becomes a stand-in that stops, when used, with a message naming it, the file,
the line and its text. A file that compiles is imported by Python's own machinery, untouched.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import io
import re
import sys
import tokenize
import warnings


MODULE = "hw2_models"


class UnfinishedError(NotImplementedError):
    """A class or function of hw2_models.py is used before its blanks are filled in."""


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


def _definition_text(text):
    """A definition as inspect.getsource shows it: without the comments and blank lines that follow it."""
    lines = text.splitlines(keepends=True)
    while lines and (not lines[-1].strip() or lines[-1].startswith("#")):
        lines.pop()
    return "".join(lines)


def _definition_name(text):
    match = re.search(r"^(?:class|def|async\s+def)\s+(\w+)", _code(text), re.M)
    return match.group(1) if match else None


def _stand_in(name, kind, where, error):
    message = (f"{name} is not finished: {where}, `{(error.text or '').strip()}` does not compile yet "
               f"({error.msg}). Fill in its blanks in hw2_models.py, then restart the kernel.")

    def refuse(*args, **kwargs):
        raise UnfinishedError(message)

    if kind == "class":
        return type(name, (), {"__new__": lambda cls, *args, **kwargs: refuse(), "__doc__": message,
                               "__hw2_unfinished__": message})
    refuse.__name__, refuse.__doc__, refuse.__hw2_unfinished__ = name, message, message
    return refuse


def load_statement_by_statement(module, source, filename):
    """Run ``source`` in ``module``'s namespace statement by statement; returns [(name, message)] of the stand-ins."""
    unfinished = []
    for first, text in top_level_statements(source):
        padded = "\n" * (first - 1) + text  # line numbers as in the file, for tracebacks and messages
        try:
            code = compile(padded, filename, "exec")
        except SyntaxError as error:
            name = _definition_name(text)
            if name is None:
                raise SyntaxError(f"hw2_models.py line {error.lineno} does not compile ({error.msg}): "
                                  f"`{(error.text or '').strip()}`. Fix that line, then restart the kernel.") from None
            kind = "class" if re.match(r"\s*class\b", _code(text)) else "function"
            stand_in = _stand_in(name, kind, f"hw2_models.py line {error.lineno}", error)
            stand_in.__module__ = module.__name__
            stand_in.__hw2_source__ = _definition_text(text)
            setattr(module, name, stand_in)
            unfinished.append((name, stand_in.__hw2_unfinished__))
            continue
        exec(code, module.__dict__)
        name = _definition_name(text)
        if name is not None and name in module.__dict__:
            try:  # inspect.getsource cannot parse a file that does not compile: keep each definition's own text
                module.__dict__[name].__hw2_source__ = _definition_text(text)
            except (AttributeError, TypeError):
                pass
    return unfinished


class _Loader(importlib.abc.Loader):
    def __init__(self, path):
        self.path = path

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        with open(self.path, encoding="utf-8") as f:
            source = f.read()
        unfinished = load_statement_by_statement(module, source, self.path)
        if unfinished:
            names = ", ".join(name for name, _ in unfinished)
            warnings.warn(f"hw2_models.py does not compile yet: {names} still {'has' if len(unfinished) == 1 else 'have'} "
                          "blanks, and using them stops with a message naming the line. The rest of the file works, so "
                          "the cells before them run.", stacklevel=2)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return None
        with open(spec.origin, encoding="utf-8") as f:
            source = f.read()
        try:
            compile(source, spec.origin, "exec")
            return None  # it compiles: Python's own import, as if this finder were not there
        except SyntaxError:
            return importlib.util.spec_from_file_location(name, spec.origin, loader=_Loader(spec.origin))


def install():
    """Let ``import hw2_models`` succeed while its blanks are open (idempotent)."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
