"""What the sandbox costs per submission, and what each of its limits does: ``python bench/isolation_bench.py``.

Runs small programs in exactly the sandbox grading.sandbox.isolation builds for a submission (bubblewrap, the same kind of
whitelist, a fresh user id and a cgroup when run as root, the same limits), and the same programs without it:

- cost: starting Python and importing torch (what every submission's process does first), plain and sandboxed;
- memory: the largest bytearray a submission can allocate; what /dev/shm and memfds take (the memory cgroup);
- processes: how many processes a fork loop gets (the pids cgroup, or RLIMIT_NPROC of the fresh uid);
- disk: how much it can write into its folder, /tmp, /dev and /dev/shm, and into one file (RLIMIT_FSIZE);
- printing: 33 MB to stderr (kept: the first and last 64 KiB, and the count);
- survivors: a double-forked setsid sleeper after the sandbox ends.

Prints a Markdown table for bench/README.md.
"""

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grading import settings
from grading.sandbox import isolation

PROBES = {
    "memory": "n = 0\nwhile True:\n    try:\n        b = bytearray((n + 1) * 2**30); n += 1; del b\n"
              "    except MemoryError:\n        print(f'largest allocation {n} GiB'); break\n",
    "processes": "import os, time\nn = 0\nwhile True:\n    try:\n        pid = os.fork()\n    except OSError as e:\n"
                 "        print(f'{n} forks, then {e.strerror}'); break\n    if pid == 0:\n        time.sleep(30); os._exit(0)\n"
                 "    n += 1\n",
    "disk (folder)": "import os\nn = 0\ntry:\n    for k in range(1000):\n        with open(f'/submission/f{k}', 'wb') as f:\n"
                     "            f.write(b'x' * 2**20); n += 1\nexcept OSError as e:\n    print(f'{n} MiB, then {e.strerror}')\n",
    "disk (/tmp)": "n = 0\ntry:\n    for k in range(1000):\n        with open(f'/tmp/f{k}', 'wb') as f:\n"
                   "            f.write(b'x' * 2**20); n += 1\nexcept OSError as e:\n    print(f'{n} MiB, then {e.strerror}')\n",
    "one file": "import signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\nn = 0\ntry:\n"
                "    with open('/tmp/big', 'wb') as f:\n        for k in range(1000):\n            f.write(b'x' * 2**20); f.flush(); n += 1\n"
                "except OSError as e:\n    print(f'{n} MiB, then {e.strerror}')\n",
    "/dev": "try:\n    open('/dev/x', 'wb').write(b'x')\n    print('/dev writable')\nexcept OSError as e:\n    print(e.strerror)\n",
    "disk (/dev/shm)": "n = 0\ntry:\n    for k in range(1000):\n        with open(f'/dev/shm/f{k}', 'wb') as f:\n"
                       "            f.write(b'x' * 2**20); n += 1\nexcept OSError as e:\n    print(f'{n} MiB, then {e.strerror}')\n",
    "memfds": "import os\nfds, n = [], 0\nwhile True:\n    fd = os.memfd_create('m'); os.write(fd, b'x' * 48 * 2**20)\n"
              "    fds.append(fd); n += 48\n    print(f'{n} MiB in memfds', flush=True)\n",
    "printing": "import sys\nfor _ in range(33):\n    sys.stderr.write('x' * 2**20)\nsys.stderr.write('\\nend\\n')\n",
    "survivor": f"import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                f"        os.execvp('sleep', ['sleep', '4243.5'])\n    os._exit(0)\nprint('forked')\n",
}


def sandbox(code, scratch):
    """(seconds, the last line printed or the exit status, bytes printed) of ``code`` run in the sandbox."""
    workdir = Path(tempfile.mkdtemp(dir=scratch))
    os.chmod(workdir, 0o755)
    mounts = [(path, str(path), False) for path in sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()})]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/submission", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}
    returncode, _, seconds, log, printed, _ = isolation.run([sys.executable, "-c", code], mounts, env, workdir, 120)
    last = log.strip().splitlines()[-1:]
    return seconds, [f"{last[0][:80]}" if last else f"exit {returncode}"], printed


def plain(code):
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", code], capture_output=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    return time.monotonic() - started


def main():
    root = os.geteuid() == 0
    scratch = tempfile.mkdtemp(prefix="isolation-bench-")
    os.chmod(scratch, 0o711)
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; as root: {root}; "
          f"bwrap: {isolation.bwrap_binary()}; per submission: {isolation.per_submission_limits()}; limits: "
          f"{settings.limits().memory / 2**30:g} GiB, {settings.limits().processes} processes, "
          f"{settings.limits().disk // 2**20} MiB disk, {settings.limits().shm // 2**20} MiB /dev/shm")
    rows = []
    for what, code in [("start Python", "pass"), ("start Python, import torch", "import torch")]:
        plains = [plain(code) for _ in range(5)]
        boxed = [sandbox(code, scratch)[0] for _ in range(5)]
        rows.append((what, f"{statistics.median(plains):.2f} s", f"{statistics.median(boxed):.2f} s",
                     f"{statistics.median(boxed) - statistics.median(plains):+.2f} s"))
    print("\n| 5 runs each, median | plain | in the sandbox | cost |\n| --- | ---: | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\n| limit | what a submission got |\n| --- | --- |")
    for what, code in PROBES.items():
        seconds, last, printed = sandbox(code, scratch)
        if what == "printing":
            last = [f"{printed:,} bytes printed, the log keeps {2 * settings.limits().log_kept // 1024} KiB; last line {last[0]!r}"]
        if what == "survivor":
            alive = [p for p in Path("/proc").glob("[0-9]*/cmdline") if b"4243.5" in _read(p)]
            last = [f"{last[0]}; alive after the sandbox ended: {len(alive)}"]
        print(f"| {what} | {last[0]} ({seconds:.1f} s) |")


def _read(path):
    try:
        return path.read_bytes()
    except OSError:
        return b""


if __name__ == "__main__":
    main()
