"""MNIST as the notebook uses it: the shipped files checked, each transform applied once, subsets for quick mode."""

import os
import random
import re
import warnings
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision import transforms
from torchvision.transforms.v2.functional import resize

import casekit.data


REPO_ROOT = Path(__file__).resolve().parents[1]
# torchvision's MNIST root (the files live in DATA_ROOT/MNIST/raw): found from this file, not from the
# working directory, so the notebook runs from anywhere. HW2_DATA_ROOT points it elsewhere.
DATA_ROOT = Path(os.environ.get("HW2_DATA_ROOT", REPO_ROOT / "data"))
# The MD5 sums torchvision itself checks for the four original files (the assignment's checksums too).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


class MNISTIntegrityError(RuntimeError):
    """A shipped MNIST file is missing or differs from the original."""


def verify_mnist(root=None):
    """Check the four shipped MNIST ``.gz`` files against their MD5 sums; return ``root``.

    Raises ``MNISTIntegrityError`` naming each bad file, the MD5 expected and found, and how to
    restore it, instead of letting torchvision fall back to a download that cannot work offline.
    The extracted files next to them are derived data: any that is missing or no longer matches its
    ``.gz`` is written from it, so ``torchvision.datasets.MNIST(root)`` works without ``download=True``
    and a damaged extraction can never be read silently.
    """
    root = Path(DATA_ROOT if root is None else root)
    checksums = {f"MNIST/raw/{name}": md5 for name, md5 in MNIST_MD5.items()}
    problems = casekit.data.damaged(root, checksums)
    if problems:
        raise MNISTIntegrityError(
            "The shipped MNIST files are damaged, so the notebook stops here rather than train on "
            "bad data or try a download:\n" + "\n".join(problems) + "\n"
            "Restore them from git with `git checkout -- data/MNIST/raw` (run in the repository "
            f"root, {REPO_ROOT}), then run this cell again."
        )
    casekit.data.extract(root, checksums)
    return root


class TransformError(TypeError):
    """A dataset's transform gives something the models cannot take (not a tensor, not floats)."""


def _kind(value):
    kind = type(value)
    if kind.__module__.startswith("PIL"):
        return "a PIL Image"
    return f"a {'numpy' if kind.__module__ == 'numpy' else kind.__module__}.{kind.__qualname__}"


def _fast_recipe(dataset):
    """Whether ``apply_transform`` reproduces ``dataset`` bit for bit: torchvision's MNIST (uint8 images, PIL per
    item), no target_transform, and a transform of Resize steps, ToTensor, then Normalize steps."""
    transform = getattr(dataset, "transform", None)
    steps = getattr(transform, "transforms", [transform])
    order = ",".join(type(step).__name__ for step in steps)
    return (isinstance(dataset, torchvision.datasets.MNIST) and isinstance(getattr(dataset, "data", None), torch.Tensor)
            and dataset.data.dtype == torch.uint8 and getattr(dataset, "target_transform", None) is None
            and type(transform).__module__.startswith("torchvision.transforms")
            and all(type(step).__module__ == "torchvision.transforms.transforms" for step in steps)
            and re.fullmatch(r"(Resize,)*ToTensor(,Normalize)*", order) is not None)


def _draw(dataset, index, seed):
    """``dataset[index]`` with every random generator seeded with ``seed``, their states left as they were."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed)
            return dataset[index]
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _same(a, b):
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
    try:
        return type(a) is type(b) and bool(np.all(a == b))
    except (TypeError, ValueError):
        return False


def _problem(image):
    """Why a transformed image cannot feed the models, in the student's words, or None."""
    if not isinstance(image, torch.Tensor):
        return (f"transform returns {_kind(image)}, not a tensor: the model needs tensors. Is ToTensor() (or "
                "v2.ToImage() + v2.ToDtype(torch.float32, scale=True)) missing from transform?")
    if not image.is_floating_point():
        return (f"transform returns {image.dtype} tensors, not floats: the model needs float32. Is "
                "v2.ToDtype(torch.float32, scale=True) missing from transform?")
    return None


def _as_label(label):
    return label.as_subclass(torch.Tensor) if isinstance(label, torch.Tensor) else torch.as_tensor(label)


