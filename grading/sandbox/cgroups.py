"""A cgroup per submission, where the machine offers one: v2 (``pids.max``, ``memory.max``) or v1's pids and memory
hierarchies (``pids.max``, ``memory.limit_in_bytes`` and ``memory.memsw.limit_in_bytes``), made as root; without
root, a transient systemd user scope (``systemd-run --user --scope``) where one can be had. grading.sandbox.isolation puts
each sandbox in one; see grading/README.md, "Users and limits"."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from grading import settings

CGROUP_ROOT = Path("/sys/fs/cgroup")
BASE = "grading-sandboxes"  # every cgroup of the grader is grading-sandboxes/NAME, NAME holding its owner's tag


def _start_time(pid):
    """The start time of process ``pid`` (clock ticks since boot, /proc/PID/stat's 22nd field), or None when no
    such process is alive."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        return text.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_tag(pid=None):
    """``PID.START`` of this process (or ``pid``): what the grader writes into the names of its scratch folders and
    cgroups, so that a later run can tell whether their owner still runs (a reused pid has another start time)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}.{_start_time(pid)}"


def owner_alive(tag):
    """Whether the process a ``PID.START`` tag names still runs (a tag that is not one is taken as alive)."""
    pid, _, start = str(tag).partition(".")
    if not pid.isdigit():
        return True
    now = _start_time(int(pid))
    return now is not None and (not start or start == now)


def tag_of(name, prefix):
    """The owner tag in a name ``PREFIX<tag>-...`` (the grader's scratch folders and cgroups), or None."""
    if not name.startswith(prefix):
        return None
    tag = name[len(prefix):].split("-", 1)[0]
    pid, _, start = tag.partition(".")
    return tag if pid.isdigit() and (not start or start.isdigit()) else None


def remove_stale(root=CGROUP_ROOT):
    """Remove the cgroups ``grading-sandboxes/NAME`` (v2, or v1's pids and memory hierarchies) whose owner no longer runs
    (a grader that was killed): what is inside is killed first. Returns the folders removed."""
    removed = []
    if os.geteuid() != 0:
        return removed
    root = Path(root)
    for base, version in ((root / BASE, 2), (root / "pids" / BASE, 1), (root / "memory" / BASE, 1)):
        try:
            folders = [f for f in base.iterdir() if f.is_dir() and not f.is_symlink()]
        except OSError:
            continue
        for folder in folders:
            tag = next((t for t in (tag_of(folder.name, p) for p in ("s", "probe-")) if t), None)
            if tag is not None and not owner_alive(tag) and _remove_folder(folder, version):
                removed.append(folder)
    return removed


def _remove_folder(folder, version):
    return Cgroup([folder], version).remove()


class Cgroup:
    """A cgroup (v2, or v1's pids and memory hierarchies) holding one submission: ``procs`` are the files the child
    writes its pid into between fork and exec; ``remove()`` kills what is inside and deletes it."""

    def __init__(self, folders, version):
        self.folders, self.version = folders, version
        self.procs = [str(folder / "cgroup.procs") for folder in folders]

    @classmethod
    def create(cls, name, memory=None, processes=None, root=CGROUP_ROOT):
        """A new cgroup ``grading-sandboxes/NAME`` with the limits (default: those in force), or None where this machine
        gives none to this user."""
        memory, processes = memory or settings.limits().memory, processes or settings.limits().processes
        if os.geteuid() != 0:
            return None
        for make in (cls._v2, cls._v1):
            try:
                made = make(name, memory, processes, Path(root))
            except OSError:
                made = None
            if made is not None:
                return made
        return None

    @classmethod
    def _v2(cls, name, memory, processes, root):
        if not (root / "cgroup.controllers").exists():
            return None
        if not {"pids", "memory"} <= set((root / "cgroup.controllers").read_text().split()):
            return None
        base = root / BASE
        base.mkdir(exist_ok=True)
        for folder in (root, base):  # the controllers must be handed down to reach a child
            enabled = set((folder / "cgroup.subtree_control").read_text().split())
            if not {"pids", "memory"} <= enabled:
                (folder / "cgroup.subtree_control").write_text("+pids +memory")
        folder = base / name
        folder.mkdir()
        made = cls([folder], 2)
        try:
            (folder / "pids.max").write_text(str(processes))
            (folder / "memory.max").write_text(str(memory))
            if (folder / "memory.swap.max").exists():
                (folder / "memory.swap.max").write_text("0")
        except OSError:
            made.remove()
            raise
        return made

    @classmethod
    def _v1(cls, name, memory, processes, root):
        pids, mem = root / "pids", root / "memory"
        if not ((pids / "cgroup.procs").exists() and (mem / "cgroup.procs").exists()):
            return None
        folders = []
        made = cls(folders, 1)
        try:
            for hierarchy in (pids, mem):
                (hierarchy / BASE).mkdir(exist_ok=True)
                folder = hierarchy / BASE / name
                folder.mkdir()
                folders.append(folder)
            made.procs = [str(folder / "cgroup.procs") for folder in folders]
            (folders[0] / "pids.max").write_text(str(processes))
            (folders[1] / "memory.limit_in_bytes").write_text(str(memory))
            if (folders[1] / "memory.memsw.limit_in_bytes").exists():  # no escape into swap
                (folders[1] / "memory.memsw.limit_in_bytes").write_text(str(memory))
        except OSError:
            made.remove()
            raise
        return made

    def join(self):
        """In the child between fork and exec: move this process into the cgroup (plain writes, no imports)."""
        for path in self.procs:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")  # 0: the writing process itself
            finally:
                os.close(fd)

    def pids(self):
        found = set()
        for path in self.procs:
            try:
                found.update(int(p) for p in Path(path).read_text().split())
            except (OSError, ValueError):
                pass
        return found

    def remove(self):
        """Kill every process inside, then delete the cgroup (idempotent)."""
        for folder in self.folders:
            if (folder / "cgroup.kill").exists():
                try:
                    (folder / "cgroup.kill").write_text("1")
                except OSError:
                    pass
        for _ in range(100):
            left = self.pids()
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            removed = True
            for folder in self.folders:
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    removed = False
            if removed:
                return True
            time.sleep(0.05)
        return False

    def peak_memory(self):
        """The most memory the cgroup used (bytes), or None where the kernel does not say."""
        for name in ("memory.peak", "memory.max_usage_in_bytes"):
            for folder in self.folders:
                try:
                    return int((folder / name).read_text())
                except (OSError, ValueError):
                    pass
        return None


def systemd_scope(memory=None, processes=None):
    """Without root: the prefix that runs a command in a transient systemd user scope with the limits (default: those
    in force), or None."""
    memory, processes = memory or settings.limits().memory, processes or settings.limits().processes
    if os.geteuid() == 0 or shutil.which("systemd-run") is None:
        return None
    prefix = ["systemd-run", "--user", "--scope", "--quiet", "--collect", f"-pTasksMax={processes}",
              f"-pMemoryMax={memory}", "-pMemorySwapMax=0"]
    try:
        probe = subprocess.run(prefix + ["--", "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if probe.returncode == 0 else None
