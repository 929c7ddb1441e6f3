"""The shipped MNIST files, their integrity check, and the one-time transform."""
import gzip
import hashlib
import shutil

import pytest
import torch
import torchvision
import torchvision.transforms as transforms

import hw2_helpers

import hw2_models
from conftest import REPO

RAW = REPO / "data" / "MNIST" / "raw"
# The original distribution's sums, written out here so the test does not trust the module's table.
ORIGINAL_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
LENET_TRANSFORM = transforms.Compose([
    transforms.Resize((32, 32)), transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,)),
])


def test_shipped_files_are_the_originals():
    assert hw2_helpers.MNIST_MD5 == ORIGINAL_MD5
    for name, md5 in ORIGINAL_MD5.items():
        assert hashlib.md5((RAW / name).read_bytes()).hexdigest() == md5, name


@pytest.mark.parametrize("train, size", [(True, 60_000), (False, 10_000)])
def test_torchvision_loads_them_offline(train, size):
    dataset = torchvision.datasets.MNIST(hw2_helpers.verify_mnist(), train=train, download=True)
    assert len(dataset) == size
    assert sorted(dataset.targets.unique().tolist()) == list(range(10))
    assert dataset.data.shape == (size, 28, 28) and dataset.data.dtype == torch.uint8


@pytest.fixture
def raw_copy(tmp_path):
    """A temporary copy of the data folder, safe to damage."""
    shutil.copytree(REPO / "data" / "MNIST" / "raw", tmp_path / "MNIST" / "raw",
                    ignore=shutil.ignore_patterns("*-ubyte"))
    return tmp_path


def test_intact_copy_passes(raw_copy):
    assert hw2_helpers.verify_mnist(raw_copy) == raw_copy


@pytest.mark.parametrize("damage", ["missing", "truncated", "altered"])
def test_damaged_file_stops_with_a_clear_message(raw_copy, damage):
    path = raw_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    data = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    with pytest.raises(hw2_helpers.MNISTIntegrityError) as error:
        hw2_helpers.verify_mnist(raw_copy)
    message = str(error.value)
    assert str(path) in message
    assert ORIGINAL_MD5[path.name] in message
    assert "git checkout -- data/MNIST/raw" in message
    if damage != "missing":
        assert hashlib.md5(path.read_bytes()).hexdigest() in message  # the MD5 found
    assert "train-images" not in message  # only the damaged file is named


def test_missing_extraction_is_written_so_no_download_flag_is_needed(raw_copy):
    raw = raw_copy / "MNIST" / "raw"
    assert not list(raw.glob("*-ubyte"))  # the copy holds only the .gz files, like a clean clone
    hw2_helpers.verify_mnist(raw_copy)
    assert sorted(p.name for p in raw.iterdir()) == sorted(list(ORIGINAL_MD5) + [n[:-3] for n in ORIGINAL_MD5])
    for name in ORIGINAL_MD5:
        assert (raw / name[:-3]).read_bytes() == gzip.decompress((raw / name).read_bytes())
    assert len(torchvision.datasets.MNIST(raw_copy, train=False)) == 10_000  # no download=True


def test_damaged_extraction_is_rewritten_from_the_archive(raw_copy):
    torchvision.datasets.MNIST(raw_copy, train=False, download=True)  # extracts next to the .gz files
    extracted = raw_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    original = extracted.read_bytes()
    extracted.write_bytes(original[:-10] + b"\x09" * 10)
    hw2_helpers.verify_mnist(raw_copy)
    assert extracted.read_bytes() == original


@pytest.mark.parametrize("transform", [LENET_TRANSFORM, transforms.ToTensor(),
                                       transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])],
                         ids=["lenet", "autoencoder", "mlp"])
