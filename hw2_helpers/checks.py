"""Public checks of HW2's automatic parts, for the student: ``hw2.check("encoder")`` in the cell after a graded cell.

Each check looks at the shape of the work only (types, output shapes, parameter counts, the loader's shuffling, the
transform's output shape and range), in seconds on a CPU, never trains, and prints per public case ``passed`` or what
it found against what it expected. It never decides points: the grader runs its own hidden checks, with its own
copy of these helpers. An unfinished part (a blank left, its cell not run yet) says so, without a traceback.

The parts (names, points, titles) come from the one table, ``grading/parts.py``: the student version ships it as
``hw2_helpers/parts.json`` (written by ``python -m grading.make_student``); in the instructors' repository it is read
from ``grading`` itself.
"""

import importlib
import json
import sys
from collections import namedtuple
from pathlib import Path

import torch
import torch.nn as nn

PASSED, FAILED, UNFINISHED, SKIPPED = "passed", "FAILED", "not finished", "skipped"
Case = namedtuple("Case", "status text")
MEAN, STD = 0.1307, 0.3081  # the assignment's normalization, as its text gives it
N = 8  # images per batch the checks feed


def table():
    """The graded parts: {"parts": [{name, points, kind, title, follows, fills, where}], "your_code", "empty_answer"}."""
    shipped = Path(__file__).with_name("parts.json")
    if shipped.exists():
        return json.loads(shipped.read_text(encoding="utf-8"))
    from grading.parts import student_table  # the instructors' repository: the table itself

    return student_table()


class _Unfinished(Exception):
    """The part cannot be checked yet: a blank is left or its cell has not run."""


class _Stop(Exception):
    """A case failed in a way that leaves nothing further to check."""


def _first_line(error):
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__


def _variable(namespace, name):
    if name not in namespace:
        raise _Unfinished(f"`{name}` is not defined yet: fill in its `### YOUR CODE HERE ###` and run its cell "
                          "(if you did, it stopped with an error: see its output)")
    return namespace[name]


def _class(namespace, name):
    """The class the notebook uses: its own name if it imported it, else hw2_models' (stand-ins say what is unfinished)."""
    found = namespace.get(name)
    if found is None:
        module = sys.modules.get("hw2_models") or importlib.import_module("hw2_models")
        found = getattr(module, name, None)
    if found is None:
        raise _Unfinished(f"hw2_models.py defines no `{name}`")
    if getattr(found, "__hw2_unfinished__", None):
        raise _Unfinished(found.__hw2_unfinished__)
    return found


def _build(cls, *args):
    """``cls(*args)``, with torch's random state left as it was (building draws initial weights)."""
    call = f"{cls.__name__}({', '.join(map(str, args))})"
    try:
        with torch.random.fork_rng(devices=[]):
            return cls(*args)
    except NameError as error:
        if getattr(error, "name", None) == "_" or "'_'" in str(error):
            raise _Unfinished(f"{cls.__name__} still has a blank `_`: replace each `_` in hw2_models.py, then "
                              "restart the kernel") from None
        raise _Stop(f"{call} raised {_first_line(error)}") from None
    except Exception as error:
        if type(error).__name__ == "UnfinishedError":
            raise _Unfinished(str(error)) from None
        raise _Stop(f"{call} raised {_first_line(error)}") from None


def _device(model):
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _run(model, x, what):
    """``model(x)`` on the model's device without gradients, torch's random state (CPU and CUDA) left as it was."""
    device = _device(model)
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
            return model(x.to(device))
    except Exception as error:
        raise _Stop(f"{what} fails on a batch of shape {tuple(x.shape)}: {_first_line(error)}") from None


def _inputs(*shape):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(0))


def _count(model):
    return sum(p.numel() for p in model.parameters())


def _shape(out):
    return tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__


def _width_in(module):
    """The input width of a decoder: the in_features of its first linear layer (None without one)."""
    return next((m.in_features for m in module.modules() if isinstance(m, nn.Linear)), None)


