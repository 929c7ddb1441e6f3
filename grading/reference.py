"""The parent's reference (trusted, never mounted in the sandbox): the solved classes of the repository's
``hw2_models.py``, the MNIST images, the reference transform, and the comparisons the checks make.

Every structure a child reports is believed only as far as the parent can recompute it: a layer's configuration
counts when the layer, run in the child on inputs drawn here, gives what the parent's own layer of that
configuration gives with the child's weights; a model counts when its outputs match the parent's reference model
(rebuilt with the child's layer configurations, loaded with the child's weights) on the same fresh inputs.
"""

import functools
import importlib.util
from pathlib import Path

import torch
import torch.nn as nn

REPO = Path(__file__).resolve().parents[1]
MEAN, STD = 0.1307, 0.3081
TOLERANCE = 1e-4
MAX_CHANNELS = 4096  # a reported layer wider than this is not rebuilt here


@functools.lru_cache(maxsize=None)
def models():
    """The solved hw2_models.py of the repository, as a private module (it never enters a sandbox)."""
    spec = importlib.util.spec_from_file_location("grading_reference_models", REPO / "hw2_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=None)
def mnist(root, train):
    """(uint8 images (N, 28, 28), int64 labels) of the MNIST set in ``root``."""
    import torchvision

    data = torchvision.datasets.MNIST(str(root), train=train, download=False)
    return data.data, data.targets


@functools.lru_cache(maxsize=None)
def signatures(root, train):
    """(signatures (N, 196), labels) of an MNIST set: each image at 14x14, centred, of unit norm."""
    images, labels = mnist(root, train)
    return signature(images.unsqueeze(1).float()), labels


def signature(images):
    """(N, 196) of images (N, C, H, W) of any size and affine scale (a transform's mistake does not change it); an
    image and its reference transform correlate above 0.98 (measured on 64 random training images)."""
    small = torch.nn.functional.interpolate(images[:, :1].float(), size=(28, 28), mode="bilinear", antialias=True)
    small = torch.nn.functional.interpolate(small, size=(14, 14), mode="area").flatten(1)
    small = small - small.mean(dim=1, keepdim=True)
    return small / small.norm(dim=1, keepdim=True).clamp_min(1e-6)


def real_images(images, labels, root, train, threshold=0.95):
    """How many of ``images`` are not, up to resizing and an affine scale, an image of the MNIST set with that label."""
    known, known_labels = signatures(root, train)
    found = signature(images)
    wrong = 0
    for sig, label in zip(found, labels):
        candidates = known[known_labels == label]
        wrong += int(len(candidates) == 0 or (candidates @ sig).max().item() < threshold)
    return wrong


def reference_transform():
    from torchvision import transforms

    return transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])


def pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def build_layer(info):
    """The parent's own layer of a reported type and configuration; None for a kind it does not rebuild."""
    kind = info.get("type")
    try:
        if kind == "Conv2d" and 0 < info["in"] <= MAX_CHANNELS and 0 < info["out"] <= MAX_CHANNELS:
            return nn.Conv2d(info["in"], info["out"], tuple(info["kernel"]), tuple(info["stride"]), tuple(info["padding"]))
        if kind == "Linear" and 0 < info["in"] <= 2**16 and 0 < info["out"] <= 2**16:
            return nn.Linear(info["in"], info["out"])
        if kind == "MaxPool2d":
            return nn.MaxPool2d(tuple(info["kernel"]), tuple(info["stride"]))
        if kind in ("Upsample", "UpsamplingNearest2d") and info.get("scale"):
            return nn.Upsample(scale_factor=tuple(info["scale"]), mode=info["mode"])
        if kind in ("Identity", "ReLU", "Tanh", "Sigmoid", "Flatten"):
            return getattr(nn, kind)()
    except (KeyError, TypeError, ValueError, RuntimeError):
        return None
    return None


def probe_input(info, generator):
    """A fresh input for a reported layer (None when the parent does not rebuild that kind)."""
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
    """``module``'s parameters redrawn here (the scale of PyTorch's own initialisation), loaded into it; returns them."""
    params = {}
    for name, value in module.state_dict().items():
        fan_in = value[0].numel() if value.dim() > 1 else max(1, value.numel())
        params[name] = (torch.rand(value.shape, generator=generator) * 2 - 1) / fan_in ** 0.5
    module.load_state_dict(params)
    return params


def own_params(names, tensors, prefix):
    """The child's parameters under ``prefix.`` (names without it)."""
    start = prefix + "." if prefix else ""
    return {name[len(start):]: tensor for name, tensor in zip(names, tensors) if name.startswith(start)}


def load(module, params):
    """``module`` loaded with ``params`` (every name and shape must match); AssertionError saying what differs."""
    try:
        module.load_state_dict(params, strict=True)
    except RuntimeError as error:
        raise AssertionError(f"its parameters do not fit the layers it reports ({str(error).splitlines()[1:2] or ''})")
    return module.eval()


def rebuild(reference, modules):
    """The parent's reference model with each of its layers replaced by the child's reported one where they differ
    (so a layer mistake costs that layer's case, not the forward's); AssertionError when one cannot be rebuilt."""
    for name, layer in list(reference.named_modules()):
        if not name or any(True for _ in layer.children()):  # the leaves only: the layers
            continue
        info = modules.get(name)
        if info is None:
            raise AssertionError(f"it has no layer {name}")
        ours = {"type": type(layer).__name__, **describe_layer(layer)}
        if ours != info:
            built = build_layer(info)
            if built is None:
                raise AssertionError(f"its layer {name} ({info.get('type')}) is not one the grader can recompute")
            owner = reference.get_submodule(name.rpartition(".")[0]) if "." in name else reference
            setattr(owner, name.rpartition(".")[2], built)
    return reference


def describe_layer(module):
    """The configuration numbers of a layer, as the child's runner reports them (same keys, same forms)."""
    if isinstance(module, nn.Conv2d):
        return {"in": module.in_channels, "out": module.out_channels, "kernel": list(pair(module.kernel_size)),
                "stride": list(pair(module.stride)), "padding": list(pair(module.padding))}
    if isinstance(module, nn.Linear):
        return {"in": module.in_features, "out": module.out_features}
    if isinstance(module, nn.MaxPool2d):
        return {"kernel": list(pair(module.kernel_size)), "stride": list(pair(module.stride))}
    if isinstance(module, nn.Upsample):
        scale = module.scale_factor
        return {"mode": module.mode, "scale": [float(s) for s in pair(scale)] if scale is not None else None}
    return {}


def same(found, expected, what, tolerance=TOLERANCE):
    """AssertionError unless two tensors have the same shape and agree to ``tolerance``."""
    assert tuple(found.shape) == tuple(expected.shape), f"{what} has shape {tuple(found.shape)}, expected {tuple(expected.shape)}"
    difference = (found.float() - expected.float()).abs().max().item() if found.numel() else 0.0
    assert difference <= tolerance, f"{what} differs from the grader's recomputation by up to {difference:.3g}"


def steps_lower_loss(model, loss_of, batch, steps=5):
    """``steps`` Adam steps (lr 1e-3) of the parent's model on one real MNIST batch; AssertionError unless the loss fell."""
    torch.manual_seed(0)
    model = model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with torch.no_grad():
        torch.manual_seed(1)
        before = float(loss_of(model, batch))
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_of(model, batch)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        torch.manual_seed(1)
        after = float(loss_of(model, batch))
    assert after < before, f"{steps} Adam steps on a real MNIST batch did not lower the loss ({before:.4f} -> {after:.4f})"
