"""Helpers for HW2's notebook: seeds and memory layout, data, training and evaluation, measures of generated
digits, latent space and figures, weights. The graded classes are in ``hw2_models.py``.
"""

import os

# Must be set before torch is imported: an op without an MPS kernel then runs on the CPU instead
# of raising NotImplementedError. A value the user already set is respected.
os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")

import gzip  # noqa: E402
import hashlib  # noqa: E402
import inspect  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision import transforms  # noqa: E402
from torchvision.transforms.v2.functional import resize  # noqa: E402

from hw2_models import kl_divergence  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent
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


# --------------------------------------------------------------------------------------------
# Seeds and memory layout
# --------------------------------------------------------------------------------------------
def memory_format(device):
    """The layout to put a model in on ``device``: channels-last only on the CPU, the one device where it was
    measured to be faster (oneDNN, bench/README.md); contiguous on MPS and CUDA, where it was not measured."""
    return torch.channels_last if torch.device(device).type == "cpu" else torch.contiguous_format


def seed_everything(seed=0, generator=None):
    """Seed Python, NumPy and torch (all devices); return a generator for DataLoader shuffling.

    Passing the returned generator to every ``DataLoader(..., shuffle=True)`` makes the shuffling
    order depend on ``seed`` alone, not on how many random numbers model initialisation drew.
    Given a ``generator`` (one that existing DataLoaders already hold), it is reseeded in place and returned,
    so those loaders start the same shuffling sequence again.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS
    torch.backends.cudnn.benchmark = False  # autotuning may pick different kernels per run
    torch.backends.cudnn.deterministic = True
    return (torch.Generator() if generator is None else generator).manual_seed(seed)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# Training and evaluation
# --------------------------------------------------------------------------------------------
def classifier_epoch(model, dataloader, loss_fn, device, optimizer=None):
    """One pass of a classifier over ``dataloader``; returns (mean loss per image, correct, total).

    With an ``optimizer`` it is a training epoch (one Adam step per batch). Without one it is an
    evaluation: eval mode and ``torch.inference_mode()``, so no autograd graph is built. Sums stay
    on the device, so there is no host sync per batch; accuracy is ``correct / total``, exactly,
    whatever the size of the last batch. ``loss_fn`` must average over the batch (the default).
    """
    training = optimizer is not None
    model.train(training)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    total = 0
    with torch.inference_mode(not training):
        for images, targets in dataloader:
            images, targets = images.to(device), targets.to(device)
            predictions = model(images)
            loss = loss_fn(predictions, targets)
            if training:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            loss_sum += loss.detach() * len(targets)
            correct += (predictions.argmax(dim=1) == targets).sum()
            total += len(targets)
    return loss_sum.item() / total, int(correct), total


def vae_loss(reconstructed, images, mu, log_variance, reconstruction_loss, kl_weight=0.01):
    """The assignment's VAE loss, ``reconstruction + kl_weight * kl_divergence``: (total, reconstruction, kl).

    With ``nn.BCELoss()`` (a mean over 784 pixels) and ``kl_divergence`` (a mean over the d latent
    dimensions), that is per image ``(BCE summed over pixels + (784 / d) * kl_weight * KL summed over
    dimensions) / 784``: a beta-VAE with beta = 392 * kl_weight for d = 2 (0.01 is beta = 3.92).
    """
    reconstruction = reconstruction_loss(reconstructed, images)
    kl = kl_divergence(mu, log_variance)
    return reconstruction + kl_weight * kl, reconstruction, kl


def autoencoder_epoch(model, dataloader, reconstruction_loss, device, optimizer=None, kl_weight=0.01):
    """One pass of an AE or VAE; returns per-image means (total loss, reconstruction loss, KL in nats).

    Training with an ``optimizer``, else evaluation as in ``classifier_epoch``. For a VAE the total
    loss is ``vae_loss`` (the assignment's KL weight 0.01) and the KL is summed over the latent
    dimensions; for an AE the total is the reconstruction loss and the KL is 0. A VAE still samples
    its code in evaluation, as the assignment's loop does.
    """
    training = optimizer is not None
    model.train(training)
    loss_sum = torch.zeros((), device=device)
    reconstruction_sum = torch.zeros((), device=device)
    kl_sum = torch.zeros((), device=device)
    total = 0
    with torch.inference_mode(not training):
        for images, _ in dataloader:
            images = images.to(device)
            output = model(images)
            if isinstance(output, tuple):  # a VAE returns (reconstruction, mu, log_variance)
                reconstructed, mu, log_variance = output
                loss, reconstruction, kl = vae_loss(reconstructed, images, mu, log_variance, reconstruction_loss, kl_weight)
                kl_sum += kl.detach() * mu.shape[1] * len(images)  # per image, summed over the latent dimensions
            else:
                reconstruction = loss = reconstruction_loss(output, images)
            if training:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            loss_sum += loss.detach() * len(images)
            reconstruction_sum += reconstruction.detach() * len(images)
            total += len(images)
    return loss_sum.item() / total, reconstruction_sum.item() / total, kl_sum.item() / total


def train_autoencoder(model, optimizer, training_dataloader, validation_dataloader, reconstruction_loss, device,
                      n_epochs, kl_weight=None, desc="epochs", verbose=True):
    """Train an AE (``kl_weight=None``) or a VAE for ``n_epochs``, validating after each epoch.

    Returns one (mean training total loss, mean validation reconstruction loss, mean validation KL) per
    epoch; prints them as it goes unless ``verbose=False``, with a warning if a VAE's posterior collapsed
    (validation KL below 0.01 nats). Shared by the notebook's AE and VAE cells and its KL-weight appendix.
    """
    vae = kl_weight is not None
    weight = kl_weight if vae else 0.0
    history = []
    for i in progress(range(1, n_epochs + 1), desc=desc):
        training_loss, _, _ = autoencoder_epoch(model, training_dataloader, reconstruction_loss, device, optimizer, weight)
        _, validation_reconstruction, validation_kl = autoencoder_epoch(
            model, validation_dataloader, reconstruction_loss, device, kl_weight=weight
        )
        history.append((training_loss, validation_reconstruction, validation_kl))
        if verbose and vae:
            print(f"Epoch {i} | Mean training total loss: {training_loss:.4f} | "
                  f"Mean validation reconstruction loss: {validation_reconstruction:.4f}")
        elif verbose:
            print(f"Epoch {i} | Mean training loss: {training_loss:.4f} | Mean validation loss: {validation_reconstruction:.4f}")
    if verbose and vae and history and history[-1][2] < 0.01:
        print(f"Warning: the validation KL is {history[-1][2]:.4f} nats per image: the posterior has collapsed (every image "
              "is encoded as the prior, so the decoder draws one average digit). Build the model again from another "
              "seed, or train with a smaller kl_weight.")
    return history


def confusion_counts(model, dataloader, device, n_classes=10):
    """(n_classes, n_classes) int64 counts: row = true digit, column = predicted digit.

    The cells are counted once, on the CPU, after the loop: ``bincount`` is slow on MPS, and one copy
    at the end is one host sync instead of one per batch.
    """
    model.eval()
    cells = []
    with torch.inference_mode():
        for images, targets in dataloader:
            predictions = model(images.to(device)).argmax(dim=1)
            cells.append(targets.to(device) * n_classes + predictions)
    counts = torch.bincount(torch.cat(cells).cpu(), minlength=n_classes ** 2)
    return counts.view(n_classes, n_classes)


def most_confused(counts, k=3):
    """The ``k`` largest off-diagonal cells: [(true digit, predicted digit, count), ...]."""
    off_diagonal = counts.clone()
    off_diagonal.fill_diagonal_(-1)
    values, flat = off_diagonal.flatten().topk(k)
    n = counts.shape[1]
    return [(int(i) // n, int(i) % n, int(v)) for v, i in zip(values, flat)]


@torch.inference_mode()
def predict_all(model, dataset, device, batch_size=1000):
    """A classifier's predictions for every item of ``dataset``, in the dataset's stored order.

    Returns (predicted class (N,), softmax probabilities (N, classes), true label (N,)), CPU tensors.
    """
    model.eval()
    predictions, probabilities, labels = [], [], []
    for images, targets in torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False):
        p = torch.softmax(model(images.to(device)), dim=1).cpu()
        predictions.append(p.argmax(dim=1))
        probabilities.append(p)
        labels.append(torch.as_tensor(targets))
    return torch.cat(predictions), torch.cat(probabilities), torch.cat(labels)


def read_digits(classifier, images, transform, device):
    """What a trained LeNet-5 reads in generated images: (digit (N,), confidence = max softmax (N,)).

    ``images``: (N, 1, 28, 28) in [0, 1], as a decoder outputs them. They are stored as 8-bit images,
    as MNIST's are, and go through LeNet-5's own ``transform`` (Resize to 32x32, ToTensor, Normalize)
    by the same path as its training data, so the classifier sees them exactly as it saw MNIST.
    """
    probabilities, _ = classifier_readings(classifier, images, transform, device)
    confidence, digits = probabilities.max(dim=1)
    return digits, confidence


# --------------------------------------------------------------------------------------------
# Measures of generated digits: inception score, Frechet distance, interpolation paths, ELBO
# --------------------------------------------------------------------------------------------
@torch.inference_mode()
def classifier_readings(classifier, images, transform, device, batch_size=1000):
    """LeNet-5's softmax (N, 10) and its F6 features (N, 84: ``tanh(fc1(.))``) for (N, 1, 28, 28) images in [0, 1].

    The images are read exactly as ``read_digits`` reads them: stored as 8 bits, then LeNet-5's own transform.
    """
    as_uint8 = (torch.as_tensor(images).detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    inputs = apply_transform(as_uint8, transform)
    features = []
    hook = classifier.fc1.register_forward_hook(lambda module, args, output: features.append(torch.tanh(output).cpu()))
    classifier.eval()
    try:
        probabilities = [torch.softmax(classifier(batch.to(device)), dim=1).cpu() for batch in inputs.split(batch_size)]
    finally:
        hook.remove()
    return torch.cat(probabilities), torch.cat(features)


def inception_score(probabilities):
    """exp(mean over images of KL(p(y|x) || p(y))), p(y) the mean of the rows of ``probabilities`` (N, classes).

    1 when every image gets the same class distribution (however confident), the number of classes when each
    image is read with certainty and the classes are equally frequent (Salimans et al., 2016).
    """
    p = torch.as_tensor(probabilities, dtype=torch.float64)
    marginal = p.mean(dim=0, keepdim=True)
    kl = torch.where(p > 0, p * (torch.log(p) - torch.log(marginal)), torch.zeros_like(p)).sum(dim=1)
    return float(torch.exp(kl.mean()))


def frechet_distance(features_a, features_b):
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two sets of features (N, D) (Heusel et al., 2017).

    ``scipy.linalg.sqrtm`` of S_a S_b (a product of two covariance matrices: its square root has a real trace in
    exact arithmetic) returns tiny imaginary parts from rounding, so the real part is taken.
    """
    import scipy.linalg

    a, b = (np.asarray(f, dtype=np.float64) for f in (features_a, features_b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"frechet_distance() needs two (N, D) feature sets with the same D and N >= 2; received "
                         f"{a.shape} and {b.shape}.")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * np.real(root)))


