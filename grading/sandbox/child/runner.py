"""The sandboxed runner: ``python -m grading.sandbox.child.runner``. It executes one submission and answers the parent's
questions over stdin/stdout with data only (``grading.sandbox.child.wire``); it knows no reference answer and no point.

At start it moves the protocol to private file descriptors and points fd 1 at fd 2, so whatever the submission
prints (from Python or C) goes to stderr, the parent's log; fd 0 becomes /dev/null. Each request carries its own
time limit, armed here with SIGALRM (the parent enforces its own deadline too and replaces a runner that overruns).

Requests (``op``): ``load`` (copy the pristine files, build the module; what the assignment is arrives here as
data, ``assignment``), ``cell`` (run the cell the parent names), ``describe`` (an object's structure and parameters, with
the case toolkit's ``casekit.describe``), ``forward`` (outputs on the parent's inputs and weights), ``apply`` (a
notebook callable on the parent's uint8 images, each as a PIL image), ``batches`` (first batches of a DataLoader),
``call`` (a graded function of the module on the parent's arguments) and ``bye``. Stand-ins, the objects the
runner makes when a class cannot be built, are known by this runner's own registry, never by an attribute a class
can set.
"""

import os
import shutil
import signal
import sys

import casekit
from grading.sandbox.child import notebook as nbk
from grading.sandbox.child import wire

