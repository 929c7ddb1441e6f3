"""The run's limits are one ``settings.Limits`` value, from the command line (``--limits FILE``, ``--timeout``,
``--cell-timeout``) to each worker, the session, the sandboxed child's first request and the record's conditions;
an unknown or mistyped limit is refused naming it. And the words of the commands: ``--assignment DIR`` and
``--column``, with the old ``--homework DIR`` and ``--assignment COLUMN`` read for one release with a notice."""

import dataclasses
import importlib.util
import json
import os
import sys
import threading

import pytest

from fakes import folder_of
from grading import grade, settings
from grading.assignment import load as load_assignment
from grading.batch import pipeline, workers
from grading.judge import session
from grading.sandbox.child import wire
from grading.settings import Limits

HW = load_assignment()
EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (48200),Homework 2 (48213),Current Points
    Points Possible,,,,,10.00,15.00,(read only)
"Garcia, Luis",48213,G001,lgarcia,Design 101,9,,9
"""


class _Child:
    """A child that keeps the first request it reads and then ends: pipes as a sandbox's, nothing run."""

    def __init__(self, requests):
        request_read, request_write = os.pipe()
        answer_read, self._answer = os.pipe()
        self.stdin, self.stdout = os.fdopen(request_write, "wb", buffering=0), os.fdopen(answer_read, "rb", buffering=0)
        self._request = os.fdopen(request_read, "rb", buffering=0)
        self.returncode, self.log_total, self.peak_memory = 0, 0, None
        threading.Thread(target=self._read, args=(requests,), daemon=True).start()

    def _read(self, requests):
        try:
            requests.append(wire.receive(self._request)[0])
        except (OSError, EOFError, wire.ProtocolError):
            pass
        finally:
            os.close(self._answer)  # the child ends: the session goes on without it

    def wait(self, timeout=None):
        return self.returncode

    def log(self):
        return ""

    def stop(self):
        for handle in (self.stdin, self.stdout, self._request):
            try:
                handle.close()
            except OSError:
                pass


def test_limits_from_the_command_line_reach_the_record_and_the_childs_first_request(tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    folder_of(subs, ["alice"])
    chosen = tmp_path / "limits.json"
    chosen.write_text(json.dumps({"timeout": 500, "output_kept": 12_345, "file_size": 7_777_777}))
    requests = []
    monkeypatch.setattr(pipeline, "IN_PROCESS", True)  # the worker's own carrying: the next test
    monkeypatch.setattr(grade.isolation, "problem", lambda: None)
    monkeypatch.setattr(session, "start_child", lambda *args: _Child(requests))
    out = tmp_path / "out"
    assert grade.main([str(subs), "--out", str(out), "--limits", str(chosen), "--timeout", "77",
                       "--cell-timeout", "11", "--jobs", "1"]) == 0
    conditions = json.loads((out / "records" / "alice.json").read_text())["conditions"]
    # the flag over the file, the file over the defaults, every field kept by name
    assert conditions["timeout"] == 77 and conditions["cell_timeout"] == 11
    assert conditions["output_kept"] == 12_345 and conditions["file_size"] == 7_777_777
    assert conditions["memory"] == Limits.memory and set(dataclasses.asdict(Limits())) <= set(conditions)
    loads = [r for r in requests if r.get("op") == "load"]
    assert loads and all(r["config"]["limits"] == {"file": 7_777_777, "output": 12_345} for r in loads)
    assert settings.limits() == Limits()  # the run's limits are in force only while it runs


TARGET = '''
import dataclasses
from grading import settings


def grade_one(index, name, entry, scratch, options, assignment):
    return {"name": name, "in_force": dataclasses.asdict(settings.limits()),
            "handed": dataclasses.asdict(options["limits"])}
'''


def test_a_worker_grades_under_the_runs_limits(tmp_path, monkeypatch):
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "limits_target.py").write_text(TARGET)
    monkeypatch.syspath_prepend(str(folder))  # the worker server imports the target by its name
    spec = importlib.util.spec_from_file_location("limits_target", folder / "limits_target.py")
    target = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "limits_target", target)
    spec.loader.exec_module(target)
    chosen = Limits(timeout=33, answer_length=123, image_side=77)
    got = []
    workers.run([(0, "alice", tmp_path / "alice")], tmp_path, {"limits": chosen, "threads": 1}, HW, 1, got.append,
                target.grade_one)
    assert got[0]["handed"] == got[0]["in_force"] == dataclasses.asdict(chosen), got[0]


@pytest.mark.parametrize("given, says", [
    ({"timout": 3}, "no limit named timout; the limits: timeout, cell_timeout, file_size"),
    ({"memory": "6G"}, "limit memory: '6G' is not a positive whole number"),
    ({"timeout": -1}, "limit timeout: -1 is not a positive number"),
    ([300], "expected a JSON object of limit -> value"),
])
def test_a_limit_that_is_not_one_is_refused_naming_it(tmp_path, capsys, given, says):
    chosen = tmp_path / "limits.json"
    chosen.write_text(json.dumps(given))
    with pytest.raises(SystemExit) as stopped:
        grade.main([str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--limits", str(chosen)])
    assert stopped.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_every_limit_and_its_default_is_in_the_help(capsys):
    with pytest.raises(SystemExit):
        grade.main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for field in dataclasses.fields(Limits):
        assert f"{field.name}={field.default}" in shown


def test_the_old_words_still_work_with_a_notice(tmp_path, fake_grading, capsys):
    subs = tmp_path / "subs"
    folder_of(subs, ["garcialuis_48213"])
    export = tmp_path / "export.csv"
    export.write_text(EXPORT)
    old = [str(subs), "--out", str(tmp_path / "old"), "--homework", str(HW.folder), "--gradebook", str(export),
           "--assignment", "Homework 2"]
    assert grade.main(old) == 0
    err = capsys.readouterr().err
    assert "--homework is now --assignment DIR" in err and "name the column with --column" in err
    new = [str(subs), "--out", str(tmp_path / "new"), "--assignment", str(HW.folder), "--gradebook", str(export),
           "--column", "Homework 2"]
    assert grade.main(new) == 0
    err = capsys.readouterr().err
    assert "--homework is now" not in err and "with --column" not in err
    assert ((tmp_path / "old" / "canvas_import.csv").read_text()
            == (tmp_path / "new" / "canvas_import.csv").read_text())
    assert "Homework 2 (48213)" in (tmp_path / "new" / "canvas_import.csv").read_text()
