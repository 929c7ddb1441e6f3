"""The AutoEncoder built (1 pt), judged on what the cell builds: ``ae_model`` is an AutoEncoder of an Encoder and a
Decoder of latent width 2. When the submission's Encoder(2) and Decoder(2) work, its output on real images drawn at
grading time must equal the parent's reference AutoEncoder loaded with its weights, and 5 Adam steps of that
reference on a real MNIST batch must lower the BCE."""

import torch
import torch.nn.functional as F

from grading import reference as R
from grading.checks import case
from grading.checks.common import built, compare, width_of

AE = {"var": "ae_model"}


def parts_of(ask, target, name):
    """(encoder info, decoder info) of a built model; AssertionError when one is not an Encoder / a Decoder."""
    found = []
    for attribute, kind in [("encoder", "Encoder"), ("decoder", "Decoder")]:
        info, _, _ = ask.describe(dict(target, sub=attribute))
        assert kind in info.get("instance_of", []) or info.get("stand_in") == kind, (
            f"{name}.{attribute} is a {info.get('type')}, not {'an' if kind == 'Encoder' else 'a'} {kind}")
        found.append(info)
    return found


def real_parts(ask, target, name, encoder, decoder):
    """Check what of a built model the parent can recompute when its classes do not both work: each part that is not
    the grader's stand-in must compute, on the parent's weights, what the reference part rebuilt with its reported
    layers computes; at least one must be real (a model of two stand-ins holds nothing the parent can check)."""
    real = [(attribute, info) for attribute, info in [("encoder", encoder), ("decoder", decoder)]
            if info.get("stand_in") is None]
    assert real, f"{name}'s encoder and decoder are both the grader's stand-ins: nothing of it can be checked"
    models = R.models()
    for attribute, info in real:
        role = "Encoder" if attribute == "encoder" else "Decoder"
        width = width_of(info, attribute)
        ours = R.rebuild(getattr(models, role)(width), info.get("modules", {}))
        x = ask.images(4) if role == "Encoder" else torch.randn(4, width, generator=ask.generator)
        got, expected = compare(ask, dict(target, sub=attribute), ours, x, f"{name}.{attribute}")
        R.same(got[0], expected[0], f"{name}.{attribute}'s output with the grader's weights")


def reference_of(kind, encoder, decoder, *args):
    """The parent's reference model of ``kind`` rebuilt with the child's reported layers."""
    models = R.models()
    return getattr(models, kind)(R.rebuild(models.Encoder(width_of(encoder, "encoder")), encoder.get("modules", {})),
                                 R.rebuild(models.Decoder(width_of(decoder, "decoder")), decoder.get("modules", {})), *args)


@case("AutoEncoder built: Encoder and Decoder of latent width 2; a few Adam steps lower the BCE", 1)
def ae_built(ask):
    info, names, tensors = ask.describe(AE)
    assert "AutoEncoder" in info.get("instance_of", []), f"ae_model is a {info.get('type')}"
    encoder, decoder = parts_of(ask, AE, "ae_model")
    widths = (width_of(encoder, "encoder"), width_of(decoder, "decoder"))
    assert widths == (2, 2), f"ae_model's encoder and decoder have latent widths {widths}, expected (2, 2)"
    if ask.works(built("Encoder", 2), ask.images(2), (2, 2)) and \
            ask.works(built("Decoder", 2), torch.zeros(2, 2), (2, 1, 28, 28)):
        batch = ask.images(4)
        out = ask.forward(AE, batch)[0]
        assert tuple(out.shape) == (4, 1, 28, 28), f"ae_model maps (4, 1, 28, 28) to {tuple(out.shape)}"
        ours = reference_of("AutoEncoder", encoder, decoder)
        got, expected = compare(ask, AE, ours, batch, "ae_model")
        R.same(got[0], expected[0], "ae_model's output with the grader's weights")
        R.load(ours, dict(zip(names, tensors)))  # the submission's own weights, trained here
        R.steps_lower_loss(ours, lambda model, x: F.binary_cross_entropy(model(x), x), ask.images(64))
    else:
        real_parts(ask, AE, "ae_model", encoder, decoder)