class _Shell:
    """Enough of get_ipython() for magics and shell escapes in a cell to do nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def stand_in(name, keywords=None):
    """The runner's own class standing in for the graded class ``name`` (one that could not be built): a module that
    holds one placeholder parameter, computes nothing and keeps each plain setting it is given as an attribute, as the
    class would. ``keywords`` ({keyword: value}, from the assignment's ``stand_ins``): its parameters in order, each
    with its value when a call leaves it out."""
    import torch
    import torch.nn as nn

    keywords = dict(keywords or {})

    class StandIn(nn.Module):
        def __init__(self, *args, **kwargs):
            super().__init__()
            given = {**keywords, **dict(zip(keywords, args)), **kwargs}
            for key, value in given.items():  # what a method or nn.Module's own state is named is never replaced
                if isinstance(key, str) and key.isidentifier() and not key.startswith("_") \
                        and not hasattr(nn.Module, key) and casekit._plain(value):
                    setattr(self, key, value)
            self.placeholder = nn.Parameter(torch.zeros(1))

        def forward(self, *args, **kwargs):
            raise RuntimeError(f"the grader's stand-in for {name} does not compute")

    StandIn.__name__ = StandIn.__qualname__ = name
    STAND_INS.append((name, StandIn))
    return StandIn


STAND_INS = []  # (name, class) of every stand-in this runner made: describe's registry


class Runner:
    def __init__(self):
        self.module, self.namespace, self.ran, self.built, self.config, self.assignment = None, {}, set(), {}, {}, {}
        self.problems = []

    # -- setup ---------------------------------------------------------------------------------------
    def load(self, request):
        config = self.config = request["config"]
        self.assignment = config["assignment"]
        nbk.configure(config["limits"])
        workdir = config["workdir"]
        for name in os.listdir(config["pristine"]):  # the code runs on a copy; the parent reads the pristine files
            source, target = os.path.join(config["pristine"], name), os.path.join(workdir, name)
            if os.path.isdir(source) and not os.path.islink(source):
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                shutil.copyfile(source, target)
        os.makedirs(os.path.join(workdir, "home"), exist_ok=True)
        if os.path.isdir(config["data"]) and not os.path.exists(os.path.join(workdir, "data")):
            os.symlink(config["data"], os.path.join(workdir, "data"))
        os.chdir(workdir)
        sys.path.insert(0, workdir)
        os.environ["HOME"] = os.path.join(workdir, "home")
        problems = []
        if config["format"] == "assignment":
            self.module, self.ran = nbk.load_assignment(workdir, problems, request["limit"], self.assignment)
        else:
            self.module = nbk.load_kit(workdir, problems, request["limit"], self.assignment)
        self.problems = problems
        return {"problems": problems, "classes": sorted(self.classes()), "ran": sorted(self.ran)}

    def classes(self):
        return {n: getattr(self.module, n) for n in self.assignment["classes"] if isinstance(getattr(self.module, n, None), type)}

    def _namespace(self):
        if not self.namespace:
            from IPython.display import display

            self.namespace = {"__name__": "__main__", "get_ipython": _Shell, "display": display}
            exec(self.assignment.get("preamble", ""), self.namespace)
            if self.config["format"] == "assignment":
                self.namespace.update(self.classes())
        return self.namespace

    def cell(self, request):
        index, limit = request["cell"], request["limit"]
        cells = dict(nbk.code_cells(os.path.join(self.config["workdir"], self.assignment["files"]["notebook"])) or [])
        source, namespace, notes = cells.get(index), self._namespace(), []
        if source is None:
            return {"cell_error": "no such cell", "notes": notes, "printed": 0}
        names = set(request.get("names", []))
        for variable, fallbacks in self.assignment.get("fallbacks", {}).items():
            if variable in names:
                notes += self._fallbacks(namespace, fallbacks)
        restore = {}
        for target, classes in self.assignment.get("stand_ins", {}).items():
            if target in names:
                for name, args in classes:  # ``stand_ins``: the parent saw these fail (no second try: they may hang)
                    cls = namespace.get(name)
                    keywords = args if isinstance(args, dict) else {}  # [positional] or {keyword: value}
                    built = isinstance(cls, type) and name not in request.get("stand_ins", []) and nbk.guarded(
                        lambda: cls(**args) if keywords else cls(*args), limit)[1] is None
                    if not built:
                        restore[name] = cls
                        namespace[name] = stand_in(name, keywords)
                        notes.append(f"{name} could not be built; the cell defining {target} was run with the grader's "
                                     "stand-in for it")
        try:
            code = compile(nbk.python(source), f"<cell {index}>", "exec")
        except SyntaxError as error:
            return {"cell_error": f"SyntaxError: {error.msg}", "notes": notes, "printed": 0}
        _, error, printed = nbk.guarded(lambda: exec(code, namespace), limit)
        for name, original in restore.items():
            if original is None:
                namespace.pop(name, None)
            else:
                namespace[name] = original
        try:
            import matplotlib.pyplot as plt

            plt.close("all")
        except Exception:
            pass
        return {"cell_error": error, "notes": notes, "printed": printed}

    def _fallbacks(self, namespace, fallbacks):
        """Define what a cell needs that an earlier cell failed to define (only that cell's part is lost): a seeded
        generator, or the first images of the assignment's dataset, normalized with its constants."""
        import torch
        import torchvision

        notes, data = [], self.assignment.get("dataset", {})
        for name, how in fallbacks.items():
            if name in namespace:
                continue
            if "generator" in how:
                namespace[name] = torch.Generator().manual_seed(how["generator"])
                continue
            found = getattr(torchvision.datasets, data["torchvision"])(self.config["data"], train=how["train"],
                                                                        download=False)
            mean, std = (torch.as_tensor(data[key], dtype=torch.float32).reshape(-1, 1, 1) for key in ("mean", "std"))
            images = (casekit.channels_first(found.data[:how["take"]]).float() / 255 - mean) / std
            namespace[name] = torch.utils.data.TensorDataset(images, torch.as_tensor(found.targets[:how["take"]]))
            notes.append(f"{name} was not defined; the cell got the grader's")
        return notes

    # -- questions ------------------------------------------------------------------------------------
    def target(self, wanted):
        """The object a request names: a class of the module built with ``args`` (kept for later questions), or a
        notebook variable, or PyTorch's own layer (``casekit.torch_layer``); then ``sub``, a dotted path of attributes."""
        if "layer" in wanted:
            found = casekit.resolve_layer(wanted)
        elif "class" in wanted:
            key = (wanted["class"], tuple(wanted.get("args", [])))
            if key not in self.built:
                cls = self.classes().get(wanted["class"])
                if cls is None:
                    source = getattr(self.module, "GRADING_SOURCE", "the module")
                    broken = next((p for p in self.problems if "does not compile" in p
                                   and (p.startswith(source) or f"{wanted['class']}" in p.split(" does not")[0])), None)
                    raise LookupError(f"{broken.split(';')[0]}: {wanted['class']} could not be loaded; fix that line"
                                      if broken else f"{source} defines no class {wanted['class']}")
                try:
                    self.built[key] = cls(*key[1])
                except (Exception, nbk.CellTimeout) as error:  # asked again, it fails again at once
                    self.built[key] = error
            found = self.built[key]
            if isinstance(found, nbk.CellTimeout):
                raise nbk.CellTimeout()
            if isinstance(found, BaseException):
                raise found
        else:
            if wanted["var"] not in self.namespace:
                raise LookupError(f"no variable {wanted['var']}")
            found = self.namespace[wanted["var"]]
        for attribute in filter(None, wanted.get("sub", "").split(".")):
            found = getattr(found, attribute)
        return found

    def describe(self, request):
        return casekit.describe(self.target(request["target"]), self.classes(), STAND_INS)

    def forward(self, request, tensors):
        try:
            return {"count": None}, casekit.forward(self.target(request["target"]), tensors,
                                                    request.get("params") or [], request.get("seed"))
        except TypeError as error:
            if str(error).startswith("returns "):
                return {"error": str(error)}, []
            raise

    def call(self, request, tensors):
        """A graded function of the module (one the assignment lists, nothing else) on the parent's arguments: each a
        tensor it sent, a target (resolved as ``describe`` resolves it) or a plain value; the answer is a number or
        tensors (``casekit.answer``)."""
        name = request.get("function")
        if name not in self.assignment.get("functions", []):
            return {"error": f"LookupError: {str(name)[:40]} is not a function the assignment grades"}, []
        function = getattr(self.module, name, None) if self.module is not None else None
        if not callable(function):
            source = getattr(self.module, "GRADING_SOURCE", "the module")
            broken = next((p for p in self.problems if "does not compile" in p), None)
            return {"error": f"LookupError: {source} defines no function {name}"
                             + (f" ({broken.split(';')[0]})" if broken else "")}, []
        args = []
        for arg in request.get("args", []):
            if "tensor" in arg:
                args.append(tensors[int(arg["tensor"])])
            elif "target" in arg:
                try:
                    args.append(self.target(arg["target"]))
                except AttributeError as error:  # an argument that is not there: said as the kernel says it
                    return {"error": f"LookupError: AttributeError: {nbk.first_line(error)}"}, []
            else:
                args.append(arg.get("value"))
        result = function(*args)
        try:
            found = casekit.answer(result)
        except TypeError as error:
            return {"error": str(error)}, []
        return ({"number": found}, []) if not isinstance(found, list) else ({}, found)

    def apply(self, request, tensors):
        import torch
        from PIL import Image

        function = self.namespace.get(request["var"])
        if function is None:
            return {"error": f"LookupError: no variable {request['var']}"}, []
        if not callable(function):
            return {"error": f"LookupError: {request['var']} is a {type(function).__name__}, not callable"}, []
        out = []
        for image in tensors[0]:  # a PIL image, as torchvision's datasets hand it to a transform
            result = function(Image.fromarray(image.numpy()))  # a 2-D uint8 array is a greyscale ("L") image
            if not isinstance(result, torch.Tensor):
                return {"error": f"LookupError: {request['var']} returns a {type(result).__name__}, not a tensor"}, []
            out.append(result.float())
        return {}, out

    def batches(self, request):
        import torch

        loader = self.namespace.get(request["var"])
        if not isinstance(loader, torch.utils.data.DataLoader):
            return {"error": f"LookupError: {request['var']} is a {type(loader).__name__}, not a DataLoader"}, []
        torch.manual_seed(request.get("seed", 0))
        out = []
        for _ in range(int(request.get("passes", 1))):
            images, labels = next(iter(loader))[:2]
            out += [torch.as_tensor(images).float(), torch.as_tensor(labels).long()]
        return {}, out


def main():
    protocol_in, protocol_out = os.fdopen(os.dup(0), "rb", buffering=0), os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the submission's printing, even from C, goes to the log
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    signal.signal(signal.SIGALRM, nbk.alarm)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the size limit fails instead of killing us
    import matplotlib

    matplotlib.use("Agg")
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    runner = Runner()
    setup = {"load": runner.load, "cell": runner.cell}
    questions = {"describe": False, "forward": True, "apply": True, "batches": False, "call": True}
    while True:
        try:
            request, tensors = wire.receive(protocol_in)
        except EOFError:
            break
        op = request.get("op")
        if op == "bye":
            break
        limit = request.get("limit")
        if not isinstance(limit, (int, float)) or not 0 < limit <= 3600:
            wire.send(protocol_out, {"error": "a request without its time limit"})
            continue
        signal.setitimer(signal.ITIMER_REAL, float(limit))
        try:
            if op in setup:
                answer, out = setup[op](request), []
            elif op in questions:
                answer, out = getattr(runner, op)(request, *([tensors] if questions[op] else []))
            else:
                answer, out = {"error": f"unknown request {str(op)[:40]!r}"}, []
        except nbk.CellTimeout:
            answer, out = {"error": f"ran past {limit:g} s"}, []
        except Exception as error:
            answer, out = {"error": f"{type(error).__name__}: {nbk.first_line(error)}"}, []
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            wire.send(protocol_out, answer, out)
        except (wire.ProtocolError, TypeError, ValueError) as error:  # e.g. a submission's odd attribute values
            wire.send(protocol_out, {"error": f"the answer could not be sent ({str(error)[:100]})"})
    os._exit(0)  # no interpreter teardown: a submission's atexit hooks and finalizers do not run


if __name__ == "__main__":
    main()
