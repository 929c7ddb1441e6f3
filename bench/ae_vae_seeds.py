"""Does the AE-versus-VAE comparison hold over seeds? Train both as hw2.ipynb does, then measure them.

    python bench/ae_vae_seeds.py train --seeds 1 2 --threads 1   # ~40 min per seed (both models) on 2 cores
    python bench/ae_vae_seeds.py measure --seeds 1 2             # a minute or two per seed

``train`` repeats the notebook's Part 2 calls for each seed, in the notebook's order: reseed (Python, NumPy,
torch and the loaders' shuffling generator), build the AE, build the loaders over the ToTensor images, draw
the one batch the notebook shows, train 20 epochs (Adam 0.001, BCE, batch 64); then reseed, build the VAE,
train 20 epochs at kl_weight 0.01. The weights go to bench/results/seeds/ (not committed). ``measure`` trains
the judge (LeNet-5, seed 0, exactly as Part 1 does; cached), reads each seed's models with the notebook's
measures (``hw2_helpers.seed_row``: ``generation_table``, ``path_confidence``, ``grid_occupancy``) and writes bench/ae_vae_seeds.csv, which
the notebook prints beside its own run (seed 0) and bench/README.md tabulates.
"""
import argparse
import csv
import json
import time
from pathlib import Path

import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as transforms

import hw2_models as hw2  # noqa: E402
import hw2_helpers as helpers  # noqa: E402
from lenet_seeds import TRANSFORM as LENET_TRANSFORM, final_accuracy  # noqa: E402  (bench/ is the script's folder)

RESULTS = Path(__file__).resolve().parent / "results" / "seeds"
TABLE = Path(__file__).resolve().parent / "ae_vae_seeds.csv"


def datasets(transform, quick):
    root = helpers.verify_mnist()
    sets = [helpers.in_memory(torchvision.datasets.MNIST(root, train=t, transform=transform)) for t in (True, False)]
    if quick:
        sets = [helpers.subset(sets[0], 2048), helpers.subset(sets[1], 512)]
    return sets


def train(seed, device, training_set, validation_set, n_epochs):
    """The notebook's Part 2 for one seed: returns {"ae": (model, history), "vae": (model, history)}."""
    generator = helpers.seed_everything(seed)
    reconstruction_loss = nn.BCELoss()
    # the AE cell reseeds, builds; the data cell makes the loaders; one batch is drawn to show an image
    helpers.seed_everything(seed, generator)
    ae = hw2.AutoEncoder(hw2.Encoder(), hw2.Decoder()).to(device, memory_format=helpers.memory_format(device))
    training = torch.utils.data.DataLoader(training_set, shuffle=True, batch_size=64, generator=generator)
    validation = torch.utils.data.DataLoader(validation_set, shuffle=True, batch_size=64, generator=generator)
    next(iter(training))
    ae_history = helpers.train_autoencoder(ae, torch.optim.Adam(ae.parameters(), lr=0.001), training, validation,
                                           reconstruction_loss, device, n_epochs, verbose=False, desc=f"seed {seed} AE")
    helpers.seed_everything(seed, generator)
    vae = hw2.VariationalAutoEncoder(hw2.Encoder(latent_dimensionality=4), hw2.Decoder(latent_dimensionality=2),
                                     latent_dimensionality=2).to(device, memory_format=helpers.memory_format(device))
    vae_history = helpers.train_autoencoder(vae, torch.optim.Adam(vae.parameters(), lr=0.001), training, validation,
                                            reconstruction_loss, device, n_epochs, kl_weight=0.01, verbose=False,
                                            desc=f"seed {seed} VAE")
    return {"ae": (ae, ae_history), "vae": (vae, vae_history)}


def judge(device, quick):
    """LeNet-5 trained as Part 1 trains it (seed 0, 10 epochs), cached in bench/results/seeds/."""
    path = RESULTS / ("lenet_seed0_quick.pth" if quick else "lenet_seed0.pth")
    if path.exists():
        return helpers.load_weights(hw2.LeNet_5().to(device, memory_format=helpers.memory_format(device)), path)
    training_set, validation_set = datasets(LENET_TRANSFORM, quick)
    *_, model = final_accuracy(0, device, training_set, validation_set, n_epochs=1 if quick else 10)
    RESULTS.mkdir(parents=True, exist_ok=True)
    helpers.save_weights(model, path)
    return model.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["train", "measure"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 to run two seeds side by side)")
    parser.add_argument("--quick", action="store_true", help="the notebook's quick mode: small subsets, one epoch")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = hw2.get_device()
    suffix = "_quick" if args.quick else ""
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.step == "train":
        training_set, validation_set = datasets(transforms.ToTensor(), args.quick)
        for seed in args.seeds:
            start = time.perf_counter()
            models = train(seed, device, training_set, validation_set, 1 if args.quick else 20)
            for name, (model, history) in models.items():
                helpers.save_weights(model, RESULTS / f"seed{seed}_{name}{suffix}.pth")
                (RESULTS / f"seed{seed}_{name}{suffix}.json").write_text(json.dumps(history))
            print(f"seed {seed}: trained in {time.perf_counter() - start:.0f} s on {device} "
                  f"({torch.get_num_threads()} threads); final validation BCE AE {models['ae'][1][-1][1]:.4f}, "
                  f"VAE {models['vae'][1][-1][1]:.4f}", flush=True)
        return

    lenet = judge(device, args.quick)
    training_set, validation_set = datasets(transforms.ToTensor(), args.quick)
    rows = []
    for seed in args.seeds:
        models = {}
        for name, model in [("ae", hw2.AutoEncoder(hw2.Encoder(), hw2.Decoder())),
                            ("vae", hw2.VariationalAutoEncoder(hw2.Encoder(4), hw2.Decoder(2), 2))]:
            model = helpers.load_weights(model.to(device), RESULTS / f"seed{seed}_{name}{suffix}.pth")
            history = json.loads((RESULTS / f"seed{seed}_{name}{suffix}.json").read_text())
            models[name] = (model, history)
        row = helpers.seed_row(seed, models["ae"], models["vae"], lenet, LENET_TRANSFORM, training_set, validation_set,
                               device)
        rows.append(row)
        print(json.dumps(row), flush=True)
    table = Path(str(TABLE).replace(".csv", f"{suffix}.csv"))
    previous = [r for r in helpers.read_seed_table(table) if int(r["seed"]) not in args.seeds] if table.exists() else []
    rows = sorted(previous + rows, key=lambda r: int(r["seed"]))
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {table}")


if __name__ == "__main__":
    main()
