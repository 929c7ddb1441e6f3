"""The seed table: one row of measures per trained seed (bench/ae_vae_seeds.py writes the other seeds' rows), and
the comparisons that hold in every seed."""

import numpy as np
import torch

from .latent import get_all_encodings, grid_occupancy, means
from .measures import elbo_nats, generated_sets, generation_table, interpolation_pairs, mean_interval, path_confidence


SEED_COLUMNS = ["seed", "ae_bce", "vae_bce", "vae_kl", "vae_elbo", "ae_occupied", "vae_occupied"] + [
    f"{kind}_{key}" for kind in ["ae_grid", "vae_grid", "ae_samples", "vae_prior"] for key in ["is", "digits", "fid", "confident"]
] + ["floor_400", "floor_samples", "path_ae", "path_vae", "path_difference", "path_difference_low", "path_difference_high"]


SET_KEYS = {"ae_grid": "AE grid", "vae_grid": "VAE PPF grid", "ae_samples": "AE, fitted Gaussian",
            "vae_prior": "VAE, prior N(0, I)"}


def summary_row(seed, ae_history, vae_history, rows, paths, occupancy, latent_dimensionality):
    """One seed's line of the seed table (a dict with ``SEED_COLUMNS``) from what the notebook computes: the training
    histories, ``generation_table``'s rows, ``path_confidence``'s per-pair means, ``grid_occupancy``'s shares and
    the VAE's latent width."""
    row = dict(seed=seed, ae_bce=ae_history[-1][1], vae_bce=vae_history[-1][1], vae_kl=vae_history[-1][2],
               vae_elbo=elbo_nats(vae_history[-1][1], vae_history[-1][2], None, latent_dimensionality),
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
    vae_codes, _ = get_all_encodings(vae, ordered, device)
    occupancy, _ = grid_occupancy(ae_validation_codes, means(vae, vae_codes))
    return summary_row(seed, ae_history, vae_history, rows, paths, occupancy, vae.latent_dimensionality)


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