def fid_reference(validation_images, seed=0):
    """Split the validation images (N, 1, 28, 28) into two disjoint halves by a seeded permutation: (A, B).

    Half A is the reference every set is compared with; half B, at a set's own sample size, gives the floor (the
    distance between real digits and real digits)."""
    order = torch.randperm(len(validation_images), generator=torch.Generator().manual_seed(seed))
    half = len(order) // 2
    return validation_images[order[:half]], validation_images[order[half:2 * half]]


def set_measures(probabilities, features, reference_features, floor_features):
    """The measures of one image set from its LeNet-5 readings: a dict with n, inception score, the count of each
    digit read (10,), the digits present, the Frechet distance to ``reference_features`` and the floor at the same
    sample size (``floor_features``: real digits disjoint from the reference), and the share read with confidence
    >= 0.9. The distance is computed on the first min(n, len(reference)) images of the set."""
    n = min(len(features), len(reference_features), len(floor_features))
    confidence, digits = probabilities.max(dim=1)
    counts = torch.bincount(digits, minlength=10)
    return dict(n=len(features), inception=inception_score(probabilities), counts=counts.tolist(),
                present=int((counts > 0).sum()), fid_n=n, fid=frechet_distance(features[:n], reference_features),
                floor=frechet_distance(floor_features[:n], reference_features),
                confident=float((confidence >= 0.9).float().mean()))


