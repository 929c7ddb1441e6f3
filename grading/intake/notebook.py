"""A submitted notebook, read with bounds: the grader's own process parses it outside every sandbox limit.

``load(path) -> (notebook dict or None, problem or None)`` checks the size, the nesting depth (a linear scan, before
``json.loads``) and the number of cells. ``cells``, ``source`` and ``tags`` are the one way every part of the grader
reads a cell; text comes back with lone surrogates replaced, so it can always be written out. The scans of cell text
(``imports_module``, ``assigns_by_text``, and the sandbox child's ``defined_classes``, which the plan shares) go
line by line: no regular expression that can backtrack. The format detection (``detect``, ``decide``) and the written answers read notebooks through here.
"""

import json
import os
import re
import stat
from pathlib import Path

from grading import settings
from grading.intake.images import checked_image
from grading.sandbox.child.notebook import defined_classes
from grading.text import encodable

KIT, ASSIGNMENT = "kit", "assignment"
# A JSON string (unrolled: each character has one way to match, so the match is linear) or a bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


def read_regular(path, limit):
    """At most ``limit`` bytes of ``path`` if it is a regular file (never a link, FIFO or device), else b""."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        chunks, size = [], 0
        while size < limit:
            chunk = os.read(fd, min(1 << 20, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def depth(text):
    """The deepest nesting of brackets outside strings of a JSON text: one pass, no recursion."""
    level = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            level += 1
            deepest = max(deepest, level)
        elif token in "]}":
            level -= 1
    return deepest


def parse(data, upgrade=True):
    """(notebook dict or None, problem or None) from a notebook's bytes; an older nbformat's notebook comes back as
    nbformat 4 (``upgraded``) unless ``upgrade`` is False, so every reader sees one format."""
    if len(data) > settings.limits().file_size:
        return None, f"the notebook is larger than {settings.limits().file_size // 2**20} MB"
    text = data.decode("utf-8", errors="replace")
    if depth(text) > settings.limits().notebook_depth:
        return None, f"the notebook is nested deeper than {settings.limits().notebook_depth} levels; not read"
    try:
        nb = json.loads(text)
    except (ValueError, RecursionError) as error:
        return None, f"the notebook is not JSON ({str(error)[:80]})"
    if not isinstance(nb, dict):
        return None, "the notebook is not a notebook (its JSON is not an object)"
    if len(cells(nb, limit=None)) > settings.limits().notebook_cells:
        return None, f"the notebook has more than {settings.limits().notebook_cells:,} cells; not read"
    return upgraded(nb) if upgrade else (nb, None)


def upgraded(nb):
    """(``nb`` as nbformat 4, None), converted by nbformat's own converter when it is older (nbformat 3 keeps its
    cells in worksheets, a code cell's text under "input", outputs in other fields), or (None, problem) when it
    cannot be converted; a notebook of nbformat 4, or naming no version, comes back as it is. Called on a notebook
    already within the size, depth and cell bounds."""
    version = nb.get("nbformat")
    if type(version) is not int or version >= 4:
        return nb, None
    import warnings

    import nbformat

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            node = nbformat.versions[version].to_notebook_json(nb)  # as nbformat.reads reads it: lines rejoined
            return nbformat.convert(node, 4), None
    except Exception as error:  # whatever the converter raises on a damaged notebook is the submission's problem
        return None, (f"the notebook is in nbformat {version} and could not be converted to nbformat 4 "
                      f"({type(error).__name__}): open it in Jupyter and save it again")


def save_upgraded(path):
    """Replace the notebook at ``path`` (the grader's own copy, before it is made read-only) by its nbformat 4
    conversion when it is older, so the sandboxed child runs the cells the parent plans from; whether it did."""
    path = Path(path)
    nb, _ = parse(read_regular(path, settings.limits().file_size + 1), upgrade=False)
    converted = upgraded(nb)[0] if nb is not None else None
    if converted is None or converted is nb:
        return False
    temporary = path.with_name(f".{path.name}.nbformat4")
    temporary.write_text(json.dumps(converted), encoding="utf-8")
    os.replace(temporary, path)  # a link at ``path`` is replaced, never followed
    return True


def load(path):
    """(notebook dict or None, problem or None): the notebook at ``path`` read with every bound."""
    path = Path(path)
    try:
        if path.lstat().st_size > settings.limits().file_size:
            return None, f"the notebook is larger than {settings.limits().file_size // 2**20} MB"
    except OSError:
        return None, "no notebook"
    return parse(read_regular(path, settings.limits().file_size + 1))


def cells(nb, limit=True):
    """The cells (dicts) of a parsed notebook of any version (nbformat 3 keeps them in worksheets); [] for anything
    else; at most ``limit`` (True: the limit in force, None: all)."""
    if not isinstance(nb, dict):
        return []
    found = nb.get("cells")
    if not isinstance(found, list):
        sheets = nb.get("worksheets")
        found = [c for w in sheets if isinstance(w, dict) and isinstance(w.get("cells"), list)
                 for c in w["cells"]] if isinstance(sheets, list) else []
    found = [c for c in found if isinstance(c, dict)]
    return found if limit is None else found[:settings.limits().notebook_cells if limit is True else limit]


def source(cell):
    """A cell's text (nbformat 3 code cells keep it under "input"), surrogates replaced; "" for anything else."""
    text = cell.get("source", cell.get("input", ""))
    if isinstance(text, list):
        text = "".join(line for line in text if isinstance(line, str))
    return encodable(text) if isinstance(text, str) else ""


def tags(cell):
    metadata = cell.get("metadata")
    found = metadata.get("tags") if isinstance(metadata, dict) else None
    return [t for t in found if isinstance(t, str)] if isinstance(found, list) else []


def code_cells(nb):
    """[(index, source)] of the code cells."""
    return [(i, source(c)) for i, c in enumerate(cells(nb)) if c.get("cell_type") == "code"]


def _lines(text):
    return text.splitlines()  # linear, and bounded by the file's size


def _word_after(text, prefix):
    """The identifier that follows ``prefix`` at the start of ``text`` (after spaces), or None."""
    if not text.startswith(prefix):
        return None
    rest = text[len(prefix):]
    if not rest[:1].isspace():
        return None
    rest = rest.lstrip()
    end = 0
    while end < len(rest) and (rest[end].isalnum() or rest[end] == "_"):
        end += 1
    return rest[:end], rest[end:]


def imports_module(text, module):
    """Whether a line imports ``module`` (``import M``, ``from M import ...``)."""
    for line in _lines(text):
        line = line.lstrip()
        for keyword in ("import", "from"):
            found = _word_after(line, keyword)
            if found and found[0] == module and (keyword == "import" or found[1].lstrip().startswith("import")):
                return True
    return False


def assigns_by_text(text, names):
    """Which of ``names`` a cell's lines assign (``NAME =``, not ``==``): for a cell that does not compile."""
    found = set()
    for line in _lines(text):
        line = line.lstrip()
        for name in names:
            rest = line[len(name):].lstrip() if line.startswith(name) else ""
            if rest.startswith("=") and not rest.startswith("=="):
                found.add(name)
    return found


def _tree(text):
    """The cell parsed as plain Python (IPython's translation of magics can take minutes on a crafted cell), or None."""
    import ast

    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def assigned(tree):
    """Names a cell assigns at its top level (functions' and classes' bodies left out)."""
    import ast

    names, stack = set(), list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            if not isinstance(node, ast.Lambda):
                names.add(node.name)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return names


def plan(nb, needed, last, skip=()):
    """[(cell index, [names])] of the code cells the grader runs, decided here from the pristine notebook: those that
    import something or assign a name in ``needed``, up to the last that assigns ``last``; ``skip``: indices not to
    run (the assignment format's class cells, run at load)."""
    import ast

    found = []
    for index, text in code_cells(nb):
        tree = _tree(text)
        if tree is not None:
            names = assigned(tree)
            imports = any(isinstance(node, (ast.Import, ast.ImportFrom)) for node in tree.body)
        else:  # a cell that does not parse (a magic, a mistake): by its lines
            names = assigns_by_text(text, sorted(needed))
            imports = any(line.lstrip().startswith(("import ", "from ")) for line in _lines(text))
        found.append((index, sorted(names), imports))
    end = max([k for k, (_, names, _) in enumerate(found) if last in names], default=len(found) - 1)
    return [(index, names) for index, names, imports in found[:end + 1]
            if index not in skip and (set(names) & set(needed) or imports)]


def detect(nb, assignment):
    """``ASSIGNMENT`` when the notebook (parsed) defines a graded class in its cells and never imports the module,
    else ``KIT``."""
    found = code_cells(nb) if nb is not None else []
    if not assignment.module or any(imports_module(text, assignment.module) for _, text in found):
        return KIT
    return ASSIGNMENT if any(defined_classes(text, assignment.classes) for _, text in found) else KIT


def decide(workdir, problems, assignment):
    """(format, problems, note) for the submission copied into ``workdir``; ``problems`` as extraction made them.

    In the assignment's format the missing module is no problem; when the copy holds one anyway, ``note`` says it
    was ignored (and the file is removed, so nothing of it may run)."""
    workdir = Path(workdir)
    nb, _ = load(workdir / assignment.files["notebook"])
    if detect(nb, assignment) == KIT:
        return KIT, problems, None
    module = assignment.files["module"]
    problems = [p for p in problems if p != f"no {module} in the submission"]
    note = None
    if (workdir / module).exists():
        note = (f"graded as the assignment's notebook (its cells define the classes and it never imports "
                f"{assignment.module}); {module} ignored")
        (workdir / module).unlink()
    return ASSIGNMENT, problems, note


def cut_answer(text):
    """(the first ``settings.limits().answer_length`` characters of an answer, its length when it was longer, else None)."""
    if len(text) <= settings.limits().answer_length:
        return text, None
    return text[:settings.limits().answer_length], len(text)


def written_answers(path, questions, cut=None):
    """{part: the answer text} from the notebook at ``path`` (answer-tagged cells, else the cell after the question);
    ``questions`` {part: a phrase of its question}. Read from the pristine copy, never where the code ran. Each
    answer keeps its first ``settings.limits().answer_length`` characters; ``cut`` (a dict) receives {part: its length} of
    those that were longer."""
    nb, _ = load(path)
    found = cells(nb)
    texts = [source(c) for c in found]
    answers = {}
    for part, phrase in questions.items():
        question = next((i for i, text in enumerate(texts) if phrase in text), None)
        if question is None:
            continue
        after = range(question + 1, len(found))
        tagged = next((i for i in after if "answer" in tags(found[i])), None)
        following = next((i for i in after if found[i].get("cell_type") in ("markdown", "heading")), None)
        chosen = tagged if tagged is not None else following
        if chosen is not None:
            answers[part], length = cut_answer(texts[chosen].strip())
            if length is not None and cut is not None:
                cut[part] = length
    return answers


def _outputs_of(cell, kind):
    """The ``kind`` data of a code cell's saved outputs, in order."""
    outputs = cell.get("outputs") if cell.get("cell_type") == "code" else None
    return [o["data"][kind] for o in outputs or [] if isinstance(o, dict) and isinstance(o.get("data"), dict)
            and kind in o["data"]] if isinstance(outputs, list) else []


def shown_outputs(path, parts):
    """{part: {"type", "data", "cell"} or {"problem"}}: for each written part that ``shows`` an output (assignment
    data: ``{"output": MIME type, "cell": a phrase of its cell}``, or the MIME type alone), the last such output saved
    before the question's cell, from the last cell before it whose text holds the phrase, else from the last cell
    before it that has one; ``data`` base64, checked by ``image``; ``cell`` counts from 1. Never raises."""
    import base64

    try:
        nb, problem = load(path)
        if nb is None:
            return {part.name: {"problem": problem or "no notebook"} for part in parts if part.shows}
        found = cells(nb)
        texts = [source(c) for c in found]
        shown = {}
        for part in parts:
            spec = part.shows if isinstance(part.shows, dict) else {"output": part.shows} if part.shows else None
            if not spec or not part.question:
                continue
            kind, phrase = spec.get("output"), spec.get("cell")
            question = next((i for i, text in enumerate(texts) if part.question in text), None)
            if question is None:
                shown[part.name] = {"problem": "the notebook does not have the question"}
                continue
            having = [i for i in range(question) if _outputs_of(found[i], kind)]
            named = [i for i in having if phrase and phrase in texts[i]]
            chosen = (named or having or [None])[-1]
            if chosen is None:
                shown[part.name] = {"problem": "no saved output before the question (handed in without outputs?)"}
                continue
            raw, why = checked_image(kind, _outputs_of(found[chosen], kind)[-1])
            shown[part.name] = ({"type": kind, "data": base64.b64encode(raw).decode("ascii"), "cell": chosen + 1}
                                if raw else {"problem": f"the output of cell {chosen + 1}: {why}", "cell": chosen + 1})
        return shown
    except Exception as error:  # an output is shown or not; it never stops grading
        return {part.name: {"problem": f"could not be read ({type(error).__name__})"} for part in parts if part.shows}
