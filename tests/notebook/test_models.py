"""The models against the assignment's tables and the LeNet-5 paper (LeCun et al., 1998, pp. 7-8)."""
import pytest
import torch
import torch.nn as nn

from hw2_models import AutoEncoder, Decoder, Encoder, LeNet_5, VariationalAutoEncoder, kl_divergence


def layers(model):
    """(name, type, in, out, kernel, stride, padding, scale) for every direct child, in order."""
    rows = []
    for name, m in model.named_children():
        if isinstance(m, nn.Conv2d):
            rows.append((name, "Conv2d", m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding))
        elif isinstance(m, nn.MaxPool2d):
            pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
            rows.append((name, "MaxPool2d", pair(m.kernel_size), pair(m.stride)))
        elif isinstance(m, nn.Linear):
            rows.append((name, "Linear", m.in_features, m.out_features))
        elif isinstance(m, nn.UpsamplingNearest2d):
            rows.append((name, "UpsamplingNearest2d", tuple(float(s) for s in m.scale_factor), m.mode))
        else:
            rows.append((name, type(m).__name__))
    return rows


def test_lenet_layers_follow_the_paper():
    # C1: 6@28x28 from 5x5 neighbourhoods; S2; C3: 16@10x10, 5x5; S4; C5: 120, 5x5; F6: 84; output: 10.
    assert layers(LeNet_5()) == [
        ("conv1", "Conv2d", 1, 6, (5, 5), (1, 1), (0, 0)),
        ("pool1", "MaxPool2d", (2, 2), (2, 2)),
        ("conv2", "Conv2d", 6, 16, (5, 5), (1, 1), (0, 0)),
        ("pool2", "MaxPool2d", (2, 2), (2, 2)),
        ("conv3", "Conv2d", 16, 120, (5, 5), (1, 1), (0, 0)),
        ("fc1", "Linear", 120, 84),
        ("fc2", "Linear", 84, 10),
    ]


def test_lenet_parameter_count():
    # C1 156 + C3 2,416 (full connection) + C5 48,120 + F6 10,164 + output 850
    assert sum(p.numel() for p in LeNet_5().parameters()) == 61_706


