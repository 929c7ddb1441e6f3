"""The helpers' rooms: one AE-or-VAE decision, the latent width read from the model, digits placed without overlap,
grading markers hidden, and hw2_models importable while Part 2's blanks are open."""
import re
import subprocess
import sys
import textwrap

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn as nn

import hw2_helpers
from hw2_models import AutoEncoder, Decoder, Encoder, VariationalAutoEncoder

from conftest import REPO

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def loader(n=40):
    images = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(n))  # the same images every call
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, torch.zeros(n, dtype=torch.long)), batch_size=16)


def test_every_module_the_notebook_imports_stays_under_600_lines():
    files = [REPO / "hw2_models.py", *(REPO / "hw2_helpers").glob("*.py")]
    long = {str(p.relative_to(REPO)): n for p in files if (n := len(p.read_text().splitlines())) > 600}
    assert not long, long


@pytest.mark.slow
def test_a_vae_without_a_kl_weight_gets_the_assignments(capsys):
    torch.manual_seed(0)
    model = VariationalAutoEncoder(Encoder(4), Decoder(2), 2)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(1)  # the VAE samples its codes: the same draws in both runs
    history = hw2_helpers.train_autoencoder(model, torch.optim.Adam(model.parameters(), 1e-3), loader(), loader(),
                                           nn.BCELoss(), "cpu", 1)
    assert history[0][2] > 0 and "Mean training total loss" in capsys.readouterr().out  # the VAE's loss, its line
    model.load_state_dict(state)
    torch.manual_seed(1)
    explicit = hw2_helpers.train_autoencoder(model, torch.optim.Adam(model.parameters(), 1e-3), loader(), loader(),
                                            nn.BCELoss(), "cpu", 1, kl_weight=hw2_helpers.DEFAULT_KL_WEIGHT)
    assert hw2_helpers.DEFAULT_KL_WEIGHT == 0.01 and np.allclose(history, explicit)


def test_an_autoencoder_refuses_a_kl_weight():
    model = AutoEncoder(Encoder(), Decoder())
    with pytest.raises(ValueError, match="only a VariationalAutoEncoder takes a kl_weight"):
        hw2_helpers.train_autoencoder(model, torch.optim.Adam(model.parameters()), loader(), loader(), nn.BCELoss(),
                                      "cpu", 1, kl_weight=0.01)
    with pytest.raises(ValueError, match="needs kl_weight for a VAE"):
        hw2_helpers.autoencoder_epoch(VariationalAutoEncoder(Encoder(4), Decoder(2), 2), loader(), nn.BCELoss(), "cpu")


def test_the_latent_width_is_read_from_the_model():
    vae = VariationalAutoEncoder(Encoder(6), Decoder(3), 3)
    assert hw2_helpers.latent_width(vae) == 3
    codes = np.arange(12.0).reshape(2, 6)
    assert hw2_helpers.means(vae, codes).tolist() == [[0, 1, 2], [6, 7, 8]]
    assert hw2_helpers.elbo_nats(0.2, 1.0, 0.01, 3) == pytest.approx(784 * 0.2 + 784 / 3 * 0.01)


def test_one_grid_function_for_the_mosaics_and_the_measures():
    z1, z2 = np.array([0.0, 1.0, 2.0]), np.array([-1.0, 1.0])
    grid = hw2_helpers.latent_grid(z1, z2)
    Z1, Z2 = np.meshgrid(z1, z2)
    assert np.array_equal(grid, np.vstack([Z1.flatten(), Z2.flatten()]).T)  # the assignment's cells' order
    import scipy.stats

    assert np.array_equal(hw2_helpers.ppf_axis(20), scipy.stats.norm.ppf(np.linspace(0.005, 0.995, 20)))
    box = hw2_helpers.box_axes(np.array([[0.0, -2.0], [4.0, 2.0]]), 5)
    assert box[0].tolist() == [0, 1, 2, 3, 4] and box[1].tolist() == [-2, -1, 0, 1, 2]


def boxes(texts):
    renderer = texts[0].figure.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in texts]


def test_centroid_labels_never_overlap():
    rng = np.random.default_rng(0)
    # ten clusters whose medians crowd into a tenth of the axes, as the AE's 2, 3, 5, 6 and 8 do
    labels = np.repeat(np.arange(10), 50)
    codes = rng.normal(0, 0.01, (500, 2)) + rng.uniform(0, 0.1, (10, 2))[labels]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.set(xlim=(-0.5, 1.0), ylim=(-0.5, 1.0))
    texts = hw2_helpers.label_centroids(ax, codes, labels)
    assert sorted(t.get_text() for t in texts) == [str(d) for d in range(10)]
    placed = boxes(texts)
    overlaps = [(a, b) for i, a in enumerate(placed) for b in placed[i + 1:] if a.overlaps(b)]
    assert not overlaps
    plt.close(fig)


