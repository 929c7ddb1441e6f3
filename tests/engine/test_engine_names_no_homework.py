"""The grading engine names no homework: everything it knows of an assignment comes from that assignment's folder.
The engine is every .py under grading/ but grading/assignments/, and the case toolkit (casekit/) it shares.

Every assignment's names are read from its assignment.json (the repository's own under grading/assignments/ and the
examples under examples/): the assignment's own name, the graded classes and functions, its parts' names, the notebook
variables they follow and fill and the ones its checks need (derived from its notebook), its files, their stems and the provided helpers', the
stand-ins' constructor keywords, the dataset and the environment's keys; its constants are the dataset's numbers (mean,
standard deviation, side) and the stand-ins' constructor values. Every .py of the engine is read with ``tokenize``: no
identifier may contain a name (case-sensitive; a plain lowercase word such as ``model`` counts only as a whole
identifier), no string literal may hold one as a whole word, no number may be one of the dataset's numbers and no
parameter's default value may be a constant. Comments and docstrings may keep an example. ``ALLOWED`` holds the names
that are another library's own vocabulary before they are an assignment's, ``ALLOWED_NUMBERS`` the numbers a file
needs for another reason (each with why)."""

import ast
import io
import json
import re
import tokenize
from pathlib import Path

from grading.assignment import load as load_assignment

REPO = Path(__file__).resolve().parents[2]
GRADING = REPO / "grading"
HOMEWORK = GRADING / "assignments" / "hw2"
SPECS = sorted([*(GRADING / "assignments").glob("*/assignment.json"), *(REPO / "examples").glob("*/assignment.json")])
ALLOWED = {"batch_size": "torch's own name: a DataLoader's attribute, which the case toolkit's describe reports"}
ALLOWED_NUMBERS = {("grading/intake/submissions.py", "28"): "the zip format's offset of the three name lengths in an "
                                                             "entry of its central directory"}
STRINGS = {tokenize.STRING} | {getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}  # Python 3.12 splits f-strings


def spec_names(data):
    """(names, constants, defaults) of one assignment.json's data: its names, the dataset's numbers (as texts) and the
    stand-ins' constructor values (as texts, which no default of the engine may be)."""
    names = {data["name"], *data.get("classes", []), *data.get("functions", []), *data.get("needed", [])}
    for part in data["parts"]:
        names.add(part["name"])
        names.update([part["follows"]] if part.get("follows") else [])
        names.update(part.get("fills", []))
    for file in [*data["files"].values(), *data.get("provided", [])]:
        names.update({Path(file).name, Path(file).stem})
    defaults = set()
    for target, classes in data.get("stand_ins", {}).items():
        names.add(target)
        for name, args in classes:
            names.add(name)
            names.update(args if isinstance(args, dict) else ())
            values = args.values() if isinstance(args, dict) else args
            defaults.update(str(value) for value in values if not isinstance(value, (list, dict)))
    dataset = data.get("dataset", {})
    names.update([dataset["torchvision"]] if dataset.get("torchvision") else [])
    names.update(data.get("environment", {}))
    constants = {str(value) for key, value in dataset.items() if key != "torchvision" and not isinstance(value, str)}
    return names | constants, constants, defaults


def homework_names():
    """(names, constants, defaults) of every assignment (``spec_names``), as texts."""
    names, constants, defaults = set(), set(), set()
    for path in SPECS:
        found = spec_names(json.loads(path.read_text(encoding="utf-8")))
        found[0].update(load_assignment(path.parent).needed())  # what its checks need, derived from its notebook
        names, constants, defaults = names | found[0], constants | found[1], defaults | found[2]
    return names, constants, defaults


def _docstrings(tree):
    """(line, column) where each docstring of a module, class or function starts."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add((first.lineno, first.col_offset))
    return found


def _in_identifier(identifier, name):
    if re.fullmatch(r"[a-z]+", name):  # a plain word (model, transform, device): only as the whole identifier
        return identifier == name
    return name in identifier


def _defaults(tree, defaults):
    """[(line, kind, text, [values])] of the parameters' default values that are one of ``defaults``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for value in [*node.args.defaults, *node.args.kw_defaults]:
                if isinstance(value, ast.Constant) and not isinstance(value.value, str) and str(value.value) in defaults:
                    found.append((value.lineno, "default", repr(value.value), [str(value.value)]))
    return found


def offenders(path, names, constants, defaults=()):
    """[(line, kind, text, [names])] of the file's identifiers, strings, numbers and defaults that name a homework."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    skip = _docstrings(tree)
    words = {name: re.compile(rf"(?<!\w){re.escape(name)}(?!\w)") for name in names}
    found = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.NAME:
            hits = [name for name in names if _in_identifier(token.string, name)]
            kind = "identifier"
        elif token.type in STRINGS and token.start not in skip:
            hits = [name for name, word in words.items() if word.search(token.string)]
            kind = "string"
        elif token.type == tokenize.NUMBER:
            hits = [name for name in constants if token.string == name]
            kind = "number"
        else:
            continue
        if hits:
            found.append((token.start[0], kind, token.string[:60], sorted(hits)))
    return found + _defaults(tree, set(defaults))


def engine_files():
    return sorted([p for p in GRADING.rglob("*.py") if HOMEWORK.parent not in p.parents]
                  + list((REPO / "casekit").rglob("*.py")))


def test_the_names_come_from_every_assignment_folder():
    names, constants, defaults = homework_names()
    assert {"hw2", "hw2.ipynb", "hw2_models", "hw2_helpers", "LeNet_5", "VariationalAutoEncoder", "ae_model",
            "training_dataloader", "mnist_training_set", "MNIST", "0.1307", "0.3081", "28", "HW2_QUICK", "HW2_DEVICE",
            "latent_dimensionality"} <= names
    assert {"tiny", "Doubler", "doubler", "net", "tiny_models", "count_parameters"} <= names
    assert constants == {"0.1307", "0.3081", "28"} and "2" in defaults
    assert engine_files() and not any("assignments" in p.parts for p in engine_files())
    assert {"casekit/__init__.py", "casekit/data.py", "casekit/kernel.py"} <= {p.relative_to(REPO).as_posix() for p in engine_files()}


def test_the_scan_sees_code_and_defaults_and_skips_comments_and_docstrings(tmp_path):
    names, constants, defaults = homework_names()
    sample = tmp_path / "sample.py"
    sample.write_text('"""hw2 in a docstring."""\n# hw2_models in a comment\n'
                      'def f(ae_model, width=2):\n    """LeNet_5 here."""\n    x = "see hw2.ipynb"\n    return 0.3081, "models"\n'
                      'def g(images):\n    return images.view(28, 28), getattr(images, "latent_dimensionality"), 2\n')
    found = offenders(sample, names, constants, defaults)
    assert [(line, kind, hits) for line, kind, _, hits in found] == [
        (3, "identifier", ["ae_model"]), (5, "string", ["hw2", "hw2.ipynb"]), (6, "number", ["0.3081"]),
        (8, "number", ["28"]), (8, "number", ["28"]), (8, "string", ["latent_dimensionality"]), (3, "default", ["2"])]


def test_the_engine_names_no_homework():
    names, constants, defaults = homework_names()
    names -= set(ALLOWED)
    report = [f"{path.relative_to(REPO)}:{line}: {kind} {text!r} names {', '.join(hits)}"
              for path in engine_files() for line, kind, text, hits in offenders(path, names, constants, defaults)
              if (path.relative_to(REPO).as_posix(), text) not in ALLOWED_NUMBERS]
    assert not report, "the engine names an assignment (move it into the assignment's folder):\n" + "\n".join(report)
