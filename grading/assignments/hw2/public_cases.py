"""HW2's public cases: the student runs them with ``hw2.check(PART)`` on the kernel's own objects, and the grader runs
the same functions on the sandboxed submission with inputs it draws. Each uses only what the assignment states (its
layer tables, shapes, the transform's recipe), never the solution. Parameter counts for latent width d: Encoder
conv_1 160, conv_2 4,640, conv_3 18,496, fc_1 51,232, fc_2 33*d; Decoder fc_1 32*d+32, fc_2 52,800, conv_1 18,464,
conv_2 4,624, conv_3 145; LeNet-5 (full C3 connectivity, as nn.Conv2d gives) C1 156, C3 2,416, C5 48,120, F6 10,164,
output 850."""

import torch
from casekit import alive, built, case, conv, layer, not_real, parameters

LENET = built("LeNet_5")
UPSAMPLING = ("Upsample", "UpsamplingNearest2d")
TRANSFORM_TOLERANCE = 0.05  # normalized units (about 4 grey levels); ToTensor before Resize differs by one (0.0127)


def hinted(function, hints):
    """``function()``; an AssertionError whose text holds a key of ``hints`` gets that hint added."""
    try:
        return function()
    except AssertionError as error:
        text = str(error)
        hint = next((hint for key, hint in hints.items() if key in text), None)
        raise type(error)(f"{text}: {hint}" if hint else text) from None  # an unfinished part stays unfinished


def recipe(ask, image):
    """The assignment's transform of one uint8 image (H, W): Resize(32), ToTensor, Normalize."""
    from PIL import Image
    from torchvision import transforms

    data = ask.spec["dataset"]
    steps = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor(),
                                transforms.Normalize((data["mean"],), (data["std"],))])
    return steps(Image.fromarray(image.numpy(), mode="L"))


# -- the transform (1 pt) -----------------------------------------------------------------------------------------
@case("transform", "transform: Resize(32) + ToTensor + Normalize with the assignment's mean and std, on real images", 1,
      public=True)
def transform_output(ask):
    _, raw = ask.images(4, raw=True)
    outs = hinted(lambda: ask.apply("transform", raw), {"not a tensor": "is ToTensor() missing?",
                                                        "Image": "is ToTensor() missing?"})
    data = ask.spec["dataset"]
    black, white = -data["mean"] / data["std"], (1 - data["mean"]) / data["std"]
    for image, out in zip(raw, outs):
        shape = tuple(out.shape)
        assert shape == (1, 32, 32), f"transform(image) has shape {shape}, expected (1, 32, 32)" + (
            ": is Resize(32) missing?" if shape[-2:] == (28, 28) else "")
        expected = recipe(ask, image)
        if (out - expected).abs().max().item() <= TRANSFORM_TOLERANCE:
            continue
        low, high = out.min().item(), out.max().item()
        if 0 <= low and high <= 1:
            hint = "is Normalize missing?"
        elif torch.allclose(out[:, :2], torch.full_like(out[:, :2], black), atol=1e-3) and \
                torch.allclose(out[:, :, :2], torch.full_like(out[:, :, :2], black), atol=1e-3):
            hint = "Pad adds a border around the 28x28 digit; the recipe resizes the digit to 32x32 (Resize(32))"
        elif abs(low - black) > 0.05 or abs(high - white) > 0.05:
            hint = f"does Normalize use the mean {data['mean']} and the standard deviation {data['std']}?"
        else:
            hint = "are the steps Resize(32), ToTensor(), Normalize(...) in that order?"
        raise AssertionError(f"transform's output is not Resize(32), ToTensor(), Normalize(({data['mean']},), "
                             f"({data['std']},)) of the image: {hint}")


# -- the dataloaders (1 pt) ---------------------------------------------------------------------------------------
@case("dataloaders", "dataloaders: batches of 64 over each set, the training loader shuffles, real training images", 1,
      public=True)
