"""The parent side of grading one submission: ``grade_submission`` runs its sandboxed child and returns a record.

Points exist only here. The sandboxed child (``python -m grading.sandbox.child.runner``, which sees only
``grading/sandbox/child``, the case toolkit, the submission's pristine copy, the dataset's files and the Python
installation) executes the submission and answers questions with data (``grading.sandbox.child.wire``); the
assignment's cases (``grading.assignment``) draw their inputs here at grading time, compare the answers with what
they recompute (and, for hidden cases, the assignment's reference) and give each case its points. Which cells run is
decided here, from the pristine notebook; the child is told what to run.

Every question has its own deadline. When the child overruns one, or breaks the wire format, it is killed and a
fresh one is started for the remaining questions: it replays the setup (loading the module, the notebook cells
already run, except one that hung), so a hang costs the part that asked.
"""

import dataclasses
import json
import os
import secrets
import shutil
import sys
import time
import traceback
from pathlib import Path

import torch

import casekit
from casekit.student import SHIPPED  # the folder of a student version's assignment.json

from grading import settings
from grading.intake import notebook
from grading.sandbox import isolation
from grading.judge.transport import Child, Refused, _send
from grading.sandbox.child import wire
from grading.sandbox.child.notebook import defined_classes

GRADING = settings.GRADING
SUB = isolation.SUB


class Ask:
    """What a case may do in the parent: ask the child (``describe``, ``forward``, ``apply``, ``batches``, ``call``),
    draw fresh inputs (``generator``, ``images``), read the assignment's dataset (``dataset``) and, for hidden cases,
    its ``reference``. The seed is new for every submission (never in the child's reach)."""

    trusted = True

    def __init__(self, child, assignment, data):
        self.child, self.assignment, self.data = child, assignment, data
        self.spec, self.reference = assignment.data, assignment.reference
        self.generator = torch.Generator().manual_seed(secrets.randbits(63))
        self._described = {}
        self.broken = set()  # classes whose build failed or hung here: the cells get the stand-in without a retry

    @staticmethod
    def label(target):
        return casekit.target_label(target)

    def _question(self, header, tensors, label):
        try:
            return self.child.ask(header, tensors)
        except Refused as error:
            text = str(error)
            if text.startswith("LookupError: "):
                raise AssertionError(text[len("LookupError: "):]) from None
            said = text if text.startswith(("ran past", "not asked", "returns ")) else "raised " + text
            raise AssertionError(f"{label} {said}") from None

    def describe(self, target):
        """(info, parameter names, parameter tensors) of a target; the answer is checked for form here."""
        key = json.dumps(target, sort_keys=True)
        if key not in self._described:
            try:
                info, tensors = self._question({"op": "describe", "target": target}, (), self.label(target))
                names = info.get("params", [])
                if not isinstance(info.get("modules", {}), dict) or not isinstance(names, list) or len(names) != len(tensors):
                    raise AssertionError(f"{self.label(target)}: the description does not fit its parameters")
                for field, kind in (("instance_of", list), ("type", str)):
                    if not isinstance(info.get(field), kind):
                        info[field] = kind()
                info.setdefault("stand_in", None)
                found = info.get("attributes")
                info["attributes"] = {key: value for key, value in found.items() if isinstance(key, str)
                                      and casekit._plain(value)} if isinstance(found, dict) else {}
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

    def call(self, function, *args):
        """What the module's graded ``function`` returns on ``args`` (each a tensor, sent to the child, or a target,
        resolved there as ``describe`` resolves it): a number, or a list of float tensors; AssertionError naming the
        function when it is missing, raises, runs past its time or returns anything else."""
        label = f"{function}({', '.join(_argument(arg) for arg in args)})"
        specs, tensors = [], []
        for arg in args:
            if isinstance(arg, torch.Tensor):
                specs.append({"tensor": len(tensors)})
                tensors.append(arg)
            elif isinstance(arg, dict):
                specs.append({"target": arg})
            else:
                specs.append({"value": arg})
        try:
            for arg in args:  # a class that did not build is not built again (a hang costs its time once)
                if isinstance(arg, dict) and "class" in arg:
                    self.describe({key: value for key, value in arg.items() if key != "sub"})
            answer, out = self._question({"op": "call", "function": function, "args": specs}, tensors, label)
        except AssertionError as error:
            text = str(error)
            raise AssertionError(text if text.startswith(label) else f"{label}: {text}") from None
        if "number" in answer:
            number = answer["number"]
            if type(number) not in (int, float, bool) or out:
                raise AssertionError(f"{label} answered {type(number).__name__}, not a number")
            return number
        if not out:
            raise AssertionError(f"{label} returned nothing")
        return [t.float() for t in out]

    def works(self, target, x, shape):
        """Whether ``target`` builds and maps ``x`` to ``shape``."""
        return casekit.works(self, target, x, shape)

    def dataset(self, train=False):
        """(uint8 images (N, H, W), int64 labels) of the assignment's dataset, read here."""
        return casekit.dataset(self.spec["dataset"], self.data, train)

    def images(self, n, raw=False):
        """``n`` real validation images at indices drawn now (the generator's seed is new for each submission)."""
        return casekit.images(self, n, raw)

    def apply(self, variable, raw):
        """The notebook's callable ``variable`` applied to each uint8 image of ``raw``, as a PIL image."""
        return self._question({"op": "apply", "var": variable}, (raw,), variable)[1]

    def batches(self, variable, passes):
        """The first batch (images, labels) of ``passes`` passes over the DataLoader ``variable``."""
        _, out = self._question({"op": "batches", "var": variable, "passes": passes, "seed": secrets.randbits(31)},
                                (), variable)
        if len(out) != 2 * passes:
            raise AssertionError(f"{variable}'s batches are not (images, labels) pairs")
        return [(out[2 * k], out[2 * k + 1]) for k in range(passes)]


