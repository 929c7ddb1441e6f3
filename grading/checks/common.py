"""What several checks share: a layer's reported configuration, believed only when the layer computes accordingly."""

import torch

from grading import reference as R


def built(name, *args):
    """A request target: the submission's class ``name`` built with ``args``."""
    return {"class": name, "args": list(args)}


def layer(ask, target, owner, attribute, kinds, **expected):
    """The reported layer ``attribute`` of ``target`` must be of one of ``kinds`` with ``expected`` configuration and
    must compute, in the child on fresh inputs, what the parent's layer of that configuration computes with its
    weights. AssertionError naming the difference."""
    info, names, tensors = ask.describe(target)
    found = info.get("modules", {}).get(attribute)
    kind = found.get("type") if found else "missing"
    assert kind in kinds, f"{owner}.{attribute} should be nn.{kinds[0]}, is {kind}"
    config = {key: found.get(key) for key in expected}
    assert config == expected, (f"{owner}.{attribute}: ({', '.join(config)}) is {values(config)}, "
                                f"expected {values(expected)}")
    recompute(ask, target, owner, attribute, found, names, tensors)


def recompute(ask, target, owner, attribute, found, names, tensors):
    ours = R.build_layer(found)
    assert ours is not None, f"{owner}.{attribute} ({found.get('type')}) is not a layer the grader can recompute"
    x = R.probe_input(found, ask.generator)
    out = ask.forward(dict(target, sub=attribute), x, params=R.fresh_params(ours, ask.generator))
    R.same(out[0], ours.eval()(x).detach(), f"{owner}.{attribute}'s output")


def compare(ask, target, reference, x, what, **options):
    """The target's outputs on ``x`` with the parent's fresh weights equal the parent's ``reference`` with them."""
    out = ask.forward(target, x, params=R.fresh_params(reference, ask.generator), **options)
    with torch.no_grad():
        expected = reference.eval()(x)
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    assert len(out) >= len(expected), f"{what} returns {len(out)} tensors, expected {len(expected)}"
    return out, expected


def counted_and_recomputed(ask, target, reference, x, label, count):
    """``target`` holds ``count`` parameters and, on the parent's fresh weights, maps ``x`` as ``reference`` (a
    reference class's instance, rebuilt with the layers the child reports) does."""
    info, names, tensors = ask.describe(target)
    found = parameters(names, tensors)
    assert found == count, f"{label} holds {found:,} parameters, expected {count:,}"
    ours = R.rebuild(reference, info.get("modules", {}))
    got, expected = compare(ask, target, ours, x, label)
    R.same(got[0], expected[0], f"{label}'s output with the grader's weights")


def values(config):
    """A configuration's numbers as the messages show them: ``(1, 6, (3, 3), (1, 1), (0, 0))``."""
    return tuple(tuple(v) if isinstance(v, list) else v for v in config.values())


def parameters(names, tensors, *prefixes):
    return sum(t.numel() for n, t in zip(names, tensors) if not prefixes or n.split(".")[0] in prefixes)


def width_of(info, role):
    """The latent width an Encoder (``role='encoder'``: its output) or a Decoder (its input) reports."""
    if isinstance(info.get("latent_dimensionality"), int):
        return info["latent_dimensionality"]
    fc = (info.get("modules") or {}).get("fc_2" if role == "encoder" else "fc_1", {})
    if fc.get("type") == "Linear":
        return fc["out"] if role == "encoder" else fc["in"]
    return None


def conv(cin, cout, kernel, stride=1, padding=0):
    """The expected configuration of a convolution, in the reported form."""
    return {"in": cin, "out": cout, "kernel": [kernel, kernel], "stride": [stride, stride], "padding": [padding, padding]}