def _width_out(encoder):
    """The width of an encoder's codes: measured on one image, else the out_features of its last linear layer."""
    try:
        out = _run(encoder, _inputs(1, 1, 28, 28), "the encoder")
        return out.shape[-1] if isinstance(out, torch.Tensor) and out.dim() == 2 else None
    except _Stop:
        linear = [m for m in encoder.modules() if isinstance(m, nn.Linear)]
        return linear[-1].out_features if linear else None


def _parameters(net, call, expected, hint):
    found = _count(net)
    if found == expected:
        return Case(PASSED, f"{call} has {found:,} parameters")
    return Case(FAILED, f"{call} has {found:,} parameters; expected {expected:,}: {hint}")


def _same(found, expected, what, hint=""):
    if found == expected:
        return Case(PASSED, f"{what} {found}")
    return Case(FAILED, f"{what} {found}; expected {expected}{': ' + hint if hint else ''}")


# ---------------------------------------------------------------------------------------------------------------
# One function per automatic part; each yields its cases. The names are checked against the table (make_student).
# ---------------------------------------------------------------------------------------------------------------
def _digit_image():
    """A 28x28 greyscale PIL image as MNIST hands them over: black, with a white square (0 and 255 only)."""
    from PIL import Image

    pixels = torch.zeros(28, 28, dtype=torch.uint8)
    pixels[8:20, 10:18] = 255
    return Image.fromarray(pixels.numpy(), mode="L")


def transform(namespace):
    function = _variable(namespace, "transform")
    try:
        out = function(_digit_image())
    except Exception as error:
        raise _Stop(f"transform(image) raised {_first_line(error)} on a 28x28 MNIST image (a PIL image)") from None
    if not isinstance(out, torch.Tensor):
        raise _Stop(f"transform(image) gives a {type(out).__name__}, not a tensor: is ToTensor() missing?")
    yield Case(PASSED, "transform(image) gives a tensor")
    yield _same(tuple(out.shape), (1, 32, 32), "transform(image) has the shape",
                "is Resize(32) missing?" if tuple(out.shape[-2:]) == (28, 28) else "")
    low, high = float(out.min()), float(out.max())
    expected = (-MEAN / STD, (1 - MEAN) / STD)
    if abs(low - expected[0]) < 0.01 and abs(high - expected[1]) < 0.01:
        yield Case(PASSED, f"its values run from {low:.2f} (black) to {high:.2f} (white)")
    else:
        hint = "is Normalize missing?" if 0 <= low and high <= 1 else f"does Normalize use the mean {MEAN} and the standard deviation {STD}?"
        yield Case(FAILED, f"its values run from {low:.2f} to {high:.2f}; expected {expected[0]:.2f} (black) to "
                           f"{expected[1]:.2f} (white): {hint}")


def dataloaders(namespace):
    from torch.utils.data import DataLoader, RandomSampler

    loaders = {name: _variable(namespace, name) for name in ("training_dataloader", "validation_dataloader")}
    for name, loader in loaders.items():
        if not isinstance(loader, DataLoader):
            raise _Stop(f"{name} is a {type(loader).__name__}, not a torch.utils.data.DataLoader")
        yield _same(loader.batch_size, 64, f"{name} gives batches of", "use batch_size, 64")
    training, validation = loaders.values()
    sampler = type(training.sampler).__name__
    yield (Case(PASSED, "training_dataloader shuffles") if isinstance(training.sampler, RandomSampler) else
           Case(FAILED, f"training_dataloader does not shuffle (its sampler is {sampler}): set shuffle=True"))
    sizes = [len(loader.dataset) for loader in (training, validation)]
    yield (Case(PASSED, f"training_dataloader reads {sizes[0]:,} images, validation_dataloader {sizes[1]:,}")
           if sizes[0] > sizes[1] else
           Case(FAILED, f"training_dataloader reads {sizes[0]:,} images and validation_dataloader {sizes[1]:,}; "
                        "expected the training set to be the larger: are the two datasets swapped?"))


