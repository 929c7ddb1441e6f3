"""What the sandbox costs per submission, and what each of its limits does: ``python bench/isolation_bench.py``.

Runs small programs in exactly the sandbox grading.grade builds for a submission (bubblewrap, the same whitelist,
a fresh user id when run as root, the same limits), and the same programs without it:

- cost: starting Python and importing torch (what every submission's process does first), plain and sandboxed;
- memory: the largest bytearray a submission can allocate (RLIMIT_AS);
- processes: how many processes a fork loop gets (RLIMIT_NPROC of the fresh uid);
- disk: how much it can write into its folder and /tmp (tmpfs sizes), and into one file (RLIMIT_FSIZE);
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grading import grade as grading  # noqa: E402

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
    "survivor": f"import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                f"        os.execvp('sleep', ['sleep', '4243.5'])\n    os._exit(0)\nprint('forked')\n",
}


def sandbox(code, scratch, uid):
    workdir = Path(tempfile.mkdtemp(dir=scratch))
    os.chmod(workdir, 0o755)
    sources = [(path, str(path), False) for path in sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()})]
    options = {"bwrap": grading.bwrap_binary(), "timeout": 120}
    env = {"PATH": "/usr/bin:/bin", "HOME": "/submission", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}
    log = workdir / "log.txt"
    returncode, _, seconds = grading.run_sandboxed([sys.executable, "-c", code], sources, workdir, env, uid, options, log)
    return seconds, log.read_text().strip().splitlines()[-1:] or [f"exit {returncode}"]


def plain(code):
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", code], capture_output=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    return time.monotonic() - started


def main():
    root = os.geteuid() == 0
    scratch = tempfile.mkdtemp(prefix="isolation-bench-")
    os.chmod(scratch, 0o711)
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; as root: {root}; "
          f"bwrap: {grading.bwrap_binary()}; limits: {grading.MEMORY_LIMIT / 2**30:g} GiB address space, "
          f"{grading.PROCESS_LIMIT} processes, {grading.DISK_LIMIT // 2**20} MiB disk")
    rows = []
    for what, code in [("start Python", "pass"), ("start Python, import torch", "import torch")]:
        plains = [plain(code) for _ in range(5)]
        boxed = [sandbox(code, scratch, grading.fresh_uid() if root else None)[0] for _ in range(5)]
        rows.append((what, f"{statistics.median(plains):.2f} s", f"{statistics.median(boxed):.2f} s",
                     f"{statistics.median(boxed) - statistics.median(plains):+.2f} s"))
    print("\n| 5 runs each, median | plain | in the sandbox | cost |\n| --- | ---: | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\n| limit | what a submission got |\n| --- | --- |")
    for what, code in PROBES.items():
        seconds, last = sandbox(code, scratch, grading.fresh_uid() if root else None)
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
