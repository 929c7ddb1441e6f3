"""The Decoder (2 pts). Parameters for latent width d: fc_1 32*d+32, fc_2 52,800, conv_1 18,464, conv_2 4,624,
conv_3 145: 76,129 for d = 2, 76,193 for d = 4."""

import torch

from grading import reference as R
from grading.checks import case
from grading.checks.common import built, conv, counted_and_recomputed, layer

UPSAMPLING = ("Upsample", "UpsamplingNearest2d")


@case("Decoder layers per the table, both upsamplings included (latent widths 2 and 4)", 1)
def layers(ask):
    for width in (2, 4):
        target = built("Decoder", width)
        layer(ask, target, "Decoder", "fc_1", ("Linear",), **{"in": width, "out": 32})
        layer(ask, target, "Decoder", "fc_2", ("Linear",), **{"in": 32, "out": 64 * 5 * 5})
        for attribute in ("upsample_1", "upsample_2"):
            layer(ask, target, "Decoder", attribute, UPSAMPLING, mode="nearest", scale=[2.0, 2.0])
        for attribute, (cin, cout) in [("conv_1", (64, 32)), ("conv_2", (32, 16)), ("conv_3", (16, 1))]:
            layer(ask, target, "Decoder", attribute, ("Conv2d",), **conv(cin, cout, 3, padding=2))


@case("Decoder behaviour: (N, d) -> (N, 1, 28, 28) in [0, 1] for d = 2, 4 and by default 2; parameter counts", 1)
def behaviour(ask):
    for args, width, count in [((), 2, 76_129), ((2,), 2, 76_129), ((4,), 4, 76_193)]:
        target, label = built("Decoder", *args), f"Decoder({', '.join(map(str, args))})"
        z = 3 * torch.randn(8, width, generator=ask.generator)  # latent vectors drawn at grading time
        out = ask.forward(target, z)[0]
        assert tuple(out.shape) == (8, 1, 28, 28), f"{label} maps (8, {width}) to {tuple(out.shape)}, expected (8, 1, 28, 28)"
        assert out.min().item() >= 0 and out.max().item() <= 1, "the Decoder's pixels are not all in [0, 1]"
        counted_and_recomputed(ask, target, R.models().Decoder(width), z, label, count)
