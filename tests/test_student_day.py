"""A student's day, from the student's seat: the provided cells take every transform that works, a file that does not
compile is named as such, a stale kernel is named, and the hand-in says what a grader would notice.

Each test works on small subsets or on temporary folders and takes seconds.
"""

import itertools
import time
import traceback

import pytest
import torch
import torchvision
import torchvision.transforms as transforms
from torchvision.transforms import v2

import hw2_helpers as hw2
from hw2_helpers import data

NORMALIZE = ((0.1307,), (0.3081,))


@pytest.fixture(scope="module")
def mnist_root():
    return hw2.verify_mnist()


def _mnist(root, transform, train=False):
    return torchvision.datasets.MNIST(root, train=train, transform=transform)


class Counting:
    """A transform step that counts the images through it (and can take its time)."""

    def __init__(self, seconds=0.0):
        self.calls, self.seconds = 0, seconds

    def __call__(self, image):
        self.calls += 1
        time.sleep(self.seconds)
        return image


# ------------------------------------------------------------------------------------------------
# 1. The provided data cells take every transform that works
# ------------------------------------------------------------------------------------------------
WORKING = {
    "v2": v2.Compose([v2.ToImage(), v2.Resize(32), v2.ToDtype(torch.float32, scale=True), v2.Normalize(*NORMALIZE)]),
    "totensor_then_resize": transforms.Compose([transforms.ToTensor(), transforms.Resize((32, 32)),
                                                transforms.Normalize(*NORMALIZE)]),
    "pad_for_resize": transforms.Compose([transforms.Pad(2), transforms.ToTensor(), transforms.Normalize(*NORMALIZE)]),
    "lambda": transforms.Compose([transforms.ToTensor(),
                                  transforms.Lambda(lambda x: torch.nn.functional.pad(x, (2, 2, 2, 2)))]),
}


@pytest.mark.parametrize("name", sorted(WORKING))
def test_the_data_cell_takes_every_transform_that_works(mnist_root, name):
    dataset = _mnist(mnist_root, WORKING[name])
    kept = hw2.subset(hw2.in_memory(dataset), 64, seed=0)  # the data cell's calls, in its order (quick mode)
    assert len(kept) == 64
    for k in range(0, 64, 9):
        image, label = kept[k]
        expected, expected_label = dataset[kept.indices[k]]
        assert torch.equal(image, expected.as_subclass(torch.Tensor)) and image.shape == (1, 32, 32)
        assert image.dtype == torch.float32 and int(label) == expected_label
    images, labels = next(iter(torch.utils.data.DataLoader(kept, batch_size=16, shuffle=True,
                                                           generator=torch.Generator().manual_seed(0))))
    assert images.shape == (16, 1, 32, 32) and labels.dtype == torch.int64


def test_a_slow_transform_runs_once_per_image_and_the_result_is_a_tensor_dataset(mnist_root):
    counting = Counting()
    dataset = torch.utils.data.Subset(_mnist(mnist_root, transforms.Compose([
        transforms.ToTensor(), transforms.Lambda(counting), transforms.Pad(2)])), range(300))
    kept = hw2.in_memory(dataset)
    assert isinstance(kept, torch.utils.data.TensorDataset)
    images, labels = kept.tensors
    assert images.shape == (300, 1, 32, 32) and labels.shape == (300,) and labels.dtype == torch.int64
    assert counting.calls == 300 + 2  # each image once, and the first twice more to tell a random transform
    for _ in range(2):  # two epochs: nothing is transformed again
        assert sum(len(x) for x, _ in torch.utils.data.DataLoader(kept, batch_size=64, shuffle=True)) == 300
    assert counting.calls == 302
    assert all(torch.equal(images[i], dataset[i][0]) for i in (0, 17, 299))


def test_quick_mode_transforms_only_the_images_it_keeps(mnist_root):
    counting = Counting()
    training = _mnist(mnist_root, transforms.Compose([transforms.ToTensor(), transforms.Lambda(counting),
                                                      transforms.Resize((32, 32))]), train=True)
    training = hw2.in_memory(training)  # the notebook's data cell: in_memory on all 60,000 images, then the subset
    training = hw2.subset(training, 2048)
    assert tuple(training[0][0].shape) == (1, 32, 32)  # the cell's last line prints this
    assert sum(len(x) for x, _ in torch.utils.data.DataLoader(training, batch_size=256, shuffle=True)) == 2048
    assert counting.calls <= 2048 + 2, counting.calls


