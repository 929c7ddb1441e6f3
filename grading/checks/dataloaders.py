"""Hidden check: the dataloaders (1 pt). Otter-grader exception-based test file."""
from otter.test_files import test_case

OK_FORMAT = False
name = "dataloaders"


@test_case(name="dataloaders: batches of 64 over each set, the training loader shuffles", points=1, hidden=True)
def dataloaders(training_dataloader, validation_dataloader, mnist_training_set, mnist_validation_set):
    import torch

    for label, loader, dataset in [("training_dataloader", training_dataloader, mnist_training_set),
                                   ("validation_dataloader", validation_dataloader, mnist_validation_set)]:
        assert isinstance(loader, torch.utils.data.DataLoader), f"{label} is a {type(loader).__name__}, not a DataLoader"
        assert loader.batch_size == 64, f"{label}.batch_size is {loader.batch_size}, expected 64"
        assert dataset is not None and len(loader.dataset) == len(dataset), (
            f"{label} holds {len(loader.dataset)} images; the {label.split('_')[0]} set has "
            f"{len(dataset) if dataset is not None else '?'}")
    assert isinstance(training_dataloader.sampler, torch.utils.data.RandomSampler), (
        "training_dataloader does not shuffle (its sampler is "
        f"{type(training_dataloader.sampler).__name__}; set shuffle=True)")
    torch.manual_seed(0)
    first = [next(iter(training_dataloader))[1] for _ in range(2)]
    assert not torch.equal(first[0], first[1]), "two passes over training_dataloader start with the same batch"