def test_a_collapsed_space_gets_one_label():
    labels = np.repeat(np.arange(10), 5)
    fig, ax = plt.subplots()
    ax.set(xlim=(-1, 1), ylim=(-1, 1))
    texts = hw2_helpers.label_centroids(ax, np.zeros((50, 2)), labels)
    assert [t.get_text() for t in texts] == ["all ten digits"]
    plt.close(fig)


def test_show_source_hides_grading_markers():
    namespace = {}
    exec(compile("def f(x):\n    return x + 1  # blank: args\n", str(REPO / "marker_example.py"), "exec"), namespace)
    import linecache

    linecache.cache[str(REPO / "marker_example.py")] = (0, None, ["def f(x):\n", "    return x + 1  # blank: args\n"],
                                                        str(REPO / "marker_example.py"))
    shown = hw2_helpers.show_source(namespace["f"]).data
    assert "return x + 1\n" in shown and "blank" not in shown


def blanked_models(tmp_path, *lines):
    """A copy of the helpers, the case toolkit and hw2_models.py with each of ``lines`` (a layer's name in Encoder or Decoder) blanked
    as the assignment blanks it."""
    import shutil

    for package in ("hw2_helpers", "casekit"):  # as the student version ships them
        shutil.copytree(REPO / package, tmp_path / package)
    text = (REPO / "hw2_models.py").read_text()
    for cls, name in lines:
        start = text.index(f"class {cls}(")
        line = re.search(rf"^( +self\.{name} = ).*$", text[start:], re.M)
        text = text[:start + line.start()] + line.group(1) + "### YOUR CODE HERE ###" + text[start + line.end():]
    (tmp_path / "hw2_models.py").write_text(text)
    return text


@pytest.mark.slow
def test_part_one_runs_while_part_two_is_blank(tmp_path):
    text = blanked_models(tmp_path, ("Encoder", "conv_1"), ("Decoder", "fc_2"))
    line = text[:text.index("self.conv_1 = ### YOUR CODE HERE ###")].count("\n") + 1
    script = textwrap.dedent("""
        import warnings
        import torch
        import hw2_helpers as hw2
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from hw2_models import LeNet_5, Encoder, Decoder, AutoEncoder, device_choice
        print("WARNING", caught[0].message)
        print("LENET", tuple(LeNet_5()(torch.zeros(2, 1, 32, 32)).shape))
        print("SOURCE", "self.conv3 = nn.Conv2d" in hw2.show_source(LeNet_5).data)
        for cls in (Encoder, Decoder):
            try:
                cls()
            except NotImplementedError as error:
                print("ERROR", error)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "LENET (2, 10)" in out and "SOURCE True" in out
    assert f"Encoder is not finished: hw2_models.py line {line}, `self.conv_1 = ### YOUR CODE HERE ###`" in out
    assert "Decoder is not finished: hw2_models.py line" in out and "`self.fc_2 = ### YOUR CODE HERE ###`" in out
    assert "WARNING hw2_models.py does not compile yet: Encoder, Decoder" in out


@pytest.mark.slow
def test_a_module_that_compiles_is_imported_by_python_itself(tmp_path):
    blanked_models(tmp_path)
    script = "import hw2_helpers, hw2_models, inspect; print(type(hw2_models.__spec__.loader).__name__)"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "SourceFileLoader", result.stderr


@pytest.mark.slow
def test_a_broken_line_outside_a_definition_still_says_where(tmp_path):
    blanked_models(tmp_path)
    path = tmp_path / "hw2_models.py"
    path.write_text(path.read_text().replace("import re  # noqa: E402", "import re  # noqa: E402\nx = ### YOUR CODE HERE ###"))
    result = subprocess.run([sys.executable, "-c", "import hw2_helpers, hw2_models"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0 and re.search(r"hw2_models.py line \d+ does not compile .*`x = ### YOUR CODE HERE ###`",
                                                result.stderr), result.stderr


def test_an_interpolation_row_shows_the_two_originals_at_its_ends():
    start, end = torch.zeros(1, 28, 28), torch.ones(1, 28, 28)
    decoded = torch.full((9, 1, 28, 28), 0.5)
    fig, axes = plt.subplots(1, 11)
    hw2_helpers.draw_path(axes, start, decoded, end, torch.arange(9), torch.linspace(0.5, 1, 9), [3, 8])
    shown = [np.asarray(ax.images[0].get_array()) for ax in axes]
    assert np.array_equal(shown[0], start[0].numpy()) and np.array_equal(shown[-1], end[0].numpy())
    assert all(np.array_equal(s, decoded[0, 0].numpy()) for s in shown[1:-1])
    assert [axes[0].get_title(), axes[-1].get_title()] == ["original 3", "original 8"]
    with pytest.raises(ValueError, match="needs 11 axes"):
        hw2_helpers.draw_path(axes[:10], start, decoded, end, torch.arange(9), torch.ones(9), [3, 8])
    plt.close(fig)