def _argument(arg):
    """How a call's argument reads in a message: a target's label, a tensor's shape."""
    if isinstance(arg, torch.Tensor):
        return f"tensor{tuple(arg.shape)}"
    return Ask.label(arg) if isinstance(arg, dict) else repr(arg)[:40]


class Session:
    def __init__(self, options, cases):
        self.options, self.limits, self.cases = options, options["limits"], cases
        self.cell_timeout = self.limits.cell_timeout
        self.deadline = time.monotonic() + self.limits.timeout
        self.timed_out, self.rejected, self.events, self.results, self.done = False, [], [], [], set()

    def check(self, part, ask):
        """Run one part's cases (each under its questions' deadlines); a result per case."""
        if part in self.done:
            return
        self.done.add(part)
        for case in self.cases[part]:
            try:
                with torch.random.fork_rng(devices=[]):
                    case.function(ask)
                passed, message = True, ""
            except AssertionError as error:
                passed, message = False, str(error).strip().splitlines()[-1][:300] if str(error).strip() else "failed"
            except Exception as error:  # the parent's own computation on the child's data: never the batch's end
                passed, message = False, f"the grader could not check it ({type(error).__name__}: {str(error)[:120]})"
            self.results.append({"part": part, "case": case.title, "points": case.points, "public": case.public,
                                 "passed": passed, "message": message})


def _texts(value):
    """The texts of a list an answer holds (anything else in it, or instead of it, is left out)."""
    return [text for text in value if isinstance(text, str)][:100] if isinstance(value, list) else []


NOTES_PER_ANSWER, NOTES_PER_SUBMISSION = 10, 200  # what of the child's notes a record keeps


def _note(session, event):
    if len(session.events) < NOTES_PER_SUBMISSION:
        session.events.append(event)


def run(session, child, ask, fmt, assignment, pristine):
    """Ask the child to load the submission and run the planned cells; check each part as soon as what it follows
    exists. The plan comes from the pristine notebook, parsed here."""
    config = {"workdir": SUB, "pristine": "/pristine", "data": "/data", "format": fmt, "assignment": assignment.sandbox(),
              "limits": session.limits.child()}
    try:
        answer, _ = child.ask({"op": "load", "config": config}, setup=True)
        for message in _texts(answer.get("problems"))[:NOTES_PER_ANSWER]:
            _note(session, {"event": "problem", "message": str(message)[:500]})
        ran = {i for i in answer.get("ran", []) if type(i) is int} if fmt == notebook.ASSIGNMENT else set()
    except Refused as error:
        session.events.append({"event": "problem", "message": f"loading the submission failed: {error}"})
        return
    for part in assignment.module_parts():
        session.check(part.name, ask)
    follows = {part.follows: part.name for part in assignment.cell_parts()}
    nb, problem = notebook.load(Path(pristine) / assignment.files["notebook"])
    if nb is None:
        session.events.append({"event": "problem", "message": f"{assignment.files['notebook']}: {problem}"})
    last = assignment.cell_parts()[-1].follows if assignment.cell_parts() else None
    defined = assignment.classes + assignment.functions
    skip = {i for i, text in notebook.code_cells(nb) if defined_classes(text, defined)} \
        if fmt == notebook.ASSIGNMENT else set()
    for index, names in notebook.plan(nb, assignment.needed(), last, skip | ran) if nb is not None else []:
        graded = sorted(follows[n] for n in names if n in follows and follows[n] not in session.done)
        try:
            answer, _ = child.ask({"op": "cell", "cell": index, "names": names, "stand_ins": sorted(ask.broken)},
                                  setup=True)
            error = answer.get("cell_error")
            for note in _texts(answer.get("notes"))[:NOTES_PER_ANSWER]:
                _note(session, {"event": "note", "message": str(note)[:500]})
            if type(answer.get("printed")) is int and answer["printed"] > session.limits.output_kept:
                _note(session, {"event": "output", "cell": index, "characters": int(answer["printed"])})
        except Refused as refused:
            error = str(refused)
        if error:
            _note(session, {"event": "cell", "cell": index, "message": str(error)[:300],
                            "graded": [n for n in names if n in follows and follows[n] in graded]})
        for name in names:
            if name in follows:
                session.check(follows[name], ask)
    for part in assignment.automatic():
        session.check(part.name, ask)


