"""Helpers for the hidden checks in ``grading/checks/`` (never shipped to students).

Everything here tests behaviour and module attributes, never source text. The checks run inside the sandbox
process (``grading.sandbox``), on the CPU, with the MNIST files of the submission's temporary copy.
"""

import functools
import os
from pathlib import Path

import torch
import torch.nn as nn

MEAN, STD = 0.1307, 0.3081


def data_root():
    return Path(os.environ.get("HW2_GRADING_DATA", "data"))


@functools.lru_cache(maxsize=None)
def mnist(train):
    """The MNIST set (no transform): PIL images and labels, from the submission copy's data/."""
    import torchvision

    return torchvision.datasets.MNIST(str(data_root()), train=train, download=False)


@functools.lru_cache(maxsize=None)
def real_batch(n=64, train=False):
    """The first ``n`` MNIST images (validation set by default: it loads faster) as (n, 1, 28, 28) floats in [0, 1]."""
    dataset = mnist(train)
    return dataset.data[:n].unsqueeze(1).float() / 255


def reference_transform():
    from torchvision import transforms

    return transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])


def module_class(env, name):
    """The class ``name`` of the submission's hw2_models.py; AssertionError naming why if it is missing."""
    module = env.get("hw2_models")
    assert module is not None, "hw2_models.py could not be imported"
    cls = getattr(module, name, None)
    where = getattr(module, "GRADING_SOURCE", "hw2_models.py")  # the assignment's format: the notebook's cells
    assert isinstance(cls, type), f"{where} defines no class {name}"
    return cls


def build(cls, *args):
    try:
        return cls(*args)
    except Exception as error:
        raise AssertionError(f"{cls.__name__}({', '.join(map(repr, args))}) raised {type(error).__name__}: {error}")


def layer(model, attribute, kind):
    found = getattr(model, attribute, None)
    assert isinstance(found, kind), (
        f"{type(model).__name__}.{attribute} should be nn.{kind.__name__}, is {type(found).__name__}")
    return found


def pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def expect_conv(model, attribute, cin, cout, kernel, stride=1, padding=0):
    conv = layer(model, attribute, nn.Conv2d)
    found = (conv.in_channels, conv.out_channels, pair(conv.kernel_size), pair(conv.stride), pair(conv.padding))
    expected = (cin, cout, pair(kernel), pair(stride), pair(padding))
    assert found == expected, (f"{type(model).__name__}.{attribute}: (in, out, kernel, stride, padding) is {found}, "
                               f"expected {expected}")


def expect_linear(model, attribute, fan_in, fan_out):
    linear = layer(model, attribute, nn.Linear)
    found = (linear.in_features, linear.out_features)
    assert found == (fan_in, fan_out), (
        f"{type(model).__name__}.{attribute}: (in, out) features are {found}, expected {(fan_in, fan_out)}")


def expect_pool(model, attribute):
    pool = layer(model, attribute, nn.MaxPool2d)
    found = (pair(pool.kernel_size), pair(pool.stride))
    assert found == ((2, 2), (2, 2)), f"{type(model).__name__}.{attribute}: (kernel, stride) is {found}, expected 2x2, 2"


def expect_upsampling(model, attribute):
    up = layer(model, attribute, nn.Upsample)
    scale = up.scale_factor
    scale = tuple(float(s) for s in pair(scale)) if scale is not None else None
    assert up.mode == "nearest" and scale == (2.0, 2.0), (
        f"{type(model).__name__}.{attribute}: mode {up.mode!r}, scale factor {scale}; expected nearest, (2, 2)")


def parameters(model, *attributes):
    modules = [getattr(model, a) for a in attributes] if attributes else [model]
    return sum(p.numel() for m in modules for p in m.parameters())


def run(model, x):
    model = model.eval()
    try:
        with torch.no_grad():
            return model(x)
    except Exception as error:
        raise AssertionError(f"{type(model).__name__} on input {tuple(x.shape)} raised {type(error).__name__}: {error}")


def is_part(part, env, class_name):
    """Whether ``part`` is an instance of the submission's ``class_name`` (or the stand-in the sandbox built for it)."""
    cls = getattr(env.get("hw2_models"), class_name, None)
    return (isinstance(cls, type) and isinstance(part, cls)) or getattr(part, "_grading_stand_in", None) == class_name


def width_of(part, role):
    """The latent width an Encoder (``role='encoder'``: its output) or a Decoder (its input) was built with."""
    width = getattr(part, "latent_dimensionality", None)
    if isinstance(width, int):
        return width
    fc = getattr(part, "fc_2" if role == "encoder" else "fc_1", None)
    if isinstance(fc, nn.Linear):
        return fc.out_features if role == "encoder" else fc.in_features
    return None


def works(cls, latent, role):
    """Whether ``cls(latent)`` builds and maps shapes as the tables say (so training a model made of it makes sense)."""
    if not isinstance(cls, type):
        return False
    try:
        part = cls(latent).eval()
        with torch.no_grad():
            if role == "encoder":
                return tuple(part(torch.zeros(2, 1, 28, 28)).shape) == (2, latent)
            return tuple(part(torch.zeros(2, latent)).shape) == (2, 1, 28, 28)
    except Exception:
        return False


def steps_lower_loss(model, loss_of, steps=5):
    """Run ``steps`` Adam steps (lr 1e-3) on one real MNIST batch of 64; True if the loss on it went down."""
    import copy

    torch.manual_seed(0)
    model = copy.deepcopy(model).cpu().train()
    batch = real_batch(64)
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
    return True