def ae_grid(ae_validation_codes, n=20):
    """The assignment's AE mosaic points: an n x n grid over the bounding box of the AE's validation codes (M, 2)."""
    (x_min, y_min), (x_max, y_max) = ae_validation_codes.min(axis=0), ae_validation_codes.max(axis=0)
    z1 = np.linspace(0, 1, n) * (x_max - x_min) + x_min
    z2 = np.linspace(0, 1, n) * (y_max - y_min) + y_min
    return np.vstack([grid.flatten() for grid in np.meshgrid(z1, z2)]).T


def ppf_grid(n=20):
    """The assignment's VAE mosaic points: the N(0, 1) quantiles at 0.005 ... 0.995, n per axis, as an (n * n, 2) grid."""
    import scipy.stats

    z = scipy.stats.norm.ppf(np.linspace(0.005, 0.995, n))
    return np.vstack([grid.flatten() for grid in np.meshgrid(z, z)]).T


def generated_sets(ae, vae, ae_training_codes, ae_validation_codes, device, n_samples=10_000, seed=0):
    """The four sets of generated digits the notebook measures: {name: (N, 1, 28, 28) images}.

    The AE's grid and the VAE's PPF grid (400 each, the mosaics' points), ``n_samples`` draws from the VAE's prior
    N(0, I), and ``n_samples`` from the AE. The AE has no prior: its draws come from the Gaussian (mean and
    covariance) fitted to its training codes, the simplest density that covers them.
    """
    generator = np.random.default_rng(seed)
    mean, covariance = ae_training_codes.mean(axis=0), np.cov(ae_training_codes, rowvar=False)
    return {
        "AE grid": decode(ae.decoder, ae_grid(ae_validation_codes), device),
        "VAE PPF grid": decode(vae.decoder, ppf_grid(), device),
        "AE, fitted Gaussian": decode(ae.decoder, generator.multivariate_normal(mean, covariance, n_samples), device),
        "VAE, prior N(0, I)": decode(vae.decoder, generator.standard_normal((n_samples, 2)), device),
    }


