"""Speed of the notebook's pipelines: naive (the assignment as written) vs project (hw2.ipynb) vs floor.

    python bench/benchmark.py            # about 2 minutes on 2 cores of an AMD EPYC, alone
    python bench/benchmark.py --quick    # fewer steps, a rough look

naive:   torchvision dataset with per-image transforms, a DataLoader, the assignment's loops
         (per-batch host copies, validation that tracks gradients in train mode).
project: exactly what hw2.ipynb runs: helpers.in_memory datasets, the same DataLoader settings,
         helpers.classifier_epoch / helpers.autoencoder_epoch, models in helpers.memory_format(device)
         (channels-last on the CPU, contiguous elsewhere).
floor:   the project's training steps on batches already in memory as tensors, no loader at all.

Seconds per epoch = 60,000 / training rate + 10,000 / validation rate, from a few hundred steps of
each. It reports; it asserts nothing. Timings on a shared machine wander by 10-20%: each case runs
--repeats times, interleaved, and the best is kept. Per-image PIL transforms (the naive side) slow down far more
than in-memory tensors when other work shares the cores, so a busy machine inflates naive/project: the load
readings at the start and end are printed beside the tables, with a warning when other work took more than a
quarter of a core meanwhile.
"""
import argparse
import functools
import io
import itertools
import platform
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torchvision  # noqa: E402
import torchvision.transforms as transforms  # noqa: E402

import hw2_models as hw2  # noqa: E402
import hw2_helpers as helpers  # noqa: E402

LENET_TRANSFORM = transforms.Compose([
    transforms.Resize((32, 32)), transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,)),
])
N_TRAIN, N_VALIDATION, BATCH = 60_000, 10_000, 64


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# ------------------------------------------------------------------ naive: the assignment's loops
def naive_lenet_train(model, loader, steps, device):
    loss_fn, optimizer = nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.001)
    loss = accuracy = 0
    for image, target_class in itertools.islice(loader, steps):
        predictions = model(image.to(device))
        batch_loss = loss_fn(predictions, target_class.to(device))
        optimizer.zero_grad()
        batch_loss.backward()
        optimizer.step()
        loss += batch_loss / steps
        accuracy += torch.count_nonzero(torch.argmax(predictions, axis=1) == target_class.to(device)) / BATCH / steps
    return loss.item()


def naive_lenet_validate(model, loader, steps, device):
    loss_fn, loss = nn.CrossEntropyLoss(), 0
    for image, target_class in itertools.islice(loader, steps):  # tracks gradients, train mode
        predictions = model(image.to(device))
        loss += loss_fn(predictions, target_class.to(device)) / steps
    return loss.item()


def naive_ae_train(model, loader, steps, device, vae):
    optimizer, bce, losses = torch.optim.Adam(model.parameters(), lr=0.001), nn.BCELoss(), []
    for img, _ in itertools.islice(loader, steps):
        optimizer.zero_grad()
        img = img.to(device)
        if vae:
            reconstructed, mu, log_variance = model(img)
            loss = bce(reconstructed, img) + 0.01 * hw2.kl_divergence(mu, log_variance)
        else:
            loss = bce(model(img), img)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach().cpu().numpy())
    return np.mean(losses)


def naive_ae_validate(model, loader, steps, device, vae):
    bce, losses = nn.BCELoss(), []
    for img, _ in itertools.islice(loader, steps):
        img = img.to(device)
        reconstructed = model(img)[0] if vae else model(img)
        losses.append(bce(reconstructed, img).detach().cpu().numpy())
    return np.mean(losses)


def loaders(train_data, validation_data):
    """The notebook's loaders: batches of 64, shuffled."""
    return (torch.utils.data.DataLoader(train_data, batch_size=BATCH, shuffle=True),
            torch.utils.data.DataLoader(validation_data, batch_size=BATCH, shuffle=True))


# ------------------------------------------------------------------ one case = training rate and validation rate
def rates(train, validate, train_steps, validation_steps):
    train(3), validate(2)  # warm-up: allocator, oneDNN primitives
    t_train, _ = timed(lambda: train(train_steps))
    t_validation, _ = timed(lambda: validate(validation_steps))
    return train_steps * BATCH / t_train, validation_steps * BATCH / t_validation


def other_layout(layout):
    """The layout the notebook does not use on this device: contiguous on the CPU, the CPU's elsewhere."""
    return torch.contiguous_format if layout != torch.contiguous_format else helpers.memory_format("cpu")


