"""Hidden check: the AutoEncoder built (1 pt).

Judged on what the cell builds, not on the Encoder's and Decoder's own layers (those have their own points):
``ae_model`` is an AutoEncoder of an Encoder and a Decoder, both of latent width 2 (read from the width they were
built with). When the submission's Encoder(2) and Decoder(2) work, the model must also map (N, 1, 28, 28) to
(N, 1, 28, 28), and 5 Adam steps on a real MNIST batch must lower its BCE.
"""
from otter.test_files import test_case

OK_FORMAT = False
name = "ae_built"


@test_case(name="AutoEncoder built: Encoder and Decoder of latent width 2; a few Adam steps lower the BCE", points=1,
           hidden=True)
def ae_built(env, ae_model):
    import torch.nn.functional as F

    from grading import checkhelpers as H

    assert ae_model is not None, "no variable ae_model"
    assert isinstance(ae_model, H.module_class(env, "AutoEncoder")), f"ae_model is a {type(ae_model).__name__}"
    encoder, decoder = getattr(ae_model, "encoder", None), getattr(ae_model, "decoder", None)
    assert H.is_part(encoder, env, "Encoder"), f"ae_model.encoder is a {type(encoder).__name__}, not an Encoder"
    assert H.is_part(decoder, env, "Decoder"), f"ae_model.decoder is a {type(decoder).__name__}, not a Decoder"
    widths = (H.width_of(encoder, "encoder"), H.width_of(decoder, "decoder"))
    assert widths == (2, 2), f"ae_model's encoder and decoder have latent widths {widths}, expected (2, 2)"
    module = env["hw2_models"]
    if H.works(getattr(module, "Encoder", None), 2, "encoder") and H.works(getattr(module, "Decoder", None), 2, "decoder"):
        out = H.run(ae_model.cpu(), H.real_batch(4))
        assert tuple(out.shape) == (4, 1, 28, 28), f"ae_model maps (4, 1, 28, 28) to {tuple(out.shape)}"
        H.steps_lower_loss(ae_model, lambda model, x: F.binary_cross_entropy(model(x), x))