def generation_table(classifier, transform, sets, validation_images, device, seed=0):
    """Measure each of ``sets`` ({name: images}) and the real validation images: {name: ``set_measures`` dict}.

    The first row is the real validation set: its inception score is the classifier's ceiling on real digits, and
    its distance is half B against half A (the floor at n = half the validation set)."""
    half_a, half_b = fid_reference(validation_images, seed)
    reference = classifier_readings(classifier, half_a, transform, device)[1]
    floor = classifier_readings(classifier, half_b, transform, device)[1]
    rows = {"Real validation digits": set_measures(*classifier_readings(classifier, validation_images, transform, device),
                                                   reference, floor)}
    rows["Real validation digits"]["fid"] = rows["Real validation digits"]["floor"]  # half B is itself real
    for name, images in sets.items():
        rows[name] = set_measures(*classifier_readings(classifier, images, transform, device), reference, floor)
    return rows


def format_generation_table(rows):
    """The table of ``generation_table`` as text, a row per image set."""
    lines = [f"{'image set':<24} {'n':>6} {'IS':>5} {'digits':>6}  {'count of each digit read, 0 to 9':<52} "
             f"{'FD to real':>10} {'floor':>6} {'read >= 0.9':>11}"]
    for name, row in rows.items():
        counts = " ".join(f"{c:>4}" for c in row["counts"])
        lines.append(f"{name:<24} {row['n']:>6,} {row['inception']:>5.2f} {row['present']:>3} of 10  {counts:<52} "
                     f"{row['fid']:>10.2f} {row['floor']:>6.2f} {row['confident']:>11.0%}")
    return "\n".join(lines)


def random_pairs(labels, n_pairs, generator):
    """``n_pairs`` pairs of indices (i, j) of images with different labels, drawn with ``generator`` (NumPy's)."""
    labels = np.asarray(labels)
    pairs = []
    while len(pairs) < n_pairs:
        i, j = generator.integers(len(labels), size=2)
        if labels[i] != labels[j]:
            pairs.append((int(i), int(j)))
    return pairs


def interpolation_pairs(ae_codes, labels, n_pairs=200, seed=0):
    """The pairs of validation images to interpolate between: [the far pair] + ``n_pairs`` random pairs.

    The far pair is one image of each of the two digit classes whose AE codes (N, 2) lie furthest apart, centre
    to centre; the images, and the random pairs (of different digits), are drawn with a generator seeded by
    ``seed``."""
    labels = np.asarray(labels)
    centres = np.stack([ae_codes[labels == d].mean(axis=0) for d in range(10)])
    a, b = np.unravel_index(np.linalg.norm(centres[:, None] - centres[None], axis=-1).argmax(), (10, 10))
    generator = np.random.default_rng(seed)
    far = (int(generator.choice(np.flatnonzero(labels == a))), int(generator.choice(np.flatnonzero(labels == b))))
    return [far] + random_pairs(labels, n_pairs, generator)


