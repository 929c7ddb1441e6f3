"""Measures of generated digits, read by the trained LeNet-5: inception score, Frechet distance on its F6 features,
interpolation paths, and the VAE's loss in nats per image."""

import numpy as np
import torch

from .data import apply_transform
from .latent import box_axes, decode, latent_grid, latent_width, ppf_axis


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


def read_digits(classifier, images, transform, device):
    """What a trained LeNet-5 reads in generated images: (digit (N,), confidence = max softmax (N,)).

    ``images``: (N, 1, 28, 28) in [0, 1], as a decoder outputs them. They are stored as 8-bit images,
    as MNIST's are, and go through LeNet-5's own ``transform`` (Resize to 32x32, ToTensor, Normalize)
    by the same path as its training data, so the classifier sees them exactly as it saw MNIST.
    """
    probabilities, _ = classifier_readings(classifier, images, transform, device)
    confidence, digits = probabilities.max(dim=1)
    return digits, confidence


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


def generated_sets(ae, vae, ae_training_codes, ae_validation_codes, device, n_samples=10_000, seed=0):
    """The four sets of generated digits the notebook measures: {name: (N, 1, 28, 28) images}.

    The AE's grid over its validation codes' bounding box and the VAE's PPF grid (400 each: the mosaics' points),
    ``n_samples`` draws from the VAE's prior N(0, I), and ``n_samples`` from the AE. The AE has no prior: its draws
    come from the Gaussian (mean and covariance) fitted to its training codes, the simplest density that covers them.
    """
    generator = np.random.default_rng(seed)
    mean, covariance = ae_training_codes.mean(axis=0), np.cov(ae_training_codes, rowvar=False)
    z = ppf_axis(20)
    return {
        "AE grid": decode(ae.decoder, latent_grid(*box_axes(ae_validation_codes, 20)), device),
        "VAE PPF grid": decode(vae.decoder, latent_grid(z, z), device),
        "AE, fitted Gaussian": decode(ae.decoder, generator.multivariate_normal(mean, covariance, n_samples), device),
        "VAE, prior N(0, I)": decode(vae.decoder, generator.standard_normal((n_samples, latent_width(vae))), device),
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
    """The table of ``generation_table`` as text, a row per image set, with the number of images behind each score:
    IS, digit counts and the confident share on all n images of the set, FD (and its floor) on the first n FD."""
    lines = [f"{'image set':<24} {'n':>6} {'IS':>5} {'digits':>6}  {'count of each digit read, 0 to 9':<52} "
             f"{'n FD':>6} {'FD to real':>10} {'floor':>6} {'read >= 0.9':>11}"]
    for name, row in rows.items():
        counts = " ".join(f"{c:>4}" for c in row["counts"])
        lines.append(f"{name:<24} {row['n']:>6,} {row['inception']:>5.2f} {row['present']:>3} of 10  {counts:<52} "
                     f"{row['fid_n']:>6,} {row['fid']:>10.2f} {row['floor']:>6.2f} {row['confident']:>11.0%}")
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
        codes = codes[:, : latent_width(model)]  # a VAE's encoder gives (mu, log-variance)
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


def elbo_nats(validation_bce, validation_kl, kl_weight, latent_dimensionality, pixels=784):
    """A VAE's loss in nats per image: BCE summed over the pixels + beta KL summed over the latent dimensions.

    ``validation_bce`` is per pixel (``nn.BCELoss()``'s mean), ``validation_kl`` per image (summed over the
    dimensions, as ``train_autoencoder`` reports it). ``kl_weight`` is the assignment's multiplier: it weighs a KL
    averaged over the d dimensions against a BCE averaged over the pixels, so beta = pixels / d * kl_weight.
    ``kl_weight = None`` gives the plain negative ELBO (beta = 1)."""
    beta = 1.0 if kl_weight is None else pixels / latent_dimensionality * kl_weight
    return pixels * validation_bce + beta * validation_kl