def dataloaders(ask):
    for name, dataset in (("training_dataloader", "mnist_training_set"), ("validation_dataloader", "mnist_validation_set")):
        info = ask.describe({"var": name})[0]
        assert info["type"] == "DataLoader", f"{name} is a {info['type']}, not a torch.utils.data.DataLoader"
        assert info.get("batch_size") == 64, f"{name}.batch_size is {info.get('batch_size')}, expected 64"
        expected = ask.describe({"var": dataset})[0].get("length")
        assert expected is not None and info.get("length") == expected, (
            f"{name} reads {info.get('length')} images; {dataset} holds {expected if expected is not None else '?'}: "
            f"is {name} built on {dataset}?")
    sampler = ask.describe({"var": "training_dataloader"})[0].get("sampler")
    assert sampler == "RandomSampler", f"training_dataloader does not shuffle (its sampler is {sampler}): set shuffle=True"
    try:
        batches = ask.batches("training_dataloader", 2)
    except AssertionError:
        _, raw = ask.images(1, raw=True)
        try:
            ask.apply("transform", raw)
        except AssertionError:  # the datasets' transform fails: the transform's own part, not the loaders'
            return
        raise
    labels = [batch[1] for batch in batches]
    assert all(tuple(t.shape) == (64,) for t in labels), "training_dataloader's first batches do not hold 64 labels each"
    images = batches[0][0]
    assert images.dim() == 4 and len(images) == 64 and min(images.shape[2:]) >= 14, \
        f"training_dataloader's first batch of images has shape {tuple(images.shape)}"
    known, known_labels = ask.dataset(train=True)
    side = ask.spec["dataset"]["side"]
    if images.shape[-1] > side:  # a padded image: its middle is the digit
        top, left = (images.shape[-2] - side) // 2, (images.shape[-1] - side) // 2
        padded = images[..., top:top + side, left:left + side]
        wrong = min(not_real(images, labels[0], known, known_labels), not_real(padded, labels[0], known, known_labels))
    else:
        wrong = not_real(images, labels[0], known, known_labels)
    assert wrong == 0, "training_dataloader's first batch holds images that are not training images of their labels"
    assert not torch.equal(labels[0], labels[1]), "two passes over training_dataloader start with the same batch"


# -- LeNet-5's layers (3 pts: 1 here; the layer sizes are the paper's to find, so their cases are hidden) ------------
FORWARD_HINTS = {"mat1 and mat2": "is the flatten before fc1 missing? C5's output is (N, 120, 1, 1)"}


@case("lenet_layers", "LeNet-5 maps (N, 1, 32, 32) to (N, 10), image by image, with 61,706 parameters", 1, public=True)
def lenet_forward(ask):
    x = torch.randn(2, 1, 32, 32, generator=ask.generator)
    out = hinted(lambda: ask.forward(LENET, x)[0], FORWARD_HINTS)
    assert tuple(out.shape) == (2, 10), f"LeNet_5() maps (2, 1, 32, 32) to {tuple(out.shape)}, expected (2, 10)" + (
        ": C1 takes the 32x32 image without padding" if tuple(out.shape) == (8, 10) else "")
    alone = ask.forward(LENET, x[1:2])[0]
    assert tuple(alone.shape) == (1, 10), f"LeNet_5() maps (1, 1, 32, 32) to {tuple(alone.shape)}, expected (1, 10)"
    assert torch.allclose(alone[0], out[1], atol=1e-5), "an image's output depends on the other images of its batch"
    _, names, tensors = ask.describe(LENET)
    found = parameters(names, tensors)
    assert found == 61_706, (f"LeNet_5() holds {found:,} parameters, expected 61,706: check the kernel sizes and the "
                             "numbers of maps and units against the paper and its figure")
    alive(ask, LENET, x, "LeNet_5()")


