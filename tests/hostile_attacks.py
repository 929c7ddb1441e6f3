"""Attacks on the trusted-parent design, pasted into otherwise untouched submissions by tests/hostile/test_hostile_corpus.py.

FORGE_OTTER (one 142-character line, as the issue's) and FORGE_MAIN patched what decided points when the checks ran in
the sandbox; they now find nothing to patch. FORGE_PROTOCOL replaces the runner: it takes the protocol's pipes and
answers every request with data of plausible shapes (the assignment's layer tables, zero weights, constant outputs,
loaders that say what a check wants, random labels and images).
"""

FORGE_OTTER = ("from otter.test_files import ExceptionTestFile as E,TestCaseResult as R;"
               "E.run=lambda s,e:setattr(s,'test_case_results',[R(c,'',True) for c in s.test_cases])\n")

FORGE_MAIN = '''import sys as _sys
for _name, _thing in list(vars(_sys.modules["__main__"]).items()):  # the grader's recorder, wrapped to pass everything
    if hasattr(_thing, "record"):
        _thing.record = lambda *args, _record=_thing.record, **entry: _record(*args, **dict(entry, passed=True))
'''

FORGE_PROTOCOL = '''
import fcntl as _fcntl, os as _os, torch as _torch
from grading.sandbox.child import wire as _wire


def _forge():
    import signal

    signal.setitimer(signal.ITIMER_REAL, 0)  # the runner's alarm would hand the pipes back
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    pipes = {}
    for fd in sorted(int(n) for n in _os.listdir("/proc/self/fd")):
        try:
            if fd > 2 and _os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                pipes.setdefault(_fcntl.fcntl(fd, _fcntl.F_GETFL) & _os.O_ACCMODE, fd)
        except OSError:
            pass
    source = _os.fdopen(pipes[_os.O_RDONLY], "rb", buffering=0)
    sink = _os.fdopen(pipes[_os.O_WRONLY], "wb")
    conv = lambda i, o, k, p=0: {"type": "Conv2d", "in": i, "out": o, "kernel": [k, k], "stride": [1, 1],
                                 "padding": [p, p]}
    pool = {"type": "MaxPool2d", "kernel": [2, 2], "stride": [2, 2]}
    up = {"type": "UpsamplingNearest2d", "mode": "nearest", "scale": [2.0, 2.0]}
    lin = lambda i, o: {"type": "Linear", "in": i, "out": o}
    lenet = {"conv1": conv(1, 6, 5), "pool1": pool, "conv2": conv(6, 16, 5), "pool2": pool, "conv3": conv(16, 120, 5),
             "fc1": lin(120, 84), "fc2": lin(84, 10)}
    encoder = lambda w: {"conv_1": conv(1, 16, 3), "conv_2": conv(16, 32, 3), "pool_1": pool,
                         "conv_3": conv(32, 64, 3), "pool_2": pool, "fc_1": lin(1600, 32), "fc_2": lin(32, w)}
    decoder = lambda w: {"fc_1": lin(w, 32), "fc_2": lin(32, 1600), "upsample_1": up, "conv_1": conv(64, 32, 3, 2),
                         "upsample_2": up, "conv_2": conv(32, 16, 3, 2), "conv_3": conv(16, 1, 3, 2)}
    every = ["LeNet_5", "AutoEncoder", "Encoder", "Decoder", "VariationalAutoEncoder"]

    def params_of(modules):
        params = {}
        for name, m in modules.items():
            if m["type"] == "Conv2d":
                params[name + ".weight"] = _torch.zeros(m["out"], m["in"], *m["kernel"])
            elif m["type"] == "Linear":
                params[name + ".weight"] = _torch.zeros(m["out"], m["in"])
            if m["type"] in ("Conv2d", "Linear"):
                params[name + ".bias"] = _torch.zeros(m["out"])
        return params

    def structure(target):
        width = (target.get("args") or [2])[0]
        kind = target.get("class") or {"model": "LeNet_5", "ae_model": "AutoEncoder",
                                       "vae_model": "VariationalAutoEncoder"}.get(target.get("var"), "LeNet_5")
        if kind in ("AutoEncoder", "VariationalAutoEncoder"):
            w = 4 if kind == "VariationalAutoEncoder" else 2
            if target.get("sub") in ("encoder", "decoder"):
                kind, width = target["sub"].title(), (w if target["sub"] == "encoder" else 2)
            else:
                modules = {"encoder." + k: v for k, v in encoder(w).items()}
                modules.update({"decoder." + k: v for k, v in decoder(2).items()})
                return kind, 2, modules
        return kind, width, {"LeNet_5": lenet, "Encoder": encoder(width), "Decoder": decoder(width)}.get(kind, lenet)

    def answer(request, tensors):
        op = request.get("op")
        if op == "describe" and request["target"].get("var") in ("training_dataloader", "validation_dataloader"):
            return {"type": "DataLoader", "batch_size": 64, "sampler": "RandomSampler", "length": 60000,
                    "instance_of": [], "stand_in": None, "attributes": {}}, []
        if op == "describe" and request["target"].get("var", "").startswith("mnist_"):
            return {"type": "MNIST", "length": 60000, "instance_of": [], "stand_in": None, "attributes": {}}, []
        if op == "describe":
            kind, width, modules = structure(request["target"])
            params = params_of(modules)
            return ({"type": kind, "stand_in": None, "attributes": {"latent_dimensionality": width}, "params": list(params),
                     "instance_of": every, "modules": dict({"": {"type": kind}}, **modules)}, list(params.values()))
        if op == "forward":
            x, target = tensors[-1], request["target"]
            kind, width, _ = structure(target)
            if target.get("sub") not in (None, "", "encoder", "decoder"):
                return {"count": 1}, [_torch.zeros_like(x)]
            n = len(x)
            shapes = {"LeNet_5": [(n, 10)], "Encoder": [(n, width)], "Decoder": [(n, 1, 28, 28)],
                      "AutoEncoder": [(n, 1, 28, 28)], "VariationalAutoEncoder": [(n, 1, 28, 28), (n, 2), (n, 2)]}
            return {"count": len(shapes[kind])}, [_torch.full(s, 0.5) for s in shapes[kind]]
        if op == "apply":
            return {}, [_torch.zeros(1, 32, 32) for _ in tensors[0]]
        if op == "batches":
            return {}, [_torch.rand(64, 1, 32, 32), _torch.randint(0, 10, (64,)),
                        _torch.rand(64, 1, 32, 32), _torch.randint(0, 10, (64,))]
        return {"problems": ["lone \\ud800 surrogate"], "classes": every, "ran": [], "cell_error": None, "notes": [],
                "printed": 0}, []

    header, out = answer({}, [])  # the request the runner was answering when this code ran
    _wire.send(sink, header, out)
    while True:
        request, tensors = _wire.receive(source)
        if request.get("op") == "bye":
            _os._exit(0)
        header, out = answer(request, tensors)
        _wire.send(sink, header, out)


_forge()
'''

SWALLOWING_HANG = ("        while True:  # a hang no alarm stops: only the parent's deadline does\n"
                   "            try:\n                while True:\n                    pass\n"
                   "            except BaseException:\n                pass\n")
