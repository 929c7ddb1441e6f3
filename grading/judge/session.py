"""The parent side of grading one submission: ``grade_submission(name, pristine, fmt, options, workdir) -> record``.

Points exist only here. The sandboxed child (``python -m grading.sandbox.child.runner``, which sees only ``grading/sandbox/child``,
the submission's pristine copy, the MNIST files and the Python installation) executes the submission and answers
questions with data (``grading.sandbox.child.wire``); the checks (``grading.checks``) draw their inputs here at grading
time, compare the answers with the reference (``grading.reference``) and give each case the points of the table.

Every question has its own deadline. When the child overruns one, or breaks the wire format, it is killed and a
fresh one is started for the remaining questions: it replays the setup (loading the module, the notebook cells
already run, except one that hung), so a hang costs the part that asked.
"""

import json
import os
import secrets
import select
import shutil
import sys
import time
import traceback
from pathlib import Path

import torch

from grading import checks, parts, settings
from grading.sandbox import isolation
from grading import reference as R
from grading.sandbox.child import wire

GRADING = settings.GRADING
STARTUP = 60.0  # seconds a fresh child may take to import torch and answer its first question
NEEDED = {"device", "validation_dataloader", "loader_generator", "batch_size", "mnist_training_set",
          "mnist_validation_set", "data_root", "SEED", "QUICK"}
SUB = isolation.SUB


class Refused(AssertionError):
    """A question the child did not answer (an error, a timeout, a broken message): the asking case fails."""


class _Deadline:
    """A readable pipe whose reads raise TimeoutError past ``until`` (time.monotonic())."""

    def __init__(self, fd, until):
        self.fd, self.until = fd, until

    def read(self, n):
        left = self.until - time.monotonic()
        if left <= 0 or not select.select([self.fd], [], [], left)[0]:
            raise TimeoutError()
        return os.read(self.fd, min(n, 1 << 20))


def _send(fd, data, until):
    """Write ``data`` to the pipe ``fd`` by ``until``: a child that stops reading cannot block the parent."""
    os.set_blocking(fd, False)
    view = memoryview(data)
    while view:
        left = until - time.monotonic()
        if left <= 0 or not select.select([], [fd], [], left)[1]:
            raise TimeoutError()
        try:
            view = view[os.write(fd, view[:1 << 16]):]
        except BlockingIOError:
            continue


class Child:
    """The sandboxed runner, started on demand; ``ask`` returns (answer, tensors) or raises Refused."""

    def __init__(self, launch, session):
        self.launch, self.session, self.box, self.replay, self.fresh = launch, session, None, [], True
        self.boxes = []

    def _start(self):
        self.box = self.launch()
        self.boxes.append(self.box)
        self.fresh = True
        for header, limit in list(self.replay):  # the setup a question needs, again (a hung cell is not in it)
            self._exchange(header, (), limit)

    def stop(self):
        if self.box is not None:
            self.box.stop()
            self.box = None

    def ask(self, header, tensors=(), limit=None, setup=False):
        limit = float(limit or self.session.cell_limit)
        if self.box is None:
            self._start()
        answer, out = self._exchange(header, tensors, limit)
        if setup:  # a fresh child replays it; a step that was refused (hung, broke the format) is left out
            self.replay.append((header, limit))
        return answer, out

    def _exchange(self, header, tensors, limit):
        session = self.session
        remaining = session.deadline - time.monotonic()
        if remaining <= 0:
            session.timed_out = True
            raise Refused("not asked: the submission's time limit was reached")
        margin = STARTUP if self.fresh else 10.0  # the child's own timer stops the code at ``limit``; this is the rest
        until = time.monotonic() + min(remaining, limit + margin)
        try:
            _send(self.box.stdin.fileno(), wire.encode(dict(header, limit=limit), tensors), until)
            answer, out = wire.receive(_Deadline(self.box.stdout.fileno(), until))
            self.fresh = False
        except TimeoutError:
            self.stop()
            if time.monotonic() >= session.deadline:
                session.timed_out = True
            raise Refused(f"ran past {limit:g} s (the grader stopped it and went on with a fresh process)")
        except wire.ProtocolError as error:
            self.stop()
            session.rejected.append(f"answer to {header.get('op')}: {error}")
            raise Refused(f"its answer broke the wire format ({error})")
        except (EOFError, BrokenPipeError, OSError) as error:
            self.stop()
            raise Refused(f"the submission's process ended ({type(error).__name__})")
        if not isinstance(answer.get("error", ""), (str, type(None))):
            raise Refused("an answer whose error is not text")
        if answer.get("error"):
            raise Refused(str(answer["error"])[:300])
        return answer, out