def path_confidence(models, images, pairs, classifier, transform, device, steps=9):
    """Mean LeNet-5 confidence along the straight line between the codes of each pair of ``images``.

    ``models``: {name: AE or VAE} (a VAE's code is its mean mu). Returns {name: (len(pairs),) array}: for each pair,
    the mean confidence over ``steps`` evenly spaced points, the two ends included."""
    i, j = (torch.as_tensor([p[k] for p in pairs]) for k in (0, 1))
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    result = {}
    for name, model in models.items():
        model.eval()
        with torch.inference_mode():
            codes = torch.cat([model.encoder(batch.to(device)).cpu() for batch in images.split(1000)])
        codes = codes[:, : model.decoder.latent_dimensionality]  # a VAE's encoder gives (mu, log-variance)
        line = (1 - t) * codes[i].unsqueeze(1) + t * codes[j].unsqueeze(1)  # (pairs, steps, d)
        decoded = decode(model.decoder, line.reshape(-1, line.shape[-1]), device)
        _, confidence = read_digits(classifier, decoded, transform, device)
        result[name] = confidence.view(len(pairs), steps).mean(dim=1).numpy()
    return result


def mean_interval(values, level=0.95):
    """(mean, low, high): the mean of ``values`` and its t-interval at ``level``."""
    import scipy.stats

    values = np.asarray(values, dtype=np.float64)
    mean = values.mean()
    half = scipy.stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(mean), float(mean - half), float(mean + half)


def elbo_nats(validation_bce, validation_kl, kl_weight=1.0, pixels=784, latent_dimensionality=2):
    """A VAE's loss in nats per image: BCE summed over the pixels + beta KL summed over the latent dimensions.

    ``validation_bce`` is per pixel (``nn.BCELoss()``'s mean), ``validation_kl`` per image (summed over the
    dimensions, as ``train_autoencoder`` reports it). ``kl_weight`` is the assignment's multiplier: it weighs a KL
    averaged over the d dimensions against a BCE averaged over the pixels, so beta = pixels / d * kl_weight.
    ``kl_weight = None`` gives the plain negative ELBO (beta = 1)."""
    beta = 1.0 if kl_weight is None else pixels / latent_dimensionality * kl_weight
    return pixels * validation_bce + beta * validation_kl


SEED_COLUMNS = ["seed", "ae_bce", "vae_bce", "vae_kl", "vae_elbo", "ae_occupied", "vae_occupied"] + [
    f"{kind}_{key}" for kind in ["ae_grid", "vae_grid", "ae_samples", "vae_prior"] for key in ["is", "digits", "fid", "confident"]
] + ["floor_400", "floor_samples", "path_ae", "path_vae", "path_difference", "path_difference_low", "path_difference_high"]
SET_KEYS = {"ae_grid": "AE grid", "vae_grid": "VAE PPF grid", "ae_samples": "AE, fitted Gaussian",
            "vae_prior": "VAE, prior N(0, I)"}


def grid_occupancy(ae_codes, vae_mu, n=20):
    """How much of each mosaic's sampling region the validation codes reach: ((AE share, VAE share), (AE edges, PPF edges)).

    AE: n equal cells per axis over the bounding box of its codes (M, 2). VAE: n cells of equal probability per axis
    under N(0, 1), the cells the PPF grid samples, one point in each; its codes are the means ``vae_mu`` (M, 2)."""
    import scipy.stats

    ae_edges = [np.linspace(ae_codes[:, k].min(), ae_codes[:, k].max(), n + 1) for k in range(2)]
    ppf_edges = scipy.stats.norm.ppf(np.linspace(0, 1, n + 1))
    return (occupied_share(ae_codes, *ae_edges), occupied_share(vae_mu, ppf_edges, ppf_edges)), (ae_edges, ppf_edges)


def summary_row(seed, ae_history, vae_history, rows, paths, occupancy):
    """One seed's line of the seed table (a dict with ``SEED_COLUMNS``) from what the notebook computes: the training
    histories, ``generation_table``'s rows, ``path_confidence``'s per-pair means and ``grid_occupancy``'s shares."""
    row = dict(seed=seed, ae_bce=ae_history[-1][1], vae_bce=vae_history[-1][1], vae_kl=vae_history[-1][2],
               vae_elbo=elbo_nats(vae_history[-1][1], vae_history[-1][2], None),
               ae_occupied=float(occupancy[0]), vae_occupied=float(occupancy[1]))
    for kind, name in SET_KEYS.items():
        measures = rows[name]
        row.update({f"{kind}_is": measures["inception"], f"{kind}_digits": measures["present"],
                    f"{kind}_fid": measures["fid"], f"{kind}_confident": measures["confident"]})
    row["floor_400"], row["floor_samples"] = rows["AE grid"]["floor"], rows["VAE, prior N(0, I)"]["floor"]
    difference = mean_interval(paths["VAE"] - paths["AE"])
    row.update(path_ae=float(np.mean(paths["AE"])), path_vae=float(np.mean(paths["VAE"])), path_difference=difference[0],
               path_difference_low=difference[1], path_difference_high=difference[2])
    return row


