"""Helpers for HW2's notebook, imported as ``hw2``; the graded classes are in ``hw2_models.py``.

Each room holds one kind of thing: ``data`` (MNIST checked, transformed once), ``training`` (seeds, memory layout,
the training and evaluation loops), ``latent`` (encodings, decoding, the mosaics' grids), ``measures`` (LeNet-5's
readings of generated digits: inception score, Frechet distance, paths, ELBO), ``seed_study`` (the seed table),
``figures`` (scatter labels, mosaics, progress bars, rendered source), ``weights`` and ``machine`` (how busy the
machine was while something was timed); for the student version, ``checks`` (the public checks, ``hw2.check(PART)``)
and ``submission`` (the hand-in zip, ``hw2.make_submission()``). ``models_import`` lets the notebook import
``hw2_models`` while Part 2's blanks are still open. Every public name is available here as well.
"""

import os

# Before torch is imported: an op without an MPS kernel then runs on the CPU instead of raising
# NotImplementedError. A value the user already set is respected.
os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")

from . import models_import  # noqa: E402

models_import.install()  # before anything imports hw2_models

from .data import DATA_ROOT, MNIST_MD5, REPO_ROOT, MNISTIntegrityError, apply_transform, in_memory, subset, verify_mnist  # noqa: E402,F401
from .figures import GRADING_MARKER, draw_path, label_centroids, progress, show_mosaic, show_source  # noqa: E402,F401
from .latent import (  # noqa: E402,F401
    active_dimensions, box_axes, decode, get_all_encodings, grid_occupancy, latent_grid, latent_width, means,
    occupied_share, ppf_axis,
)
from .machine import load_reading, load_report  # noqa: E402,F401
from .training import (  # noqa: E402,F401
    DEFAULT_KL_WEIGHT, autoencoder_epoch, classifier_epoch, confusion_counts, is_variational, memory_format,
    most_confused, predict_all, seed_everything, train_autoencoder, vae_loss,
)
from .weights import architecture_of, load_weights, save_weights  # noqa: E402,F401
from .checks import check, prepare_data  # noqa: E402,F401
from .models_import import models_changed  # noqa: E402,F401
from .submission import make_submission  # noqa: E402,F401

# What only the solution's cells use (the appendices' measures and seed table), loaded on first use: the student
# version ships without these two files.
SOLUTION_ONLY = {
    "measures": ["classifier_readings", "elbo_nats", "fid_reference", "format_generation_table", "frechet_distance",
                 "generated_sets", "generation_table", "inception_score", "interpolation_pairs", "mean_interval",
                 "path_confidence", "random_pairs", "read_digits", "set_measures"],
    "seed_study": ["SEED_COLUMNS", "SEED_COMPARISONS", "SEED_TABLE_COLUMNS", "SET_KEYS", "format_seed_table",
                   "read_seed_table", "seed_row", "summary_row"],
}


def __getattr__(name):
    import importlib

    module = next((m for m, names in SOLUTION_ONLY.items() if name in names), None)
    if module is None:
        raise AttributeError(f"module 'hw2_helpers' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
