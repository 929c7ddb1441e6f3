"""The digits example's public cases: the student runs them with ``digits.check(PART)`` on the kernel's own objects,
and the grader runs the same functions on the sandboxed submission, with inputs it draws."""

from casekit import alive, built, case, conv, layer, parameters

CNN = built("SmallCNN")
# the given fully connected network: count_parameters is checked on it, so a mistake in SmallCNN costs SmallCNN's
# part only
DENSE = built("DenseNet")
LOADER = {"var": "training_dataloader"}
BATCH = 64
# MNIST's constants, as the notebook's Normalize uses them: a blank pixel (0) becomes -MEAN / STD
MEAN, STD = 0.1307, 0.3081
BACKGROUND = -MEAN / STD
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")  # state a model holds beside its parameters


def batch(ask):
    """The first (images, labels) of training_dataloader, after checking it is a shuffling DataLoader of 64."""
    info = ask.describe(LOADER)[0]
    assert info["type"] == "DataLoader", f"training_dataloader is a {info['type']}, not a DataLoader"
    assert info.get("batch_size") == BATCH, \
        f"training_dataloader's batch size is {info.get('batch_size')}, expected {BATCH}"
    assert info.get("sampler") == "RandomSampler", "training_dataloader does not shuffle: pass shuffle=True"
    (images, labels), = ask.batches("training_dataloader", 1)
    assert tuple(images.shape) == (BATCH, 1, 28, 28), \
        f"a batch of images has shape {tuple(images.shape)}, expected ({BATCH}, 1, 28, 28)"
    assert tuple(labels.shape) == (BATCH,), f"a batch of labels has shape {tuple(labels.shape)}, expected ({BATCH},)"
    return images, labels


def counted(ask, target, label):
    """(what count_parameters returns for ``target``, the parameters ``target`` holds, counted from its tensors)."""
    _, names, tensors = ask.describe(target)
    expected = parameters([n for n in names if not n.endswith(BUFFERS)],
                          [t for n, t in zip(names, tensors) if not n.endswith(BUFFERS)])
    found = ask.call("count_parameters", target)
    if isinstance(found, list):  # a tensor holding one number is a number too
        assert len(found) == 1 and found[0].numel() == 1, \
            f"count_parameters({label}) returns {len(found)} tensors, not one number"
        found = found[0].item()
    return found, expected


@case("dataloader", "training_dataloader gives shuffled batches of 64 normalized MNIST images (64, 1, 28, 28)", 0.5,
      public=True)
def dataloader_batches(ask):
    images, _ = batch(ask)
    low, high = images.min().item(), images.max().item()
    assert abs(low - BACKGROUND) < 0.01 and high < (1 - MEAN) / STD + 0.01, (
        f"the images range from {low:.3f} to {high:.3f}; normalized with Normalize((0.1307,), (0.3081,)) the "
        f"background is {BACKGROUND:.3f}: is ToTensor or Normalize missing?")


@case("small_cnn", "SmallCNN's layers: conv1 Conv2d(1, 8, 3, padding=1), conv2 Conv2d(8, 16, 3, padding=1), "
      "fc Linear(784, 10)", 1, public=True)
def small_cnn_layers(ask):
    layer(ask, CNN, "SmallCNN", "conv1", ("Conv2d",), "padding 1 keeps 28x28", **conv(1, 8, 3, padding=1))
    layer(ask, CNN, "SmallCNN", "conv2", ("Conv2d",), "twice conv1's channels", **conv(8, 16, 3, padding=1))
    layer(ask, CNN, "SmallCNN", "fc", ("Linear",), "16 maps of 7x7 after two poolings", **{"in": 784, "out": 10})


@case("small_cnn", "SmallCNN() maps images (N, 1, 28, 28) to 10 logits each, computed with its own weights", 1,
      public=True)
def small_cnn_forward(ask):
    x = ask.images(5)
    out = ask.forward(CNN, x)[0]
    assert tuple(out.shape) == (5, 10), f"SmallCNN() maps (5, 1, 28, 28) to {tuple(out.shape)}, expected (5, 10)"
    alive(ask, CNN, x, "SmallCNN()")


@case("count_parameters", "count_parameters(DenseNet()) is the number of numbers in its parameters", 0.5, public=True)
def count_parameters_dense(ask):
    found, expected = counted(ask, DENSE, "DenseNet()")
    assert found == expected, f"count_parameters(DenseNet()) is {found}; DenseNet() holds {expected:,} parameters"