def test_in_memory_equals_the_per_image_path_bit_for_bit(transform):
    dataset = torchvision.datasets.MNIST(hw2_helpers.verify_mnist(), train=False, transform=transform)
    cached = hw2_helpers.in_memory(dataset)
    assert len(cached) == len(dataset)
    indices = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(1))[:1500].tolist()
    for i in indices:
        image, label = dataset[i]
        cached_image, cached_label = cached[i]
        assert torch.equal(cached_image, image), i  # equal values, dtype and shape
        assert cached_label == label


def test_in_memory_keeps_a_random_transform_random():
    # caching an augmentation would freeze it: the dataset comes back as it is, and says so
    dataset = torchvision.datasets.MNIST(hw2_helpers.verify_mnist(), train=False,
                                         transform=transforms.Compose([transforms.RandomRotation(10), transforms.ToTensor()]))
    with pytest.warns(UserWarning, match="transform is random"):
        assert hw2_helpers.in_memory(dataset) is dataset


def test_subset_is_seeded_and_sized():
    dataset = torch.utils.data.TensorDataset(torch.arange(100))
    first, second = hw2_helpers.subset(dataset, 10, seed=3), hw2_helpers.subset(dataset, 10, seed=3)
    assert len(first) == 10 and first.indices == second.indices
    assert hw2_helpers.subset(dataset, None) is dataset


@pytest.mark.parametrize("transform, error", [
    (transforms.Compose([transforms.Normalize((0.5,), (0.5,)), transforms.ToTensor()]), TypeError),  # torchvision's own
    (None, hw2_helpers.data.TransformError),
], ids=["normalize-before-totensor", "no-transform"])
def test_in_memory_refuses_a_transform_that_gives_no_tensor(transform, error):
    dataset = torchvision.datasets.MNIST(hw2_helpers.verify_mnist(), train=False, transform=transform)
    with pytest.raises(error):
        hw2_helpers.in_memory(dataset)


def test_read_digits_feeds_lenet_exactly_what_it_was_trained_on():
    # Decoded images are [0, 1] floats; read_digits must turn them into exactly the tensors LeNet-5's own data
    # pipeline (PIL resize to 32x32, ToTensor, Normalize) makes of the same digits, and read them with softmax.
    dataset = torchvision.datasets.MNIST(hw2_helpers.verify_mnist(), train=False, transform=LENET_TRANSFORM)
    n = 300
    as_decoded = dataset.data[:n].unsqueeze(1).float() / 255
    model = hw2_models.LeNet_5()
    digits, confidence = hw2_helpers.read_digits(model, as_decoded, LENET_TRANSFORM, "cpu")
    with torch.inference_mode():
        logits = model.eval()(torch.stack([dataset[i][0] for i in range(n)]))
    probabilities = torch.softmax(logits, dim=1)
    assert torch.equal(digits, probabilities.argmax(dim=1))
    assert torch.equal(confidence, probabilities.max(dim=1).values)
    assert digits.shape == (n,) and ((confidence > 0.1 - 1e-6) & (confidence <= 1)).all()


def test_the_grader_checks_and_extracts_the_assignments_data_by_the_same_rule(raw_copy, monkeypatch):
    """Assignment.prepare_data and the notebook's verify_mnist share casekit.data: the grader names a damaged file
    with the fix, and extracts an intact copy as the notebook does."""
    from grading.assignment import AssignmentError, load as load_assignment

    hw = load_assignment()
    monkeypatch.setattr(type(hw), "data_folder", lambda self: raw_copy)
    assert hw.prepare_data() == raw_copy
    raw = raw_copy / "MNIST" / "raw"
    assert all((raw / n[:-3]).read_bytes() == gzip.decompress((raw / n).read_bytes()) for n in ORIGINAL_MD5)
    path = raw / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(AssignmentError, match="t10k-labels-idx1-ubyte.gz: MD5 expected "
                       + ORIGINAL_MD5[path.name] + r", found [0-9a-f]{32}; restore the file .*git checkout -- data"):
        hw.prepare_data()
