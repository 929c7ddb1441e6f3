"""How much does LeNet-5's final validation accuracy depend on the seed?

Trains LeNet-5 exactly as hw2.ipynb does (same data, loaders, loop and hyperparameters: batch 64,
Adam at 0.001, 10 epochs, validation at each epoch start and after the last) for several seeds and
prints the final model's validation accuracy for each. On the machine of the committed run, seed 0
reproduces the notebook's number exactly.

    python bench/lenet_seeds.py --seeds 0 1 2 3 4     # about 45 s per seed on 2 CPU cores
"""
import argparse
import time

import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as transforms

import hw2_models as hw2  # noqa: E402
import hw2_helpers as helpers  # noqa: E402

TRANSFORM = transforms.Compose([
    transforms.Resize((32, 32)), transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,)),
])


def final_accuracy(seed, device, train_set, validation_set, n_epochs=10):
    generator = helpers.seed_everything(seed)
    training = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True, generator=generator)
    validation = torch.utils.data.DataLoader(validation_set, batch_size=64, shuffle=True, generator=generator)
    model = hw2.LeNet_5().to(device, memory_format=helpers.memory_format(device))
    loss_fn, optimizer = nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.001)
    history = []
    for _ in range(n_epochs):
        history.append(helpers.classifier_epoch(model, validation, loss_fn, device)[1])  # at epoch start
        helpers.classifier_epoch(model, training, loss_fn, device, optimizer)
    _, correct, total = helpers.classifier_epoch(model, validation, loss_fn, device)
    return correct, total, history, model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    device = hw2.get_device()
    root = helpers.verify_mnist()  # transformed once for all seeds: the transform is deterministic
    datasets = [helpers.in_memory(torchvision.datasets.MNIST(root, train=t, transform=TRANSFORM)) for t in (True, False)]
    print("| seed | final model | best epoch-start validation | seconds |\n| ---: | ---: | ---: | ---: |")
    finals = []
    for seed in args.seeds:
        start = time.perf_counter()
        correct, total, history, _ = final_accuracy(seed, device, *datasets)
        finals.append(correct / total)
        print(f"| {seed} | {correct}/{total} = {correct / total:.2%} | {max(history) / total:.2%} | "
              f"{time.perf_counter() - start:.0f} |", flush=True)
    mean = sum(finals) / len(finals)
    spread = (sum((f - mean) ** 2 for f in finals) / max(len(finals) - 1, 1)) ** 0.5
    print(f"\nfinal-model accuracy over {len(finals)} seeds: mean {mean:.2%}, standard deviation {spread:.2%}, "
          f"range {min(finals):.2%} to {max(finals):.2%}")


if __name__ == "__main__":
    main()