class TransformedOnce(torch.utils.data.TensorDataset):
    """A dataset whose transform is applied once per image, through the dataset itself, when first needed.

    ``subset`` (quick mode) transforms only the images it keeps; any other use (an item, ``tensors``, a
    DataLoader) transforms them all at once, with a progress bar when that takes more than a second, and from then
    on it is the ``TensorDataset`` of the transformed images. Items: (image tensor, label tensor).
    """

    def __init__(self, dataset, first):
        self.dataset = dataset
        self._first = first  # item 0, transformed: what every image must look like (``in_memory`` checked it)
        self._cache = {}  # the images ``subset`` kept, until all are transformed
        self._tensors = None

    def __len__(self):
        return len(self.dataset)

    def _load(self, indices, desc):
        """Transform the items ``indices`` not transformed yet (each once)."""
        from tqdm.auto import tqdm

        wanted = list(dict.fromkeys(indices))
        todo = [i for i in wanted if i not in self._cache]
        shape, dtype = self._first[0].shape, self._first[0].dtype
        # a bar only when this takes more than a second (the full training set on a slow transform)
        for i in tqdm(todo, desc=desc, total=len(wanted), initial=len(wanted) - len(todo), delay=1, unit="image",
                      disable=not todo):
            image, label = self.dataset[i]
            image = image.as_subclass(torch.Tensor) if isinstance(image, torch.Tensor) else image
            if not isinstance(image, torch.Tensor) or image.shape != shape or image.dtype != dtype:
                raise TransformError(f"transform returns {tuple(shape)} {dtype} tensors for the first image but "
                                     f"{_describe(image)} for image {i}: every image must come out alike")
            self._cache[i] = (image, _as_label(label))

    def load(self, indices):
        """Transform the images ``indices`` now (``subset`` calls it with the ones it keeps)."""
        if self._tensors is None:
            self._load([int(i) for i in indices], "Transforming the images kept")

    @property
    def tensors(self):
        if self._tensors is None:
            self._load(range(len(self)), "Transforming the images once")
            items = [self._cache[i] for i in range(len(self))]
            self._tensors = (torch.stack([image for image, _ in items]), torch.stack([label for _, label in items]))
            self._cache = None
        return self._tensors

    def __getitem__(self, index):
        if self._tensors is None and isinstance(index, (int, torch.Tensor)) and not (
                isinstance(index, torch.Tensor) and index.numel() != 1):
            try:
                index = range(len(self))[int(index)]
            except IndexError:
                raise IndexError(f"index {int(index)} is out of range for {len(self)} images") from None
            if index in self._cache:
                return self._cache[index]
        return tuple(tensor[index] for tensor in self.tensors)


def _describe(value):
    return f"{tuple(value.shape)} {value.dtype} tensors" if isinstance(value, torch.Tensor) else _kind(value)


def in_memory(dataset):
    """A dataset's transform applied once to each image; returns a ``TensorDataset`` of (image, label) tensors.

    Every transform that gives float tensors works. The notebook's (torchvision MNIST, Resize then ToTensor then
    Normalize) is applied to the whole uint8 batch at once: ``Resize`` on a uint8 tensor uses the same arithmetic as
    PIL, ``ToTensor`` is ``/ 255`` and ``Normalize`` element-wise, so the result equals the per-image path bit for
    bit (``tests/notebook/test_data.py`` checks it) in a fraction of its time. Any other deterministic transform is applied
    through the dataset itself, each image once, when first needed (``TransformedOnce``): ``subset`` then
    transforms only the images it keeps, so quick mode stays quick. A random transform (augmentation) is not
    frozen: the dataset comes back as it is, so each epoch draws new augmentations. A transform that gives no
    tensor stops here with ``TransformError`` saying what is missing.
    """
    if _fast_recipe(dataset):
        images = apply_transform(dataset.data.unsqueeze(1), dataset.transform)  # (N, 1, 28, 28) uint8: what PIL sees
        return torch.utils.data.TensorDataset(images, dataset.targets.clone())
    if len(dataset) == 0:
        raise ValueError("in_memory() received an empty dataset")
    first, again = _draw(dataset, 0, 1), _draw(dataset, 0, 2)
    if not (isinstance(first, (tuple, list)) and len(first) == 2):
        raise ValueError(f"in_memory() expects a dataset of (image, label) pairs; item 0 is {_kind(first)}")
    problem = _problem(first[0])
    if problem is not None:
        if getattr(dataset, "transform", 0) is None:
            problem = "the dataset has no transform, so " + problem.replace("transform returns", "it returns", 1)
        raise TransformError(problem) from None
    if not (_same(first[0], again[0]) and _same(first[1], again[1])):
        warnings.warn("transform is random (augmentation): in_memory() returns the dataset as it is, so every epoch "
                      "draws new augmentations (and transforms each image again)", stacklevel=2)
        return dataset
    image, label = first
    return TransformedOnce(dataset, (image.as_subclass(torch.Tensor), _as_label(label)))


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
    indices = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    if isinstance(dataset, TransformedOnce):
        dataset.load(indices)  # these images only: quick mode does not transform the ones it leaves out
    return torch.utils.data.Subset(dataset, indices)
