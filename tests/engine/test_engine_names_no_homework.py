"""The grading engine names no homework: everything it knows of HW2 comes from grading/assignments/hw2/.
The engine is every .py under grading/ but grading/assignments/, and the case toolkit (casekit/) it shares.

HW2's names are read from its assignment.json (the graded classes, its parts' names, the notebook variables they
follow and fill and the ones its checks need, derived from its notebook, its files, their stems and the provided
helpers', the dataset, its mean and standard deviation, the assignment's own name), and every .py under grading/ but grading/assignments/ is
read with ``tokenize``: no identifier may contain one of them (case-sensitive; a plain lowercase word such as
``model`` counts only as a whole identifier), no string literal may hold one as a whole word, and no number may be
one of the constants. Comments and docstrings may keep an example. ``ALLOWED`` holds the names that are another
library's own vocabulary before they are HW2's (each with why)."""

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
ALLOWED = {"batch_size": "torch's own name: a DataLoader's attribute, which the case toolkit's describe reports"}
STRINGS = {tokenize.STRING} | {getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}  # Python 3.12 splits f-strings


def homework_names():
    """(names, constants): HW2's names and its numeric constants, as texts."""
    data = json.loads((HOMEWORK / "assignment.json").read_text(encoding="utf-8"))
    names = {data["name"], *data.get("classes", []), *data.get("needed", []), *load_assignment(HOMEWORK).needed()}
    for part in data["parts"]:
        names.add(part["name"])
        names.update([part["follows"]] if part.get("follows") else [])
        names.update(part.get("fills", []))
    for file in [*data["files"].values(), *data.get("provided", [])]:
        names.update({Path(file).name, Path(file).stem})
    dataset = data.get("dataset", {})
    names.update([dataset["torchvision"]] if dataset.get("torchvision") else [])
    constants = {str(dataset[key]) for key in ("mean", "std") if key in dataset}
    return names | constants, constants


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


def offenders(path, names, constants):
    """[(line, kind, text, [names])] of the file's identifiers, strings and numbers that name the homework."""
    text = path.read_text(encoding="utf-8")
    skip = _docstrings(ast.parse(text))
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
    return found


def engine_files():
    return sorted([p for p in GRADING.rglob("*.py") if HOMEWORK.parent not in p.parents]
                  + list((REPO / "casekit").rglob("*.py")))


def test_the_names_come_from_the_homework_folder():
    names, constants = homework_names()
    assert {"hw2", "hw2.ipynb", "hw2_models", "hw2_helpers", "LeNet_5", "VariationalAutoEncoder", "ae_model",
            "training_dataloader", "mnist_training_set", "MNIST", "0.1307", "0.3081"} <= names
    assert constants == {"0.1307", "0.3081"}
    assert engine_files() and not any("assignments" in p.parts for p in engine_files())
    assert {"casekit/__init__.py", "casekit/data.py", "casekit/kernel.py"} <= {p.relative_to(REPO).as_posix() for p in engine_files()}


def test_the_scan_sees_code_and_skips_comments_and_docstrings(tmp_path):
    names, constants = homework_names()
    sample = tmp_path / "sample.py"
    sample.write_text('"""hw2 in a docstring."""\n# hw2_models in a comment\n'
                      'def f(ae_model):\n    """LeNet_5 here."""\n    x = "see hw2.ipynb"\n    return 0.3081, "models"\n')
    found = offenders(sample, names, constants)
    assert [(line, kind, hits) for line, kind, _, hits in found] == [
        (3, "identifier", ["ae_model"]), (5, "string", ["hw2", "hw2.ipynb"]), (6, "number", ["0.3081"])]


def test_the_engine_names_no_homework():
    names, constants = homework_names()
    names -= set(ALLOWED)
    report = [f"{path.relative_to(REPO)}:{line}: {kind} {text!r} names {', '.join(hits)}"
              for path in engine_files() for line, kind, text, hits in offenders(path, names, constants)]
    assert not report, "the engine names HW2 (move it into grading/assignments/hw2):\n" + "\n".join(report)
