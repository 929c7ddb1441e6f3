"""HW2's hidden cases, run by the grader only: each model, loaded with weights the grader draws, must compute what the
solved class (rebuilt with the layers the submission describes, so a layer's mistake costs that layer's case only)
computes on the grader's inputs."""

from casekit import built, case, conv, fresh_params, layer, parameters, rebuild, same, sibling

PUBLIC = sibling(__file__, "public_cases.py")  # the structure a hidden case also asserts, written once

LENET = built("LeNet_5")


def computes_as_reference(ask, target, reference, x, label):
    info = ask.describe(target)[0]
    ours = rebuild(reference, info.get("modules", {}))
    got = ask.forward(target, x, params=fresh_params(ours, ask.generator))
    same(got[0], ours.eval()(x).detach(), f"{label}'s output with the grader's weights")


@case("lenet_layers", "LeNet-5 convolutions: C1 1->6, C3 6->16, C5 16->120, 5x5, stride 1; 50,692 parameters", 1,
      public=False)
def lenet_convolutions(ask):
    hints = {"conv1": "C1 takes the 32x32 image without padding (padding=0), 5x5 kernels"}
    for attribute, (cin, cout) in [("conv1", (1, 6)), ("conv2", (6, 16)), ("conv3", (16, 120))]:
        layer(ask, LENET, "LeNet_5", attribute, ("Conv2d",), hint=hints.get(attribute, ""), **conv(cin, cout, 5))
    _, names, tensors = ask.describe(LENET)
    found = parameters(names, tensors, "conv1", "conv2", "conv3")
    assert found == 50_692, f"the three convolutions hold {found:,} parameters, expected 50,692"


@case("lenet_layers", "LeNet-5 pooling and fully connected layers: 2x2 max pools, F6 120->84, output 84->10", 0.5,
      public=False)
def lenet_pooling_and_fully_connected(ask):
    for attribute in ("pool1", "pool2"):
        layer(ask, LENET, "LeNet_5", attribute, ("MaxPool2d",), kernel=[2, 2], stride=[2, 2])
    layer(ask, LENET, "LeNet_5", "fc1", ("Linear",), **{"in": 120, "out": 84})
    layer(ask, LENET, "LeNet_5", "fc2", ("Linear",), **{"in": 84, "out": 10})


@case("lenet_layers", "LeNet-5 computes what LeNet-5 computes (its activations and order), on the grader's weights", 0.5,
      public=False)
def lenet_computes(ask):
    import torch

    x = torch.randn(3, 1, 32, 32, generator=ask.generator)
    computes_as_reference(ask, built("LeNet_5"), ask.reference.LeNet_5(), x, "LeNet_5")


@case("encoder", "Encoder computes what the table's Encoder computes, on the grader's weights (widths 2 and 4)", 0.5,
      public=False)
def encoder_computes(ask):
    images = ask.images(4)
    for width in (2, 4):
        computes_as_reference(ask, built("Encoder", width), ask.reference.Encoder(width), images,
                              f"Encoder({width})")


@case("decoder", "Decoder computes what the table's Decoder computes, on the grader's weights (widths 2 and 4)", 0.5,
      public=False)
def decoder_computes(ask):
    import torch

    for width in (2, 4):
        z = 3 * torch.randn(4, width, generator=ask.generator)
        computes_as_reference(ask, built("Decoder", width), ask.reference.Decoder(width), z, f"Decoder({width})")


def built_model_works(ask, variable, widths):
    """What of a built model the grader can recompute: each of its encoder and decoder that is the submission's own
    (not the runner's stand-in) and computes what the table's class computes, on the grader's weights; at least one
    must (so a mistake in one class costs that class's part, and a model of which nothing computes earns nothing)."""
    import torch

    works = []
    for attribute, width in zip(("encoder", "decoder"), widths):
        target = {"var": variable, "sub": attribute}
        if ask.describe(target)[0]["stand_in"] is not None:
            continue
        models = ask.reference
        reference = models.Encoder(width) if attribute == "encoder" else models.Decoder(width)
        x = ask.images(4) if attribute == "encoder" else 3 * torch.randn(4, width, generator=ask.generator)
        try:
            computes_as_reference(ask, target, reference, x, f"{variable}.{attribute}")
            works.append(attribute)
        except AssertionError:
            continue
    assert works, (f"neither {variable}.encoder nor {variable}.decoder computes what the table's classes compute "
                   "(see the Encoder's and the Decoder's parts): nothing of it can be checked")


@case("ae_built", "AutoEncoder built: Encoder(2) and Decoder(2), and what of them works computes as the table says", 1,
      public=False)
def ae_built_computes(ask):
    PUBLIC.ae_built(ask)
    built_model_works(ask, "ae_model", (2, 2))


@case("vae_built", "VAE built: Encoder(4), Decoder(2), latent_dimensionality 2, and what of them works computes", 1,
      public=False)
def vae_built_computes(ask):
    PUBLIC.vae_built(ask)
    built_model_works(ask, "vae_model", (4, 2))
