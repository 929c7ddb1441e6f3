"""LeNet-5 instantiated (1 pt): ``model`` is a LeNet_5 that computes, on the parent's weights and inputs, what the
reference LeNet-5 (rebuilt with its reported layers) computes; when the class builds but does not run, each of its
layers must compute what its configuration says. When the class cannot be built at all, the cell ran with the
grader's stand-in and nothing of ``model`` can be recomputed: the class's mistake then costs this point too."""

import torch

from grading import reference as R
from grading.checks import case
from grading.checks.common import built, compare, recompute

MODEL = {"var": "model"}


@case("LeNet-5 instantiated: model is a LeNet_5 that runs", 1)
def instantiated(ask):
    info, names, tensors = ask.describe(MODEL)
    stand_in = info.get("stand_in") == "LeNet_5"
    assert "LeNet_5" in info.get("instance_of", []) or stand_in, f"model is a {info.get('type')}, not a LeNet_5 instance"
    assert not stand_in, "LeNet_5 cannot be built, so model is the grader's stand-in: nothing of it can be checked"
    if ask.works(built("LeNet_5"), torch.zeros(1, 1, 32, 32), (1, 10)):
        x = torch.randn(2, 1, 32, 32, generator=ask.generator)
        out = ask.forward(MODEL, x)[0]
        assert tuple(out.shape) == (2, 10), f"model maps (2, 1, 32, 32) to {tuple(out.shape)}, expected (2, 10)"
        got, expected = compare(ask, MODEL, R.rebuild(R.models().LeNet_5(), info.get("modules", {})), x, "model")
        R.same(got[0], expected[0], "model's output with the grader's weights")
    else:
        layers = {name: m for name, m in info.get("modules", {}).items() if m.get("type") in ("Conv2d", "Linear")}
        assert layers, "model holds no layer the grader can recompute"
        for name, found in layers.items():
            recompute(ask, MODEL, "model", name, found, names, tensors)
