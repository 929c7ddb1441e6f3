"""The dataloaders (1 pt). What a DataLoader is (its batch size, sampler, dataset) the parent learns from the child's
report and cannot recompute; it checks what it can: the labels of two first batches are digits, 64 of them, and
differ between passes."""

import torch

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
    assert len(labels) == 2 and all(t.dtype == torch.int64 and tuple(t.shape) == (64,) for t in labels), \
        "training_dataloader's first batches do not hold 64 labels"
    assert all(0 <= t.min().item() and t.max().item() <= 9 for t in labels), "training_dataloader's labels are not digits"
    assert not torch.equal(labels[0], labels[1]), "two passes over training_dataloader start with the same batch"
