"""The VariationalAutoEncoder built (1 pt): ``vae_model`` is a VariationalAutoEncoder whose encoder has latent width 4,
whose decoder takes 2, with ``latent_dimensionality`` 2. When Encoder(4) and Decoder(2) work, it returns
(reconstructions, mu, log-variance) shaped (N, 1, 28, 28), (N, 2), (N, 2), its mu and log-variance equal the
parent's reference VAE's with its weights, and 5 Adam steps of that reference lower BCE + 0.01 KL."""

import torch
import torch.nn.functional as F

from grading import reference as R
from grading.checks import case
from grading.checks.ae_built import parts_of, real_parts, reference_of
from grading.checks.common import built, compare, width_of

VAE = {"var": "vae_model"}


def loss(model, x):
    reconstructed, mu, log_variance = model(x)
    kl = 0.5 * torch.mean(mu ** 2 + torch.exp(log_variance) - (1 + log_variance))
    return F.binary_cross_entropy(reconstructed, x) + 0.01 * kl


@case("VAE built: encoder width 4, decoder width 2, latent_dimensionality 2; (recon, mu, logvar)", 1)
def vae_built(ask):
    info, names, tensors = ask.describe(VAE)
    assert "VariationalAutoEncoder" in info.get("instance_of", []), \
        f"vae_model is a {info.get('type')}, not a VariationalAutoEncoder"
    encoder, decoder = parts_of(ask, VAE, "vae_model")
    widths = (width_of(encoder, "encoder"), width_of(decoder, "decoder"), info.get("latent_dimensionality"))
    assert widths == (4, 2, 2), (
        f"vae_model's encoder width, decoder width and latent_dimensionality are {widths}, expected (4, 2, 2)")
    if ask.works(built("Encoder", 4), ask.images(2), (2, 4)) and \
            ask.works(built("Decoder", 2), torch.zeros(2, 2), (2, 1, 28, 28)):
        batch = ask.images(4)
        out = ask.forward(VAE, batch, seed=0)
        shapes = tuple(tuple(t.shape) for t in out)
        assert shapes == ((4, 1, 28, 28), (4, 2), (4, 2)), f"vae_model returns shapes {shapes}"
        assert out[0].min().item() >= 0 and out[0].max().item() <= 1, "vae_model's pixels are not all in [0, 1]"
        ours = reference_of("VariationalAutoEncoder", encoder, decoder, 2)
        got, expected = compare(ask, VAE, ours, batch, "vae_model", seed=0)
        R.same(got[1], expected[1], "vae_model's mu with the grader's weights")
        R.same(got[2], expected[2], "vae_model's log-variance with the grader's weights")
        R.load(ours, dict(zip(names, tensors)))  # the submission's own weights, trained here
        R.steps_lower_loss(ours, loss, ask.images(64))
    else:
        real_parts(ask, VAE, "vae_model", encoder, decoder)
