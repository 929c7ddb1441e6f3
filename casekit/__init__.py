"""The check cases' toolkit, written once for the three places a case runs: the trusted parent (the grader), the
sandboxed child (which describes objects with ``describe``) and the student's kernel (the public checks). It knows no
assignment and imports nothing but torch: it is the package ``casekit``, beside the grader in the repository, shipped
as it is beside a student version's notebook and mounted as it is in the sandbox (``/grader/casekit``), so a case file
starts with ``from casekit import case`` wherever it runs.

A case is a function of ``ask`` (``grading.judge.session.Ask`` in the parent, ``casekit.kernel.LocalAsk`` in a
student's kernel: the same questions, answered through the sandbox or on the kernel's own objects), registered with
``@case(part, title, points, public=...)``; it raises AssertionError with the student's message when it fails. A
public case uses nothing a student does not have (the assignment's own table, the toolkit), so its verdict is the
same wherever it runs; a hidden case may use ``ask.reference`` (the solved module, only in the parent).
"""

import functools
import importlib.util
from pathlib import Path

import torch
import torch.nn as nn

TOLERANCE = 1e-4
# The largest layer the toolkit ever builds from a description: every number a description carries is bounded here
# (this module imports nothing of the grader: it also runs in the sandbox and in a student's kernel). ``scale``: an
# upsampling's factor, which multiplies every later activation's area (a chain of them compounds).
LIMITS = {"channels": 4096, "features": 2**16, "weights": 2**24, "kernel": 64, "stride": 64, "padding": 64,
          "scale": 4}
_UPSAMPLING = ("Upsample", "UpsamplingNearest2d")
# per kind the numbers its description holds: field -> (the LIMITS entry bounding it, the least value, whole?)
NUMBERS = {"Conv2d": {"in": ("channels", 1, True), "out": ("channels", 1, True), "kernel": ("kernel", 1, True),
                      "stride": ("stride", 1, True), "padding": ("padding", 0, True)},
           "Linear": {"in": ("features", 1, True), "out": ("features", 1, True)},
           "MaxPool2d": {"kernel": ("kernel", 1, True), "stride": ("stride", 1, True)},
           **{kind: {"scale": ("scale", 1 / LIMITS["scale"], False)} for kind in _UPSAMPLING}}


