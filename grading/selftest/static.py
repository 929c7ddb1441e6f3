"""The self-test's checks that run nothing: the settings of assignment.json, the files they name, the classes,
functions and variables the parts follow, the graded cells, the questions, and what the planned cells read.

``problems(folder)`` -> (lines, notes): each line says what is wrong and how to fix it; notes say what the grader will
do (the cells it runs). Nothing here grades or executes a cell."""

import ast
import difflib
import json
from pathlib import Path

import nbformat

from grading import assignment as assignments
from grading.intake import needs as derive
from grading.intake import notebook as intake
from grading.student import annotate
from grading.student import make as ms
from grading.student.aids import RuleError

STATEMENTS = {ast.If: "an `if`", ast.For: "a `for` loop", ast.While: "a `while` loop", ast.With: "a `with` block",
              ast.Try: "a `try` block", ast.FunctionDef: "a function", ast.ClassDef: "a class"}


def closest(name, known):
    found = difflib.get_close_matches(str(name), sorted(known), 1, 0.6)
    return f" (did you mean {found[0]!r}?)" if found else ""


def _kept(nb):
    """{index: (cell source, parsed tree or None)} of the code cells a student version keeps."""
    return {i: (text, derive._trusted_tree(text)) for i, text in intake.code_cells(nb)
            if derive.SOLUTION_ONLY not in intake.tags(intake.cells(nb)[i])}


def top_assigns(tree):
    """{name: number of top-level ``NAME = ...`` statements} of a cell: what the student version can blank."""
    found = {}
    for node in tree.body if tree else ():
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = found.get(target.id, 0) + (len(node.targets) == 1)
    return found


def nested_assign(tree, name):
    """(what encloses it, line) of the first assignment of ``name`` below the cell's top level, or None."""
    for statement in tree.body if tree else ():
        if isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in statement.targets):
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
                return STATEMENTS.get(type(statement), "a tuple or another statement"), node.lineno
    return None


def imports_from(tree, module, name):
    return any(isinstance(node, ast.ImportFrom) and node.module == module and name in [a.name for a in node.names]
               for node in (tree.body if tree else ()))


def _settings(folder):
    """(data, problems) of assignment.json read raw: every unknown key named with the closest known one."""
    path = Path(folder) / "assignment.json"
    if not path.is_file():
        return None, [f"{folder} holds no assignment.json: name an assignment folder (--assignment DIR)"]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        return None, [f"{path} is not JSON ({error}): fix the line it names"]
    return data, assignments.unknown_settings(data)


def _files(a):
    found = []
    solved = a.data.get("solved", {})
    for kind in a.files:
        if kind in ("notebook", "module") and not solved.get(kind):
            found.append(f"assignment.json names files.{kind} but no solved.{kind}: add the solved file's path "
                         "(relative to the assignment folder)")
        elif kind in solved and not a.solved(kind).is_file():
            found.append(f"solved.{kind}: {a.solved(kind)} does not exist: fix the path (relative to the assignment folder)")
    found += [f"provided: {path} does not exist: fix the path or remove it" for path in a.provided() if not path.exists()]
    if a.data_folder() is not None and not a.data_folder().is_dir():
        found.append(f"data: {a.data_folder()} is not a folder: fix the path")
    if a.data.get("splitter"):
        file = a.data["splitter"].partition(":")[0]
        if not any((p.parent / file).is_file() for p in a.provided()):
            found.append(f"splitter: {file} is not among the provided files: name a file:function of a provided file")
    if not (a.folder / "student" / "readme.md").is_file():
        found.append(f"{a.folder / 'student' / 'readme.md'} does not exist: write the student README's template "
                     "(grading/AUTHORING.md says what it holds)")
    return found