def test_a_progress_bar_only_when_transforming_takes_more_than_a_second(mnist_root, capsys):
    fast = torch.utils.data.Subset(_mnist(mnist_root, WORKING["pad_for_resize"]), range(200))
    hw2.in_memory(fast).tensors
    assert capsys.readouterr().err == ""
    slow = torch.utils.data.Subset(_mnist(mnist_root, transforms.Compose([
        transforms.ToTensor(), transforms.Lambda(Counting(seconds=0.3))])), range(5))
    hw2.in_memory(slow).tensors  # 1.5 s
    assert "Transforming the images once" in capsys.readouterr().err


def _frames(error):
    return [frame.name for frame in traceback.extract_tb(error.__traceback__)]


@pytest.mark.parametrize("transform, message", [
    (transforms.Resize((32, 32)),
     "transform returns a PIL Image, not a tensor: the model needs tensors. Is ToTensor() (or v2.ToImage() + "
     "v2.ToDtype(torch.float32, scale=True)) missing from transform?"),
    (v2.Compose([v2.ToImage(), v2.Resize(32)]),
     "transform returns torch.uint8 tensors, not floats: the model needs float32. Is v2.ToDtype(torch.float32, "
     "scale=True) missing from transform?"),
], ids=["no_totensor", "no_todtype"])
def test_a_transform_that_gives_no_float_tensor_gets_one_short_message(mnist_root, transform, message):
    with pytest.raises(data.TransformError) as caught:
        hw2.in_memory(_mnist(mnist_root, transform))
    assert str(caught.value) == message
    # the traceback ends in in_memory itself: nothing of the helpers' insides, no chained error
    assert _frames(caught.value)[-1] == "in_memory" and caught.value.__suppress_context__
    assert caught.value.__cause__ is None


# ------------------------------------------------------------------------------------------------
# 2. A file that does not compile is named as such; a blank is called a blank only when there is one
# ------------------------------------------------------------------------------------------------
import importlib  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

import hw2_models  # noqa: E402,F401  (the repository's module is in sys.modules: each test puts it back)
from conftest import REPO  # noqa: E402
from hw2_helpers import models_import, submission  # noqa: E402

SOLVED = (REPO / "hw2_models.py").read_text(encoding="utf-8")
C1 = "self.conv1 = nn.Conv2d(1, 6, kernel_size=5, stride=1)"
TYPO = "self.conv1 = nn.Conv2d(1, 6 kernel_size=5, stride=1)"  # a comma forgotten


def _edit(text, old, new):
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _line_of(text, fragment):
    return text[:text.index(fragment)].count("\n") + 1


def _lines_of_class(text, name):
    """The first and last line of class ``name`` as the file holds it (up to its last line of code)."""
    first = _line_of(text, f"class {name}(")
    lines = text.splitlines()
    last = next(i for i in range(first, len(lines)) if lines[i][:1] not in ("", " ", "#") or i == len(lines) - 1)
    while not lines[last - 1].strip() or lines[last - 1].startswith("#"):
        last -= 1
    return first, last


def _import_from(folder, monkeypatch):
    """``import hw2_models`` from ``folder`` as the notebook's kernel does (the hook installed by hw2_helpers);
    returns (module, [warning messages]). The repository's module is put back after the test."""
    monkeypatch.delitem(sys.modules, "hw2_models")
    monkeypatch.syspath_prepend(str(folder))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module("hw2_models")
    assert module.__file__ == str(folder / "hw2_models.py")
    return module, [str(w.message) for w in caught]


def _refusal(cls):
    with pytest.raises(models_import.UnfinishedError) as caught:
        cls()
    return str(caught.value)