# -- LeNet-5 instantiated (1 pt) ----------------------------------------------------------------------------------
@case("lenet_instantiated", "LeNet-5 instantiated: model is a LeNet_5 built by its cell, and it runs", 1, public=True)
def lenet_instantiated(ask):
    info = ask.describe({"var": "model"})[0]
    assert "LeNet_5" in info["instance_of"] or info["stand_in"] == "LeNet_5", \
        f"model is a {info['type']}, not a LeNet_5 instance"
    assert info["stand_in"] is None, "LeNet_5 cannot be built, so model is the grader's stand-in: fix LeNet_5 first"
    x = torch.randn(2, 1, 32, 32, generator=ask.generator)
    hinted(lambda: ask.forward({"var": "model"}, x), FORWARD_HINTS)
    alive(ask, {"var": "model"}, x, "model")


# -- the Encoder (2 pts: 1.5 here, 0.5 hidden) and the Decoder (2 pts: 1.5 here, 0.5 hidden) ------------------------
@case("encoder", "Encoder layers per the table (latent widths 2 and 4)", 1, public=True)
def encoder_layers(ask):
    for width in (2, 4):
        target = built("Encoder", width)
        for attribute, (cin, cout) in [("conv_1", (1, 16)), ("conv_2", (16, 32)), ("conv_3", (32, 64))]:
            layer(ask, target, "Encoder", attribute, ("Conv2d",), **conv(cin, cout, 3))
        for attribute in ("pool_1", "pool_2"):
            layer(ask, target, "Encoder", attribute, ("MaxPool2d",), kernel=[2, 2], stride=[2, 2])
        layer(ask, target, "Encoder", "fc_1", ("Linear",), **{"in": 64 * 5 * 5, "out": 32})
        layer(ask, target, f"Encoder({width})", "fc_2", ("Linear",), hint="does fc_2 use latent_dimensionality?",
              **{"in": 32, "out": width})


@case("encoder", "Encoder behaviour: (N, 1, 28, 28) -> (N, d) for d = 2, 4 and by default 2; parameter counts", 0.5,
      public=True)
def encoder_behaviour(ask):
    images = ask.images(8)
    for args, width, count in [((), 2, 74_594), ((4,), 4, 74_660)]:
        target, label = built("Encoder", *args), f"Encoder({', '.join(map(str, args))})"
        out = ask.forward(target, images)[0]
        hint = ": does fc_2 use latent_dimensionality?" if args and tuple(out.shape) == (8, 2) else ""
        assert tuple(out.shape) == (8, width), \
            f"{label} maps (8, 1, 28, 28) to {tuple(out.shape)}, expected (8, {width}){hint}"
        _, names, tensors = ask.describe(target)
        assert parameters(names, tensors) == count, \
            f"{label} holds {parameters(names, tensors):,} parameters, expected {count:,}: check each layer against the table"
        alive(ask, target, images, label)


UPSAMPLING_HINTS = {"upsample_1": "is the first upsampling (upsample_1) missing?",
                    "upsample_2": "is the second upsampling (upsample_2) missing?"}


@case("decoder", "Decoder layers per the table, both upsamplings included (latent widths 2 and 4)", 1, public=True)
def decoder_layers(ask):
    for width in (2, 4):
        target = built("Decoder", width)
        layer(ask, target, f"Decoder({width})", "fc_1", ("Linear",), hint="does fc_1 use latent_dimensionality?",
              **{"in": width, "out": 32})
        layer(ask, target, "Decoder", "fc_2", ("Linear",), **{"in": 32, "out": 64 * 5 * 5})
        for attribute in ("upsample_1", "upsample_2"):
            layer(ask, target, "Decoder", attribute, UPSAMPLING, hint=UPSAMPLING_HINTS[attribute], mode="nearest",
                  scale=[2.0, 2.0])
        for attribute, (cin, cout) in [("conv_1", (64, 32)), ("conv_2", (32, 16)), ("conv_3", (16, 1))]:
            layer(ask, target, "Decoder", attribute, ("Conv2d",), **conv(cin, cout, 3, padding=2))


