"""The Encoder (2 pts). Parameters for latent width d: conv_1 160, conv_2 4,640, conv_3 18,496, fc_1 51,232,
fc_2 33*d: 74,594 for d = 2, 74,660 for d = 4."""

from grading import reference as R
from grading.checks import case
from grading.checks.common import built, conv, counted_and_recomputed, layer


@case("Encoder layers per the table (latent widths 2 and 4)", 1)
def layers(ask):
    for width in (2, 4):
        target = built("Encoder", width)
        for attribute, (cin, cout) in [("conv_1", (1, 16)), ("conv_2", (16, 32)), ("conv_3", (32, 64))]:
            layer(ask, target, "Encoder", attribute, ("Conv2d",), **conv(cin, cout, 3))
        for attribute in ("pool_1", "pool_2"):
            layer(ask, target, "Encoder", attribute, ("MaxPool2d",), kernel=[2, 2], stride=[2, 2])
        layer(ask, target, "Encoder", "fc_1", ("Linear",), **{"in": 64 * 5 * 5, "out": 32})
        layer(ask, target, "Encoder", "fc_2", ("Linear",), **{"in": 32, "out": width})


@case("Encoder behaviour: (N, 1, 28, 28) -> (N, d) for d = 2, 4 and by default 2; parameter counts", 1)
def behaviour(ask):
    images = ask.images(8)
    for args, width, count in [((), 2, 74_594), ((2,), 2, 74_594), ((4,), 4, 74_660)]:
        target, label = built("Encoder", *args), f"Encoder({', '.join(map(str, args))})"
        out = ask.forward(target, images)[0]
        assert tuple(out.shape) == (8, width), f"{label} maps (8, 1, 28, 28) to {tuple(out.shape)}, expected (8, {width})"
        counted_and_recomputed(ask, target, R.models().Encoder(width), images, label, count)