def test_lenet_shapes_after_each_stage():
    model, x = LeNet_5(), torch.randn(3, 1, 32, 32)
    shapes = {}
    for name, m in model.named_children():
        m.register_forward_hook(lambda mod, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
    assert model(x).shape == (3, 10)
    assert shapes == {"conv1": (6, 28, 28), "pool1": (6, 14, 14), "conv2": (16, 10, 10), "pool2": (16, 5, 5),
                      "conv3": (120, 1, 1), "fc1": (84,), "fc2": (10,)}


def test_encoder_layers_follow_the_table():
    assert layers(Encoder(latent_dimensionality=2)) == [
        ("conv_1", "Conv2d", 1, 16, (3, 3), (1, 1), (0, 0)),
        ("conv_2", "Conv2d", 16, 32, (3, 3), (1, 1), (0, 0)),
        ("pool_1", "MaxPool2d", (2, 2), (2, 2)),
        ("conv_3", "Conv2d", 32, 64, (3, 3), (1, 1), (0, 0)),
        ("pool_2", "MaxPool2d", (2, 2), (2, 2)),
        ("fc_1", "Linear", 64 * 5 * 5, 32),
        ("fc_2", "Linear", 32, 2),
    ]
    assert layers(Encoder(latent_dimensionality=4))[-1] == ("fc_2", "Linear", 32, 4)


def test_decoder_layers_follow_the_table():
    assert layers(Decoder(latent_dimensionality=2)) == [
        ("fc_1", "Linear", 2, 32),
        ("fc_2", "Linear", 32, 64 * 5 * 5),
        ("upsample_1", "UpsamplingNearest2d", (2.0, 2.0), "nearest"),
        ("conv_1", "Conv2d", 64, 32, (3, 3), (1, 1), (2, 2)),
        ("upsample_2", "UpsamplingNearest2d", (2.0, 2.0), "nearest"),
        ("conv_2", "Conv2d", 32, 16, (3, 3), (1, 1), (2, 2)),
        ("conv_3", "Conv2d", 16, 1, (3, 3), (1, 1), (2, 2)),
    ]


def test_encoder_shapes_match_the_assignments_comments():
    model, shapes = Encoder(), {}
    for name, m in model.named_children():
        m.register_forward_hook(lambda mod, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 2)
    assert shapes == {"conv_1": (16, 26, 26), "conv_2": (32, 24, 24), "pool_1": (32, 12, 12),
                      "conv_3": (64, 10, 10), "pool_2": (64, 5, 5), "fc_1": (32,), "fc_2": (2,)}


def test_decoder_shapes_and_range():
    model, shapes = Decoder(), {}
    for name, m in model.named_children():
        m.register_forward_hook(lambda mod, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
    out = model(torch.randn(5, 2) * 10)
    assert out.shape == (5, 1, 28, 28)
    assert out.min() >= 0 and out.max() <= 1  # sigmoid
    assert shapes == {"fc_1": (32,), "fc_2": (1600,), "upsample_1": (64, 10, 10), "conv_1": (32, 12, 12),
                      "upsample_2": (32, 24, 24), "conv_2": (16, 26, 26), "conv_3": (1, 28, 28)}


def test_parameter_counts_of_the_autoencoders():
    encoder = 160 + 4_640 + 18_496 + 51_232 + 66
    decoder = 96 + 52_800 + 18_464 + 4_624 + 145
    assert sum(p.numel() for p in AutoEncoder(Encoder(), Decoder()).parameters()) == encoder + decoder
    vae = VariationalAutoEncoder(Encoder(4), Decoder(2), 2)
    assert sum(p.numel() for p in vae.parameters()) == encoder + 66 + decoder


def test_autoencoder_round_trip_shape():
    assert AutoEncoder(Encoder(), Decoder())(torch.rand(4, 1, 28, 28)).shape == (4, 1, 28, 28)


def test_vae_outputs():
    vae = VariationalAutoEncoder(Encoder(4), Decoder(2), 2)
    reconstructed, mu, log_variance = vae(torch.rand(6, 1, 28, 28))
    assert reconstructed.shape == (6, 1, 28, 28)
    assert mu.shape == log_variance.shape == (6, 2)


def test_vae_sampling_uses_the_noise():
    vae, x = VariationalAutoEncoder(Encoder(4), Decoder(2), 2), torch.rand(6, 1, 28, 28)
    first, mu, _ = vae(x)
    second, mu_again, _ = vae(x)
    assert torch.equal(mu, mu_again)
    assert not torch.allclose(first, second)  # a new eps each pass


def test_vae_sample_is_mu_when_the_variance_vanishes():
    vae, x = VariationalAutoEncoder(Encoder(4), Decoder(2), 2), torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        vae.encoder.fc_2.weight[2:] = 0
        vae.encoder.fc_2.bias[2:] = -200.0  # log-variance -200: variance ~ 1e-87
    reconstructed, mu, _ = vae(x)
    assert torch.equal(reconstructed, vae.decoder(mu))


def test_kl_divergence_is_zero_for_the_prior():
    assert kl_divergence(torch.zeros(8, 2), torch.zeros(8, 2)).item() == 0.0


def test_kl_divergence_matches_the_closed_form():
    mu, log_variance = torch.randn(16, 2, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    prior = torch.distributions.Normal(0.0, 1.0)
    posterior = torch.distributions.Normal(mu, torch.exp(0.5 * log_variance))
    expected = torch.distributions.kl_divergence(posterior, prior).mean()
    assert torch.allclose(kl_divergence(mu, log_variance), expected)
    assert kl_divergence(mu, log_variance) > 0


# ---- bad input gets a clear ValueError naming what was expected and what came ----
@pytest.mark.parametrize("model, shape, expected", [
    (LeNet_5(), (2, 1, 28, 28), r"\(N, 1, 32, 32\).*\(2, 1, 28, 28\)"),
    (LeNet_5(), (1, 32, 32), r"\(N, 1, 32, 32\).*\(1, 32, 32\)"),
    (Encoder(), (2, 1, 32, 32), r"\(N, 1, 28, 28\).*\(2, 1, 32, 32\)"),
    (Encoder(), (2, 3, 28, 28), r"\(N, 1, 28, 28\).*\(2, 3, 28, 28\)"),
    (Decoder(2), (5, 4), r"\(N, 2\).*\(5, 4\)"),
])
def test_wrong_input_shapes_raise_clear_errors(model, shape, expected):
    with pytest.raises(ValueError, match=expected):
        model(torch.rand(*shape))


def test_vae_with_a_mismatched_encoder_is_refused():
    with pytest.raises(ValueError, match=r"encoder of latent width 4; received one of width 2"):
        VariationalAutoEncoder(Encoder(2), Decoder(2), 2)
    with pytest.raises(ValueError, match=r"decoder of latent width 2; received one of width 4"):
        VariationalAutoEncoder(Encoder(4), Decoder(4), 2)


def test_vae_checks_the_encoder_output_at_run_time():
    class Plain(nn.Module):  # an encoder without a latent_dimensionality attribute
        def forward(self, x):
            return torch.zeros(len(x), 3)

    with pytest.raises(ValueError, match=r"\(N, 4\).*\(2, 3\)"):
        VariationalAutoEncoder(Plain(), Decoder(2), 2)(torch.rand(2, 1, 28, 28))