def test_a_typo_says_the_file_does_not_compile_where_and_why(tmp_path, monkeypatch):
    text = _edit(SOLVED, C1, TYPO)
    (tmp_path / "hw2_models.py").write_text(text)
    line, (first, last) = _line_of(text, TYPO), _lines_of_class(text, "LeNet_5")
    module, caught = _import_from(tmp_path, monkeypatch)
    assert caught == [f"hw2_models.py does not compile (line {line}: invalid syntax. Perhaps you forgot a comma?): "
                      f"LeNet_5 is defined on lines {first}-{last}, which could not be loaded; fix the line and "
                      "restart the kernel. Using it stops with a message naming the line; the rest of the file works, "
                      "so the cells before it run."]
    assert _refusal(module.LeNet_5) == (
        f"hw2_models.py does not compile (line {line}: invalid syntax. Perhaps you forgot a comma?): LeNet_5 is defined "
        f"on lines {first}-{last}, which could not be loaded; fix the line (`{TYPO}  # C1  # blank: args, kernel_size`) "
        "and restart the kernel.")
    assert module.Encoder(2).latent_dimensionality == 2  # the rest of the file works
    problem = submission._class_problem(text, "LeNet_5")  # the hand-in says the same
    assert problem.startswith(f"hw2_models.py does not compile (line {line}: invalid syntax") and "blank" not in problem
    assert f"LeNet_5, on lines {first}-{last}, cannot be loaded" in problem


def test_blanks_are_called_blanks_and_only_they(tmp_path, monkeypatch):
    # the student version's state: `_` in LeNet_5 (it compiles), ### YOUR CODE HERE ### in Encoder; then a typo too
    blanked = _edit(_edit(_edit(SOLVED, C1, "self.conv1 = nn.Conv2d(_, _, kernel_size=_, stride=1)"),
                          "self.fc1 = nn.Linear(120, 84)", "self.fc1 = nn.Linear(_, 84)"),
                    "self.conv_1 = nn.Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1))",
                    "self.conv_1 = ### YOUR CODE HERE ###")
    (tmp_path / "hw2_models.py").write_text(blanked)
    module, caught = _import_from(tmp_path, monkeypatch)
    assert caught == ["hw2_models.py does not compile yet: Encoder still has blanks, and using them stops with a "
                      "message naming the line. The rest of the file works, so the cells before them run."]
    assert _refusal(module.Encoder).startswith("Encoder is not finished: hw2_models.py line")
    typo = _edit(blanked, "self.conv1 = nn.Conv2d(_, _, kernel_size=_, stride=1)",
                 "self.conv1 = nn.Conv2d(_, _ kernel_size=_, stride=1)")
    folder = tmp_path / "typo"
    folder.mkdir()
    (folder / "hw2_models.py").write_text(typo)
    monkeypatch.setitem(sys.modules, "hw2_models", hw2_models)
    module, caught = _import_from(folder, monkeypatch)
    line = _line_of(typo, "self.conv1 = nn.Conv2d(_, _ kernel_size")
    first, last = _lines_of_class(typo, "LeNet_5")
    assert caught[0].startswith(f"hw2_models.py does not compile (line {line}: invalid syntax")
    assert f"LeNet_5 is defined on lines {first}-{last}, which could not be loaded" in caught[0]
    assert "LeNet_5 still" not in caught[0] and "Encoder still has blanks." in caught[0]
    blanks = [_line_of(typo, f"self.{name} = nn.") for name in ("conv1", "fc1")]
    assert _refusal(module.LeNet_5).endswith(f"It also still has blanks (lines {', '.join(map(str, blanks))}).")


# ------------------------------------------------------------------------------------------------
# 3. A stale kernel is named: hw2_models.py edited after the kernel imported it
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("compiles", [True, False], ids=["compiles", "does_not_compile"])
def test_models_changed_names_a_file_edited_after_the_import(tmp_path, monkeypatch, compiles):
    path = tmp_path / "hw2_models.py"
    path.write_text(SOLVED if compiles else _edit(SOLVED, C1, TYPO))  # Python's import, or the hook's
    _import_from(tmp_path, monkeypatch)
    assert models_import.models_changed() is None and models_import.models_changed(path) is None
    path.write_text(path.read_text() + "\n# an edit after the import\n")
    expected = "hw2_models.py changed since this kernel imported it: restart the kernel (Kernel > Restart) and run all"
    assert models_import.models_changed() == expected == models_import.models_changed(path)
    assert models_import.models_changed(REPO / "hw2_models.py") is None  # not the file this kernel imported
    path.unlink()
    assert models_import.models_changed() == expected  # gone: not what the kernel imported either