def _module(a):
    """(classes, functions, problems) of the solved module."""
    if not a.module or not a.data.get("solved", {}).get("module") or not a.solved("module").is_file():
        return set(), set(), []
    text = a.solved("module").read_text(encoding="utf-8")
    try:
        tree = ast.parse(ms.MARKER.sub("", text))
    except SyntaxError as error:
        return set(), set(), [f"{a.files['module']} does not compile (line {error.lineno}: {error.msg}): fix the solved module"]
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    functions = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    found = [f"classes names {name}, which {a.files['module']} does not define at its top level{closest(name, classes)}: "
             "fix the name in classes" for name in a.classes if name not in classes]
    found += [f"functions names {name}, which {a.files['module']} does not define at its top level"
              f"{closest(name, functions)}: fix the name in functions"
              for name in a.data.get("functions", []) if name not in functions]
    try:
        _, blanks = ms.module_blanks(text, a.files["module"])
    except RuleError as error:
        return classes, functions, found + [str(error)]
    spans = {n.name: (n.lineno, n.end_lineno) for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    for part in a.automatic():
        if part.follows in spans and not any(spans[part.follows][0] <= line + 1 <= spans[part.follows][1]
                                             for line, _, _ in blanks):
            found.append(f"part {part.name}: no line of {part.follows} in {a.files['module']} carries a blank, so the "
                         "student version gives it away: end each line a student writes with '# blank: line' "
                         "(or '# blank: args', '# blank: comment')")
    return classes, functions, found


def _parts(a, cells, classes, functions):
    """Each part's follows, fills, question and shown output found in the solved files; one graded cell per part."""
    found, graded = [], {}
    names = [p.name for p in a.parts]
    found += [f"two parts are named {n}: give each part a name of its own" for n in sorted({n for n in names if names.count(n) > 1})]
    variables = {name for _, tree in cells.values() if tree for name in intake.assigned(tree)}
    for part in a.parts:
        if part.kind not in (assignments.AUTOMATIC, assignments.WRITTEN):
            found.append(f"part {part.name}: kind {part.kind!r} is neither 'automatic' nor 'written'{closest(part.kind, ('automatic', 'written'))}")
        if not part.points > 0:
            found.append(f"part {part.name}: points {part.points:g}: give it a positive number of points")
    module_names = set(a.classes) | set(a.data.get("functions", []))
    for part in a.automatic():
        if not part.follows:
            found.append(f"part {part.name} follows nothing: name the class (classes), function (functions) or "
                         "notebook variable it grades in follows")
            continue
        if part.follows in module_names:
            where = [i for i, (_, tree) in cells.items() if imports_from(tree, a.module, part.follows)]
            if part.follows not in classes | functions:
                continue  # named above, under classes or functions
            if not where:
                found.append(f"part {part.name}: no cell of the notebook imports {part.follows} from {a.module}: add a "
                             f"cell `from {a.module} import {part.follows}` where the student checks it")
                continue
            graded.setdefault(where[0], []).append((part, "imports"))
            continue
        if part.follows in classes | functions:
            listed = "classes" if part.follows in classes else "functions"
            found.append(f"part {part.name} follows {part.follows}, which {listed} does not list: add it to {listed}")
            continue
        where = [i for i, (_, tree) in cells.items() if part.follows in top_assigns(tree)]
        if not where:
            nested = next(((i, *nested_assign(tree, part.follows)) for i, (_, tree) in cells.items()
                           if nested_assign(tree, part.follows)), None)
            found.append(f"cell {nested[0]} assigns {part.follows} (part {part.name}) inside {nested[1]} (line "
                         f"{nested[2]}): assign a graded variable at the top level of its cell (`{part.follows} = ...`, "
                         "not inside if/for/with/try), so the student version can blank it" if nested else
                         f"part {part.name} follows {part.follows}, which no cell of the solved notebook assigns and "
                         f"{a.files.get('module', 'no module')} does not define{closest(part.follows, variables | module_names)}: "
                         "fix follows, or list the class in classes (a function in functions)")
            continue
        cell = where[0]
        graded.setdefault(cell, []).append((part, "assigns"))
        counts = top_assigns(cells[cell][1])
        for name in part.fills:
            if counts.get(name) != 1:
                found.append(f"cell {cell} (part {part.name}) must assign {name} exactly once at its top level, as "
                             f"`{name} = ...` (one target), to blank it; it does {counts.get(name, 0)} times: "
                             "write it so, or fix fills")
        if not part.fills:
            found.append(f"part {part.name} has no fills, so the student version gives {part.follows} away: "
                         f"list the variables a student writes (\"fills\": [\"{part.follows}\"])")
    for cell, owners in sorted(graded.items()):
        if len(owners) > 1:
            kinds = {how for _, how in owners}
            what = " and ".join(part.follows for part, _ in owners)
            found.append(f"cell {cell} assigns both {what}: give each graded variable a cell of its own"
                         if kinds == {"assigns"} else
                         f"cell {cell} is the graded cell of both {what} ({', '.join(p.name for p, _ in owners)}): "
                         f"give each its own cell (for a class, a cell `from {a.module} import NAME` of its own), "
                         "where its public check goes")
    return found


def _written(a, nb):
    texts = [intake.source(cell) for cell in intake.cells(nb)]
    found = []
    answers = [i for i, c in enumerate(intake.cells(nb)) if "answer" in intake.tags(c)
               and derive.SOLUTION_ONLY not in intake.tags(c)]
    if len(answers) != len(a.written()):
        found.append(f"{a.files['notebook']} has {len(answers)} cells tagged 'answer' and the assignment "
                     f"{len(a.written())} written parts: tag the one markdown cell after each question 'answer'")
    for part in a.written():
        question = next((i for i, text in enumerate(texts) if part.question and part.question in text), None)
        if question is None:
            found.append(f"part {part.name}: its question {part.question!r} is in no cell of the solved notebook: "
                         "copy the question's words from the notebook into question")
            continue
        if not any(i > question for i in answers):
            found.append(f"part {part.name}: no cell tagged 'answer' after its question (cell {question}): tag the "
                         "cell that holds the answer 'answer'")
        shows = part.shows if isinstance(part.shows, dict) else {"output": part.shows} if part.shows else {}
        if shows.get("cell") and not any(shows["cell"] in texts[i] for i in range(question)):
            found.append(f"part {part.name}: shows.cell {shows['cell']!r} is in no cell before its question: copy "
                         "a phrase of the cell whose output it shows")
    return found


def _plan(a, nb, cells):
    """The cells the grader runs: what each reads must be defined by an earlier one (derived, or ``needed``)."""
    found, notes = [], []
    derived, missing = a.needs
    labels = {i: next(iter(sorted(set(top_assigns(tree)) & a.graded_variables())), None) for i, (_, tree) in cells.items()}

    def label(i):
        return f"cell {i}" + (f" ({labels[i]})" if labels.get(i) else "")

    defined = {i: intake.assigned(tree) if tree else set() for i, (_, tree) in cells.items()}
    for i, name in missing:
        later = [j for j in cells if j > i and name in defined[j]]
        found.append(f"{label(i)} reads {name}, which no earlier cell defines" + (
            f" (cell {later[0]} does, after it): move that definition before {label(i)}" if later else
            f"{closest(name, set().union(*defined.values()))}: define {name} at the top level of a cell before {label(i)}"))
    last = a.cell_parts()[-1].follows if a.cell_parts() else None
    if "needed" in a.data:
        readers = [i for i, _ in intake.plan(nb, derived, last) if i in cells and cells[i][1] is not None]
        for name in sorted(derived - a.needed()):
            reader = next((i for i in readers if name in set().union(*derive.reads(cells[i][1]))), None)
            found.append(f"{label(reader) if reader is not None else 'a planned cell'} reads {name}, which needed in "
                         f"assignment.json leaves out, so the grader never defines it: add {name!r} to needed, or "
                         "remove needed (the grader then derives it from the notebook)")
    planned = [i for i, _ in intake.plan(nb, a.needed(), last) if i in cells]
    notes.append(f"the grader runs cells {', '.join(map(str, planned))} of {a.files['notebook']} (those that import "
                 "or define what the graded cells read), never the others")
    for i in planned:
        loops = [node.lineno for node in (cells[i][1].body if cells[i][1] else ()) if isinstance(node, (ast.For, ast.While))]
        if loops and not labels.get(i):
            notes.append(f"{label(i)} loops (line {loops[0]}) and the grader runs it: if it trains, move what the "
                         "graded cells read out of it into a cell of its own")
    return found, notes


def problems(folder):
    """(problem lines, notes) of the assignment in ``folder``: nothing runs."""
    data, found = _settings(folder)
    if data is None or found:
        return found, []
    try:
        a = assignments.Assignment(folder)
        a.cases
    except assignments.AssignmentError as error:
        return [str(error)], []
    found = _files(a)
    if found:
        return found, []
    classes, functions, found = _module(a)
    nb, problem = intake.load(a.solved("notebook"))
    if nb is None:
        return found + [f"{a.solved('notebook')}: {problem}"], []
    cells = _kept(nb)
    found += _parts(a, cells, classes, functions) + _written(a, nb)
    if found:
        return found, []
    try:
        annotate.marks(nbformat.read(a.solved("notebook"), as_version=4), a)
        if annotate.annotate(nbformat.read(a.solved("notebook"), as_version=4), a):
            found.append(f"the graded cells' marks of {a.files['notebook']} are missing or stale: run "
                         f"python -m grading.student.annotate --assignment {a.folder}")
    except ValueError as error:
        found.append(str(error))
    planned, notes = _plan(a, nb, cells)
    return found + planned, notes
