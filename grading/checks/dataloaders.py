"""The dataloaders (1 pt). What a DataLoader is (its batch size, sampler, dataset) the parent learns from the child's
report and cannot recompute; it checks what it can: the first batches of two passes hold 64 labels each and differ,
and the first batch's 64 images are real MNIST training images with those labels (up to size and scale, so a
transform's mistake costs the transform's point only)."""

import torch

from grading import reference as R
from grading.checks import case


@case("dataloaders: batches of 64 over each set, the training loader shuffles", 1)
def dataloaders(ask):
    info, labels = ask.loaders()
    for name in ("training_dataloader", "validation_dataloader"):
        found = info.get(name) or {}
        assert found.get("type") == "DataLoader", f"{name} is a {found.get('type')}, not a DataLoader"
        assert found.get("batch_size") == 64, f"{name}.batch_size is {found.get('batch_size')}, expected 64"
        assert found.get("set_length") is not None and found.get("length") == found.get("set_length"), (
            f"{name} holds {found.get('length')} images; the {name.split('_')[0]} set has {found.get('set_length') or '?'}")
    sampler = info["training_dataloader"].get("sampler")
    assert sampler == "RandomSampler", f"training_dataloader does not shuffle (its sampler is {sampler}; set shuffle=True)"
    assert len(labels) == 3 and all(t.dtype == torch.int64 and tuple(t.shape) == (64,) for t in labels[:2]), \
        "training_dataloader's first batches do not hold 64 labels"
    images = labels.pop()
    assert images.dim() == 4 and len(images) == 64 and images.shape[2] >= 14 and images.shape[3] >= 14, \
        f"training_dataloader's first batch of images has shape {tuple(images.shape)}"
    wrong = R.real_images(images, labels[0], ask.data, True)
    assert wrong == 0, f"{wrong} of the 64 images of training_dataloader's first batch are not MNIST training images of their labels"
    assert not torch.equal(labels[0], labels[1]), "two passes over training_dataloader start with the same batch"
