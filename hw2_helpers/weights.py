"""Saving and loading weights safely (no pickled code, any device, the architecture checked)."""

from pathlib import Path

import torch


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