def layout_name(layout):
    return "contiguous (NCHW)" if layout == torch.contiguous_format else "channels-last (NHWC)"


def pipeline_cases(device, build, epoch, loss_fn, naive_pass, raw_sets, memory_sets, steps):
    """naive / project / floor cases for one model, and the project with the other memory layout.

    ``build(layout)`` makes a fresh model in that memory layout; ``epoch`` is the notebook's pass
    (helpers.classifier_epoch or helpers.autoencoder_epoch); ``naive_pass(model, loader, steps, train)`` the
    assignment's loop. The project uses ``helpers.memory_format(device)``, as the notebook does."""
    train_steps, validation_steps = steps
    layout = helpers.memory_format(device)

    def naive():
        model, (tl, vl) = build(torch.contiguous_format), loaders(*raw_sets)
        return rates(lambda k: naive_pass(model, tl, k, True), lambda k: naive_pass(model, vl, k, False),
                     train_steps, validation_steps)

    def project_with(tl, vl, layout=layout):
        model = build(layout)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
        return rates(lambda k: epoch(model, itertools.islice(tl, k), loss_fn, device, optimizer),
                     lambda k: epoch(model, itertools.islice(vl, k), loss_fn, device),
                     train_steps, validation_steps)

    batches = [(x.to(device), y.to(device)) for x, y in itertools.islice(loaders(*memory_sets)[0], train_steps)]
    return {
        "naive": naive,
        "project": lambda: project_with(*loaders(*memory_sets)),
        "floor": lambda: project_with(itertools.cycle(batches), itertools.cycle(batches)),
        f"project, but {layout_name(other_layout(layout))} memory":
            lambda: project_with(*loaders(*memory_sets), layout=other_layout(layout)),
    }


def datasets(transform):
    root = helpers.verify_mnist()
    raw = [torchvision.datasets.MNIST(root, train=train, transform=transform) for train in (True, False)]
    seconds, memory = timed(lambda: [helpers.in_memory(d) for d in raw])
    return raw, memory, seconds


def lenet_cases(device, steps):
    raw, memory, seconds = datasets(LENET_TRANSFORM)

    def naive_pass(model, loader, k, train):
        return (naive_lenet_train if train else naive_lenet_validate)(model, loader, k, device)

    def build(layout):
        return hw2.LeNet_5().to(device, memory_format=layout)

    cases = pipeline_cases(device, build, helpers.classifier_epoch, nn.CrossEntropyLoss(), naive_pass, raw, memory, steps)
    return cases, {"one-time transform of 70,000 images (project)": seconds}


def autoencoder_cases(device, steps, vae):
    raw, memory, _ = datasets(transforms.ToTensor())

    def naive_pass(model, loader, k, train):
        return (naive_ae_train if train else naive_ae_validate)(model, loader, k, device, vae)

    def build(layout):
        model = (hw2.VariationalAutoEncoder(hw2.Encoder(4), hw2.Decoder(2), 2) if vae
                 else hw2.AutoEncoder(hw2.Encoder(), hw2.Decoder()))
        return model.to(device, memory_format=layout)

    epoch = functools.partial(helpers.autoencoder_epoch, kl_weight=helpers.DEFAULT_KL_WEIGHT if vae else None)
    return pipeline_cases(device, build, epoch, nn.BCELoss(), naive_pass, raw, memory, steps), {}


