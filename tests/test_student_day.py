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
