"""The shared training/evaluation passes, the mosaic and encoding helpers, and seeding."""
import random

import numpy as np
import pytest
import torch
import torch.nn as nn

import hw2_helpers

import hw2_models
from hw2_models import AutoEncoder, Decoder, Encoder, LeNet_5, VariationalAutoEncoder


def loader(n, size=32, batch_size=64, labels=None):
    images = torch.randn(n, 1, size, size) if size == 32 else torch.rand(n, 1, size, size)
    labels = torch.randint(0, 10, (n,)) if labels is None else labels
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=batch_size)


class Constant(nn.Module):
    """Predicts class 3 for every image."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return torch.zeros(len(x), 10).index_fill(1, torch.tensor([3]), 1.0) + self.bias


def test_accuracy_is_correct_over_total_with_a_short_last_batch():
    labels = torch.tensor([3] * 50 + [1] * 20)  # 70 images: batches of 64 and 6; 50 right
    loss, correct, total = hw2_helpers.classifier_epoch(Constant(), loader(70, labels=labels), nn.CrossEntropyLoss(), "cpu")
    assert (correct, total) == (50, 70)
    logits = Constant()(torch.zeros(70, 1, 32, 32))
    assert np.isclose(loss, nn.CrossEntropyLoss()(logits, labels).item(), rtol=1e-6)  # per image, not per batch


def test_evaluation_is_in_eval_mode_without_gradients():
    model, seen = LeNet_5(), []
    model.register_forward_hook(lambda m, i, o: seen.append((m.training, o.requires_grad, torch.is_inference(o))))
    before = [p.clone() for p in model.parameters()]
    hw2_helpers.classifier_epoch(model, loader(70), nn.CrossEntropyLoss(), "cpu")
    assert seen and all(s == (False, False, True) for s in seen)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_training_steps_the_optimizer_once_per_batch():
    model = LeNet_5()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    hw2_helpers.classifier_epoch(model, loader(130), nn.CrossEntropyLoss(), "cpu", optimizer)
    assert model.training
    assert optimizer.state[model.fc2.bias]["step"].item() == 3  # 64 + 64 + 2


def test_autoencoder_epoch_losses():
    model, data = AutoEncoder(Encoder(), Decoder()), loader(70, size=28)
    total, reconstruction, kl = hw2_helpers.autoencoder_epoch(model, data, nn.BCELoss(), "cpu")
    assert total == reconstruction and kl == 0
    images = data.dataset.tensors[0]
    expected = nn.BCELoss()(model.eval()(images), images).item()
    assert np.isclose(total, expected, rtol=1e-5)


def test_vae_epoch_adds_the_weighted_kl_term():
    torch.manual_seed(0)
    model, data = VariationalAutoEncoder(Encoder(4), Decoder(2), 2), loader(64, size=28)
    with torch.no_grad():
        model.encoder.fc_2.bias[:2] = 3.0  # mu far from 0: a large KL term
    total, reconstruction, kl = hw2_helpers.autoencoder_epoch(model, data, nn.BCELoss(), "cpu", kl_weight=0.01)
    mu = model.encoder(data.dataset.tensors[0])[:, :2]
    log_variance = model.encoder(data.dataset.tensors[0])[:, 2:]
    assert np.isclose(total - reconstruction, 0.01 * hw2_models.kl_divergence(mu, log_variance).item(), rtol=1e-4)
    # the KL it reports is in nats per image, summed over the 2 latent dimensions
    per_image = 0.5 * (mu ** 2 + log_variance.exp() - 1 - log_variance).sum(dim=1).mean().item()
    assert np.isclose(kl, per_image, rtol=1e-4)


def test_kl_weight_is_a_beta_vae_with_beta_392_times_the_weight():
    # BCELoss averages over 784 pixels and kl_divergence over 2 dimensions, so per image the loss is
    # (BCE summed over pixels + 392 * kl_weight * KL summed over dimensions) / 784: kl_weight 1/392 is the ELBO.
    from conftest import mnist_batch

    torch.manual_seed(0)
    images = mnist_batch(64)
    model = VariationalAutoEncoder(Encoder(4), Decoder(2), 2)
    reconstructed, mu, log_variance = model(images)
    bce_sum = nn.BCELoss(reduction="none")(reconstructed, images).sum(dim=(1, 2, 3))
    kl_sum = 0.5 * (mu ** 2 + log_variance.exp() - 1 - log_variance).sum(dim=1)
    for weight in [0.0, 1 / 392, 0.01, 0.1]:
        total, _, _ = hw2_helpers.vae_loss(reconstructed, images, mu, log_variance, nn.BCELoss(), weight)
        expected = ((bce_sum + 392 * weight * kl_sum) / 784).mean()
        assert torch.isclose(total, expected, rtol=1e-5), weight


def test_vae_sampling_has_finite_gradients_when_the_variance_underflows():
    # kl_weight 0 lets log_variance fall until exp() underflows to 0; sqrt(exp(.)) then back-propagates 0 * inf = NaN.
    model = VariationalAutoEncoder(Encoder(4), Decoder(2), 2)
    with torch.no_grad():
        model.encoder.fc_2.weight[2:] = 0
        model.encoder.fc_2.bias[2:] = -200.0  # variance exp(-200) = 0 in float32
    reconstructed, mu, log_variance = model(torch.rand(8, 1, 28, 28))
    reconstructed.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.slow
def test_train_autoencoder_returns_one_row_per_epoch(capsys):
    model = VariationalAutoEncoder(Encoder(4), Decoder(2), 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    history = hw2_helpers.train_autoencoder(model, optimizer, loader(70, size=28), loader(30, size=28), nn.BCELoss(),
                                           "cpu", n_epochs=2, kl_weight=0.01)
    assert len(history) == 2 and all(len(row) == 3 and row[2] > 0 for row in history)
    assert capsys.readouterr().out.count("Mean training total loss") == 2
    hw2_helpers.train_autoencoder(model, optimizer, loader(70, size=28), loader(30, size=28), nn.BCELoss(),
                                 "cpu", n_epochs=1, kl_weight=0.01, verbose=False)
    assert "Epoch" not in capsys.readouterr().out


def test_active_dimensions_counts_the_varying_means():
    rng = np.random.default_rng(0)
    mu = np.stack([rng.normal(0, 1.0, 5000), rng.normal(0.5, 0.05, 5000), rng.normal(0, 0.2, 5000)], axis=1)
    # variances about 1, 0.0025 and 0.04: the second dimension is collapsed
    assert hw2_helpers.active_dimensions(mu) == 2
    assert hw2_helpers.active_dimensions(mu, threshold=0.1) == 1
    assert hw2_helpers.active_dimensions(np.zeros((10, 2))) == 0


def test_occupied_share():
    codes = np.array([[0.5, 0.5], [0.6, 0.4], [1.5, 1.5]])
    edges = np.array([0.0, 1.0, 2.0])
    assert hw2_helpers.occupied_share(codes, edges, edges) == 0.5  # 2 of the 4 cells


def test_predict_all_keeps_the_stored_order():
    labels = torch.tensor([3, 1, 3, 7, 0])
    images = torch.zeros(5, 1, 32, 32)
    dataset = torch.utils.data.TensorDataset(images, labels)
    predictions, probabilities, targets = hw2_helpers.predict_all(Constant(), dataset, "cpu", batch_size=2)
    assert predictions.tolist() == [3] * 5 and targets.tolist() == [3, 1, 3, 7, 0]
    assert probabilities.shape == (5, 10) and torch.allclose(probabilities.sum(dim=1), torch.ones(5))
    expected = torch.softmax(Constant()(images), dim=1)
    assert torch.allclose(probabilities, expected)


def test_confusion_counts_and_most_confused():
    labels = torch.tensor([3] * 5 + [1] * 4 + [7] * 2)
    counts = hw2_helpers.confusion_counts(Constant(), loader(11, labels=labels, batch_size=4), "cpu")
    assert counts[3, 3] == 5 and counts[1, 3] == 4 and counts[7, 3] == 2 and counts.sum() == 11
    assert hw2_helpers.most_confused(counts, k=2) == [(1, 3, 4), (7, 3, 2)]


def test_encodings_decoding_and_mosaic():
    model = AutoEncoder(Encoder(), Decoder())
    codes, labels = hw2_helpers.get_all_encodings(model, loader(70, size=28), "cpu")
    assert codes.shape == (70, 2) and labels.shape == (70,)
    images = hw2_helpers.decode(model.decoder, np.zeros((9, 2)), "cpu")
    assert images.shape == (9, 1, 28, 28) and not images.requires_grad
    figure = hw2_helpers.show_mosaic(images, np.arange(3), np.arange(3), title="t")
    axes_image = figure.axes[0].images[0].get_array()
    assert axes_image.shape == (3 * 28 + 4, 3 * 28 + 4)  # one image, 1-pixel borders
    assert len(figure.axes) == 1


def test_mosaic_draws_z2_upwards_with_latent_ticks():
    # Tile (row i, column j) of the meshgrid order decodes (z1[j], z2[i]); drawn like a scatter plot, the
    # largest z2 is the top row. Each tile here is filled with its own index so the layout can be read back.
    z1, z2 = np.array([-1.0, 0.0, 1.0]), np.array([-2.5, 0.0, 2.5])
    images = torch.arange(9, dtype=torch.float32).view(9, 1, 1, 1).expand(9, 1, 4, 4) / 8
    ax = hw2_helpers.show_mosaic(images, z1, z2).axes[0]
    drawn = np.asarray(ax.images[0].get_array())
    top_left, bottom_left = drawn[1 + 1, 1 + 1], drawn[-2, 1 + 1]
    assert np.isclose(top_left, 6 / 8) and np.isclose(bottom_left, 0.0)  # row z2 = 2.5 on top, z2 = -2.5 at the bottom
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-1.00", "0.00", "1.00"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2.50", "0.00", "-2.50"]  # top to bottom
    assert ax.get_xlabel() == "$z_1$" and ax.get_ylabel() == "$z_2$"
    y_ticks = ax.get_yticks()
    assert np.isclose(drawn[int(y_ticks[0]), 2], 6 / 8)  # the top tick sits on the top row's tiles


def test_seed_everything_repeats_every_source_of_randomness():
    def draw(seed):
        generator = hw2_helpers.seed_everything(seed)
        order = list(torch.utils.data.RandomSampler(range(100), generator=generator))
        return random.random(), np.random.rand(), torch.rand(1).item(), order

    assert draw(7) == draw(7)
    seven, eight = draw(7), draw(8)
    for source_seven, source_eight in zip(seven, eight):  # every source follows the seed, the shuffling too
        assert source_seven != source_eight


def test_seeded_training_is_repeatable():
    def train():
        generator = hw2_helpers.seed_everything(0)
        model = LeNet_5()
        data = torch.utils.data.DataLoader(loader(200).dataset, batch_size=64, shuffle=True, generator=generator)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
        return hw2_helpers.classifier_epoch(model, data, nn.CrossEntropyLoss(), "cpu", optimizer), model.fc2.bias.tolist()

    torch.manual_seed(123)
    first = train()
    torch.manual_seed(456)  # whatever ran before, seeding resets it
    assert train() == first


def test_progress_is_a_plain_text_bar_outside_a_notebook(capsys):
    from tqdm.notebook import tqdm as notebook_tqdm

    bar = hw2_helpers.progress(range(3), desc="epochs")
    assert not isinstance(bar, notebook_tqdm) and list(bar) == [0, 1, 2]
    assert "epochs: 100%" in capsys.readouterr().err


def test_train_autoencoder_warns_when_the_posterior_collapses(capsys):
    model = VariationalAutoEncoder(Encoder(4), Decoder(2), 2)
    with torch.no_grad():  # every image encoded as the prior N(0, I): KL exactly 0
        model.encoder.fc_2.weight.zero_()
        model.encoder.fc_2.bias.zero_()
    frozen = torch.optim.Adam(model.parameters(), lr=0.0)
    history = hw2_helpers.train_autoencoder(model, frozen, loader(70, size=28), loader(30, size=28), nn.BCELoss(), "cpu",
                                           n_epochs=1, kl_weight=0.01)
    assert history[-1][2] == 0
    assert "the posterior has collapsed" in capsys.readouterr().out
    with torch.no_grad():
        model.encoder.fc_2.bias[:2] = 3.0  # means far from the prior: no collapse, no warning
    hw2_helpers.train_autoencoder(model, frozen, loader(70, size=28), loader(30, size=28), nn.BCELoss(), "cpu",
                                 n_epochs=1, kl_weight=0.01)
    assert "collapsed" not in capsys.readouterr().out
