"""The tiny example's public cases: the student runs them with ``tiny.check(PART)`` on the kernel's own objects, and
the grader runs the same functions on the sandboxed submission, with inputs it draws."""

import torch
from casekit import build_layer, built, case, layer, torch_layer

DOUBLER = built("Doubler")


@case("doubler", "Doubler's layer: linear is nn.Linear(4, 4)", 1, public=True)
def doubler_layer(ask):
    layer(ask, DOUBLER, "Doubler", "linear", ("Linear",), **{"in": 4, "out": 4})


@case("net", "net is a Doubler, built by its cell, and net(x) is 2 * x", 1, public=True)
def net_doubles(ask):
    info = ask.describe({"var": "net"})[0]
    assert "Doubler" in info["instance_of"] or info["stand_in"] == "Doubler", f"net is a {info['type']}, not a Doubler"
    assert info["stand_in"] is None, "Doubler cannot be built, so net is the grader's stand-in: fix Doubler first"
    x = torch.randn(3, 4, generator=ask.generator)
    out = ask.forward({"var": "net"}, x)[0]
    assert tuple(out.shape) == (3, 4), f"net maps (3, 4) to {tuple(out.shape)}, expected (3, 4)"
    assert torch.allclose(out, 2 * x, atol=1e-5), "net(x) is not 2 * x"


@case("count_parameters", "count_parameters(model) is the number of numbers a model learns", 1, public=True)
def counts_parameters(ask):
    linear = torch_layer("Linear", **{"in": 4, "out": 3})  # PyTorch's own layer: no mistake in Doubler changes it
    found = ask.call("count_parameters", linear)
    expected = sum(p.numel() for p in build_layer(linear["layer"]).parameters())  # counted here: 4 * 3 + 3
    kind = "a tensor" if isinstance(found, list) else type(found).__name__
    assert type(found) is int, f"count_parameters(nn.Linear(4, 3)) returns {kind}, not a whole number"
    assert found == expected, (f"count_parameters(nn.Linear(4, 3)) is {found}, expected {expected}: count every "
                               "parameter's elements")
