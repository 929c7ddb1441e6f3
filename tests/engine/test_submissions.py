"""The grader's own process never parses a submission unbounded, and one submission never stops the class.

Fast unit tests of the rooms: bounded notebook reading and linear scans (grading.intake.notebook), names, zips and folders
(grading.intake.submissions), rows from hostile records (grading.outputs.results), written scores keyed by the exact name, and the
orchestration that turns any failing step into that submission's row (grading.grade). Each test fails when the guard
it names is removed."""

import csv
import json
import os
import struct
import time
import zipfile

import pytest

from grading.assignment import load as load_assignment
from grading import grade, settings, text
from grading.batch import pipeline
from grading.intake import notebook, submissions
from grading.outputs import report, results
from grading.sandbox.child.notebook import defined_classes

HW = load_assignment()
FILES = tuple(HW.files.values())

QUESTION = "How does this compare to the confusion matrix you generated for your model in HW1?"


def _notebook(*cells):
    return json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _code(text):
    return {"cell_type": "code", "metadata": {}, "source": text, "outputs": [], "execution_count": None}


# ------------------------------------------------------------------------------------------------
# Notebooks (grading.intake.notebook)
# ------------------------------------------------------------------------------------------------
def test_a_notebook_nested_100000_deep_is_refused_before_json_loads():
    data = ("[" * 100_000 + "]" * 100_000).encode()
    started = time.monotonic()
    nb, problem = notebook.parse(data)
    assert nb is None and "nested deeper than" in problem  # guard: the depth scan (json.loads: RecursionError)
    assert time.monotonic() - started < 5
    assert notebook.depth('{"a": "[[[[", "b": [[1]]}') == 3  # brackets inside strings do not count


def test_too_many_cells_are_refused():
    nb, problem = notebook.parse(_notebook(*[_code("x")] * (settings.limits().notebook_cells + 1)).encode())
    assert nb is None and "cells" in problem


def test_a_cell_of_60000_newlines_is_read_in_linear_time(tmp_path):
    text = "x = 1" + "\n" * 60_000 + "y"  # a regular expression with (?m)^\s* took about 14 s on this
    path = tmp_path / "hw2.ipynb"
    path.write_text(_notebook(_code(text), _code("class LeNet_5(nn.Module:\n" + "\n" * 60_000)))
    started = time.monotonic()
    assert notebook.detect(notebook.load(path)[0], HW) == notebook.ASSIGNMENT  # read from its lines: the cell does not compile
    assert notebook.imports_module(text, "hw2_models") is False
    assert notebook.assigns_by_text(text, ["x", "y"]) == {"x"}
    assert time.monotonic() - started < 5


def test_the_line_scans_read_what_the_regular_expressions_did():
    assert notebook.imports_module("  from hw2_models import Encoder", "hw2_models")
    assert notebook.imports_module("import hw2_models as m", "hw2_models")
    assert not notebook.imports_module("import hw2_models_old", "hw2_models") and not notebook.imports_module("# import hw2_models", "hw2_models")
    assert defined_classes("class Encoder(nn.Module:\nclass Decoderx:\nclass LeNet_5:", HW.classes) == ["Encoder", "LeNet_5"]
    assert notebook.assigns_by_text("  model = LeNet_5(\nae_model == 1\nvae_model=2", ["model", "ae_model", "vae_model"]) \
        == {"model", "vae_model"}


def test_a_lone_surrogate_in_an_answer_is_replaced(tmp_path):
    path = tmp_path / "hw2.ipynb"
    path.write_text('{"cells": [{"cell_type": "markdown", "source": "%s"}, {"cell_type": "markdown", "source": '
                    '"mine \\ud800"}], "nbformat": 4, "nbformat_minor": 5}' % QUESTION)
    answers = notebook.written_answers(path, {"hw1_comparison": QUESTION})
    assert answers == {"hw1_comparison": "mine \ufffd"}  # guard: encodable() in notebook.source (text.py)
    answers["hw1_comparison"].encode("utf-8")
    record = {"name": "x", "answers": answers}
    page = report.answer_page(HW.written()[0], [record], {}, HW)
    report.write_text(tmp_path / "page.html", page)