def seed_row(seed, ae, vae, classifier, transform, training_set, validation_set, device, n_pairs=200):
    """One seed's measures, computed as the notebook computes them: ``summary_row`` for trained models.

    ``ae`` and ``vae``: (model, history as ``train_autoencoder`` returns it); ``training_set`` and ``validation_set``:
    MNIST's images in [0, 1] (datasets of (image, label)). Paths: ``interpolation_pairs`` with seed 0."""
    (ae, ae_history), (vae, vae_history) = ae, vae
    ordered = torch.utils.data.DataLoader(validation_set, batch_size=1000)
    images = torch.cat([batch for batch, _ in ordered])
    ae_validation_codes, labels = get_all_encodings(ae, ordered, device)
    ae_training_codes, _ = get_all_encodings(ae, torch.utils.data.DataLoader(training_set, batch_size=1000), device)
    sets = generated_sets(ae, vae, ae_training_codes, ae_validation_codes, device)
    rows = generation_table(classifier, transform, sets, images, device)
    pairs = interpolation_pairs(ae_validation_codes, labels, n_pairs)
    paths = path_confidence({"AE": ae, "VAE": vae}, images, pairs, classifier, transform, device)
    vae_mu, _ = get_all_encodings(vae, ordered, device)
    occupancy, _ = grid_occupancy(ae_validation_codes, vae_mu[:, :2])
    return summary_row(seed, ae_history, vae_history, rows, paths, occupancy)


SEED_TABLE_COLUMNS = [  # (column of the CSV, heading, format)
    ("ae_bce", "AE BCE", ".4f"), ("vae_bce", "VAE BCE", ".4f"), ("vae_elbo", "VAE -ELBO", ".1f"),
    ("ae_occupied", "AE cells hit", ".0%"), ("vae_occupied", "VAE cells hit", ".0%"),
    ("ae_grid_is", "IS AE grid", ".2f"), ("vae_grid_is", "IS VAE grid", ".2f"),
    ("ae_samples_is", "IS AE draws", ".2f"), ("vae_prior_is", "IS VAE prior", ".2f"),
    ("ae_grid_fid", "FD AE grid", ".2f"), ("vae_grid_fid", "FD VAE grid", ".2f"), ("floor_400", "floor grids", ".2f"),
    ("ae_samples_fid", "FD AE draws", ".2f"), ("vae_prior_fid", "FD VAE prior", ".2f"),
    ("floor_samples", "floor draws", ".2f"),
    ("ae_grid_confident", "AE grid >= 0.9", ".0%"), ("vae_grid_confident", "VAE grid >= 0.9", ".0%"),
    ("path_ae", "path AE", ".3f"), ("path_vae", "path VAE", ".3f"), ("path_difference", "VAE - AE", "+.3f"),
]
# Comparisons whose direction the answers may state only if it holds for every seed: (name, column a, column b,
# which is better: "lower" or "higher").
SEED_COMPARISONS = [
    ("reconstruction: AE BCE below VAE BCE", "ae_bce", "vae_bce", "lower"),
    ("coverage: VAE PPF cells hit above AE grid cells hit", "vae_occupied", "ae_occupied", "higher"),
    ("IS: VAE PPF grid above AE grid", "vae_grid_is", "ae_grid_is", "higher"),
    ("IS: VAE prior draws above AE's fitted-Gaussian draws", "vae_prior_is", "ae_samples_is", "higher"),
    ("FD: VAE PPF grid below AE grid", "vae_grid_fid", "ae_grid_fid", "lower"),
    ("FD: VAE prior draws below AE's fitted-Gaussian draws", "vae_prior_fid", "ae_samples_fid", "lower"),
    ("share >= 0.9: VAE PPF grid above AE grid", "vae_grid_confident", "ae_grid_confident", "higher"),
    ("path confidence: VAE above AE", "path_vae", "path_ae", "higher"),
]


def format_seed_table(rows):
    """The seed table as text (a line per seed, then min and max), and each of ``SEED_COMPARISONS`` with the number
    of seeds in which it holds."""
    width = max(len(heading) for _, heading, _ in SEED_TABLE_COLUMNS)
    lines = [f"{'':<{width}} " + " ".join(f"{'seed ' + str(r['seed']):>9}" for r in rows) + f" {'min':>9} {'max':>9}"]
    for key, heading, fmt in SEED_TABLE_COLUMNS:
        values = [r[key] for r in rows]
        cells = [format(v, fmt) for v in values] + [format(min(values), fmt), format(max(values), fmt)]
        lines.append(f"{heading:<{width}} " + " ".join(f"{c:>9}" for c in cells))
    lines.append("")
    for name, a, b, better in SEED_COMPARISONS:
        holds = sum((r[a] < r[b]) if better == "lower" else (r[a] > r[b]) for r in rows)
        verdict = "holds in every seed" if holds == len(rows) else "does NOT hold in every seed"
        lines.append(f"{name}: {holds} of {len(rows)} seeds, {verdict}")
    return "\n".join(lines)


