"""Seeds, memory layout, and the training and evaluation loops of LeNet-5, the AE and the VAE."""

import random

import numpy as np
import torch

from .figures import progress


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
            if predictions.dim() != 2 or predictions.shape[0] != len(targets):
                raise ValueError(_not_a_row_per_image(model, images, predictions))
            loss = loss_fn(predictions, targets)
            if training:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            loss_sum += loss.detach() * len(targets)
            correct += (predictions.argmax(dim=1) == targets).sum()
            total += len(targets)
    return loss_sum.item() / total, int(correct), total


def _not_a_row_per_image(model, images, predictions):
    """The error of a classifier whose output is not one row of scores per image, with the public check's hint."""
    from .checks import failures_of  # at call time: checks reads the assignment's folder

    name = type(model).__name__
    said = (f"{name} maps a batch of {len(images)} images {tuple(images.shape)} to {tuple(predictions.shape)}; "
            f"a classifier gives one row of scores per image, ({len(images)}, classes).")
    return "\n".join([said, *failures_of(name)])


def vae_loss(reconstructed, images, mu, log_variance, reconstruction_loss, kl_weight=0.01):
    """The assignment's VAE loss, ``reconstruction + kl_weight * kl_divergence``: (total, reconstruction, kl).

    With ``nn.BCELoss()`` (a mean over 784 pixels) and ``kl_divergence`` (a mean over the d latent
    dimensions), that is per image ``(BCE summed over pixels + (784 / d) * kl_weight * KL summed over
    dimensions) / 784``: a beta-VAE with beta = 392 * kl_weight for d = 2 (0.01 is beta = 3.92).
    """
    from hw2_models import kl_divergence  # at call time: the helpers import while hw2_models has blanks

    reconstruction = reconstruction_loss(reconstructed, images)
    kl = kl_divergence(mu, log_variance)
    return reconstruction + kl_weight * kl, reconstruction, kl


DEFAULT_KL_WEIGHT = 0.01  # the assignment's multiplier of the KL divergence


def is_variational(model):
    """Whether ``model`` is a VAE (returns (reconstruction, mu, log_variance)) rather than an AE: the one place the
    training code decides."""
    from hw2_models import VariationalAutoEncoder  # at call time: the helpers import while hw2_models has blanks

    return isinstance(model, VariationalAutoEncoder)


def autoencoder_epoch(model, dataloader, reconstruction_loss, device, optimizer=None, kl_weight=None):
    """One pass of an AE (``kl_weight=None``) or a VAE (its KL weight); returns per-image means (total loss,
    reconstruction loss, KL in nats summed over the latent dimensions; 0 for an AE).

    Training with an ``optimizer``, else evaluation as in ``classifier_epoch``. A VAE's total loss is ``vae_loss``;
    it still samples its code in evaluation, as the assignment's loop does.
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
            if isinstance(output, tuple) != (kl_weight is not None):
                raise ValueError(f"autoencoder_epoch() needs kl_weight for a VAE (its output is (reconstruction, mu, "
                                 f"log_variance)) and none for an AE; received kl_weight={kl_weight} for a model that "
                                 f"returns a {type(output).__name__}. Use train_autoencoder(), which decides it.")
            if kl_weight is not None:
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
    """Train an AE or a VAE for ``n_epochs``, validating after each epoch.

    A VAE's loss weighs its KL divergence by ``kl_weight`` (the assignment's 0.01 when not given); an AE has no KL
    term, so a ``kl_weight`` for one is refused. Returns one (mean training total loss, mean validation
    reconstruction loss, mean validation KL) per epoch; prints them as it goes unless ``verbose=False``, with a
    warning if a VAE's posterior collapsed (validation KL below 0.01 nats). Shared by the AE, the VAE and the appendix.
    """
    vae = is_variational(model)
    if vae and kl_weight is None:
        kl_weight = DEFAULT_KL_WEIGHT
    if not vae and kl_weight is not None:
        raise ValueError(f"train_autoencoder() received kl_weight={kl_weight} for a {type(model).__name__}, which has no "
                         "KL term: only a VariationalAutoEncoder takes a kl_weight. Leave it out for an AutoEncoder.")
    history = []
    for i in progress(range(1, n_epochs + 1), desc=desc):
        training_loss, _, _ = autoencoder_epoch(model, training_dataloader, reconstruction_loss, device, optimizer, kl_weight)
        _, validation_reconstruction, validation_kl = autoencoder_epoch(
            model, validation_dataloader, reconstruction_loss, device, kl_weight=kl_weight
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
