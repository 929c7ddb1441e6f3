"""Each submission's trusted work in a process of its own. ``run`` grades each submission with the function it is
handed (``grading.batch.pipeline.grade_one``: its extraction, the session with its sandboxed child, the checks) in a
fresh process: a fork of a server (``serve``) that received that function once per run (pickled: the server imports
its module, with torch and torchvision) and that each worker inherits, so a submission costs no imports. Each worker
has its own session (process group), address-space limit (the run's ``Limits.worker_memory``), limits in force (the
run's ``Limits``, ``options["limits"]``) and torch random state, and writes its record (JSON) to a file; ``run``
keeps ``jobs`` of them going, kills one past its deadline (the limits' ``timeout`` plus ``worker_margin``) with its whole process group, and gives a submission whose
worker died a row that says why (``results.failed_record``), so no submission's parent-side work
can exhaust the grader's memory or end the batch.

The server talks over its stdin and stdout, one line each way: ``run`` sends a task (a pickle, base64, one line;
both ends are the grader's own code), the server answers ``started INDEX PID`` and, once the worker is reaped,
``ended INDEX STATUS``. The server and each worker die with the grader (PR_SET_PDEATHSIG, and the server's stdin
closing), each sandbox with its worker (bwrap's --die-with-parent). What a worker prints (the debug detail:
warnings, a traceback) goes to ``NNNNN.worker.txt`` in the scratch folder and ends up in the submission's log,
never on the instructor's screen."""

import base64
import ctypes
import importlib
import json
import os
import pickle
import resource
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grading import settings
from grading.text import write_json