class Ask:
    """What a check may do: ask the child (``describe``, ``forward``, ``transform``, ``loaders``, ``works``) and draw
    fresh inputs (``generator``, ``images``); the seed is new for every submission (never in the child's reach)."""

    def __init__(self, child, data):
        self.child, self.data = child, data
        self.generator = torch.Generator().manual_seed(secrets.randbits(63))
        self._described = {}
        self.broken = set()  # classes whose build failed or hung here: the cells get the stand-in without a retry

    @staticmethod
    def label(target):
        if "class" in target:
            name = f"{target['class']}({', '.join(map(str, target.get('args', [])))})"
        else:
            name = target["var"]
        return name + (f".{target['sub']}" if target.get("sub") else "")

    def _question(self, header, tensors, label):
        try:
            return self.child.ask(header, tensors)
        except Refused as error:
            text = str(error)
            if text.startswith("LookupError: "):
                raise AssertionError(text[len("LookupError: "):]) from None
            raise AssertionError(f"{label} {text if text.startswith(('ran past', 'not asked')) else 'raised ' + text}") \
                from None

    def describe(self, target):
        """(info, parameter names, parameter tensors) of a target; the answer is checked for form here."""
        key = json.dumps(target, sort_keys=True)
        if key not in self._described:
            try:
                info, tensors = self._question({"op": "describe", "target": target}, (), self.label(target))
                names = info.get("params", [])
                if not isinstance(info.get("modules", {}), dict) or not isinstance(names, list) or len(names) != len(tensors):
                    raise AssertionError(f"{self.label(target)}: the description does not fit its parameters")
                info.setdefault("instance_of", [])
                self._described[key] = (info, [str(n) for n in names], tensors)
            except AssertionError as error:
                self._described[key] = error
                if "class" in target and not target.get("sub"):
                    self.broken.add(target["class"])
        found = self._described[key]
        if isinstance(found, AssertionError):
            raise found
        return found

    def forward(self, target, *inputs, seed=None, params=None):
        """The target's outputs on ``inputs``; with ``params`` (the parent's state dict), those of a copy of it
        loaded with them, which only a real implementation of its layers can give."""
        if "class" in target:  # a class that did not build is not built again (a hang costs its time once)
            self.describe({key: value for key, value in target.items() if key != "sub"})
        label = f"{self.label(target)} on input {tuple(inputs[0].shape)}"
        params = params or {}
        header = {"op": "forward", "target": target, "seed": seed, "params": list(params)}
        _, out = self._question(header, [*params.values(), *inputs], label)
        if not out:
            raise AssertionError(f"{label} returned nothing")
        return out

    def works(self, target, x, shape):
        """Whether ``target`` builds and maps ``x`` to ``shape`` (so training or comparing a model of it makes sense)."""
        try:
            return tuple(self.forward(target, x)[0].shape) == tuple(shape)
        except AssertionError:
            return False

    def images(self, n, raw=False):
        """``n`` real MNIST validation images at indices drawn now: floats (n, 1, 28, 28) in [0, 1] (and the uint8s)."""
        images, _ = R.mnist(self.data, False)
        index = torch.randperm(len(images), generator=self.generator)[:n]
        chosen = images[index]
        floats = chosen.unsqueeze(1).float() / 255
        return (floats, chosen) if raw else floats

    def transform(self, raw):
        return self._question({"op": "transform"}, (raw,), "transform")[1]

    def loaders(self):
        info, labels = self._question({"op": "loaders", "seed": secrets.randbits(31)}, (), "the dataloaders")
        return info, labels


