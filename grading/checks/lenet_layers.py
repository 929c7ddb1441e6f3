"""LeNet-5's layers (3 pts). Parameter counts (full C3 connectivity, as nn.Conv2d gives): C1 156, C3 2,416, C5 48,120
(convolutions 50,692); F6 10,164, output 850 (fully connected 11,014); 61,706 in all."""

import torch

from grading import reference as R
from grading.checks import case
from grading.checks.common import built, compare, conv, layer, parameters

LENET = built("LeNet_5")


@case("LeNet-5 convolutions: C1 1->6, C3 6->16, C5 16->120, 5x5, stride 1; 50,692 parameters", 1)
def convolutions(ask):
    for attribute, (cin, cout) in [("conv1", (1, 6)), ("conv2", (6, 16)), ("conv3", (16, 120))]:
        layer(ask, LENET, "LeNet_5", attribute, ("Conv2d",), **conv(cin, cout, 5))
    _, names, tensors = ask.describe(LENET)
    found = parameters(names, tensors, "conv1", "conv2", "conv3")
    assert found == 50_692, f"the three convolutions hold {found:,} parameters, expected 50,692"


@case("LeNet-5 pooling and forward: 2x2 max pools; (N, 1, 32, 32) -> (N, 10), image by image", 1)
def pooling_and_forward(ask):
    for attribute in ("pool1", "pool2"):
        layer(ask, LENET, "LeNet_5", attribute, ("MaxPool2d",), kernel=[2, 2], stride=[2, 2])
    x = torch.randn(5, 1, 32, 32, generator=ask.generator)
    out = ask.forward(LENET, x)[0]
    assert tuple(out.shape) == (5, 10), f"LeNet_5 maps (5, 1, 32, 32) to {tuple(out.shape)}, expected (5, 10)"
    alone = ask.forward(LENET, x[2:3])[0]
    assert tuple(alone.shape) == (1, 10), f"LeNet_5 maps (1, 1, 32, 32) to {tuple(alone.shape)}, expected (1, 10)"
    assert torch.allclose(alone[0], out[2], atol=1e-5), "an image's output depends on the other images of its batch"
    info, _, _ = ask.describe(LENET)
    got, expected = compare(ask, LENET, R.rebuild(R.models().LeNet_5(), info.get("modules", {})), x, "LeNet_5")
    R.same(got[0], expected[0], "LeNet_5's output with the grader's weights")


@case("LeNet-5 fully connected: F6 120->84, output 84->10; 11,014 parameters", 1)
def fully_connected(ask):
    layer(ask, LENET, "LeNet_5", "fc1", ("Linear",), **{"in": 120, "out": 84})
    layer(ask, LENET, "LeNet_5", "fc2", ("Linear",), **{"in": 84, "out": 10})
    _, names, tensors = ask.describe(LENET)
    found = parameters(names, tensors, "fc1", "fc2")
    assert found == 11_014, f"the two linear layers hold {found:,} parameters, expected 11,014"
