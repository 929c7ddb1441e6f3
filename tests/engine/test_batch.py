"""The batch runner as the instructor meets it, and each submission's own process: each submission graded by
a worker process of its own, its death costing its own row; nothing the instructor typed or passed deleted or
overwritten, every input checked before --out changes, written scores kept in the records; spreadsheets' CSV as
spreadsheets save them, a gradebook worth other points named (--scale-to); Ctrl-C with one line and the same
command going on; one progress line per submission; the same submissions graded again giving the same files.
Each test fails when the guard it names is removed. Two grade in the sandbox: Ctrl-C (the tiny assignment) and the
five runs of a few of HW2's mistakes."""

import ast
import base64
import csv
import glob
import importlib.util
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakes import NB, folder_of as _folder, record, snapshot as _snapshot
from grading import grade
from grading.assignment import load as load_assignment
from grading.batch import pipeline, workers
from grading.intake import canvas
from grading.outputs import publish, results, store
from grading.sandbox import isolation
from grading.settings import Limits

REPO = Path(__file__).resolve().parents[2]
HW = load_assignment()
TINY = REPO / "examples" / "tiny"
SANDBOX = isolation.problem() is None
EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,Homework 2 (48213),Current Points
    Points Possible,,,,,15.00,(read only)
"Garcia, Luis",48213,G001,lgarcia,Design 101,,0
"Müller, Zoë",48215,M003,zmuller,Design 101,,0
"""


def _rows(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


# ------------------------------------------------------------------------------------------------
# 0. Each submission's trusted work in a process of its own
# ------------------------------------------------------------------------------------------------
TARGETS = '''
import os, pathlib, resource, signal, time

def grade_one(index, name, entry, scratch, options, assignment):
    import torch
    if name == "hog":
        torch.empty(2**31)  # 8 GiB of address space, never touched: only the worker's limit refuses it
    if name == "hangs":
        pathlib.Path(scratch, "hangs.pid").write_text(str(os.getpid()))
        time.sleep(600)
    if name == "exits":
        os._exit(3)
    if name == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if name == "kills_server":
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(600)
    print("debug detail of", name, flush=True)
    return {"name": name, "results": [], "events": [{"event": "finished"}], "pid": os.getpid(),
            "group": os.getpgid(0), "draw": torch.rand(1).item(), "limit": resource.getrlimit(resource.RLIMIT_AS)[0]}
'''


def _targets(folder, monkeypatch):
    """TARGETS as a module the worker server imports by its name (``folder`` on the path the server is given)."""
    folder.mkdir()
    (folder / "worker_targets.py").write_text(TARGETS)
    monkeypatch.syspath_prepend(str(folder))
    spec = importlib.util.spec_from_file_location("worker_targets", folder / "worker_targets.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "worker_targets", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_each_submission_is_graded_by_a_process_of_its_own_and_its_death_costs_its_row(tmp_path, monkeypatch, capfd):
    targets = _targets(tmp_path / "code", monkeypatch)
    names = ["alice", "bob", "exits", "hangs", "hog", "killed"]
    for name in names:
        (tmp_path / name).mkdir()
    got, started = {}, time.monotonic()
    options = {"limits": Limits(timeout=3, worker_margin=2.0), "threads": 1}
    workers.run([(i, n, tmp_path / n) for i, n in enumerate(names)], tmp_path, options, HW, 2,
                lambda r: got.setdefault(r["name"], r), targets.grade_one)
    assert sorted(got) == names and time.monotonic() - started < 60  # the batch survives every death
    alice, bob = got["alice"], got["bob"]
    assert len({alice["pid"], bob["pid"], os.getpid()}) == 3  # guard: a fresh process per submission
    assert alice["group"] == alice["pid"]  # its own process group: killed with everything it started
    assert alice["limit"] == bob["limit"] == Limits.worker_memory  # guard: RLIMIT_AS in the worker
    assert alice["draw"] != bob["draw"]  # guard: each worker's torch random state is its own (not the server's)
    assert "debug detail of alice" in alice["log"] and "debug detail" not in capfd.readouterr().err
    status = {name: results.row_for(results.outcome(got[name], {}, {"timeout": 3}, HW), HW)["status"]
              for name in ["exits", "hangs", "hog", "killed"]}
    assert "ended with exit status 3" in status["exits"]
    assert "ran past 5 s" in status["hangs"]  # guard: the deadline (timeout + margin), killed with its group
    assert "ran out of memory (its limit: 6 GiB)" in status["hog"]  # guard: RLIMIT_AS
    assert "killed (SIGKILL" in status["killed"]
    assert all("the grader failed on this submission" in text for text in status.values())
    assert not os.path.exists(f"/proc/{(tmp_path / 'hangs.pid').read_text()}")
    for name in ["kills_server", "after"]:
        (tmp_path / name).mkdir()
    workers.run([(10, "kills_server", tmp_path / "kills_server"), (11, "after", tmp_path / "after")], tmp_path,
                {"limits": Limits(timeout=3), "threads": 1}, HW, 1, lambda r: got.setdefault(r["name"], r), targets.grade_one)
    assert "worker server ended" in got["kills_server"]["problems"][0]  # guard: a new server for the rest
    assert got["after"]["pid"] != alice["pid"]


def test_a_replaced_grade_one_runs_in_this_process(tmp_path, fake_grading):
    grade.grade(_folder(tmp_path / "subs", ["alice"]), tmp_path / "out", quiet=True)
    assert fake_grading == ["alice"]  # tests fake the grading by replacing pipeline.grade_one: the in-process mode


def test_a_worker_is_handed_the_function_itself_and_refuses_one_its_server_cannot_import(tmp_path, monkeypatch):
    sent = []
    monkeypatch.setattr(workers, "_Server", lambda scratch, pickled: sent.append(pickled) or 1 / 0)
    with pytest.raises(ZeroDivisionError):  # the server is started with the function itself, pickled once
        workers.run([], tmp_path, {"limits": Limits(timeout=3)}, HW, 1, print, pipeline.grade_one)
    assert pickle.loads(base64.b64decode(sent[0])) is pipeline.grade_one  # guard: not a name the workers spell
    with pytest.raises(TypeError, match="define it at a module's top level, or grade in this process"):
        workers.run([], tmp_path, {"limits": Limits(timeout=3)}, HW, 1, print, lambda *args: None)  # guard: the pickling check
    assert sent == [sent[0]]


# ------------------------------------------------------------------------------------------------
# 1. Nothing the instructor typed or passed is deleted or overwritten
# ------------------------------------------------------------------------------------------------
def test_every_input_is_read_and_checked_before_anything_in_out_changes(tmp_path, fake_grading, capsys):
    subs, out = _folder(tmp_path / "subs", ["alice", "bob"]), tmp_path / "out"
    assert grade.main([str(subs), "--out", str(out)]) == 0
    capsys.readouterr()
    export, twenty, latin = tmp_path / "export.csv", tmp_path / "twenty.csv", tmp_path / "scores.csv"
    export.write_text(EXPORT)
    twenty.write_text(EXPORT.replace(",15.00,", ",20.00,"))
    latin.write_bytes(b"submission,hw1_comparison\nalice\x81,1\n")
    before = _snapshot(out)
    refusals = [(["--written-scores", str(tmp_path / "missing.csv")], "No such file"),
                (["--gradebook", str(tmp_path / "missing.csv")], "No such file"),
                (["--gradebook", str(export), "--column", "Homework 9"], "no single assignment column"),
                (["--gradebook", str(twenty)], "--scale-to"),
                (["--late-penalty", "2"], "--late-penalty"),
                (["--only", "nobody"], "--only: nobody"),
                (["--assignment", str(tmp_path / "no-assignment")], "no assignment.json"),
                (["--written-scores", str(latin)], "neither UTF-8 nor Windows-1252"),
                (["--written-scores", str(out / "logs" / "alice.txt")], "where this run writes its results"),
                (["--gradebook", str(out / "grades.csv")], "where this run writes its results")]
    for arguments, says in refusals:
        with pytest.raises(SystemExit) as stopped:
            grade.main([str(subs), "--out", str(out), *arguments])
        err = capsys.readouterr().err
        assert stopped.value.code == 2 and says in err and "Traceback" not in err, (arguments, err)
        assert len(err.strip().splitlines()) == 1, err  # one line, not a traceback
        assert _snapshot(out) == before, arguments  # guard: every input read before report.clear
    assert all(p.exists() for p in [export, twenty, latin, out / "logs" / "alice.txt"])  # no input removed


def test_a_template_with_typed_scores_is_never_overwritten_and_passing_it_merges_it(tmp_path, fake_grading):
    subs, out = _folder(tmp_path / "subs", ["alice", "bob"]), tmp_path / "out"
    grade.grade(subs, out, quiet=True)
    template = out / "written_scores_template.csv"
    typed = template.read_text().replace("alice,,", "alice,1,")
    template.write_text(typed)
    messages = []
    grade.grade(subs, out, quiet=True, regrade=True, messages=messages)
    assert template.read_text() == typed  # guard: report.template_path (report.clear deleted it)
    fresh = out / "written_scores_template.new.csv"
    assert fresh.exists() and "alice,,," in fresh.read_text()
    assert any("holds scores not merged yet (alice's hw1_comparison)" in m and str(fresh) in m for m in messages)
    assert grade.main([str(subs), "--out", str(out), "--written-scores", str(template), "--regrade"]) == 0
    assert _rows(out)["alice"]["hw1_comparison"] == "1" and "alice,1," in template.read_text()
    fresh.write_text(fresh.read_text().replace("bob,,", "bob,0.5,"))  # scores typed into the fresh one, passed
    assert grade.main([str(subs), "--out", str(out), "--written-scores", str(fresh)]) == 0
    assert _rows(out)["bob"]["hw1_comparison"] == "0.5" and fresh.exists()  # an input is never removed


@pytest.mark.slow
def test_written_scores_live_in_the_records_until_new_ones_are_given(tmp_path, fake_grading):
    subs, out = _folder(tmp_path / "subs", ["alice", "bob"]), tmp_path / "out"
    grade.grade(subs, out, quiet=True)
    scores = tmp_path / "scores.csv"
    scores.write_text("submission,hw1_comparison,hw1_comparison_comment,vae_use_case\nalice,1,clear,\nbob,,,2\n")
    grade.grade(subs, out, scores, quiet=True)
    assert store.load(out)["alice"]["written"] == {"hw1_comparison": 1.0, "hw1_comparison_comment": "clear"}

    def written():
        rows = _rows(out)
        return [(rows[n]["hw1_comparison"], rows[n]["vae_use_case"], rows[n]["total"]) for n in ["alice", "bob"]]

    assert written() == [("1", "", "13"), ("", "2", "14")]
    grade.grade(subs, out, quiet=True, only=["alice"])
    grade.grade(subs, out, quiet=True, regrade=True)
    (subs / "alice" / "hw2_models.py").write_text("# a new upload")  # a new download: alice changed
    grade.grade(subs, out, quiet=True)
    assert fake_grading.count("alice") == 4 and written() == [("1", "", "13"), ("", "2", "14")]  # guard: _run.done
    scores.write_text("submission,hw1_comparison\nalice,0.5\n")  # new scores for alice's first question only
    grade.grade(subs, out, scores, quiet=True)
    assert written() == [("0.5", "", "12.5"), ("", "2", "14")]
    assert store.load(out)["alice"]["written"]["hw1_comparison_comment"] == "clear"


def _template(out):
    with open(out / "written_scores_template.csv", newline="", encoding="utf-8") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


def _write_scores(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(next(iter(rows.values()))))
        writer.writeheader()
        writer.writerows(rows.values())


def test_a_written_score_counts_only_for_the_answer_it_scored(tmp_path, fake_grading, monkeypatch):
    """A score is kept with the hash of the answer it was given for: a new answer makes it stale (not counted, said
    in grades.csv, summary.html, the template beside an empty cell, the run's messages), until it is given again;
    a score of an unchanged answer keeps counting, as does one merged before scores kept a hash."""
    from grading.intake import collect

    subs, out = _folder(tmp_path / "subs", ["alice", "bob"]), tmp_path / "out"
    answers = {"alice": "a first answer", "bob": "bob's answer"}

    def grade_one(index, name, entry, scratch, options, assignment):
        fake_grading.append(name)
        return {**record(name, answers={"hw1_comparison": answers[name], "vae_use_case": f"{name}'s VAE"}),
                **collect.meta(entry)}

    monkeypatch.setattr(pipeline, "grade_one", grade_one)
    grade.grade(subs, out, quiet=True)
    template = _template(out)
    template["alice"].update(hw1_comparison="1", vae_use_case="2")
    template["bob"].update(hw1_comparison="1")
    scores = tmp_path / "scores.csv"
    _write_scores(scores, template)
    grade.grade(subs, out, scores, quiet=True)
    assert [_rows(out)[n]["written"] for n in ["alice", "bob"]] == ["3", "1"]

    answers["alice"] = "a second answer"  # alice hands in her first question's answer again, replaced
    (subs / "alice" / "hw2_models.py").write_text("# a new upload")
    messages = []
    grade.grade(subs, out, quiet=True, messages=messages)
    rows = _rows(out)
    assert (rows["alice"]["hw1_comparison"], rows["alice"]["vae_use_case"], rows["alice"]["written"]) == ("", "2", "2")
    assert "the answer changed since it was scored, not counted until scored again: hw1_comparison (was 1)" \
        in rows["alice"]["status"]  # guard: results.stale_scores in outcome, store.keep_written's hashes
    assert rows["bob"]["written"] == "1" and "changed since it was scored" not in rows["bob"]["status"]
    assert any("written scores to give again" in m and "alice's hw1_comparison (was 1)" in m and "bob" not in m
               for m in messages), messages
    summary = (out / "summary.html").read_text()
    assert "Written scores to give again" in summary and "<strong>alice</strong>: hw1_comparison (was 1)" in summary
    fresh = _template(out)
    assert (fresh["alice"]["hw1_comparison"], fresh["alice"]["hw1_comparison_old_score"]) == ("", "1")
    assert (fresh["alice"]["vae_use_case"], fresh["alice"]["vae_use_case_old_score"]) == ("2", "")
    assert fresh["alice"]["hw1_comparison_answer_hash"] == results.answer_hash("a second answer")

    template["alice"]["hw1_comparison"] = "0.5"  # typed into the first template's row, which names the first answer
    _write_scores(scores, template)
    grade.grade(subs, out, scores, quiet=True)
    rows = _rows(out)
    assert rows["alice"]["written"] == "2" and "hw1_comparison (was 0.5)" in rows["alice"]["status"]  # guard: the
    plain = tmp_path / "plain.csv"  # row's answer hash, in merge_written; a file without it, merging the score kept:
    plain.write_text("submission,hw1_comparison\nalice,0.5\n")
    grade.grade(subs, out, plain, quiet=True)
    assert _rows(out)["alice"]["written"] == "2"  # guard: merge_written (the score kept, merged again, scores no answer)

    fresh = _template(out)
    assert fresh["alice"]["hw1_comparison_old_score"] == "0.5"
    fresh["alice"]["hw1_comparison"] = fresh["alice"]["hw1_comparison_old_score"]  # rescoring: one edit
    _write_scores(out / "written_scores_template.csv", fresh)
    messages = []
    grade.grade(subs, out, quiet=True, regrade=True, messages=messages)  # the old score typed for the new answer:
    assert any("holds scores not merged yet (alice's hw1_comparison)" in m for m in messages)  # guard: typed_scores
    _write_scores(scores, fresh)
    grade.grade(subs, out, scores, quiet=True)
    rows = _rows(out)
    assert (rows["alice"]["hw1_comparison"], rows["alice"]["written"]) == ("0.5", "2.5")
    assert "changed since it was scored" not in rows["alice"]["status"]
    assert _template(out)["alice"]["hw1_comparison_old_score"] == ""

    kept = store.load(out)["bob"]  # bob's score as a record written before scores kept a hash holds it
    del kept["written_for"]
    store.save(out, kept)
    grade.grade(subs, out, quiet=True)
    assert _rows(out)["bob"]["written"] == "1"  # it counts, as it did
    answers["bob"] = "bob's new answer"
    (subs / "bob" / "hw2_models.py").write_text("# bob's new upload")
    grade.grade(subs, out, quiet=True)
    assert _rows(out)["bob"]["written"] == "0"  # guard: keep_written takes it to be for the answer it stood beside


# ------------------------------------------------------------------------------------------------
# 2. Spreadsheets' CSV as spreadsheets save it; a gradebook worth other points
# ------------------------------------------------------------------------------------------------
def test_scores_and_the_gradebook_are_read_as_spreadsheets_save_them(tmp_path):
    text = "submission,hw1_comparison,vae_use_case\nzoë,1,2\n"
    for encoding in ["utf-8", "utf-8-sig", "cp1252"]:  # plain, Excel's "CSV UTF-8", Excel's "CSV" on Windows
        path = tmp_path / f"scores-{encoding}.csv"
        path.write_bytes(text.encode(encoding))
        assert results.read_written_scores(path, {"zoë"}, HW) == {"zoë": {"hw1_comparison": 1.0,
                                                                           "vae_use_case": 2.0}}, encoding
        book = tmp_path / f"export-{encoding}.csv"
        book.write_bytes(EXPORT.encode(encoding))
        export, column = publish.read_gradebook(book, None, HW)
        assert (export.rows[1]["Student"], column) == ("Müller, Zoë", "Homework 2 (48213)")  # guard: spreadsheet_text
    semicolons = tmp_path / "semicolons.csv"  # a spreadsheet whose decimal mark is a comma
    semicolons.write_bytes("submission;hw1_comparison;vae_use_case\nzoë;1;1,5\n".encode("cp1252"))
    assert results.read_written_scores(semicolons, {"zoë"}, HW) == {"zoë": {"hw1_comparison": 1.0,
                                                                             "vae_use_case": 1.5}}
    wide = tmp_path / "unicode.txt"
    wide.write_bytes(text.encode("utf-16"))
    with pytest.raises(ValueError, match="UTF-16"):
        results.read_written_scores(wide, {"zoë"}, HW)
    neither = tmp_path / "neither.csv"
    neither.write_bytes(b"submission,hw1_comparison\nzo\x81,1\n")
    with pytest.raises(ValueError, match=r"neither UTF-8 nor Windows-1252 \(cp1252\) text \(byte 0x81"):
        publish.read_gradebook(neither, None, HW)


def test_a_gradebook_worth_other_points_is_named_and_scaled_only_when_asked(tmp_path, capsys):
    book = tmp_path / "export.csv"
    book.write_text(EXPORT.replace(",15.00,", ",20.00,"))
    with pytest.raises(canvas.GradebookError, match=r"'Homework 2 \(48213\)' is worth 20 points.*15: pass --scale-to"):
        publish.read_gradebook(book, None, HW)  # guard: the Points Possible check
    gradebook = publish.read_gradebook(book, None, HW, scale_to=True)
    records = [{**record("garcialuis_48213"), "canvas_user_id": "48213"}]
    _, messages = publish.write(tmp_path / "out", records, {}, {"timeout": 60}, gradebook, assignment=HW)
    with open(tmp_path / "out" / "canvas_import.csv", newline="") as handle:
        imported = list(csv.reader(handle))
    assert imported[1][-1] == "20" and imported[2][-1] == "16"  # 12 of 15 is 16 of 20
    assert any("scaled from 15 to 20 points" in m for m in messages)
    with pytest.raises(SystemExit):
        grade.main(["--help"])
    assert "--scale-to" in capsys.readouterr().out.replace("\n", " ")


# ------------------------------------------------------------------------------------------------
# 3. Ctrl-C and going on
# ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_same_command_again_grades_only_what_is_new_or_changed(tmp_path, fake_grading, capsys):
    subs, out = _folder(tmp_path / "subs", ["alice", "bob", "carol"]), tmp_path / "out"
    grade.grade(subs, out)
    grade.grade(subs, out)
    assert fake_grading == ["alice", "bob", "carol"]  # guard: progress.current
    assert "3 already graded and unchanged, kept; grading 0" in capsys.readouterr().err
    (subs / "bob" / "hw2.ipynb").write_text(NB.replace("[]", '[{"cell_type": "markdown", "source": "", '
                                                               '"metadata": {}}]', 1))
    messages = []
    grade.grade(subs, out, messages=messages)
    assert fake_grading[3:] == ["bob"] and messages == ["graded again, changed since their records: bob"]
    assert "2 already graded and unchanged, kept; grading 1" in capsys.readouterr().err
    grade.grade(subs, out, regrade=True)
    assert fake_grading[4:] == ["alice", "bob", "carol"]


def _descendants(root):
    parents = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            parents[int(stat.split("/")[2])] = int(open(stat).read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            pass
    found, grown = {root}, True
    while grown:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found, grown = found | more, bool(more)
    return found - {root}


def _cgroups(pids):
    """The folders of the grader's cgroups (``grading-sandboxes/...``) that ``pids`` are in."""
    found = set()
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if "/grading-sandboxes/" in path:
                root = Path("/sys/fs/cgroup") / (controllers.split(",")[0] if controllers else "")
                found |= {str(root / path.lstrip("/"))} if (root / path.lstrip("/")).exists() else set()
    return found


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not SANDBOX, reason="no sandbox here")
@pytest.mark.slow
def test_ctrl_c_ends_with_one_line_and_the_same_command_goes_on(tmp_path):
    subs = tmp_path / "subs"
    for name in ["ann", "bo", "cy"]:
        (subs / name).mkdir(parents=True)
        for file in ["tiny.ipynb", "tiny_models.py"]:
            (subs / name / file).write_bytes((TINY / file).read_bytes())
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grading.grade", str(subs), "--assignment", str(TINY), "--out", str(out),
               "--jobs", "1"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    batch = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    until, running, groups = time.monotonic() + 240, set(), set()
    while time.monotonic() < until and batch.poll() is None:
        running = _descendants(batch.pid)  # the worker server, a worker, its sandbox
        groups = _cgroups(running)
        if list((out / "records").glob("*.json")) and len(running) >= 3 and groups:
            break  # one graded, the next one's sandbox running
        time.sleep(0.1)
    batch.send_signal(signal.SIGINT)
    sent = time.monotonic()
    printed, err = batch.communicate(timeout=60)
    kept = sorted(p.stem for p in (out / "records").glob("*.json"))
    assert batch.returncode == 130 and time.monotonic() - sent < 10, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == (
        f"grading.grade: {len(kept)} of 3 graded and kept in {out / 'records'}; run the same command again to go on")
    assert 1 <= len(kept) < 3 and len(running) >= 2
    assert not [pid for pid in running if _alive(pid)]  # guard: worker.run's cleanup, the workers' PDEATHSIG
    assert not [g for g in groups if os.path.exists(g)]  # guard: worker._stop (the sandboxes' cgroups removed)
    before = {name: (out / "records" / f"{name}.json").read_bytes() for name in kept}
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert again.returncode == 0, again.stderr
    assert f"{len(kept)} already graded and unchanged, kept; grading {3 - len(kept)}" in again.stderr
    graded = re.findall(r"^\d+/\d+ (\w+): ", again.stderr, re.M)
    assert sorted(graded) == sorted({"ann", "bo", "cy"} - set(kept))  # guard: progress.current
    assert all((out / "records" / f"{name}.json").read_bytes() == data for name, data in before.items())
    assert sorted(_rows(out)) == ["ann", "bo", "cy"]