def copy_provided(assignment, workdir):
    """The assignment's provided files and folders into the copy, read-only for everyone; their paths."""
    copied = []
    for source in assignment.provided():
        target = Path(workdir) / source.name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            for path in [*target.rglob("*"), target]:
                os.chmod(path, 0o555 if path.is_dir() else 0o444)
        else:
            shutil.copyfile(source, target)
            os.chmod(target, 0o444)
        copied.append(target)
    return copied


def copy_settings(assignment, workdir):
    """``assignment.json`` where a student version ships it (``SHIPPED``), its ``data`` naming the dataset's link beside
    the notebook (the child makes it), read-only: a notebook's ``Homework()`` finds its settings and dataset at
    grading as in a student's folder. Nothing secret: the student version holds the same file. Its path, or None
    when the copy already holds that folder."""
    target = Path(workdir) / SHIPPED
    if target.exists():
        return None
    target.mkdir()
    data = dict(assignment.data)
    if data.get("data"):
        data["data"] = os.path.relpath("data", SHIPPED)
    (target / "assignment.json").write_text(json.dumps(data), encoding="utf-8")
    os.chmod(target / "assignment.json", 0o444)
    os.chmod(target, 0o555)
    return target


def grade_submission(name, pristine, fmt, options, workdir, assignment):
    """Grade one submission: its extracted files in ``pristine`` (the provided files are copied in here), its
    format ``fmt``; ``options``: limits (a ``settings.Limits``), threads, data (the dataset's folder), launch (optional: a
    callable that starts the child and returns a box). Returns the record's run part: name, format, results, events,
    rejected, timed_out, returncode, seconds, log, printed (bytes in all), peak_memory (bytes, where a cgroup says)."""
    started = time.monotonic()
    pristine, workdir = Path(pristine), Path(workdir)
    notebook.save_upgraded(pristine / assignment.files["notebook"])  # the child reads the nbformat 4 the plan is of
    provided = copy_provided(assignment, pristine) + [copy_settings(assignment, pristine)]
    for path in [workdir, pristine]:
        os.chmod(path, 0o755)
    for path in pristine.iterdir():
        if path not in provided:
            os.chmod(path, 0o444)
    session = Session(options, assignment.cases)
    launch = options.get("launch") or (lambda: start_child(pristine, options, workdir, assignment))
    child = Child(launch, session)
    ask = Ask(child, assignment, options["data"])
    log, returncode, printed = "", None, 0
    try:
        run(session, child, ask, fmt, assignment, pristine)
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
            "peak_memory": max(peaks) if peaks else None,
            "conditions": {**dataclasses.asdict(session.limits), "seed": "drawn per submission",
                           "assignment": assignment.name}}


def start_child(pristine, options, workdir, assignment):
    """The child in its sandbox (grading.sandbox.isolation): only grading/sandbox/child, the case toolkit, the
    pristine copy, the dataset's files and the Python installation are mounted, every installed copy of the kit in
    it hidden (neither a solved file nor the grader is there, however the kit was installed); stdin/stdout are the
    protocol,
    stderr the log."""
    mounts = [(GRADING / "__init__.py", "/grader/grading/__init__.py", False),
              (GRADING / "sandbox" / "__init__.py", "/grader/grading/sandbox/__init__.py", False),
              (GRADING / "sandbox" / "child", "/grader/grading/sandbox/child", False),
              (Path(casekit.__file__).parent, "/grader/casekit", False),  # the package, as students get it
              (Path(pristine), "/pristine", False)]
    if options.get("data"):
        mounts.append((Path(options["data"]), "/data", False))
    python, hidden = isolation.python_mounts()
    mounts += python
    threads = str(options.get("threads", 1))
    env = {"PATH": "/usr/bin:/bin", "HOME": f"{SUB}/home", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
           "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": "/grader", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TQDM_DISABLE": "1",
           "PYTHONHASHSEED": "0", "MPLCONFIGDIR": "/tmp/mpl", **assignment.data.get("environment", {})}
    start = Path(workdir) / f"start-{time.monotonic_ns()}"  # each fresh child stages its mounts in a folder of its own
    start.mkdir()
    os.chmod(start, 0o755)
    limits = options.get("limits") or settings.limits()  # the run's, else the ones in force in this process
    return isolation.start([sys.executable, "-m", "grading.sandbox.child.runner"], mounts, env, start, hidden=hidden,
                           memory=limits.memory, processes=limits.processes)
