"""LeNet-5 instantiated (1 pt): ``model`` is a LeNet_5 (or the grader's stand-in, used only when the class itself cannot
be built, so a mistake in the class costs the layer points, not this one); when the class runs, ``model`` runs too
and computes what the reference LeNet-5 computes with its weights."""

import torch

from grading import reference as R
from grading.checks import case
from grading.checks.common import built, compare

MODEL = {"var": "model"}


@case("LeNet-5 instantiated: model is a LeNet_5 that runs", 1)
def instantiated(ask):
    info, names, tensors = ask.describe(MODEL)
    stand_in = info.get("stand_in") == "LeNet_5"
    assert "LeNet_5" in info.get("instance_of", []) or stand_in, f"model is a {info.get('type')}, not a LeNet_5 instance"
    if stand_in:
        assert not ask.works(built("LeNet_5"), torch.zeros(1, 1, 32, 32), (1, 10)), \
            "model is the grader's stand-in, yet LeNet_5() works"
        return
    if ask.works(built("LeNet_5"), torch.zeros(1, 1, 32, 32), (1, 10)):
        x = torch.randn(2, 1, 32, 32, generator=ask.generator)
        out = ask.forward(MODEL, x)[0]
        assert tuple(out.shape) == (2, 10), f"model maps (2, 1, 32, 32) to {tuple(out.shape)}, expected (2, 10)"
        got, expected = compare(ask, MODEL, R.rebuild(R.models().LeNet_5(), info.get("modules", {})), x, "model")
        R.same(got[0], expected[0], "model's output with the grader's weights")