PRELOAD = ("torch", "torchvision", "torchvision.datasets", "torchvision.transforms", "PIL.Image")
MEMORY_WORDS = ("MemoryError", "can't allocate memory", "std::bad_alloc", "Cannot allocate memory")
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# ------------------------------------------------------------------------------------------------
# The server and its workers
# ------------------------------------------------------------------------------------------------
def _work(task, function):
    """One submission, in a worker (just forked), by ``function`` (the server's): its printing to its file, its limits
    and random state, its record."""
    printed = os.open(task["printed"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(printed, 1)  # never the server's protocol pipe
    os.dup2(printed, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)  # the soft limit only: each sandbox sets its own
    memory = task["memory"]
    resource.setrlimit(resource.RLIMIT_AS, (memory if hard == resource.RLIM_INFINITY else min(memory, hard), hard))
    threads = str(max(1, int(task["options"].get("threads", 1))))
    os.environ.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, TQDM_DISABLE="1")
    os.chdir(task["cwd"])  # a submission's path may be relative to the grader's working folder
    settings.use(task["options"]["limits"])  # the run's, for every room this worker reads a submission with
    import torch

    from grading.assignment import load as load_assignment
    from grading.intake import collect
    from grading.outputs import results

    torch.set_num_threads(int(threads))
    torch.manual_seed(secrets.randbits(63))  # never the server's: each submission's random state is its own
    try:
        assignment = load_assignment(task["assignment_folder"])
        record = function(task["index"], task["name"], task["entry"], Path(task["scratch"]),
                                           task["options"], assignment)
    except MemoryError:
        record = {**results.failed_record(task["name"], f"the grader's own work on it ran out of memory (its limit: "
                                                        f"{memory / 2**30:g} GiB)"), **collect.meta(task["entry"])}
    write_json(task["record"], record)


def _fork(task, grader, function):
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        os.setsid()  # the batch kills the worker and everything it started at once
        _die_with_parent()
        if os.getppid() == 1 or not os.path.exists(f"/proc/{grader}"):
            os._exit(1)  # the server (and the grader) ended before the line above
        _work(task, function)
        status = 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(status)


def serve(pickled):
    """The server: unpickle the function a worker calls (importing its module) once, then fork a worker per task read
    on stdin, saying each start and end on stdout; ends (and its workers with it) when stdin closes or the grader
    dies."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader decides what Ctrl-C ends
    grader = os.getppid()
    function = pickle.loads(base64.b64decode(pickled))
    for module in PRELOAD:
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    tasks, answers, children, buffered = sys.stdin.buffer, sys.stdout.buffer, {}, b""
    os.set_blocking(tasks.fileno(), False)
    while True:
        readable = select.select([tasks.fileno()], [], [], 0.1)[0]
        if readable:
            chunk = os.read(tasks.fileno(), 1 << 16)
            if not chunk:
                return
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                task = pickle.loads(base64.b64decode(line))
                pid = _fork(task, grader, function)
                children[pid] = task["index"]
                answers.write(f"started {task['index']} {pid}\n".encode())
                answers.flush()
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            answers.write(f"ended {children.pop(pid)} {os.waitstatus_to_exitcode(status)}\n".encode())
            answers.flush()


# ------------------------------------------------------------------------------------------------
# The batch: ``jobs`` workers at once
# ------------------------------------------------------------------------------------------------
class _Running:
    def __init__(self, index, name, entry, deadline, record, printed):
        self.index, self.name, self.entry, self.deadline = index, name, entry, deadline
        self.record, self.printed, self.pid, self.status, self.killed = record, printed, None, None, None


class _Server:
    """The grader's end of the server: send tasks, read what started and ended, kill a worker's group."""

    def __init__(self, scratch, pickled):
        code = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); "  # the grader's own modules, wherever it runs
                "from grading.batch.workers import serve; serve(sys.argv[2])")
        self.log = open(Path(scratch) / "server.txt", "wb")
        self.process = subprocess.Popen([sys.executable, "-c", code, json.dumps(sys.path), pickled],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                        start_new_session=True)
        self.buffered = b""

    def send(self, task):
        try:
            self.process.stdin.write(base64.b64encode(pickle.dumps(task)) + b"\n")
            self.process.stdin.flush()
        except OSError:  # the server is gone: ``lines`` says so, and the task fails with the others
            pass

    def lines(self, timeout):
        """The lines the server sent within ``timeout`` seconds; EOFError when it is gone."""
        fd = self.process.stdout.fileno()
        if select.select([fd], [], [], max(0.0, timeout))[0]:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError("the grader's worker server ended")
            self.buffered += chunk
        *lines, self.buffered = self.buffered.split(b"\n")
        return [line.decode().split() for line in lines]

    def kill(self, running):
        """SIGKILL the worker's process group (its sandboxes die with it; their cgroups are removed by the caller),
        or the worker alone when it has not made its group yet; only while it is the server's child."""
        try:
            if Path(f"/proc/{running.pid}/stat").read_text().rsplit(")", 1)[1].split()[1] != str(self.process.pid):
                return
        except (OSError, IndexError):
            return
        for kill in (os.killpg, os.kill):
            try:
                kill(running.pid, signal.SIGKILL)
                return
            except (ProcessLookupError, PermissionError):
                continue

    def close(self):
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.stdout.close()
        except OSError:
            pass
        self.process.kill()  # its workers die with it (PR_SET_PDEATHSIG)
        self.process.wait()
        self.log.close()


def _tail(path, keep=None):
    keep = keep or settings.limits().log_kept
    try:
        data = Path(path).read_bytes()
    except OSError:
        return ""
    return data[-keep:].decode("utf-8", "replace")


def _finished(running, options, memory):
    """The record of a worker that ended (or was killed): its own, or a failed one saying why."""
    from grading.intake import collect
    from grading.outputs import results

    printed = _tail(running.printed)
    try:
        record = json.loads(running.record.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("name") != running.name:
            raise ValueError("not this submission's record")
    except (OSError, ValueError):
        code = running.status
        if running.killed == "time":
            limits = options["limits"]
            reason = (f"its grading ran past {limits.timeout + limits.worker_margin:g} s (the time limit of "
                      f"{limits.timeout:g} s and {limits.worker_margin:g} s to start) and was stopped")
        elif any(word in printed for word in MEMORY_WORDS):
            reason = f"the grader's own work on it ran out of memory (its limit: {memory / 2**30:g} GiB)"
        elif code is None:
            reason = "the grader's worker server ended while it ran"
        elif code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            reason = f"its grading process was killed ({name}{': out of memory?' if name == 'SIGKILL' else ''})"
        else:
            reason = f"its grading process ended with exit status {code} and no record"
        return {**results.failed_record(running.name, reason, printed), **collect.meta(running.entry)}
    if printed.strip():
        record["log"] = f"{record.get('log', '')}\n[the grading process printed]\n{printed}"
    return record


def run(items, scratch, options, assignment, jobs, done, function, in_process=False, memory=None):
    """Grade ``items`` [(index, name, entry)] with ``function`` (grade_one's arguments: a module's own function, which
    the server imports by pickling it), ``jobs`` at once, each by a worker process of its own (``memory``: its
    RLIMIT_AS); ``done(record)`` is called in this thread as each one ends. ``in_process``: grade in this process
    instead, in threads, for a ``grade_one`` replaced by a test. On any exception (KeyboardInterrupt included) every
    running worker is killed with its process group, and what their sandboxes leave is removed, before it
    propagates."""
    if in_process:
        return _in_process(items, scratch, options, assignment, jobs, done, function)
    try:
        pickled = base64.b64encode(pickle.dumps(function)).decode()
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise TypeError(f"a worker calls a module's own function, which its server imports; {function!r} is not one "
                        f"({error}): define it at a module's top level, or grade in this process "
                        "(in_process=True)") from None
    memory, scratch = memory or options["limits"].worker_memory, Path(scratch)
    pending, running, server = list(items), {}, _Server(scratch, pickled)
    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                index, name, entry = pending.pop(0)
                one = _Running(index, name, entry, None, scratch / f"{index:05d}.record.json",
                               scratch / f"{index:05d}.worker.txt")
                server.send({"index": index, "name": name, "entry": entry, "scratch": str(scratch), "options": options,
                             "assignment_folder": str(assignment.folder), "record": str(one.record), "printed": str(one.printed),
                             "memory": memory, "cwd": os.getcwd()})
                running[index] = one
            soonest = min([one.deadline for one in running.values() if one.deadline] or [time.monotonic() + 1])
            soonest -= time.monotonic()
            try:
                lines = server.lines(min(1.0, soonest))
            except (EOFError, OSError):  # the server itself died: its workers with it; a new one for the rest
                lines = [["ended", str(index), "server"] for index in running]
                server.close()
                server = _Server(scratch, pickled)
            for word, index, value in lines:
                if word == "started":  # its deadline counts from here (the server imports the grader first)
                    one = running[int(index)]
                    one.pid = int(value)
                    one.deadline = time.monotonic() + options["limits"].timeout + options["limits"].worker_margin
                    continue
                one = running.pop(int(index))
                one.status = int(value) if value != "server" else None
                if one.status != 0:
                    _remove_stale()  # the cgroups of a worker that was killed or died (what is inside is killed first)
                done(_finished(one, options, memory))
            for one in running.values():
                if one.deadline is not None and one.killed is None and time.monotonic() >= one.deadline:
                    one.killed = "time"  # its "ended" comes next
                    server.kill(one)
    finally:
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None  # a second Ctrl-C never
        try:                                                                              # stops the cleanup
            _stop(server, running)
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, previous)


def _stop(server, running):
    """Kill every running worker, wait (a few seconds at most) until the server has reaped them, stop the server and
    remove what their sandboxes left (their cgroups)."""
    for one in running.values():
        if one.pid is not None:
            server.kill(one)
    until = time.monotonic() + 3
    waiting = {one.index for one in running.values() if one.pid is not None}
    try:
        while waiting and time.monotonic() < until:
            waiting -= {int(index) for word, index, _ in server.lines(0.2) if word == "ended"}
    except (EOFError, OSError):
        pass
    server.close()
    if running:
        _remove_stale()


def _remove_stale():
    from grading.sandbox import isolation

    isolation.remove_stale()


def _in_process(items, scratch, options, assignment, jobs, done, function):
    lock = threading.Lock()

    def one(item):
        index, name, entry = item
        record = function(index, name, entry, Path(scratch), options, assignment)
        with lock:
            done(record)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, items))