def lenet_layers(namespace):
    net = _build(_class(namespace, "LeNet_5"))
    yield Case(PASSED, "LeNet_5() builds")
    out = _run(net, _inputs(2, 1, 32, 32), "LeNet_5()")
    yield _same(_shape(out), (2, 10), "LeNet_5() maps (2, 1, 32, 32) to")
    yield _parameters(net, "LeNet_5()", 61_706,
                      "check the kernel sizes and the numbers of maps and units against the paper and its figure")


def lenet_instantiated(namespace):
    cls = _class(namespace, "LeNet_5")
    model = _variable(namespace, "model")
    if not isinstance(model, cls):
        raise _Stop(f"model is a {type(model).__name__}; expected an instance of LeNet_5")
    yield Case(PASSED, "model is a LeNet_5")
    try:  # whether the class itself works is lenet_layers' business: run the instance only when it does
        _run(_build(cls), _inputs(1, 1, 32, 32), "LeNet_5()")
    except (_Stop, _Unfinished):
        yield Case(SKIPPED, "model's output: not checked while LeNet_5's own check fails (see above)")
        return
    yield _same(_shape(_run(model, _inputs(1, 1, 32, 32), "model")), (1, 10), "model maps (1, 1, 32, 32) to")


def encoder(namespace):
    cls = _class(namespace, "Encoder")
    for args, width in (((), 2), ((4,), 4)):
        net = _build(cls, *args)
        call = f"Encoder({', '.join(map(str, args))})"
        found = _shape(_run(net, _inputs(N, 1, 28, 28), call))
        hint = "does fc_2 use latent_dimensionality?" if args and found == (N, 2) else ""
        yield _same(found, (N, width), f"{call} maps ({N}, 1, 28, 28) to", hint)
        if not args:
            yield _parameters(net, "Encoder()", 74_594, "check each layer against the table above the Encoder")


def decoder(namespace):
    cls = _class(namespace, "Decoder")
    for args, width in (((), 2), ((4,), 4)):
        net = _build(cls, *args)
        call = f"Decoder({', '.join(map(str, args))})"
        out = _run(net, _inputs(N, width), call)
        found = _shape(out)
        missing = [which for which, name in (("first", "upsample_1"), ("second", "upsample_2"))
                   if not isinstance(getattr(net, name, None), nn.Upsample)]
        hint = f"is the {missing[0]} upsampling missing?" if missing and found != (N, 1, 28, 28) else ""
        yield _same(found, (N, 1, 28, 28), f"{call} maps ({N}, {width}) to", hint)
        if not args and found == (N, 1, 28, 28):
            low, high = float(out.min()), float(out.max())
            yield (Case(PASSED, "its pixels lie in [0, 1]") if 0 <= low and high <= 1 else
                   Case(FAILED, f"its pixels run from {low:.2f} to {high:.2f}; expected [0, 1]"))
        if not args:
            yield _parameters(net, "Decoder()", 76_129, "check each layer against the table above the Decoder")


def _parts_work(namespace, *names):
    """Whether the classes of these parts pass their own public checks."""
    return all(all(case.status in (PASSED, SKIPPED) for case in results(name, namespace)) for name in names)


def _pair(namespace, model, name, encoder_width, decoder_width, why):
    """The cases of an (encoder, decoder) pair: their classes and the latent widths they were built with."""
    for attribute, cls_name in (("encoder", "Encoder"), ("decoder", "Decoder")):
        part = getattr(model, attribute, None)
        try:
            cls = _class(namespace, cls_name)
        except _Unfinished:
            cls = None
        if cls is None or not isinstance(part, cls):
            raise _Stop(f"{name}.{attribute} is a {type(part).__name__}; expected a {cls_name}")
    yield Case(PASSED, f"{name} holds an Encoder and a Decoder")
    yield _same(_width_out(model.encoder), encoder_width, f"{name}'s encoder gives codes of width", why)
    yield _same(_width_in(model.decoder), decoder_width, f"{name}'s decoder reads codes of width", why)