class Session:
    def __init__(self, options):
        self.options, self.cell_limit = options, float(options["cell_limit"])
        self.deadline = time.monotonic() + float(options["timeout"])
        self.timed_out, self.rejected, self.events, self.results, self.done = False, [], [], [], set()

    def check(self, part, cases, ask):
        """Run one part's cases (each under its questions' deadlines); a result per case."""
        if part in self.done:
            return
        self.done.add(part)
        for name, points, function in cases[part]:
            started = time.perf_counter()
            try:
                function(ask)
                passed, message = True, ""
            except AssertionError as error:
                passed, message = False, str(error).strip().splitlines()[-1][:300] if str(error).strip() else "failed"
            except Exception as error:  # the parent's own computation on the child's data: never the batch's end
                passed, message = False, f"the grader could not check it ({type(error).__name__}: {str(error)[:120]})"
            self.results.append({"part": part, "case": name, "points": points, "passed": passed, "message": message})
            print(f"check {part}/{name[:30]}: {time.perf_counter() - started:.2f} s", file=sys.stderr)


def _texts(value):
    """The texts of a list an answer holds (anything else in it, or instead of it, is left out)."""
    return [text for text in value if isinstance(text, str)][:100] if isinstance(value, list) else []


def run(session, child, ask, fmt, data):
    """Ask the child to load the submission and run its cells; check each part as soon as what it follows exists."""
    cases = checks.cases()
    follows = {part.follows: part.name for part in parts.cell_parts()}
    config = {"workdir": SUB, "pristine": "/pristine", "data": "/data", "format": fmt}
    try:
        answer, _ = child.ask({"op": "load", "config": config}, setup=True)
        for message in _texts(answer.get("problems")):
            session.events.append({"event": "problem", "message": str(message)[:500]})
    except Refused as error:
        session.events.append({"event": "problem", "message": f"loading the submission failed: {error}"})
        return
    for part in parts.module_parts():
        session.check(part.name, cases, ask)
    try:
        plan = child.ask({"op": "plan", "follows": sorted(follows), "needed": sorted(NEEDED | set(follows))})[0]["cells"]
        if plan is None:
            session.events.append({"event": "problem", "message": "hw2.ipynb could not be read"})
    except Refused as error:
        plan = None
        session.events.append({"event": "problem", "message": f"the notebook's cells could not be listed: {error}"})
    if not isinstance(plan, list) or not all(isinstance(c, list) and len(c) == 2 and isinstance(c[0], int)
                                             and isinstance(c[1], list) for c in plan):
        plan = []  # an answer of the wrong form lists no cell (the parts that follow cells then fail)
    for index, names in plan:
        names = [str(n) for n in names]
        graded = sorted(follows[n] for n in names if n in follows and follows[n] not in session.done)
        try:
            answer, _ = child.ask({"op": "cell", "cell": index, "names": names, "stand_ins": sorted(ask.broken)},
                                  setup=True)
            error = answer.get("cell_error")
            for note in _texts(answer.get("notes")):
                session.events.append({"event": "note", "message": str(note)[:500]})
            if type(answer.get("printed")) is int and answer["printed"] > 64 * 1024:
                session.events.append({"event": "output", "cell": index, "characters": int(answer["printed"])})
        except Refused as refused:
            error = str(refused)
        if error:
            session.events.append({"event": "cell", "cell": index, "message": str(error)[:300],
                                   "graded": [n for n in names if n in follows and follows[n] in graded]})
        for name in names:
            if name in follows:
                session.check(follows[name], cases, ask)
    for part in parts.automatic():
        session.check(part.name, cases, ask)