# ------------------------------------------------------------------ figure cells
def figure_cells(device):
    root = helpers.verify_mnist()
    train_set = helpers.in_memory(torchvision.datasets.MNIST(root, train=True, transform=transforms.ToTensor()))
    validation_set = helpers.in_memory(torchvision.datasets.MNIST(root, train=False, transform=transforms.ToTensor()))
    tl, vl = loaders(train_set, validation_set)
    model = hw2.AutoEncoder(hw2.Encoder(), hw2.Decoder()).to(device, memory_format=helpers.memory_format(device))
    z = scipy.stats.norm.ppf(np.linspace(0.005, 0.995, 20))
    Z1, Z2 = np.meshgrid(z, z)
    Z = np.vstack([Z1.flatten(), Z2.flatten()]).T

    def render(fig):
        fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")  # what the inline backend does
        plt.close(fig)

    def mosaic_project():
        render(helpers.show_mosaic(helpers.decode(model.decoder, Z, device), z, z))

    def mosaic_naive():  # the assignment's cell: 400 subplots
        ims = model.decoder(torch.tensor(Z).float().to(device).unsqueeze(0)).detach().cpu()
        fig, axes = plt.subplots(20, 20, figsize=(7, 7))
        for k in range(ims.shape[0]):
            axes[k // 20, k % 20].imshow(ims[k, 0])
            axes[k // 20, k % 20].axis("off")
        render(fig)

    def scatter(encode):  # the notebook's plot_mnist_encoding: the same encodings and markers
        fig, ax = plt.subplots(1, 2, figsize=(10, 5))
        styles = [dict(alpha=0.2, s=4), dict(alpha=0.5, marker="+")]
        for axis, loader, style in zip(ax, (tl, vl), styles):
            codes, labels = encode(loader)
            points = axis.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="plasma", rasterized=True, **style)
            axis.legend(*points.legend_elements(), title="Labels")
        render(fig)

    def encode_naive(loader):  # the assignment's get_all_encodings: train mode, gradients tracked
        out = [(model.encoder(x.to(device)).detach().cpu().numpy(), y.numpy()) for x, y in loader]
        return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])

    other = other_layout(helpers.memory_format(device))
    plain = hw2.AutoEncoder(hw2.Encoder(), hw2.Decoder()).to(device, memory_format=other)

    def encode_plain(loader):  # project helper on a model in the other layout
        return helpers.get_all_encodings(plain, loader, device)

    return {
        "20x20 mosaic, 400 subplots (assignment)": mosaic_naive,
        "20x20 mosaic, make_grid (project)": mosaic_project,
        "latent scatter, encode 70,000 (assignment)": lambda: scatter(encode_naive),
        f"latent scatter, encode 70,000, {layout_name(other)} model": lambda: scatter(encode_plain),
        "latent scatter, encode 70,000 (project)": lambda: scatter(lambda l: helpers.get_all_encodings(model, l, device)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps: a rough look in under a minute")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each case; the best is kept (default 2)")
    args = parser.parse_args()
    device = hw2.get_device()
    torch.manual_seed(0)
    started = helpers.load_reading()
    print(f"device {device}; torch {torch.__version__}; {torch.get_num_threads()} threads; "
          f"{platform.processor() or platform.machine()}; Python {platform.python_version()}\n")

    lenet_steps, ae_steps = (40, 10) if args.quick else (300, 90)
    models = {
        "LeNet-5": lenet_cases(device, (lenet_steps, 40)),
        "AE": autoencoder_cases(device, (ae_steps, 50), vae=False),
        "VAE": autoencoder_cases(device, (ae_steps, 50), vae=True),
    }
    print("| model | pipeline | train img/s | validation img/s | s/epoch | naive/project | project/floor |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (cases, extras) in models.items():
        best = {}
        for _ in range(args.repeats):
            for case, run in cases.items():
                train_rate, validation_rate = run()
                epoch = N_TRAIN / train_rate + N_VALIDATION / validation_rate
                if case not in best or epoch < best[case][2]:
                    best[case] = (train_rate, validation_rate, epoch)
        for case, (train_rate, validation_rate, epoch) in best.items():
            ratios = ["", ""]
            if case == "project":
                ratios = [f"{best['naive'][2] / epoch:.2f}x", f"{epoch / best['floor'][2]:.3f}x"]
            print(f"| {name} | {case} | {train_rate:,.0f} | {validation_rate:,.0f} | {epoch:.1f} | {ratios[0]} | {ratios[1]} |")
        for label, seconds in extras.items():
            print(f"| {name} | {label} | | | {seconds:.2f} s once | | |")

    # project/floor above moves with the machine's noise (both run the same steps); the loader's own
    # cost per epoch, which is all that separates them, is steady:
    print("\n| data loading alone, one training epoch (938 batches) | seconds |\n| --- | ---: |")
    for name, transform in [("LeNet-5", LENET_TRANSFORM), ("AE / VAE", transforms.ToTensor())]:
        raw, memory, _ = datasets(transform)
        for label, data in [("naive: per-image transforms", raw[0]), ("project: helpers.in_memory tensors", memory[0])]:
            seconds, _ = timed(lambda: sum(1 for _ in loaders(data, data)[0]))
            print(f"| {name}, {label} | {seconds:.2f} |")

    print("\n| figure cell | seconds |\n| --- | ---: |")
    for label, cell in figure_cells(device).items():
        seconds = min(timed(cell)[0] for _ in range(args.repeats))
        print(f"| {label} | {seconds:.2f} |")
    print("\n" + helpers.load_report(started))


if __name__ == "__main__":
    main()