@case("decoder", "Decoder behaviour: (N, d) -> (N, 1, 28, 28) in [0, 1] for d = 2, 4 and by default 2; parameter counts",
      0.5, public=True)
def decoder_behaviour(ask):
    for args, width, count in [((), 2, 76_129), ((4,), 4, 76_193)]:
        target, label = built("Decoder", *args), f"Decoder({', '.join(map(str, args))})"
        z = 3 * torch.randn(8, width, generator=ask.generator)
        out = ask.forward(target, z)[0]
        missing = [hint for name, hint in UPSAMPLING_HINTS.items()
                   if name not in (ask.describe(target)[0].get("modules") or {})
                   or ask.describe(target)[0]["modules"][name]["type"] not in UPSAMPLING]
        assert tuple(out.shape) == (8, 1, 28, 28), (f"{label} maps (8, {width}) to {tuple(out.shape)}, expected "
                                                    f"(8, 1, 28, 28){': ' + missing[0] if missing else ''}")
        assert out.min().item() >= 0 and out.max().item() <= 1, f"{label}'s pixels are not all in [0, 1]: is the Sigmoid missing?"
        _, names, tensors = ask.describe(target)
        assert parameters(names, tensors) == count, \
            f"{label} holds {parameters(names, tensors):,} parameters, expected {count:,}: check each layer against the table"
        alive(ask, target, z, label)


# -- the models the cells build (1 pt each, all in a hidden case that recomputes what of them works; the public case
# -- says what the cell built, worth nothing on its own: what a cell builds is the submission's word until recomputed)
def kept_width(info):
    """The ``latent_dimensionality`` a described model keeps (an int), or None."""
    found = info["attributes"].get("latent_dimensionality")
    return found if type(found) is int else None


def width(ask, target, role):
    """The latent width an Encoder (its output) or a Decoder (its input) was built with."""
    info = ask.describe(target)[0]
    if kept_width(info) is not None:
        return kept_width(info)
    fc = (info.get("modules") or {}).get("fc_2" if role == "Encoder" else "fc_1", {})
    return (fc.get("out") if role == "Encoder" else fc.get("in")) if fc.get("type") == "Linear" else None


def parts_of(ask, variable, cls):
    """(encoder width, decoder width) of the model a cell built; AssertionError when it is not made of the right kinds."""
    info = ask.describe({"var": variable})[0]
    article = "an" if cls[0] in "AEIOU" else "a"
    assert cls in info["instance_of"], f"{variable} is a {info['type']}, not {article} {cls}"
    widths = []
    for attribute, kind in [("encoder", "Encoder"), ("decoder", "Decoder")]:
        target = {"var": variable, "sub": attribute}
        found = ask.describe(target)[0]
        assert kind in found["instance_of"] or found["stand_in"] == kind, \
            f"{variable}.{attribute} is a {found['type']}, not {'an' if kind == 'Encoder' else 'a'} {kind}"
        widths.append(width(ask, target, kind))
    return tuple(widths)


@case("ae_built", "AutoEncoder built: an Encoder and a Decoder of latent width 2", 0, public=True)
def ae_built(ask):
    widths = parts_of(ask, "ae_model", "AutoEncoder")
    assert widths == (2, 2), (f"ae_model's encoder and decoder have latent widths {widths}, expected (2, 2): the "
                              "autoencoder's latent space is 2-dimensional")


@case("vae_built", "VAE built: encoder width 4, decoder width 2, latent_dimensionality 2", 0, public=True)
def vae_built(ask):
    widths = parts_of(ask, "vae_model", "VariationalAutoEncoder")
    found = (*widths, kept_width(ask.describe({"var": "vae_model"})[0]))
    assert found == (4, 2, 2), (f"vae_model's encoder width, decoder width and latent_dimensionality are {found}, "
                                "expected (4, 2, 2): the encoder gives a mean and a log-variance for each of z's 2 "
                                "components; the decoder reads z")