def copy_helpers(workdir):
    """The provided helpers (a module file or a package folder) into the copy, read-only for everyone; its path."""
    package = settings.REPO / "hw2_helpers"
    if package.is_dir():
        target = workdir / "hw2_helpers"
        shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for path in [*target.rglob("*"), target]:
            os.chmod(path, 0o555 if path.is_dir() else 0o444)
        return target
    target = workdir / "hw2_helpers.py"
    shutil.copyfile(settings.REPO / "hw2_helpers.py", target)
    os.chmod(target, 0o444)
    return target


def grade_submission(name, pristine, fmt, options, workdir):
    """Grade one submission: its extracted files in ``pristine`` (the provided helpers are copied in here), its
    format ``fmt``; ``options``: timeout, cell_limit, threads, data (the MNIST folder), launch (optional: a callable
    that starts the child and returns a box). Returns the record's run part: name, format, results, events,
    rejected, timed_out, returncode, seconds, log, printed (bytes in all), peak_memory (bytes, where a cgroup says)."""
    started = time.monotonic()
    pristine, workdir = Path(pristine), Path(workdir)
    helpers = copy_helpers(pristine)
    for path in [workdir, pristine]:
        os.chmod(path, 0o755)
    for path in pristine.iterdir():
        if path != helpers:
            os.chmod(path, 0o444)
    session = Session(options)
    launch = options.get("launch") or (lambda: start_child(pristine, options, workdir))
    child = Child(launch, session)
    ask = Ask(child, options["data"])
    log, returncode, printed = "", None, 0
    try:
        run(session, child, ask, fmt, options["data"])
        session.events.append({"event": "finished"})
    except Exception:  # a fault of the grader itself: the row says so, the batch goes on
        session.events.append({"event": "problem", "message": "the grader failed: " + traceback.format_exc(limit=2)[-300:]})
    finally:
        if child.box is not None:
            try:
                _send(child.box.stdin.fileno(), wire.encode({"op": "bye"}), time.monotonic() + 1)
            except (OSError, TimeoutError):
                pass
            returncode = child.box.wait(5)
            child.stop()
    peaks = []
    for box in child.boxes:  # every child started for this submission: its log, its printing, its memory
        log += box.log()
        printed += box.log_total
        peaks += [box.peak_memory] if getattr(box, "peak_memory", None) is not None else []
    return {"name": name, "format": fmt, "notes": [], "problems": [], "results": session.results,
            "events": session.events, "rejected": session.rejected, "timed_out": session.timed_out,
            "returncode": returncode, "seconds": time.monotonic() - started, "log": log, "printed": printed,
            "peak_memory": max(peaks) if peaks else None}


def start_child(pristine, options, workdir):
    """The child in its sandbox (grading.sandbox.isolation): only grading/sandbox/child, the pristine copy, the MNIST
    files and the Python installation are mounted, every installed copy of the kit in it hidden (so neither the
    solved hw2_models.py nor the grader is there, however the kit was installed); stdin/stdout are the protocol,
    stderr the log."""
    mounts = [(GRADING / "__init__.py", "/grader/grading/__init__.py", False),
              (GRADING / "sandbox" / "__init__.py", "/grader/grading/sandbox/__init__.py", False),
              (GRADING / "sandbox" / "child", "/grader/grading/sandbox/child", False),
              (Path(pristine), "/pristine", False), (Path(options["data"]), "/data", False)]
    python, hidden = isolation.python_mounts()
    mounts += python
    threads = str(options.get("threads", 1))
    env = {"PATH": "/usr/bin:/bin", "HOME": f"{SUB}/home", "LANG": "C.UTF-8", "TMPDIR": "/tmp", "HW2_QUICK": "1",
           "HW2_DEVICE": "cpu", "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": "/grader", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TQDM_DISABLE": "1",
           "PYTHONHASHSEED": "0", "MPLCONFIGDIR": "/tmp/mpl"}
    start = Path(workdir) / f"start-{time.monotonic_ns()}"  # each fresh child stages its mounts in a folder of its own
    start.mkdir()
    os.chmod(start, 0o755)
    return isolation.start([sys.executable, "-m", "grading.sandbox.child.runner"], mounts, env, start, hidden=hidden)
