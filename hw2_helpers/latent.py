"""Latent spaces: encodings, decoding, the sampling grids of the mosaics, and how much of a grid the codes reach."""

import numpy as np
import torch


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


def latent_width(model):
    """The latent width d of an AE or a VAE: what its decoder takes (a VAE's encoder outputs 2d numbers)."""
    return model.decoder.latent_dimensionality


def means(model, codes):
    """The codes (N, d) of ``get_all_encodings``' output (N, encoder width): a VAE's means mu, an AE's codes as they are."""
    return codes[:, : latent_width(model)]


def latent_grid(z1, z2):
    """The points of a mosaic: every (z1[j], z2[i]) as an (len(z2) * len(z1), 2) array, in the order of
    ``np.meshgrid(z1, z2)`` flattened (row i of the mosaic is z2[i]), as the assignment's mosaic cells build them."""
    Z1, Z2 = np.meshgrid(z1, z2)
    return np.vstack([Z1.flatten(), Z2.flatten()]).T


def ppf_axis(n=20):
    """The VAE mosaic's axis: the N(0, 1) quantiles at n evenly spaced probabilities from 0.005 to 0.995."""
    import scipy.stats

    return scipy.stats.norm.ppf(np.linspace(0.005, 0.995, n))


def box_axes(codes, n=20):
    """The AE mosaic's axes: n evenly spaced values over the bounding box of the codes (M, 2), per axis: (z1, z2)."""
    (x_min, y_min), (x_max, y_max) = codes[:, :2].min(axis=0), codes[:, :2].max(axis=0)
    return np.linspace(0, 1, n) * (x_max - x_min) + x_min, np.linspace(0, 1, n) * (y_max - y_min) + y_min


def occupied_share(codes, edges_1, edges_2):
    """The share of the grid cells (bin edges along z1 and z2) that hold at least one of ``codes`` (N, 2)."""
    counts = np.histogram2d(codes[:, 0], codes[:, 1], bins=[edges_1, edges_2])[0]
    return (counts > 0).mean()


def grid_occupancy(ae_codes, vae_mu, n=20):
    """How much of each mosaic's sampling region the validation codes reach: ((AE share, VAE share), (AE edges, PPF edges)).

    AE: n equal cells per axis over the bounding box of its codes (M, 2). VAE: n cells of equal probability per axis
    under N(0, 1), the cells the PPF grid samples, one point in each; its codes are the means ``vae_mu`` (M, 2)."""
    import scipy.stats

    if ae_codes.shape[1] != 2 or vae_mu.shape[1] != 2:
        raise ValueError(f"grid_occupancy() measures 2-D mosaics; received codes of widths {ae_codes.shape[1]} and "
                         f"{vae_mu.shape[1]}. Pass the AE's codes and the VAE's means (hw2.means(model, codes)).")
    ae_edges = [np.linspace(ae_codes[:, k].min(), ae_codes[:, k].max(), n + 1) for k in range(2)]
    ppf_edges = scipy.stats.norm.ppf(np.linspace(0, 1, n + 1))
    return (occupied_share(ae_codes, *ae_edges), occupied_share(vae_mu, ppf_edges, ppf_edges)), (ae_edges, ppf_edges)


def active_dimensions(mu, threshold=0.01):
    """How many latent dimensions a VAE uses: those whose mean ``mu`` (N, d) varies across images by
    more than ``threshold`` (variance over the data set; the usual definition of an active unit)."""
    return int((np.var(np.asarray(mu, dtype=np.float64), axis=0) > threshold).sum())
