"""Hidden check: the Decoder (2 pts: layers per the decoder table, both upsamplings included; behaviour and
parameter count).

Parameters for latent width d: fc_1 32*d+32, fc_2 1600*32+1600 = 52,800, conv_1 32*64*9+32 = 18,464,
conv_2 16*32*9+16 = 4,624, conv_3 16*9+1 = 145: 76,129 for d = 2, 76,193 for d = 4.
"""
from otter.test_files import test_case

OK_FORMAT = False
name = "decoder"


@test_case(name="Decoder layers per the table, both upsamplings included (latent widths 2 and 4)", points=1,
           hidden=True)
def layers(env):
    from grading import checkhelpers as H

    cls = H.module_class(env, "Decoder")
    for width in (2, 4):
        decoder = H.build(cls, width)
        H.expect_linear(decoder, "fc_1", width, 32)
        H.expect_linear(decoder, "fc_2", 32, 64 * 5 * 5)
        H.expect_upsampling(decoder, "upsample_1")
        H.expect_conv(decoder, "conv_1", 64, 32, 3, padding=2)
        H.expect_upsampling(decoder, "upsample_2")
        H.expect_conv(decoder, "conv_2", 32, 16, 3, padding=2)
        H.expect_conv(decoder, "conv_3", 16, 1, 3, padding=2)


@test_case(name="Decoder behaviour: (N, d) -> (N, 1, 28, 28) in [0, 1] for d = 2, 4 and by default 2; parameter counts",
           points=1, hidden=True)
def behaviour(env):
    import torch

    from grading import checkhelpers as H

    cls = H.module_class(env, "Decoder")
    torch.manual_seed(0)
    for args, width, count in [((), 2, 76_129), ((2,), 2, 76_129), ((4,), 4, 76_193)]:
        decoder = H.build(cls, *args)
        out = H.run(decoder, 3 * torch.randn(8, width))
        assert tuple(out.shape) == (8, 1, 28, 28), (
            f"Decoder({', '.join(map(str, args))}) maps (8, {width}) to {tuple(out.shape)}, expected (8, 1, 28, 28)")
        assert out.min().item() >= 0 and out.max().item() <= 1, "the Decoder's pixels are not all in [0, 1]"
        found = H.parameters(decoder)
        assert found == count, f"Decoder({', '.join(map(str, args))}) holds {found:,} parameters, expected {count:,}"
