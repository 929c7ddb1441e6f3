"""Hidden check: LeNet-5's layers (3 pts: convolutions, pooling and forward shapes, fully connected).

Parameter counts (full C3 connectivity, as the assignment's nn.Conv2d gives): C1 6*1*25+6 = 156,
C3 16*6*25+16 = 2,416, C5 120*16*25+120 = 48,120 (convolutions 50,692); F6 84*120+84 = 10,164,
output 10*84+10 = 850 (fully connected 11,014); 61,706 in all.
"""
from otter.test_files import test_case

OK_FORMAT = False
name = "lenet_layers"


@test_case(name="LeNet-5 convolutions: C1 1->6, C3 6->16, C5 16->120, 5x5, stride 1; 50,692 parameters", points=1,
           hidden=True)
def convolutions(env):
    from grading import checkhelpers as H

    model = H.build(H.module_class(env, "LeNet_5"))
    H.expect_conv(model, "conv1", 1, 6, 5)
    H.expect_conv(model, "conv2", 6, 16, 5)
    H.expect_conv(model, "conv3", 16, 120, 5)
    found = H.parameters(model, "conv1", "conv2", "conv3")
    assert found == 50_692, f"the three convolutions hold {found:,} parameters, expected 50,692"


@test_case(name="LeNet-5 pooling and forward: 2x2 max pools; (N, 1, 32, 32) -> (N, 10), image by image", points=1,
           hidden=True)
def pooling_and_forward(env):
    import torch

    from grading import checkhelpers as H

    model = H.build(H.module_class(env, "LeNet_5"))
    H.expect_pool(model, "pool1")
    H.expect_pool(model, "pool2")
    torch.manual_seed(0)
    x = torch.randn(5, 1, 32, 32)
    out = H.run(model, x)
    assert tuple(out.shape) == (5, 10), f"LeNet_5 maps (5, 1, 32, 32) to {tuple(out.shape)}, expected (5, 10)"
    alone = H.run(model, x[2:3])
    assert tuple(alone.shape) == (1, 10), f"LeNet_5 maps (1, 1, 32, 32) to {tuple(alone.shape)}, expected (1, 10)"
    assert torch.allclose(alone[0], out[2], atol=1e-5), "an image's output depends on the other images of its batch"


@test_case(name="LeNet-5 fully connected: F6 120->84, output 84->10; 11,014 parameters", points=1, hidden=True)
def fully_connected(env):
    from grading import checkhelpers as H

    model = H.build(H.module_class(env, "LeNet_5"))
    H.expect_linear(model, "fc1", 120, 84)
    H.expect_linear(model, "fc2", 84, 10)
    found = H.parameters(model, "fc1", "fc2")
    assert found == 11_014, f"the two linear layers hold {found:,} parameters, expected 11,014"