# ------------------------------------------------------------------------------------------------
# 4. Progress an instructor reads
# ------------------------------------------------------------------------------------------------
def test_one_progress_line_per_submission_with_the_time_left(tmp_path, fake_grading, capsys):
    grade.grade(_folder(tmp_path / "subs", ["alice", "bob"]), tmp_path / "out")
    lines = capsys.readouterr().err.strip().splitlines()
    assert re.fullmatch(r"1/2 alice: 12 of 15 points, 1\.0 s; about \d+ s left", lines[0]), lines  # guard: _Progress
    assert lines[1] == "2/2 bob: 12 of 15 points, 1.0 s"


def test_the_grader_prints_no_timing_of_its_calls():
    """Per-call timings belong in the logs: no print() in grading/ formats a duration, but the command's summary."""
    found = []
    for path in sorted((REPO / "grading").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                text = ast.unparse(node)
                if re.search(r"seconds|monotonic|perf_counter|\.\d+f\}\s*s\b", text) and "submissions in" not in text:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {text[:80]}")
    assert not found, found


# ------------------------------------------------------------------------------------------------
# 5. The same submissions, graded again, give the same grades and pages
# ------------------------------------------------------------------------------------------------
CHOSEN = ["c1_kernel_3", "decoder_upsampling_identity"]  # of the mistakes' table (tests/hw2_submissions.py): each costs
# its own part and passes every other, so between them every case runs on drawn weights and inputs, passing and failing


@pytest.mark.skipif(not SANDBOX, reason="no sandbox here")
@pytest.mark.slow
def test_the_same_submissions_graded_three_times_give_the_same_points_grades_and_pages(tmp_path, student_version):
    import hw2_submissions as table

    submissions = tmp_path / "submissions"
    submissions.mkdir()
    table.write_mistakes(student_version, submissions, CHOSEN)
    runs = []
    for k in range(3):  # three draws of inputs and weights each
        rows, _ = grade.grade(submissions, tmp_path / f"run{k}", jobs=2, limits=Limits(timeout=90, cell_timeout=30), quiet=True)
        runs.append({r["submission"]: {p.name: r[p.name] for p in HW.automatic()} for r in rows})
    for name in CHOSEN:  # each costs the parts the table names, and only those
        lost = {part.name for part in HW.automatic() if float(runs[0][name][part.name]) < part.points}
        assert lost == table.MISTAKES[name][2], (name, runs[0][name])
    assert all(run == runs[0] for run in runs[1:]), runs  # points never depend on the draw

    def pages(out):
        files = ["grades.csv", "summary.html", "written_scores_template.csv", *sorted(
            str(p.relative_to(out)) for p in [*out.glob("written_*.html"), *(out / "feedback").glob("*.html")])]
        return {name: (out / name).read_bytes() for name in files}

    first = pages(tmp_path / "run0")
    for k in range(1, 3):
        assert pages(tmp_path / f"run{k}") == first, k  # messages carry no number that changes with the draw