# ------------------------------------------------------------------------------------------------
# Names (grading.intake.submissions)
# ------------------------------------------------------------------------------------------------
def test_undecodable_and_long_names_get_a_printable_bounded_form(tmp_path):
    raw = os.fsdecode(b"\xff" + b"n" * 251)
    shown = text.display_name(raw)
    assert len(shown) <= settings.limits().name_length and shown.startswith("\ufffdnnn") and "~" in shown
    shown.encode("utf-8")  # guard: display_name (the surrogate escape of \xff is not encodable)
    assert text.display_name("alice") == "alice"
    assert text.display_name("a\nb") != "a\nb"
    long = "x" * 252
    assert len(text.file_name(long) + ".json") < 255  # guard: file_name's shortening (details/NAME.json)
    assert text.file_name(long) != text.file_name("x" * 253)
    assert text.file_name("m a") != text.file_name("m_a") and text.file_name("ok") == "ok"
    os.mkdir(os.fsencode(tmp_path) + b"/\xff" + b"n" * 251)
    (tmp_path / "bob").mkdir()
    assert [name for name, _ in submissions.find(tmp_path)] == ["bob", shown]


@pytest.mark.parametrize("names", [["bob", "bob "], ["Bob", "bob"], ["m a", "m_a"]])
def test_names_that_collide_are_refused_both_named(names):
    with pytest.raises(ValueError, match="Rename one") as refused:
        submissions.refuse_collisions(names + ["carol"])
    assert all(repr(name) in str(refused.value) for name in names) and "carol" not in str(refused.value)
    submissions.refuse_collisions(["bob", "carol", "=1+2"])


def test_written_scores_are_keyed_by_the_exact_name(tmp_path):
    scores = tmp_path / "scores.csv"
    scores.write_text("submission,hw1_comparison,vae_use_case\nbob ,1,2\n'=1+2,0,1\n")
    written = results.read_written_scores(scores, None, HW)
    assert written == {"bob ": {"hw1_comparison": 1, "vae_use_case": 2}, "=1+2": {"hw1_comparison": 0, "vae_use_case": 1}}
    row = results.row_for(results.outcome({"name": "bob", "results": [], "events": [{"event": "finished"}]}, written,
                                          {"timeout": 1}, HW), HW)
    assert row["written"] == "0"  # guard: no strip of the names (bob would get "bob "'s 3 points)
    with pytest.raises(ValueError, match="'bob ' is not a submission of this folder .did you mean 'bob'"):
        results.read_written_scores(scores, {"bob", "=1+2"}, HW)


# ------------------------------------------------------------------------------------------------
# Zips and folders (grading.intake.submissions)
# ------------------------------------------------------------------------------------------------
def _many(path, n):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hw2/hw2_models.py", "x = 1\n")
        for k in range(n):
            archive.writestr(f"f{k}", b"")


def test_a_zip_of_too_many_entries_is_refused_from_its_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "_in_force", settings.Limits(zip_entries=100))
    _many(tmp_path / "many.zip", 150)
    opened = []
    monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: opened.append(a) or (_ for _ in ()).throw(AssertionError))
    problems = submissions.extract(tmp_path / "many.zip", tmp_path, None, FILES)
    assert "the zip has 151 entries" in problems[0] and opened == []  # guard: zip_problem before zipfile


def test_a_zip_that_understates_its_entries_is_counted_from_its_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "_in_force", settings.Limits(zip_entries=100))
    path = tmp_path / "lies.zip"
    _many(path, 150)
    data = bytearray(path.read_bytes())
    end = data.rindex(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 1, 1)  # "1 entry"
    path.write_bytes(bytes(data))
    assert "more than 100 entries" in submissions.zip_problem(path)


