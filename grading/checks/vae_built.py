"""Hidden check: the VariationalAutoEncoder built (1 pt).

As for the AutoEncoder, judged on what the cell builds: ``vae_model`` is a VariationalAutoEncoder whose encoder has
latent width 4 (a mean and a log-variance per latent dimension), whose decoder takes 2, with
``latent_dimensionality`` 2. When the submission's Encoder(4) and Decoder(2) work, its forward must return
(reconstructions (N, 1, 28, 28), mu (N, 2), log-variance (N, 2)) and 5 Adam steps on a real MNIST batch must lower
BCE + 0.01 KL.
"""
from otter.test_files import test_case

OK_FORMAT = False
name = "vae_built"


@test_case(name="VAE built: encoder width 4, decoder width 2, latent_dimensionality 2; (recon, mu, logvar)", points=1,
           hidden=True)
def vae_built(env, vae_model):
    import torch
    import torch.nn.functional as F

    from grading import checkhelpers as H

    assert vae_model is not None, "no variable vae_model"
    cls = H.module_class(env, "VariationalAutoEncoder")
    assert isinstance(vae_model, cls), f"vae_model is a {type(vae_model).__name__}, not a VariationalAutoEncoder"
    encoder, decoder = getattr(vae_model, "encoder", None), getattr(vae_model, "decoder", None)
    assert H.is_part(encoder, env, "Encoder"), f"vae_model.encoder is a {type(encoder).__name__}, not an Encoder"
    assert H.is_part(decoder, env, "Decoder"), f"vae_model.decoder is a {type(decoder).__name__}, not a Decoder"
    widths = (H.width_of(encoder, "encoder"), H.width_of(decoder, "decoder"), getattr(vae_model, "latent_dimensionality", None))
    assert widths == (4, 2, 2), (
        f"vae_model's encoder width, decoder width and latent_dimensionality are {widths}, expected (4, 2, 2)")
    module = env["hw2_models"]
    if H.works(getattr(module, "Encoder", None), 4, "encoder") and H.works(getattr(module, "Decoder", None), 2, "decoder"):
        torch.manual_seed(0)
        out = H.run(vae_model.cpu(), H.real_batch(4))
        assert isinstance(out, tuple) and len(out) == 3, "vae_model's forward should return (reconstruction, mu, log_variance)"
        shapes = tuple(tuple(t.shape) for t in out)
        assert shapes == ((4, 1, 28, 28), (4, 2), (4, 2)), f"vae_model returns shapes {shapes}"

        def loss(model, x):
            reconstructed, mu, log_variance = model(x)
            kl = 0.5 * torch.mean(mu ** 2 + torch.exp(log_variance) - (1 + log_variance))
            return F.binary_cross_entropy(reconstructed, x) + 0.01 * kl

        H.steps_lower_loss(vae_model, loss)
