"""The sandboxed runner: ``python -m grading.sandbox.child.runner``. It executes one submission and answers the parent's
questions over stdin/stdout with data only (``grading.sandbox.child.wire``); it knows no reference answer and no point.

At start it moves the protocol to private file descriptors and points fd 1 at fd 2, so whatever the submission
prints (from Python or C) goes to stderr, the parent's log; fd 0 becomes /dev/null. Each request carries its own
time limit, armed here with SIGALRM (the parent enforces its own deadline too and replaces a runner that overruns).

Requests (``op``): ``load`` (copy the pristine files, build the module), ``plan`` (the notebook cells to run),
``cell`` (run one), ``describe`` (a module's structure and parameters), ``forward`` (outputs on the parent's
inputs), ``transform`` (the submission's transform on the parent's uint8 images), ``loaders`` (what the dataloaders
say of themselves) and ``bye``.
"""

import os
import shutil
import signal
import sys
import time

from grading.sandbox.child import notebook as nbk
from grading.sandbox.child import wire

STAND_INS = {"model": ["LeNet_5"], "ae_model": ["Encoder", "Decoder"], "vae_model": ["Encoder", "Decoder"]}


class _Shell:
    """Enough of get_ipython() for magics and shell escapes in a cell to do nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def stand_in(name):
    import torch
    import torch.nn as nn

    class StandIn(nn.Module):
        _grading_stand_in = name

        def __init__(self, latent_dimensionality=2, *args, **kwargs):
            super().__init__()
            self.latent_dimensionality = latent_dimensionality
            self.placeholder = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            raise RuntimeError(f"the grader's stand-in for {name} does not compute")

    StandIn.__name__ = StandIn.__qualname__ = name
    return StandIn


def _pair(value):
    return [float(v) if isinstance(v, float) else v for v in value] if isinstance(value, (tuple, list)) else [value, value]


def layer_config(module):
    """The configuration numbers of a layer of a kind the parent knows; {} for any other kind."""
    import torch.nn as nn

    if isinstance(module, nn.Conv2d):
        return {"in": module.in_channels, "out": module.out_channels, "kernel": _pair(module.kernel_size),
                "stride": _pair(module.stride), "padding": _pair(module.padding)}
    if isinstance(module, nn.Linear):
        return {"in": module.in_features, "out": module.out_features}
    if isinstance(module, nn.MaxPool2d):
        return {"kernel": _pair(module.kernel_size), "stride": _pair(module.stride)}
    if isinstance(module, nn.Upsample):
        scale = module.scale_factor
        return {"mode": module.mode, "scale": [float(s) for s in _pair(scale)] if scale is not None else None}
    return {}


class Runner:
    def __init__(self):
        self.module, self.namespace, self.ran, self.built, self.config = None, {}, set(), {}, {}

    # -- setup ---------------------------------------------------------------------------------------
    def load(self, request):
        config = self.config = request["config"]
        workdir = config["workdir"]
        for name in os.listdir(config["pristine"]):  # the code runs on a copy; the parent reads the pristine files
            source, target = os.path.join(config["pristine"], name), os.path.join(workdir, name)
            if os.path.isdir(source) and not os.path.islink(source):
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                shutil.copyfile(source, target)
        os.makedirs(os.path.join(workdir, "home"), exist_ok=True)
        if not os.path.exists(os.path.join(workdir, "data")):
            os.symlink(config["data"], os.path.join(workdir, "data"))
        os.chdir(workdir)
        sys.path.insert(0, workdir)
        os.environ["HOME"] = os.path.join(workdir, "home")
        problems = []
        if config["format"] == "assignment":
            self.module, self.ran = nbk.load_assignment(workdir, problems, request["limit"])
        else:
            self.module = nbk.load_kit(workdir, problems, request["limit"])
        return {"problems": problems, "classes": [n for n in nbk.GRADED if isinstance(getattr(self.module, n, None), type)]}

    def plan(self, request):
        found = nbk.plan(self.config["workdir"], request["follows"], request["needed"], self.ran)
        if found is None:
            return {"cells": None}
        return {"cells": [[index, names] for index, _, names in found]}

    def _namespace(self):
        if not self.namespace:
            import matplotlib.pyplot as plt
            import numpy as np
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
            import torchvision
            import torchvision.transforms as transforms
            from IPython.display import display

            self.namespace = {"__name__": "__main__", "get_ipython": _Shell, "display": display, "np": np,
                              "torch": torch, "nn": nn, "F": F, "torchvision": torchvision, "transforms": transforms,
                              "plt": plt}
            if self.config["format"] == "assignment":
                self.namespace.update({n: getattr(self.module, n) for n in nbk.GRADED
                                       if isinstance(getattr(self.module, n, None), type)})
        return self.namespace

    def cell(self, request):
        index, limit = request["cell"], request["limit"]
        cells = dict(nbk.code_cells(os.path.join(self.config["workdir"], "hw2.ipynb")) or [])
        source, namespace, notes = cells.get(index), self._namespace(), []
        if source is None:
            return {"cell_error": "no such cell", "notes": notes, "printed": 0}
        names = set(request.get("names", []))
        if "training_dataloader" in names:
            notes += self._fill_datasets(namespace)
        restore = {}
        for target, classes in STAND_INS.items():
            if target in names:
                for name in classes:  # ``stand_ins``: the parent saw these fail (no second try: they may hang)
                    cls = namespace.get(name)
                    built = isinstance(cls, type) and name not in request.get("stand_ins", []) and nbk.guarded(
                        lambda: cls() if name == "LeNet_5" else cls(2), limit)[1] is None
                    if not built:
                        restore[name] = cls
                        namespace[name] = stand_in(name)
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

    def _fill_datasets(self, namespace):
        """If the transform's cell failed, give the loaders' cell plain MNIST datasets (only the transform's point lost)."""
        import torch
        import torchvision

        notes = []
        namespace.setdefault("loader_generator", torch.Generator().manual_seed(0))
        for name, train, n in [("mnist_training_set", True, 2048), ("mnist_validation_set", False, 512)]:
            if name not in namespace:
                data = torchvision.datasets.MNIST(self.config["data"], train=train, download=False)
                images = (data.data[:n].unsqueeze(1).float() / 255 - 0.1307) / 0.3081
                namespace[name] = torch.utils.data.TensorDataset(images, data.targets[:n])
                notes.append(f"{name} was not defined; the loaders' cell got the grader's")
        return notes

    # -- questions ------------------------------------------------------------------------------------
    def target(self, spec):
        """The object a request names: a class of the module built with ``args`` (kept for later questions), or a
        notebook variable; then ``sub``, a dotted path of attributes."""
        if "class" in spec:
            key = (spec["class"], tuple(spec.get("args", [])))
            if key not in self.built:
                cls = getattr(self.module, spec["class"], None)
                if not isinstance(cls, type):
                    raise LookupError(f"{getattr(self.module, 'GRADING_SOURCE', 'hw2_models.py')} defines no class "
                                      f"{spec['class']}")
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
            if spec["var"] not in self.namespace:
                raise LookupError(f"no variable {spec['var']}")
            found = self.namespace[spec["var"]]
        for attribute in filter(None, spec.get("sub", "").split(".")):
            found = getattr(found, attribute)
        return found

    def describe(self, request):
        import torch

        found = self.target(request["target"])
        stand_in = getattr(found, "_grading_stand_in", None)
        answer = {"type": type(found).__name__, "stand_in": stand_in if isinstance(stand_in, str) else None,
                  "instance_of": [n for n in nbk.GRADED if isinstance(getattr(self.module, n, None), type)
                                  and isinstance(found, getattr(self.module, n))]}
        width = getattr(found, "latent_dimensionality", None)
        answer["latent_dimensionality"] = width if type(width) is int else None
        if not isinstance(found, torch.nn.Module):
            return answer, []
        answer["modules"] = {name: {"type": type(m).__name__, **layer_config(m)} for name, m in found.named_modules()}
        state = found.state_dict()
        answer["params"] = list(state)
        return answer, [t.float() for t in state.values()]

    def forward(self, request, tensors):
        import torch

        found = self.target(request["target"])
        found = found.cpu().eval() if isinstance(found, torch.nn.Module) else found
        names = request.get("params") or []
        if names:  # the parent's own weights, loaded into a copy: outputs only a real implementation can give
            import copy

            found = copy.deepcopy(found)
            found.load_state_dict(dict(zip(names, tensors[:len(names)])), strict=True)
            tensors = tensors[len(names):]
        if request.get("seed") is not None:
            torch.manual_seed(request["seed"])
        with torch.no_grad():
            out = found(*tensors)
        out = list(out) if isinstance(out, (tuple, list)) else [out]
        if not all(isinstance(t, torch.Tensor) for t in out):
            return {"error": f"returns {', '.join(type(t).__name__ for t in out)}, not tensors"}, []
        return {"count": len(out)}, [t.float() for t in out]

    def transform(self, request, tensors):
        import torch
        from PIL import Image

        transform = self.namespace.get("transform")
        if transform is None:
            return {"error": "LookupError: no variable transform"}, []
        if not callable(transform):
            return {"error": f"LookupError: transform is a {type(transform).__name__}, not a transform"}, []
        out = []
        for image in tensors[0]:  # a PIL image, as torchvision's MNIST hands it to the transform
            result = transform(Image.fromarray(image.numpy(), mode="L"))
            if not isinstance(result, torch.Tensor):
                return {"error": f"LookupError: transform returns a {type(result).__name__}, not a tensor"}, []
            out.append(result.float())
        return {}, out

    def loaders(self, request):
        import torch

        answer, labels = {}, []
        for name in ("training_dataloader", "validation_dataloader"):
            loader = self.namespace.get(name)
            if not isinstance(loader, torch.utils.data.DataLoader):
                answer[name] = {"type": type(loader).__name__}
                continue
            dataset = self.namespace.get("mnist_" + name.split("_")[0] + "_set")
            answer[name] = {"type": "DataLoader", "batch_size": loader.batch_size,
                            "sampler": type(loader.sampler).__name__, "length": len(loader.dataset),
                            "set_length": len(dataset) if dataset is not None else None}
        loader = self.namespace.get("training_dataloader")
        if isinstance(loader, torch.utils.data.DataLoader):
            torch.manual_seed(request.get("seed", 0))
            batches = [next(iter(loader)) for _ in range(2)]
            labels = [torch.as_tensor(batch[1]).long() for batch in batches] + [torch.as_tensor(batches[0][0]).float()]
        return answer, labels


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
    setup = {"load": runner.load, "plan": runner.plan, "cell": runner.cell}
    questions = {"describe": False, "forward": True, "transform": True, "loaders": False}
    while True:
        try:
            request, tensors = wire.receive(protocol_in)
        except EOFError:
            break
        op, started = request.get("op"), time.perf_counter()
        if op == "bye":
            break
        signal.setitimer(signal.ITIMER_REAL, float(request.get("limit", 60)))
        try:
            if op in setup:
                answer, out = setup[op](request), []
            elif op in questions:
                answer, out = getattr(runner, op)(request, *([tensors] if questions[op] else []))
            else:
                answer, out = {"error": f"unknown request {str(op)[:40]!r}"}, []
        except nbk.CellTimeout:
            answer, out = {"error": f"ran past {request.get('limit', 60):g} s"}, []
        except Exception as error:
            answer, out = {"error": f"{type(error).__name__}: {nbk.first_line(error)}"}, []
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        print(f"{op}: {time.perf_counter() - started:.2f} s", file=sys.stderr, flush=True)
        try:
            wire.send(protocol_out, answer, out)
        except (wire.ProtocolError, TypeError, ValueError) as error:  # e.g. a submission's odd attribute values
            wire.send(protocol_out, {"error": f"the answer could not be sent ({str(error)[:100]})"})
    os._exit(0)  # no interpreter teardown: a submission's atexit hooks and finalizers do not run


if __name__ == "__main__":
    main()
