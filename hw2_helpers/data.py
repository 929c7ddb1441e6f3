"""MNIST as the notebook uses it: the shipped files checked, each transform applied once, subsets for quick mode."""

import gzip
import hashlib
import os
import re
from pathlib import Path

import torch
from torchvision import transforms
from torchvision.transforms.v2.functional import resize


REPO_ROOT = Path(__file__).resolve().parents[1]
# torchvision's MNIST root (the files live in DATA_ROOT/MNIST/raw): found from this file, not from the
# working directory, so the notebook runs from anywhere. HW2_DATA_ROOT points it elsewhere.
DATA_ROOT = Path(os.environ.get("HW2_DATA_ROOT", REPO_ROOT / "data"))
# The MD5 sums torchvision itself checks (and ../shared/mnist/MD5SUMS lists).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


class MNISTIntegrityError(RuntimeError):
    """A shipped MNIST file is missing or differs from the original."""


def _md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def verify_mnist(root=None):
    """Check the four shipped MNIST ``.gz`` files against their MD5 sums; return ``root``.

    Raises ``MNISTIntegrityError`` naming each bad file, the MD5 expected and found, and how to
    restore it, instead of letting torchvision fall back to a download that cannot work offline.
    The extracted files next to them are derived data: any that is missing or no longer matches its
    ``.gz`` is written from it, so ``torchvision.datasets.MNIST(root)`` works without ``download=True``
    and a damaged extraction can never be read silently.
    """
    root = Path(DATA_ROOT if root is None else root)
    raw = root / "MNIST" / "raw"
    problems = []
    for name, expected in MNIST_MD5.items():
        path = raw / name
        if not path.is_file():
            problems.append(f"  {path}: missing (expected MD5 {expected})")
            continue
        found = _md5(path)
        if found != expected:
            problems.append(f"  {path}: MD5 expected {expected}, found {found}")
    if problems:
        raise MNISTIntegrityError(
            "The shipped MNIST files are damaged, so the notebook stops here rather than train on "
            "bad data or try a download:\n" + "\n".join(problems) + "\n"
            "Restore them from git with `git checkout -- data/MNIST/raw` (run in the repository "
            f"root, {REPO_ROOT}), then run this cell again."
        )
    for name in MNIST_MD5:
        extracted = raw / name[: -len(".gz")]
        content = gzip.decompress((raw / name).read_bytes())
        if not extracted.is_file() or extracted.read_bytes() != content:
            partial = extracted.with_name(extracted.name + ".partial")
            partial.write_bytes(content)
            partial.replace(extracted)  # atomic: a reader never sees half a file
    return root


def in_memory(dataset):
    """Apply a torchvision MNIST dataset's transform once to all its images; return a ``TensorDataset``.

    MNIST's transforms are deterministic, so transforming every image once and keeping the tensors
    gives exactly what transforming it again in every epoch would, without the per-image PIL work
    that dominates a LeNet-5 epoch. The transform is applied to the whole uint8 batch at once:
    ``Resize`` on a uint8 tensor uses the same arithmetic as PIL, ``ToTensor`` is ``/ 255``, and
    ``Normalize`` is element-wise, so the result equals the per-image path bit for bit
    (``tests/test_data.py`` checks it). Items: ((C, H, W) float32 image, int64 label).
    """
    transform = getattr(dataset, "transform", None)
    if not isinstance(getattr(dataset, "data", None), torch.Tensor) or getattr(dataset, "target_transform", None):
        raise ValueError(
            "in_memory() reproduces a torchvision MNIST dataset's transform, with no target_transform; received "
            f"{type(dataset).__name__} with target_transform={getattr(dataset, 'target_transform', None)!r}. "
            "For anything else, use the dataset as it is: a DataLoader transforms each image as it loads it."
        )
    images = apply_transform(dataset.data.unsqueeze(1), transform)  # (N, 1, 28, 28) uint8: what PIL sees
    return torch.utils.data.TensorDataset(images, dataset.targets.clone())


def apply_transform(images, transform):
    """Apply ``transform`` (ToTensor, with Resize before it and Normalize after it if any) to a whole
    (N, 1, H, W) uint8 batch at once; returns (N, 1, H', W') float32, equal bit for bit to the per-image path.
    """
    steps = getattr(transform, "transforms", [transform])
    # The per-image path this reproduces exactly: PIL resizes (uint8), ToTensor scales, Normalize shifts.
    order = ",".join(type(step).__name__ for step in steps)
    if images.dtype != torch.uint8 or not re.fullmatch(r"(Resize,)*ToTensor(,Normalize)*", order):
        raise ValueError(
            "apply_transform() reproduces ToTensor(), with Resize before it and Normalize after it if any, on "
            f"uint8 images; received {images.dtype} images and transform={transform!r}. For anything else, "
            "use the dataset as it is: a DataLoader transforms each image as it loads it."
        )
    for step in steps:
        if isinstance(step, transforms.Resize):
            # v2's uint8 kernel rounds like PIL; v1's tensor path computes in float and does not
            images = resize(images, step.size, step.interpolation, step.max_size, step.antialias)
        elif isinstance(step, transforms.ToTensor):
            images = images.float().div(255)
        else:  # Normalize: element-wise
            images = step(images)
    return images.contiguous()


def subset(dataset, n, seed=0):
    """The first ``n`` items of a random permutation of ``dataset`` (all of it if ``n`` is None)."""
    if n is None or n >= len(dataset):
        return dataset
    indices = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
    return torch.utils.data.Subset(dataset, indices.tolist())