def ae_built(namespace):
    cls = _class(namespace, "AutoEncoder")
    model = _variable(namespace, "ae_model")
    if not isinstance(model, cls) or type(model).__name__ != "AutoEncoder":
        raise _Stop(f"ae_model is a {type(model).__name__}; expected an AutoEncoder")
    yield Case(PASSED, "ae_model is an AutoEncoder")
    yield from _pair(namespace, model, "ae_model", 2, 2, "the autoencoder's latent space is 2-dimensional (Encoder() and Decoder())")
    if not _parts_work(namespace, "encoder", "decoder"):
        yield Case(SKIPPED, "ae_model's output: not checked while the Encoder's or the Decoder's own check fails (see above)")
        return
    yield _same(_shape(_run(model, _inputs(N, 1, 28, 28), "ae_model")), (N, 1, 28, 28), f"ae_model maps ({N}, 1, 28, 28) to")


def vae_built(namespace):
    cls = _class(namespace, "VariationalAutoEncoder")
    model = _variable(namespace, "vae_model")
    if not isinstance(model, cls):
        raise _Stop(f"vae_model is a {type(model).__name__}; expected a VariationalAutoEncoder")
    yield Case(PASSED, "vae_model is a VariationalAutoEncoder")
    yield _same(getattr(model, "latent_dimensionality", None), 2, "vae_model.latent_dimensionality is",
                "z has two components")
    yield from _pair(namespace, model, "vae_model", 4, 2,
                     "the encoder gives a mean and a log-variance for each of z's 2 components; the decoder reads z")
    if not _parts_work(namespace, "encoder", "decoder"):
        yield Case(SKIPPED, "vae_model's output: not checked while the Encoder's or the Decoder's own check fails (see above)")
        return
    out = _run(model, _inputs(N, 1, 28, 28), "vae_model")
    found = tuple(_shape(o) for o in out) if isinstance(out, tuple) else _shape(out)
    yield _same(found, ((N, 1, 28, 28), (N, 2), (N, 2)), f"vae_model maps ({N}, 1, 28, 28) to (reconstruction, mu, log-variance)")


CHECKS = {f.__name__: f for f in (transform, dataloaders, lenet_layers, lenet_instantiated, encoder, decoder, ae_built, vae_built)}


def results(part, namespace):
    """The public cases of ``part`` (a name of the table) on ``namespace`` (the notebook's variables): [Case]."""
    if part not in CHECKS:
        automatic = [p["name"] for p in table()["parts"] if p["kind"] == "automatic"]
        raise ValueError(f"no public check named {part!r}; the automatic parts are {', '.join(automatic)}")
    cases = []
    try:
        for case in CHECKS[part](namespace):
            cases.append(case)
    except _Unfinished as unfinished:
        cases.append(Case(UNFINISHED, str(unfinished)))
    except _Stop as stop:
        cases.append(Case(FAILED, str(stop)))
    except Exception as error:  # whatever a student's objects do, a check reports, never raises
        cases.append(Case(FAILED, f"could not check {part}: {_first_line(error)}"))
    return cases


def check(part, namespace=None):
    """Print the public cases of ``part`` on the caller's variables (or ``namespace``); returns nothing (so a notebook
    shows the printout only). The grader's hidden checks, not these, decide the points."""
    if namespace is None:
        namespace = sys._getframe(1).f_globals  # in a notebook: the kernel's variables
    info = next((p for p in table()["parts"] if p["name"] == part), None)
    cases = results(part, namespace)
    points = f" ({info['points']:g} {'point' if info['points'] == 1 else 'points'})" if info else ""
    failed = sum(case.status == FAILED for case in cases)
    verdict = ("not finished" if any(c.status == UNFINISHED for c in cases) else
               f"{failed} of {len(cases)} failed" if failed else "all passed")
    lines = [f"Public checks of {part}{points}: {verdict} (the grader's hidden checks decide the points)"]
    lines += [f"  {case.status}: {case.text}" for case in cases]
    print("\n".join(lines))