def test_a_zip_that_declares_gigabytes_is_refused(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for k in range(3):
            archive.writestr(f"f{k}", b"x")
    data = bytearray(path.read_bytes())
    at = 0
    for _ in range(3):
        at = data.index(b"PK\x01\x02", at)
        struct.pack_into("<I", data, at + 24, 2**31 - 1)  # each member "2 GiB" uncompressed
        at += 4
    path.write_bytes(bytes(data))
    assert "declares more than" in submissions.zip_problem(path)


def test_a_zip_of_400000_entries_costs_little_memory(tmp_path):
    import tracemalloc

    path = tmp_path / "huge.zip"
    name = b"f"
    entry = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, 0) + name
    directory = entry * 400_000
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, len(directory), 0, 0)
    path.write_bytes(directory + end)
    tracemalloc.start()
    problems = submissions.extract(path, tmp_path, None, FILES)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "entries" in problems[0] and peak < 40 * 2**20  # zipfile's ZipInfo for each: hundreds of MB


def test_a_folder_of_too_many_entries_is_looked_at_in_part(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "_in_force", settings.Limits(walk_entries=50))
    folder = tmp_path / "s"
    deep = folder
    for k in range(60):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (folder / "hw2_models.py").write_text("x = 1\n")
    out = tmp_path / "out"
    out.mkdir()
    assert any("more than 50 entries" in p for p in submissions.extract(folder, out, None, FILES))


# ------------------------------------------------------------------------------------------------
# Rows from hostile records (grading.outputs.results) and the batch (grading.grade)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("event", [
    {"event": "cell", "cell": 1, "message": "m", "graded": 5},
    {"event": "cell", "cell": "one", "message": 7, "graded": [1, None]},
    {"event": "output", "cell": None, "characters": "many"},
    {"event": "problem", "message": "lone \ud800"}])
def test_a_row_is_made_from_any_record(tmp_path, event):
    record = {"name": "x\ud800", "notes": "a note", "problems": [3], "results": [
        {"part": "transform", "case": 1, "points": "1000", "passed": True},
        {"part": "encoder", "case": "c", "points": 1, "passed": "yes", "message": ["\ud800"]}],
        "events": [event, {"event": "finished"}], "returncode": None}
    row = results.row_for(results.outcome(record, {}, {"timeout": 1}, HW), HW)  # guard: results._texts/_integer
    report.write_grades(tmp_path, [row], HW)
    assert row["transform"] == "0" and row["automatic"] == "0"
    with open(tmp_path / "grades.csv", encoding="utf-8") as handle:
        assert list(csv.DictReader(handle))[0]["submission"] == "x\ufffd"


def test_a_failing_step_becomes_that_submissions_row_and_grades_csv_is_written(tmp_path, monkeypatch):
    folder = tmp_path / "subs"
    for name in ["alice", "bob"]:
        (folder / name).mkdir(parents=True)

    def extract(entry, workdir, notes, files):
        raise OSError(f"cannot copy {entry.name}")

    ran = []
    monkeypatch.setattr(submissions, "extract", extract)
    monkeypatch.setattr(pipeline.session, "grade_submission", lambda *a: ran.append(a))
    monkeypatch.setattr(pipeline, "IN_PROCESS", True)  # the replaced functions are this process's: no worker
    monkeypatch.setattr(grade.isolation, "problem", lambda: None)
    monkeypatch.setattr(report, "write_submission_files", lambda out, record: 1 / 0)
    rows, _ = grade.grade(folder, tmp_path / "out", quiet=True)
    assert ran == [] and [r["submission"] for r in rows] == ["alice", "bob"]
    assert "the grader failed on this submission (copying the submission: OSError: cannot copy bob)" in rows[1]["status"]
    assert (tmp_path / "out" / "grades.csv").exists()  # guard: the per-record try in report.write


def test_colliding_names_stop_the_run_before_anything_is_graded(tmp_path, monkeypatch):
    for name in ["bob", "bob "]:
        (tmp_path / "subs" / name).mkdir(parents=True)
    monkeypatch.setattr(grade.isolation, "problem", lambda: None)
    with pytest.raises(ValueError, match=r"'bob' and 'bob '"):
        grade.grade(tmp_path / "subs", tmp_path / "out", quiet=True)
    assert not (tmp_path / "out" / "grades.csv").exists()
    with pytest.raises(SystemExit) as stopped:  # the command line says it and exits 2
        grade.main([str(tmp_path / "subs"), "--out", str(tmp_path / "out")])
    assert stopped.value.code == 2


