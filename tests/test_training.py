"""The shared training/evaluation passes, the mosaic and encoding helpers, and seeding."""
import random

import numpy as np
import torch
import torch.nn as nn

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
    loss, correct, total = hw2_models.classifier_epoch(Constant(), loader(70, labels=labels), nn.CrossEntropyLoss(), "cpu")
    assert (correct, total) == (50, 70)
    logits = Constant()(torch.zeros(70, 1, 32, 32))
    assert np.isclose(loss, nn.CrossEntropyLoss()(logits, labels).item(), rtol=1e-6)  # per image, not per batch


def test_evaluation_is_in_eval_mode_without_gradients():
    model, seen = LeNet_5(), []
    model.register_forward_hook(lambda m, i, o: seen.append((m.training, o.requires_grad, torch.is_inference(o))))
    before = [p.clone() for p in model.parameters()]
    hw2_models.classifier_epoch(model, loader(70), nn.CrossEntropyLoss(), "cpu")
    assert seen and all(s == (False, False, True) for s in seen)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_training_steps_the_optimizer_once_per_batch():
    model = LeNet_5()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    hw2_models.classifier_epoch(model, loader(130), nn.CrossEntropyLoss(), "cpu", optimizer)
    assert model.training
    assert optimizer.state[model.fc2.bias]["step"].item() == 3  # 64 + 64 + 2


def test_autoencoder_epoch_losses():
    model, data = AutoEncoder(Encoder(), Decoder()), loader(70, size=28)
    total, reconstruction = hw2_models.autoencoder_epoch(model, data, nn.BCELoss(), "cpu")
    assert total == reconstruction
    images = data.dataset.tensors[0]
    expected = nn.BCELoss()(model.eval()(images), images).item()
    assert np.isclose(total, expected, rtol=1e-5)


def test_vae_epoch_adds_the_weighted_kl_term():
    torch.manual_seed(0)
    model, data = VariationalAutoEncoder(Encoder(4), Decoder(2), 2), loader(64, size=28)
    with torch.no_grad():
        model.encoder.fc_2.bias[:2] = 3.0  # mu far from 0: a large KL term
    total, reconstruction = hw2_models.autoencoder_epoch(model, data, nn.BCELoss(), "cpu", kl_weight=0.01)
    mu = model.encoder(data.dataset.tensors[0])[:, :2]
    log_variance = model.encoder(data.dataset.tensors[0])[:, 2:]
    assert np.isclose(total - reconstruction, 0.01 * hw2_models.kl_divergence(mu, log_variance).item(), rtol=1e-4)


def test_confusion_counts_and_most_confused():
    labels = torch.tensor([3] * 5 + [1] * 4 + [7] * 2)
    counts = hw2_models.confusion_counts(Constant(), loader(11, labels=labels, batch_size=4), "cpu")
    assert counts[3, 3] == 5 and counts[1, 3] == 4 and counts[7, 3] == 2 and counts.sum() == 11
    assert hw2_models.most_confused(counts, k=2) == [(1, 3, 4), (7, 3, 2)]


def test_encodings_decoding_and_mosaic():
    model = AutoEncoder(Encoder(), Decoder())
    codes, labels = hw2_models.get_all_encodings(model, loader(70, size=28), "cpu")
    assert codes.shape == (70, 2) and labels.shape == (70,)
    images = hw2_models.decode(model.decoder, np.zeros((9, 2)), "cpu")
    assert images.shape == (9, 1, 28, 28) and not images.requires_grad
    figure = hw2_models.show_mosaic(images, 3, title="t")
    axes_image = figure.axes[0].images[0].get_array()
    assert axes_image.shape == (3 * 28 + 4, 3 * 28 + 4)  # one image, 1-pixel borders
    assert len(figure.axes) == 1


def test_seed_everything_repeats_every_source_of_randomness():
    def draw(seed):
        generator = hw2_models.seed_everything(seed)
        order = list(torch.utils.data.RandomSampler(range(100), generator=generator))
        return random.random(), np.random.rand(), torch.rand(1).item(), order

    assert draw(7) == draw(7)
    seven, eight = draw(7), draw(8)
    for source_seven, source_eight in zip(seven, eight):  # every source follows the seed, the shuffling too
        assert source_seven != source_eight


def test_seeded_training_is_repeatable():
    def train():
        generator = hw2_models.seed_everything(0)
        model = LeNet_5()
        data = torch.utils.data.DataLoader(loader(200).dataset, batch_size=64, shuffle=True, generator=generator)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
        return hw2_models.classifier_epoch(model, data, nn.CrossEntropyLoss(), "cpu", optimizer), model.fc2.bias.tolist()

    torch.manual_seed(123)
    first = train()
    torch.manual_seed(456)  # whatever ran before, seeding resets it
    assert train() == first
