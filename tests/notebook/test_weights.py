"""Saving and loading weights: round trips, refusals with a clear message, other devices."""
import zipfile

import pytest
import torch

from hw2_helpers import load_weights, save_weights
from hw2_models import AutoEncoder, Decoder, Encoder, LeNet_5, VariationalAutoEncoder


def ae(width=2):
    return AutoEncoder(Encoder(width), Decoder(width))


def vae(width=2):
    return VariationalAutoEncoder(Encoder(2 * width), Decoder(width), width)


@pytest.mark.parametrize("build", [ae, vae, LeNet_5], ids=["ae", "vae", "lenet"])
def test_round_trip(tmp_path, build):
    trained, fresh = build(), build()
    path = save_weights(trained, tmp_path / "weights.pth")
    assert not list(tmp_path.glob("*.partial"))
    loaded = load_weights(fresh, path)
    assert loaded is fresh and not loaded.training
    for (name, a), (_, b) in zip(trained.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), name


def test_plain_torch_save_files_load_too(tmp_path):
    trained = ae()
    torch.save(trained.state_dict(), tmp_path / "plain.pth")  # the assignment's way
    assert torch.equal(load_weights(ae(), tmp_path / "plain.pth").decoder.fc_1.weight, trained.decoder.fc_1.weight)


def test_channels_last_weights_load_into_a_plain_model(tmp_path):
    trained = ae().to(memory_format=torch.channels_last)
    x = torch.rand(3, 1, 28, 28)
    loaded = load_weights(ae(), save_weights(trained, tmp_path / "w.pth"))
    assert torch.allclose(loaded(x), trained.eval()(x), atol=1e-6)


@pytest.mark.parametrize("saved, target, message", [
    (ae, vae, r"holds the weights of AutoEncoder\(latent_dimensionality=2\), but the model is "
              r"VariationalAutoEncoder\(latent_dimensionality=2\)"),
    (vae, ae, r"holds the weights of VariationalAutoEncoder\(latent_dimensionality=2\), but the model is "
              r"AutoEncoder\(latent_dimensionality=2\)"),
    (lambda: ae(3), ae, r"AutoEncoder\(latent_dimensionality=3\), but the model is AutoEncoder\(latent_dimensionality=2\)"),
    (lambda: vae(3), vae, r"VariationalAutoEncoder\(latent_dimensionality=3\), but the model is Variational"),
    (LeNet_5, ae, r"holds the weights of LeNet_5, but the model is AutoEncoder"),
])
def test_other_architectures_are_refused_by_name(tmp_path, saved, target, message):
    path = save_weights(saved(), tmp_path / "w.pth")
    model = target()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=message):
        load_weights(model, path)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the cell that saves them first"):
        load_weights(ae(), tmp_path / "nothing.pth")


def test_truncated_file(tmp_path):
    path = save_weights(ae(), tmp_path / "w.pth")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="could not be read as saved weights"):
        load_weights(ae(), path)


class Payload:
    def __reduce__(self):
        return (print, ("this file ran code",))


def test_files_that_would_run_code_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"state": Payload()}, path)
    with pytest.raises(ValueError, match="weights_only=True refuses"):
        load_weights(ae(), path)
    assert "this file ran code" not in capsys.readouterr().out


def relocate(path, location):
    """Rewrite a torch.save file so that its tensors claim to have been saved on ``location``.

    Each tensor's storage records its device as a pickled string ('cpu'); swapping that string is
    what a file written on a GPU differs by."""
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    name = next(n for n in entries if n.endswith("data.pkl"))
    old = b"X" + len(b"cpu").to_bytes(4, "little") + b"cpu"  # BINUNICODE 'cpu'
    assert old in entries[name]
    entries[name] = entries[name].replace(old, b"X" + len(location).to_bytes(4, "little") + location.encode())
    with zipfile.ZipFile(path, "w") as archive:
        for filename, data in entries.items():
            archive.writestr(filename, data)


@pytest.mark.skipif(torch.cuda.is_available(), reason="proves the CPU-only case")
def test_weights_saved_on_a_gpu_load_on_a_cpu(tmp_path):
    trained = ae()
    path = save_weights(trained, tmp_path / "gpu.pth")
    relocate(path, "cuda:0")
    with pytest.raises(RuntimeError, match="CUDA"):  # what the assignment's plain torch.load did
        torch.load(path, weights_only=True)
    loaded = load_weights(ae(), path)
    assert torch.equal(loaded.encoder.fc_2.weight, trained.encoder.fc_2.weight)