def load_cases(path, name):
    """[(part, title, points, public, function)] of the case file at ``path``, in the order they are written."""
    spec = importlib.util.spec_from_file_location(name, Path(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    functions = sorted((v for v in vars(module).values() if callable(v) and hasattr(v, "case")), key=lambda f: f.case[4])
    return [(*function.case[:4], function) for function in functions]


def sibling(file, name):
    """The module of the file ``name`` beside ``file`` (a hidden case file reusing public cases), loaded once."""
    return _sibling(Path(file).resolve().with_name(name))


@functools.lru_cache(maxsize=None)
def _sibling(path):
    spec = importlib.util.spec_from_file_location(f"casekit_sibling_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ORDER = [0]


def case(part, title, points, public):
    """Register the decorated function as a case of ``part`` worth ``points``; ``public``: the student sees and runs it."""
    def register(function):
        _ORDER[0] += 1
        function.case = (part, title, float(points), bool(public), _ORDER[0])
        return function
    return register


# -- what an object is: the child answers with this, the student's kernel computes it in place --------------------
def pair(value):
    return [float(v) if isinstance(v, float) else v for v in value] if isinstance(value, (tuple, list)) else [value, value]


def layer_config(module):
    """The configuration numbers of a layer of a kind the toolkit rebuilds; {} for any other kind."""
    if isinstance(module, nn.Conv2d):
        return {"in": module.in_channels, "out": module.out_channels, "kernel": pair(module.kernel_size),
                "stride": pair(module.stride), "padding": pair(module.padding)}
    if isinstance(module, nn.Linear):
        return {"in": module.in_features, "out": module.out_features}
    if isinstance(module, nn.MaxPool2d):
        return {"kernel": pair(module.kernel_size), "stride": pair(module.stride)}
    if isinstance(module, nn.Upsample):
        scale = module.scale_factor
        return {"mode": module.mode, "scale": [float(s) for s in pair(scale)] if scale is not None else None}
    return {}


# What ``describe`` reports of a module's own settings (``attributes``) and what a graded function may answer
# (``answer``): the answer's bounds are the wire's (grading.sandbox.child.wire, which this package cannot import), so
# an answer the student's kernel accepts is one the grader can read.
ATTRIBUTES = {"count": 64, "text": 100, "int": 2**63}
ANSWER = {"tensors": 64, "elements": 4 * 2**20, "bytes": 64 * 2**20, "dims": 6}
_MODULE_OWN = frozenset(vars(nn.Module()))  # what every nn.Module holds (``training``): no setting of this one


def _plain(value):
    """Whether ``value`` is a plain setting: an int (of 64 bits), a float, a bool or a short str, of exactly that type
    (a subclass could run code when it is read)."""
    return (type(value) in (float, bool) or (type(value) is int and abs(value) < ATTRIBUTES["int"])
            or (type(value) is str and len(value) <= ATTRIBUTES["text"]))


def attributes(found):
    """A module's public plain attributes ({name: value}, ``_plain``), by name, at most ``ATTRIBUTES["count"]``; {} for
    anything but a module."""
    if not isinstance(found, nn.Module):
        return {}
    own = object.__getattribute__(found, "__dict__")
    names = sorted(name for name in own if type(name) is str and not name.startswith("_") and name not in _MODULE_OWN)
    return dict([(name, own[name]) for name in names if _plain(own[name])][:ATTRIBUTES["count"]])


def describe(found, classes, stand_ins=()):
    """(info, tensors) of an object: its type, which of ``classes`` ({name: class}) it is an instance of, whether it
    is one of ``stand_ins`` (objects the runner itself made), its ``attributes``; for a module its layers and
    parameters (names in ``info["params"]``, float tensors); for a DataLoader its batch size, sampler and length."""
    info = {"type": type(found).__name__, "stand_in": next((name for name, cls in stand_ins if type(found) is cls), None),
            "instance_of": [name for name, cls in classes.items() if isinstance(cls, type) and isinstance(found, cls)],
            "attributes": attributes(found)}
    if isinstance(found, torch.utils.data.DataLoader):
        info.update(batch_size=found.batch_size, sampler=type(found.sampler).__name__, length=len(found.dataset))
    elif hasattr(type(found), "__len__") and not isinstance(found, nn.Module):
        info["length"] = len(found)
    if not isinstance(found, nn.Module):
        return info, []
    info["modules"] = {name: {"type": type(m).__name__, **layer_config(m)} for name, m in found.named_modules()}
    state = found.state_dict()
    info["params"] = list(state)
    return info, [t.detach().float().cpu() for t in state.values()]


def answer(result):
    """What a graded function's ``result`` answers: a number (an int, a float or a bool, as it is) or a list of float
    tensors (it returned a tensor, or a tuple or list of them; a tensor subclass is read as the plain tensor it
    holds). TypeError saying what it returned for anything else, or for more than ``ANSWER`` allows."""
    if type(result) in (int, float, bool):
        if type(result) is int and abs(result) >= ATTRIBUTES["int"]:
            raise TypeError(f"returns an int of {result.bit_length()} bits, more than the 64 the grader reads")
        return result
    if isinstance(result, (tuple, list)):
        if len(result) > ANSWER["tensors"]:
            raise TypeError(f"returns {len(result)} values; the grader reads at most {ANSWER['tensors']} tensors")
        items = [result[k] for k in range(len(result))]
    else:
        items = [result]
    if not items or not all(isinstance(t, torch.Tensor) for t in items):
        kinds = ", ".join(type(t).__name__ for t in items[:4]) or "an empty " + type(result).__name__
        raise TypeError(f"returns {kinds}, not a tensor, a tuple of tensors or a number")
    plain = [torch.Tensor.as_subclass(t, torch.Tensor) for t in items]  # no subclass's __torch_function__ runs
    total = 0
    for t in plain:
        total += t.numel()
        if t.dim() > ANSWER["dims"] or t.numel() > ANSWER["elements"] or 4 * total > ANSWER["bytes"]:
            raise TypeError(f"returns a tensor of shape {tuple(t.shape)}, larger than the grader reads (at most "
                            f"{ANSWER['dims']} dimensions, {ANSWER['elements']:,} numbers each, "
                            f"{ANSWER['bytes'] // 2**20} MiB in all)")
    return [t.detach().float().cpu() for t in plain]


def forward(found, tensors, names=(), seed=None):
    """``found``'s outputs (a list of float tensors) on ``tensors``; with ``names``, a copy of it loaded first with the
    first ``len(names)`` tensors as its state (the asker's own weights: outputs only a real implementation gives)."""
    import copy

    found = found.cpu().eval() if isinstance(found, nn.Module) else found
    if names:
        found = copy.deepcopy(found)
        found.load_state_dict(dict(zip(names, tensors[:len(names)])), strict=True)
        tensors = tensors[len(names):]
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        out = found(*tensors)
    out = list(out) if isinstance(out, (tuple, list)) else [out]
    if not all(isinstance(t, torch.Tensor) for t in out):
        raise TypeError(f"returns {', '.join(type(t).__name__ for t in out)}, not tensors")
    return [t.detach().float().cpu() for t in out]


# -- what the asker builds and compares (never more than LIMITS) ---------------------------------------------------
def out_of_bounds(info):
    """Why a layer's description (``layer_config``'s form, from an untrusted answerer) holds a number the toolkit
    would not build with: a field its kind has not, not a number, or outside its bound (``NUMBERS``, ``LIMITS``),
    naming the number and the bound; None when every number is within them."""
    import math

    if not isinstance(info, dict):
        return f"is described as {type(info).__name__}, not a layer's fields"
    kind = info.get("type")
    fields = NUMBERS.get(kind, {}) if isinstance(kind, str) else {}
    for field, value in info.items():
        if field == "type" or (field == "mode" and kind in _UPSAMPLING and isinstance(value, str)) \
                or (field == "scale" and kind in _UPSAMPLING and value is None):
            continue
        if field not in fields:
            return f"is described with {str(field)[:40]!r}, which a {str(kind)[:40]} layer the grader builds has not"
        limit, least, whole = fields[field]
        numbers = value if isinstance(value, list) and field not in ("in", "out") else [value]
        if field not in ("in", "out") and len(numbers) != 2:
            return f"is described with {field} {str(value)[:40]}, not two numbers"
        for number in numbers:
            if type(number) is not int and (whole or type(number) is not float or not math.isfinite(number)):
                return f"is described with {field} {str(number)[:40]}, not a{' whole' if whole else ''} number"
            if not least <= number <= LIMITS[limit]:
                return (f"is described with {field} {number:g}, outside {least:g}..{LIMITS[limit]:g} (the most the "
                        "grader builds)")
    return None


def build_layer(info):
    """The asker's own layer of a described type and configuration; None for a kind or size it does not rebuild
    (``out_of_bounds``)."""
    if out_of_bounds(info) is not None:
        return None
    kind = info.get("type")
    try:
        if kind == "Conv2d":
            return nn.Conv2d(info["in"], info["out"], tuple(info["kernel"]), tuple(info["stride"]), tuple(info["padding"]))
        if kind == "Linear" and info["in"] * info["out"] <= LIMITS["weights"]:
            return nn.Linear(info["in"], info["out"])
        if kind == "MaxPool2d":
            return nn.MaxPool2d(tuple(info["kernel"]), tuple(info["stride"]))
        if kind in _UPSAMPLING and info.get("scale"):
            return nn.Upsample(scale_factor=tuple(info["scale"]), mode=info["mode"])
        if kind in ("Identity", "ReLU", "Tanh", "Sigmoid", "Flatten"):
            return getattr(nn, kind)()
    except (KeyError, TypeError, ValueError, RuntimeError):
        return None
    return None


def probe_input(info, generator):
    """A fresh input for a described layer (None when the toolkit does not rebuild that kind)."""
    kind = info.get("type")
    if kind == "Linear":
        return torch.randn(3, info["in"], generator=generator)
    if kind == "Conv2d":
        side = max(pair(info["kernel"])) + 6
        return torch.randn(2, info["in"], side, side, generator=generator)
    if kind in ("MaxPool2d", "Upsample", "UpsamplingNearest2d", "Identity"):
        return torch.randn(2, 3, 8, 8, generator=generator)
    return None


def fresh_params(module, generator):
    """``module``'s parameters redrawn (the scale of PyTorch's own initialisation), loaded into it; returns them."""
    params = {}
    for name, value in module.state_dict().items():
        fan_in = value[0].numel() if value.dim() > 1 else max(1, value.numel())
        params[name] = (torch.rand(value.shape, generator=generator) * 2 - 1) / fan_in ** 0.5
    module.load_state_dict(params)
    return params


def load_state(module, params):
    """``module`` loaded with ``params`` (every name and shape must match); AssertionError saying what differs."""
    try:
        module.load_state_dict(params, strict=True)
    except RuntimeError as error:
        raise AssertionError(f"its parameters do not fit the layers it reports ({str(error).splitlines()[1:2] or ''})")
    return module.eval()


def described_size(info):
    """The parameters a described layer would hold, computed from its description before anything is built."""
    try:
        if info.get("type") == "Conv2d":
            return int(info["in"]) * int(info["out"]) * int(info["kernel"][0]) * int(info["kernel"][1]) + int(info["out"])
        if info.get("type") == "Linear":
            return int(info["in"]) * int(info["out"]) + int(info["out"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return 0


def rebuild(reference, modules, factor=16):
    """``reference`` (a model) with each of its layers replaced by the described one where they differ (so a layer's
    mistake costs that layer's case, not the forward's); AssertionError when one cannot be rebuilt, or when a
    described layer would hold more than ``factor`` times the parameters of the reference's (checked before it is
    built: a description cannot make the asker allocate what the assignment never needs), or a number of it outside
    what the toolkit builds (``out_of_bounds``: scale factors, sizes, kernels, strides, paddings, features)."""
    for name, layer in list(reference.named_modules()):
        if not name or any(True for _ in layer.children()):  # the leaves only: the layers
            continue
        info = modules.get(name)
        if info is None:
            raise AssertionError(f"it has no layer {name}")
        if {"type": type(layer).__name__, **layer_config(layer)} != info:
            refused = out_of_bounds(info)
            if refused:  # every number bounded before anything is built or sized from it
                raise AssertionError(f"its layer {name} ({str(info.get('type'))[:40]}) {refused}"
                                     if isinstance(info, dict) else f"its layer {name} {refused}")
            size, own = described_size(info), sum(p.numel() for p in layer.parameters())
            if size is None or size > factor * max(own, 1) + 1024:
                raise AssertionError(f"its layer {name} ({info.get('type')}) is described with more parameters than "
                                     "the assignment's layer could need")
            built = build_layer(info)
            if built is None:
                raise AssertionError(f"its layer {name} ({info.get('type')}) is not one the grader can recompute")
            owner = reference.get_submodule(name.rpartition(".")[0]) if "." in name else reference
            setattr(owner, name.rpartition(".")[2], built)
    return reference


def same(found, expected, what, tolerance=TOLERANCE):
    """AssertionError unless two tensors have the same shape and agree to ``tolerance``."""
    assert tuple(found.shape) == tuple(expected.shape), f"{what} has shape {tuple(found.shape)}, expected {tuple(expected.shape)}"
    difference = (found.float() - expected.float()).abs().max().item() if found.numel() else 0.0
    assert difference <= tolerance, f"{what} differs from the recomputation by more than {tolerance:g}"


def channels_first(images):
    """uint8 images as torchvision's datasets hold them, (N, H, W) or (N, H, W, C), as (N, C, H, W)."""
    images = torch.as_tensor(images)
    return images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)


def signature(images, size):
    """(N, C * h * w) of images (N, C, H, W) of any size and affine scale: each at ``size`` (the known images' (H, W)),
    then at half of it, centred, of unit norm."""
    small = nn.functional.interpolate(images.float(), size=tuple(size), mode="bilinear", antialias=True)
    small = nn.functional.interpolate(small, size=(max(1, size[0] // 2), max(1, size[1] // 2)), mode="area").flatten(1)
    small = small - small.mean(dim=1, keepdim=True)
    return small / small.norm(dim=1, keepdim=True).clamp_min(1e-6)


def not_real(images, labels, known, known_labels, threshold=0.95):
    """How many of ``images`` (N, C, H, W) are not, up to resizing and an affine scale, one of ``known`` (uint8, as
    the dataset holds them: ``channels_first``) with that label, compared on the known images' channels and size; a
    non-finite image, or one with fewer channels, is never real."""
    known = channels_first(known)
    channels, size = known.shape[1], tuple(known.shape[2:])
    reference = signature(known, size)
    wrong = 0
    for image, label in zip(images, labels):
        if image.dim() != 3 or image.shape[0] < channels or not torch.isfinite(image).all():
            wrong += 1
            continue
        candidates = reference[known_labels == label]
        found = signature(image[None, :channels], size)[0]
        wrong += int(len(candidates) == 0 or not (candidates @ found).max().item() >= threshold)
    return wrong


# -- small pieces the cases share ----------------------------------------------------------------------------------
def built(name, *args):
    """A question's target: the submission's class ``name`` built with ``args``."""
    return {"class": name, "args": list(args)}


def torch_layer(kind, **config):
    """A question's target that holds nothing of the submission: PyTorch's own layer ``kind`` (``"Linear"``, ...)
    with ``config`` in the described form (``{"in": 4, "out": 3}``), built where the question is answered (a graded
    function's input that no mistake in a graded class can break)."""
    return {"layer": {"type": kind, **config}}


def target_label(target):
    """How a target reads in a message: ``Doubler(2)``, ``net.linear``, ``nn.Linear(4, 3)``."""
    if "layer" in target:
        layer = target["layer"] if isinstance(target["layer"], dict) else {}
        name = f"nn.{layer.get('type')}({', '.join(str(v) for k, v in layer.items() if k != 'type')})"
    elif "class" in target:
        name = f"{target['class']}({', '.join(map(str, target.get('args', [])))})"
    else:
        name = target["var"]
    return name + (f".{target['sub']}" if target.get("sub") else "")


def resolve_layer(target):
    """The layer a ``torch_layer`` target describes, built (bounded as every description is: ``out_of_bounds``);
    LookupError when it is not one the toolkit builds."""
    found = build_layer(target["layer"]) if isinstance(target.get("layer"), dict) else None
    if found is None:
        raise LookupError(f"{target_label(target)} is not a layer the toolkit builds")
    return found


def conv(cin, cout, kernel, stride=1, padding=0):
    """The expected configuration of a convolution, in the described form."""
    return {"in": cin, "out": cout, "kernel": [kernel, kernel], "stride": [stride, stride], "padding": [padding, padding]}


def values(config):
    """A configuration's numbers as messages show them: ``(1, 6, (3, 3), (1, 1), (0, 0))``."""
    return tuple(tuple(v) if isinstance(v, list) else v for v in config.values())


def layer(ask, target, owner, attribute, kinds, hint="", **expected):
    """The described layer ``attribute`` of ``target`` is one of ``kinds`` with ``expected`` configuration and
    computes, on the asker's inputs and weights, what the asker's layer of that configuration computes."""
    info, names, tensors = ask.describe(target)
    found = info.get("modules", {}).get(attribute)
    kind = found.get("type") if found else "missing"
    assert kind in kinds, f"{owner}.{attribute} should be nn.{kinds[0]}, is {kind}{': ' + hint if hint else ''}"
    config = {key: found.get(key) for key in expected}
    assert config == expected, (f"{owner}.{attribute}: ({', '.join(config)}) is {values(config)}, expected "
                                f"{values(expected)}{': ' + hint if hint else ''}")
    recompute(ask, target, owner, attribute, found)


def recompute(ask, target, owner, attribute, found):
    ours = build_layer(found)
    assert ours is not None, f"{owner}.{attribute} ({found.get('type')}) is not a layer the grader can recompute"
    x = probe_input(found, ask.generator)
    out = ask.forward(dict(target, sub=attribute), x, params=fresh_params(ours, ask.generator))
    same(out[0], ours.eval()(x).detach(), f"{owner}.{attribute}'s output")


def alive(ask, target, x, label):
    """``target`` computes with its own weights: on two weight sets the asker draws (shaped as the target describes
    its state), its outputs on ``x`` differ. An answer that ignores the weights (a constant, a replayed tensor) fails."""
    _, names, tensors = ask.describe(target)
    assert names, f"{label} holds no parameters"

    def draw():
        return {name: (torch.rand(t.shape, generator=ask.generator) * 2 - 1) / max(1, t[0].numel() if t.dim() > 1
                                                                                  else t.numel()) ** 0.5
                for name, t in zip(names, tensors)}

    first, second = ask.forward(target, x, params=draw())[0], ask.forward(target, x, params=draw())[0]
    assert tuple(first.shape) == tuple(second.shape) and not torch.allclose(first, second), \
        f"{label}'s output does not change with its weights"


def parameters(names, tensors, *prefixes):
    """Parameters counted from the tensors themselves (never from a reported count)."""
    return sum(t.numel() for n, t in zip(names, tensors) if not prefixes or n.split(".")[0] in prefixes)


# -- what both askers answer alike, from their own forward() and dataset() ----------------------------------------
def works(ask, target, x, shape):
    """Whether ``target`` builds and maps ``x`` to ``shape`` (through ``ask.forward``)."""
    try:
        return tuple(ask.forward(target, x)[0].shape) == tuple(shape)
    except AssertionError:
        return False


def images(ask, n, raw=False):
    """``n`` real validation images at indices ``ask.generator`` draws: floats (n, C, H, W) in [0, 1] (and the
    uint8s, as the dataset holds them)."""
    found, _ = ask.dataset(False)
    chosen = found[torch.randperm(len(found), generator=ask.generator)[:n]]
    floats = channels_first(chosen).float() / 255
    return (floats, chosen) if raw else floats


def dataset(spec, root, train):
    """(uint8 images (N, H, W), int64 labels) of the torchvision dataset ``spec`` names, from ``root`` (read once per
    set and process)."""
    return _dataset(spec["torchvision"], str(root), bool(train))


@functools.lru_cache(maxsize=None)
def _dataset(name, root, train):
    import torchvision

    data = getattr(torchvision.datasets, name)(root, train=train, download=False)
    return torch.as_tensor(data.data), torch.as_tensor(data.targets)


def shape(out):
    return tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
