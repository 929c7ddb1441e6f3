"""The measures of generated digits: inception score, Frechet distance, F6 features, paths, ELBO, the seed table."""
import numpy as np
import pytest
import torch
import torchvision.transforms as transforms

import hw2_helpers as helpers
from hw2_models import AutoEncoder, Decoder, Encoder, LeNet_5, VariationalAutoEncoder

from conftest import mnist_batch

LENET_TRANSFORM = transforms.Compose([
    transforms.Resize((32, 32)), transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,)),
])


def test_inception_score_of_ten_equal_one_hot_classes_is_ten_and_of_one_class_is_one():
    ten = torch.eye(10).repeat(7, 1)
    assert helpers.inception_score(ten) == pytest.approx(10.0)
    assert helpers.inception_score(torch.eye(10)[[3] * 50]) == pytest.approx(1.0)
    # one class read everywhere with any confidence, still 1: the score sees collapse, a confidence share does not
    assert helpers.inception_score(torch.full((40, 10), 0.1)) == pytest.approx(1.0)
    two = torch.eye(10)[[0, 1] * 20]
    assert helpers.inception_score(two) == pytest.approx(2.0)


def test_frechet_distance_of_a_set_to_itself_is_zero_and_to_a_shifted_gaussian_is_the_squared_shift():
    generator = np.random.default_rng(0)
    a = generator.standard_normal((5000, 8))
    assert helpers.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.zeros(8)
    shift[:2] = [3.0, 4.0]  # squared length 25
    b = generator.standard_normal((5000, 8)) + shift
    assert helpers.frechet_distance(a, b) == pytest.approx(25.0, rel=0.03)
    wider = generator.standard_normal((5000, 8)) * 2  # same mean, variance 4: per dimension (2 - 1)^2 = 1, so 8
    assert helpers.frechet_distance(a, wider) == pytest.approx(8.0, rel=0.05)
    with pytest.raises(ValueError, match="same D"):
        helpers.frechet_distance(a, b[:, :3])


def test_f6_features_are_read_exactly_as_read_digits_reads_images():
    torch.manual_seed(0)
    lenet = LeNet_5().eval()
    images = mnist_batch(50)
    probabilities, features = helpers.classifier_readings(lenet, images, LENET_TRANSFORM, "cpu")
    digits, confidence = helpers.read_digits(lenet, images, LENET_TRANSFORM, "cpu")
    assert features.shape == (50, 84) and probabilities.shape == (50, 10)
    assert torch.equal(probabilities.max(dim=1).values, confidence) and torch.equal(probabilities.argmax(dim=1), digits)
    as_uint8 = (images * 255).round().to(torch.uint8)  # MNIST's own bytes: mnist_batch divided them by 255
    inputs = torch.stack([LENET_TRANSFORM(transforms.functional.to_pil_image(image)) for image in as_uint8])
    with torch.inference_mode():
        s2 = torch.tanh(lenet.pool1(lenet.conv1(inputs)))
        s4 = torch.tanh(lenet.pool2(lenet.conv2(s2)))
        expected = torch.tanh(lenet.fc1(torch.tanh(lenet.conv3(s4)).flatten(1)))  # F6
    assert torch.allclose(features, expected, atol=1e-6)


def test_set_measures_count_digits_and_floor():
    generator = torch.Generator().manual_seed(0)
    probabilities = torch.eye(10)[torch.tensor([1] * 30 + [7] * 10)] * 0.95 + 0.005
    features = torch.randn(40, 84, generator=generator)
    reference, floor = torch.randn(30, 84, generator=generator), torch.randn(30, 84, generator=generator)
    row = helpers.set_measures(probabilities, features, reference, floor)
    assert row["counts"][1] == 30 and row["counts"][7] == 10 and row["present"] == 2 and row["n"] == 40
    assert row["fid_n"] == 30 and row["confident"] == 1.0
    assert row["floor"] == pytest.approx(helpers.frechet_distance(floor, reference))
    assert 1.5 < row["inception"] < 2.0


def test_elbo_in_nats_per_image():
    # BCE 0.18 per pixel over 784 pixels + KL 5 nats: plain ELBO 146.12; the assignment's weight 0.01 is beta 3.92
    assert helpers.elbo_nats(0.18, 5.0, None, 2) == pytest.approx(0.18 * 784 + 5.0)
    assert helpers.elbo_nats(0.18, 5.0, 0.01, 2) == pytest.approx(0.18 * 784 + 3.92 * 5.0)
    assert helpers.elbo_nats(0.18, 5.0, 1 / 392, 2) == pytest.approx(helpers.elbo_nats(0.18, 5.0, None, 2))


