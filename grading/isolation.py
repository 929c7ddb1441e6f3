"""Starting a command in bubblewrap with pipes (a stand-in until the process rooms land: built on grade.py's
sandbox_command, _child_setup, fresh_uid and kill_uid)."""

import os
import signal
import subprocess
import time
from pathlib import Path

LOG_LIMIT = 256 * 1024


class Box:
    """A started sandbox: ``stdin``/``stdout`` binary pipes, ``log()`` its stderr (capped), ``stop()`` kills it all."""

    def __init__(self, process, log_path, uid):
        self.process, self.log_path, self.uid = process, log_path, uid
        self.stdin, self.stdout = process.stdin, process.stdout

    def log(self):
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read(LOG_LIMIT).decode(errors="replace")
        except OSError:
            return ""

    def wait(self, timeout):
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        from grading import grade

        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # bwrap's PID namespace dies with it, and all inside
        except ProcessLookupError:
            pass
        self.process.wait()
        if self.uid is not None:
            grade.kill_uid(self.uid)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start(command, mounts, env, workdir, options):
    """``command`` in bubblewrap seeing only ``mounts`` [(host path, path inside, writable)], as a fresh uid when
    run as root; its stderr appended to ``workdir/log.txt``."""
    from grading import grade

    workdir = Path(workdir)
    uid = grade.fresh_uid() if os.geteuid() == 0 else None
    staged, mounts = [], list(mounts)
    if uid is not None:
        for k, (path, destination, writable) in enumerate(mounts):
            if not grade._traversable(Path(path)):
                stand_in = workdir / f"stage-{k}-{time.monotonic_ns()}"
                stand_in.mkdir() if Path(path).is_dir() else stand_in.touch()
                staged.append((str(path), str(stand_in)))
                mounts[k] = (stand_in, destination, writable)
    args = grade.sandbox_command(options["bwrap"], mounts, options) + ["--", *command]
    log = open(workdir / "log.txt", "ab")
    try:
        process = subprocess.Popen(args, cwd="/", env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                   start_new_session=True, preexec_fn=lambda: grade._child_setup(uid, staged))
    finally:
        log.close()
    return Box(process, workdir / "log.txt", uid)