def read_seed_table(path):
    """The rows of a seed table CSV written by bench/ae_vae_seeds.py, numbers as floats (seed as int)."""
    import csv

    with open(path, newline="") as f:
        return [{key: int(value) if key == "seed" else float(value) for key, value in row.items()} for row in csv.DictReader(f)]


# --------------------------------------------------------------------------------------------
# Latent space, figures and notebook display
# --------------------------------------------------------------------------------------------
@torch.inference_mode()
def get_all_encodings(model, dataloader, device):
    """Encode every image of ``dataloader``: (codes (N, encoder width) array, labels (N,) array)."""
    model.eval()
    all_encoded, all_labels = [], []
    for digit_images, labels in dataloader:
        all_encoded.append(model.encoder(digit_images.to(device)).cpu())
        all_labels.append(labels)
    return torch.cat(all_encoded).numpy(), torch.cat(all_labels).numpy()


@torch.inference_mode()
def decode(decoder, Z, device):
    """Decode latent points ``Z`` (array-like, (M, d)) into (M, 1, 28, 28) CPU images."""
    decoder.eval()
    # float32 on the CPU first: MPS has no float64, and NumPy grids are float64
    return decoder(torch.as_tensor(np.asarray(Z, dtype=np.float32)).to(device)).cpu()


def occupied_share(codes, edges_1, edges_2):
    """The share of the grid cells (bin edges along z1 and z2) that hold at least one of ``codes`` (N, 2)."""
    counts = np.histogram2d(codes[:, 0], codes[:, 1], bins=[edges_1, edges_2])[0]
    return (counts > 0).mean()


def active_dimensions(mu, threshold=0.01):
    """How many latent dimensions a VAE uses: those whose mean ``mu`` (N, d) varies across images by
    more than ``threshold`` (variance over the data set; the usual definition of an active unit)."""
    return int((np.var(np.asarray(mu, dtype=np.float64), axis=0) > threshold).sum())


def label_centroids(ax, codes, labels):
    """Write each digit at the median of its codes (N, 2) on a scatter plot, in black on a white outline, so every
    cluster can be named without telling the colormap's colours apart."""
    import matplotlib.patheffects as effects

    for digit in np.unique(labels):
        x, y = np.median(codes[labels == digit, :2], axis=0)
        ax.text(x, y, str(int(digit)), fontsize=13, fontweight="bold", ha="center", va="center", color="black",
                path_effects=[effects.withStroke(linewidth=3, foreground="white")])


def _tick_labels(values):
    span = np.max(np.abs(values))
    decimals = 2 if span < 10 else 1 if span < 100 else 0
    return [f"{v:.{decimals}f}" for v in values]