def test_a_cell_of_magics_is_not_translated_in_the_graders_process(tmp_path):
    text = "x = !ls\n" * 400 + "y = 1\n" * 20_000 + "class Encoder(nn.Module):\n    pass\n"
    path = tmp_path / "hw2.ipynb"
    path.write_text(_notebook(_code(text)))
    started = time.monotonic()
    assert notebook.detect(notebook.load(path)[0], HW) == notebook.ASSIGNMENT  # IPython's TransformerManager: about 290 s on this cell
    assert time.monotonic() - started < 5
    assert defined_classes("class Encoder:\n    pass\nx = '''\nclass Decoder:\n'''", HW.classes) == ["Encoder"]


def test_an_older_notebook_is_converted_once_and_a_damaged_one_says_what_to_do(tmp_path):
    """nbformat 3 (cells in worksheets, a code cell's text under "input", outputs under "png") is read as the nbformat
    4 notebook nbformat converts it to, and written so into the grader's copy for the child; one its converter cannot
    convert gets a problem saying so (guard: notebook.upgraded)."""
    import nbformat

    v4 = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output(
        "display_data", data={"image/png": "iVBORw0KGgo=\n"})]), nbformat.v4.new_markdown_cell("an answer")])
    path = tmp_path / "hw2.ipynb"
    path.write_text(nbformat.writes(nbformat.convert(nbformat.reads(nbformat.writes(v4), as_version=4), 3), 3))
    nb, problem = notebook.load(path)
    assert problem is None and nb["nbformat"] == 4
    assert [(c["cell_type"], c["source"]) for c in nb["cells"]] == [("code", "x = 1"), ("markdown", "an answer")]
    assert nb["cells"][0]["outputs"][0]["data"]["image/png"].strip() == "iVBORw0KGgo="
    assert notebook.save_upgraded(path)  # the child's copy: the cells the parent plans from (ids drawn anew)
    assert [{**c, "id": ""} for c in json.loads(path.read_text())["cells"]] == [{**c, "id": ""} for c in nb["cells"]]
    assert not notebook.save_upgraded(path)  # nbformat 4 now: left as it is
    path.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": 5}))
    assert notebook.load(path) == (None, "the notebook is in nbformat 3 and could not be converted to nbformat 4 "
                                         "(TypeError): open it in Jupyter and save it again")


@pytest.mark.parametrize("cell, expected", [
    ("class Encoder(nn.Module):\n    pass", ["Encoder"]),
    ("%matplotlib inline\nclass Encoder(nn.Module):\n    pass", ["Encoder"]),  # a magic: read from its lines
    ("%%time\nclass Decoder:\n    pass", ["Decoder"]),
    ("%matplotlib inline\nx = '''\nclass Decoder:\n'''\nclass Encoder:\n    pass", ["Decoder", "Encoder"]),
    ("if True:\n    class Encoder:\n        pass", []),  # not at the top level
    ("class Encoderx:\n    pass\nclass\tLeNet_5:\n    pass", ["LeNet_5"]),
    ("classEncoder = 1\n# class Decoder", []),
    ("class Encoder:\n    pass\n" + "(" * 200_000, ["Encoder"]),  # too deep to parse: read from its lines
])
def test_the_plan_and_the_child_read_a_cells_classes_by_one_rule(cell, expected):
    """The parent plans which cells are class cells and the sandboxed child loads them, both with this one function:
    a cell the two would read differently (a magic beside a class in a string) cannot leave a class unloaded."""
    from grading.judge import session
    from grading.sandbox.child import notebook as child_notebook

    assert session.defined_classes is child_notebook.defined_classes is notebook.defined_classes
    assert defined_classes(cell, HW.classes) == expected