def test_interpolation_pairs_are_seeded_of_different_digits_and_start_with_the_far_pair():
    labels = np.repeat(np.arange(10), 20)
    codes = np.stack([labels * 1.0, np.zeros(len(labels))], axis=1)  # digit d at (d, 0): 0 and 9 lie furthest apart
    pairs = helpers.interpolation_pairs(codes, labels, n_pairs=100, seed=0)
    assert len(pairs) == 101 and pairs == helpers.interpolation_pairs(codes, labels, n_pairs=100, seed=0)
    assert sorted(labels[list(pairs[0])]) == [0, 9]
    assert all(labels[i] != labels[j] for i, j in pairs)
    assert pairs != helpers.interpolation_pairs(codes, labels, n_pairs=100, seed=1)


def test_path_confidence_reads_every_step_of_every_pair():
    torch.manual_seed(0)
    lenet = LeNet_5().eval()
    ae = AutoEncoder(Encoder(), Decoder())
    vae = VariationalAutoEncoder(Encoder(4), Decoder(2), 2)
    images = mnist_batch(20)
    paths = helpers.path_confidence({"AE": ae, "VAE": vae}, images, [(0, 1), (2, 3), (4, 5)], lenet, LENET_TRANSFORM,
                                    "cpu", steps=5)
    assert set(paths) == {"AE", "VAE"} and all(p.shape == (3,) for p in paths.values())
    # the first pair by hand: decode 5 points between the two codes and average the confidence
    codes = ae.encoder(images[:2]).detach()
    line = torch.stack([(1 - t) * codes[0] + t * codes[1] for t in torch.linspace(0, 1, 5)])
    _, confidence = helpers.read_digits(lenet, helpers.decode(ae.decoder, line, "cpu"), LENET_TRANSFORM, "cpu")
    assert paths["AE"][0] == pytest.approx(confidence.mean().item(), abs=1e-6)


def test_mean_interval_covers_the_mean():
    mean, low, high = helpers.mean_interval([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and low < 2.5 < high and high - 2.5 == pytest.approx(2.5 - low)
    assert high - low == pytest.approx(2 * 3.182446 * np.std([1, 2, 3, 4], ddof=1) / 2, rel=1e-5)


def test_seed_table_round_trip(tmp_path):
    import csv

    row = {key: float(i) for i, key in enumerate(helpers.SEED_COLUMNS)}
    row["seed"] = 3
    path = tmp_path / "seeds.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=helpers.SEED_COLUMNS)
        writer.writeheader()
        writer.writerow(row)
    assert helpers.read_seed_table(path) == [row]


def test_every_cluster_is_labelled_with_its_digit_at_its_median():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    generator = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 30)
    codes = np.stack([labels * 3.0, -labels * 2.0], axis=1) + generator.standard_normal((300, 2)) * 0.1
    fig, ax = plt.subplots()
    ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="plasma")
    helpers.label_centroids(ax, codes, labels)
    texts = {t.get_text(): t.get_position() for t in ax.texts}
    assert sorted(texts) == [str(d) for d in range(10)]
    for d in range(10):
        assert np.allclose(texts[str(d)], np.median(codes[labels == d], axis=0))
    plt.close(fig)


def test_seed_table_states_which_comparisons_hold_in_every_seed():
    base = {key: 1.0 for key in helpers.SEED_COLUMNS}
    rows = [base | {"seed": 0, "ae_bce": 0.17, "vae_bce": 0.18, "path_vae": 0.9, "path_ae": 0.8},
            base | {"seed": 1, "ae_bce": 0.17, "vae_bce": 0.18, "path_vae": 0.7, "path_ae": 0.8}]
    text = helpers.format_seed_table(rows)
    assert "reconstruction: AE BCE below VAE BCE: 2 of 2 seeds, holds in every seed" in text
    assert "path confidence: VAE above AE: 1 of 2 seeds, does NOT hold in every seed" in text
    assert "IS: VAE PPF grid above AE grid: 0 of 2 seeds, does NOT hold in every seed" in text  # ties do not hold
    assert "seed 0" in text.splitlines()[0] and "seed 1" in text.splitlines()[0]


def test_grid_occupancy_sees_a_collapsed_code_and_a_spread_one():
    generator = np.random.default_rng(0)
    spread = generator.standard_normal((20_000, 2))
    (ae_share, vae_share), (ae_edges, ppf_edges) = helpers.grid_occupancy(spread, spread)
    assert vae_share > 0.95 and ae_share < 0.7  # a bounding box's far cells are empty; N(0, 1)'s quantile cells are not
    assert len(ppf_edges) == 21 and np.isinf(ppf_edges[[0, -1]]).all() and len(ae_edges) == 2
    (_, collapsed), _ = helpers.grid_occupancy(spread, np.zeros((1000, 2)))
    assert collapsed == 1 / 400
