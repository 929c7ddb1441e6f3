"""Hidden check: the Encoder (2 pts: layers per the encoder table; behaviour and parameter count).

Parameters for latent width d: conv_1 16*9+16 = 160, conv_2 32*16*9+32 = 4,640, conv_3 64*32*9+64 = 18,496,
fc_1 32*1600+32 = 51,232, fc_2 33*d: 74,594 for d = 2, 74,660 for d = 4.
"""
from otter.test_files import test_case

OK_FORMAT = False
name = "encoder"


@test_case(name="Encoder layers per the table (latent widths 2 and 4)", points=1, hidden=True)
def layers(env):
    import torch.nn as nn

    from grading import checkhelpers as H

    cls = H.module_class(env, "Encoder")
    for width in (2, 4):
        encoder = H.build(cls, width)
        H.expect_conv(encoder, "conv_1", 1, 16, 3)
        H.expect_conv(encoder, "conv_2", 16, 32, 3)
        H.expect_pool(encoder, "pool_1")
        H.expect_conv(encoder, "conv_3", 32, 64, 3)
        H.expect_pool(encoder, "pool_2")
        H.expect_linear(encoder, "fc_1", 64 * 5 * 5, 32)
        H.expect_linear(encoder, "fc_2", 32, width)


@test_case(name="Encoder behaviour: (N, 1, 28, 28) -> (N, d) for d = 2, 4 and by default 2; parameter counts",
           points=1, hidden=True)
def behaviour(env):
    from grading import checkhelpers as H

    cls = H.module_class(env, "Encoder")
    images = H.real_batch(8)
    for args, width, count in [((), 2, 74_594), ((2,), 2, 74_594), ((4,), 4, 74_660)]:
        encoder = H.build(cls, *args)
        out = H.run(encoder, images)
        assert tuple(out.shape) == (8, width), (
            f"Encoder({', '.join(map(str, args))}) maps (8, 1, 28, 28) to {tuple(out.shape)}, expected (8, {width})")
        found = H.parameters(encoder)
        assert found == count, f"Encoder({', '.join(map(str, args))}) holds {found:,} parameters, expected {count:,}"