def show_mosaic(images, z1, z2, title=None, ax=None, size=7):
    """Draw decoded latent points as one mosaic (one ``imshow``, not one subplot per image), in latent coordinates.

    ``images``: (len(z2) * len(z1), 1, H, W), in the order of ``np.meshgrid(z1, z2)`` flattened (row i
    decodes z2[i], column j decodes z1[j]). Drawn like a scatter plot: z1 grows to the right, z2 upwards,
    and the ticks give the sampled latent values. Returns the figure.
    """
    from torchvision.utils import make_grid
    import matplotlib.pyplot as plt

    n1, n2 = len(z1), len(z2)
    if len(images) != n1 * n2:
        raise ValueError(f"show_mosaic() needs one image per (z1, z2) pair: {n2} x {n1} = {n1 * n2}; "
                         f"received {len(images)} images.")
    upwards = torch.as_tensor(images).reshape(n2, n1, *images.shape[1:]).flip(0).reshape(images.shape)
    grid = make_grid(upwards, nrow=n1, padding=1, pad_value=1.0)[0]
    if ax is None:
        fig, ax = plt.subplots(figsize=(size, size))
    tile_h, tile_w = images.shape[-2] + 1, images.shape[-1] + 1  # make_grid's padding: 1 pixel
    ax.imshow(grid.numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks(1 + tile_w * np.arange(n1) + tile_w / 2 - 1, _tick_labels(z1), rotation=90, fontsize=7)
    ax.set_yticks(1 + tile_h * np.arange(n2) + tile_h / 2 - 1, _tick_labels(z2[::-1]), fontsize=7)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax.figure


def progress(iterable, desc):
    """A ``tqdm.auto`` progress bar over ``iterable``: a live widget in Jupyter, a text bar in a terminal.

    In a notebook the widget is displayed with an IPython display id, and when the bar closes that display
    is updated to a static copy of the final state (text, and HTML with a ``<progress>`` bar). A widget
    needs a JavaScript widget manager to be drawn; the static copy is what a headless run saves, so GitHub,
    nbviewer, JupyterLab and an HTML export all show the finished bar, not the 0% it started at.
    """
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    if not issubclass(tqdm, notebook_tqdm):
        return tqdm(iterable, desc=desc)
    from html import escape

    from IPython.display import display

    class SavedProgressBar(notebook_tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, display=False, **kwargs)
            self.handle = display(self.container, display_id=True)
            self.displayed = True

        def close(self):
            finished = self.disable
            super().close()
            if finished:  # closed before: the display already holds the final state
                return
            text = self.format_meter(**self.format_dict)  # e.g. "LeNet-5 epochs: 100%|##########| 10/10 [...]"
            left, right = text.partition("|")[0], text.rpartition("|")[2]  # "LeNet-5 epochs: 100%", " 10/10 [...]"
            html = (f'<div style="display:flex;align-items:center;gap:0.5em"><span>{escape(left)}</span>'
                    f'<progress value="{self.n}" max="{self.total or self.n}" style="width:16em"></progress>'
                    f"<span>{escape(right)}</span></div>")
            self.handle.update({"text/plain": text, "text/html": html}, raw=True)

    return SavedProgressBar(iterable, desc=desc)


def show_source(obj):
    """The source code of a class or function, rendered in the notebook as a code block."""
    from IPython.display import Markdown

    return Markdown(f"```python\n{inspect.getsource(obj)}```")


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------
def architecture_of(state_dict):
    """Name the architecture a state_dict belongs to, from its keys and shapes."""
    keys = set(state_dict)
    if {"encoder.fc_2.weight", "decoder.fc_1.weight"} <= keys:
        encoder_width = state_dict["encoder.fc_2.weight"].shape[0]
        decoder_width = state_dict["decoder.fc_1.weight"].shape[1]
        if encoder_width == decoder_width:
            return f"AutoEncoder(latent_dimensionality={decoder_width})"
        if encoder_width == 2 * decoder_width:
            return f"VariationalAutoEncoder(latent_dimensionality={decoder_width})"
        return f"an encoder of width {encoder_width} with a decoder of width {decoder_width}"
    if {"conv1.weight", "conv3.weight", "fc2.weight"} <= keys:
        return "LeNet_5"
    return f"an unknown model with parameters {sorted(keys)[:4]}..."


def save_weights(model, path):
    """Save ``model.state_dict()`` to ``path``; written to a temporary file first, so an interrupted
    save never leaves a truncated file behind."""
    path = Path(path)
    temporary = path.with_name(path.name + ".partial")
    torch.save(model.state_dict(), temporary)
    temporary.replace(path)
    return path


def load_weights(model, path):
    """Load a state_dict saved by ``save_weights`` (or ``torch.save(model.state_dict(), path)``).

    ``weights_only=True``: the file is read as tensors only, so a ``.pth`` from elsewhere cannot run
    code. ``map_location`` is the model's own device, so weights saved on a GPU load on a CPU and
    vice versa. A file of another architecture raises a ``ValueError`` naming both. Returns
    ``model`` in eval mode.
    """
    import pickle

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No weights at {path.resolve()}: run the cell that saves them first.")
    device = next(model.parameters()).device
    try:
        state_dict = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path} holds more than tensors, and weights_only=True refuses to unpickle it so that "
            f"a file from elsewhere cannot run code. Save weights with save_weights(). ({error})"
        ) from None
    except (RuntimeError, EOFError) as error:  # torch's words for a truncated or non-PyTorch file
        raise ValueError(
            f"{path} could not be read as saved weights (truncated, or not a file torch.save wrote): "
            f"{error}. Save the model again with save_weights()."
        ) from None
    found, expected = architecture_of(state_dict), architecture_of(model.state_dict())
    if found != expected:
        raise ValueError(
            f"{path} holds the weights of {found}, but the model is {expected}. Load it into a "
            f"model built the way the saved one was."
        )
    model.load_state_dict(state_dict)
    return model.eval()
