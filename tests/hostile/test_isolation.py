"""Limits per submission, not per instructor: the sandbox of grading.sandbox.isolation, measured from inside.

Each test runs a small program in the sandbox a submission gets (bubblewrap, the fresh uid and a cgroup of its own
where this machine gives one) and fails when the guard it names is removed. Tests that need a cgroup skip where the
machine gives none (not root, no writable pids and memory hierarchies): grading/README.md says what holds there."""

import os
import sys
import tempfile
from pathlib import Path

import pytest

from grading import grade, settings
from grading.batch import pipeline
from grading.sandbox import isolation

pytestmark = pytest.mark.skipif(isolation.problem() is not None, reason="no working bubblewrap here")
CGROUP = isolation.per_submission_limits() == "cgroup"
needs_cgroup = pytest.mark.skipif(not CGROUP, reason="no cgroup for this user on this machine")


def _run(code, timeout=60, **limits):
    workdir = Path(tempfile.mkdtemp())
    os.chmod(workdir, 0o755)
    mounts = [(path, str(path), False) for path in sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()})]
    return isolation.run([sys.executable, "-c", code], mounts, {"PATH": "/usr/bin:/bin"}, workdir, timeout, **limits)


def test_dev_is_read_only_and_dev_shm_is_sized():
    code = ("import errno\ntry:\n    open('/dev/x', 'wb')\n    print('dev writable')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n"
            "n = 0\ntry:\n    with open('/dev/shm/f', 'wb') as f:\n        for _ in range(64):\n            f.write(b'x' * 2**20); f.flush(); n += 1\n"
            "except OSError:\n    pass\nprint(n)\n")
    status, _, _, log, _, _ = _run(code)
    assert status == 0, log
    lines = log.split()
    assert lines[0] == "EROFS"  # guard: --remount-ro /dev
    assert 8 <= int(lines[1]) <= settings.limits().shm // 2**20  # guard: the sized tmpfs on /dev/shm (writable, bounded)


def test_printing_keeps_head_and_tail_and_counts_the_rest():
    status, _, _, log, printed, _ = _run("import sys\nsys.stderr.write('head' + 'x' * 3 * 2**20 + 'tail')\n")
    assert status == 0 and printed == 3 * 2**20 + 8  # through a pipe: no file on the instructor's disk, no limit hit
    assert log.startswith("head") and log.endswith("tail") and "bytes left out" in log
    assert len(log) < 2 * settings.limits().log_kept + 100  # guard: CappedLog


def test_capped_log_unit():
    log = isolation.CappedLog(keep=4)
    for chunk in [b"ab", b"cdef", b"gh", b"ij"]:
        log.add(chunk)
    assert (log.total, log.text()) == (10, "abcd\n[... 2 bytes left out ...]\nghij")


@needs_cgroup
def test_memfds_count_against_the_submissions_memory_cgroup():
    code = ("import os\nn = 0\nwhile n < 1024:\n    fd = os.memfd_create('m'); os.write(fd, b'x' * 16 * 2**20); n += 16\n"
            "    print(n, flush=True)\n")
    status, _, _, log, _, peak = _run(code, memory=256 * 2**20)
    assert status != 0 and int(log.split()[-1]) < 256, log  # guard: the memory cgroup (RLIMIT_AS does not see memfds)
    assert peak is not None and peak <= 256 * 2**20


@needs_cgroup
def test_each_submission_has_its_own_pids_cgroup_removed_after():
    workdir = Path(tempfile.mkdtemp())
    os.chmod(workdir, 0o755)
    mounts = [(path, str(path), False) for path in sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()})]
    code = ("import os, time\ntry:\n    for _ in range(20):\n        if os.fork() == 0:\n            time.sleep(60); os._exit(0)\n"
            "except OSError:\n    pass\ntime.sleep(60)\n")
    with isolation.start([sys.executable, "-c", code], mounts, {"PATH": "/usr/bin:/bin"}, workdir, processes=12) as box:
        assert box.wait(3) is None
        inside = box.cgroup.pids()
        assert box.process.pid in inside and len(inside) <= 12  # guard: Cgroup.join between fork and exec
        assert (box.cgroup.folders[0] / "pids.max").read_text().strip() == "12"
        folders = box.cgroup.folders
    box.stop()  # idempotent
    assert not any(folder.exists() for folder in folders)
    for pid in inside:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_without_root_the_process_limit_counts_the_instructors_processes():
    mine = sum(1 for _ in Path("/proc").glob("[0-9]*"))
    assert isolation._nproc_limit(None, 64) >= 64 and isolation._nproc_limit(12345, 64) == 64
    assert isolation._nproc_limit(None, 64) <= mine * 64 + 64


def test_without_per_submission_limits_one_submission_at_a_time(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(isolation, "per_submission_limits", lambda: None)
    seen = {}

    def one(index, name, entry, scratch, options, assignment):
        seen["threads"] = options["threads"]
        from grading.outputs import results

        return results.failed_record(name, "not run")

    monkeypatch.setattr(pipeline, "grade_one", one)
    (tmp_path / "subs" / "a").mkdir(parents=True)
    grade.grade(tmp_path / "subs", tmp_path / "out", jobs=4)
    assert "one submission at a time" in capsys.readouterr().err  # guard: jobs forced to 1 without a cgroup or root
    assert seen["threads"] == max(1, os.cpu_count() or 1)
