"""The digits example's hidden cases, run by the grader only: the batches are MNIST's own images with their labels,
SmallCNN computes what the solved SmallCNN (rebuilt with the layers the submission describes) computes on the
grader's weights and images, and count_parameters counts a network of another width."""

import torch

from casekit import built, case, fresh_params, rebuild, same, sibling

public = sibling(__file__, "public_cases.py")
_TRAINING = []  # the training set's (image bytes, label) pairs, made once per grading process


def _training(ask):
    if not _TRAINING:
        known, labels = ask.dataset(True)
        _TRAINING.append({(image.numpy().tobytes(), int(label)) for image, label in zip(known, labels)})
    return _TRAINING[0]


@case("dataloader", "training_dataloader's images are MNIST training images with their labels, as ToTensor and "
      "Normalize give them", 0.5, public=False)
def dataloader_real(ask):
    images, labels = public.batch(ask)
    grey = (images[:, 0] * public.STD + public.MEAN) * 255  # back to the file's grey levels
    pixels = grey.round().clamp(0, 255).to(torch.uint8)
    assert (grey - pixels.float()).abs().max().item() < 0.05, \
        "the images are not MNIST's grey levels through ToTensor and Normalize((0.1307,), (0.3081,))"
    known = _training(ask)
    wrong = sum((image.numpy().tobytes(), int(label)) not in known for image, label in zip(pixels, labels))
    assert wrong == 0, f"{wrong} of {len(images)} images of a batch are not MNIST training images with their label"


@case("small_cnn", "SmallCNN computes what the reference SmallCNN computes, on the grader's weights and images", 1,
      public=False)
def small_cnn_computes(ask):
    x = ask.images(8)
    ours = rebuild(ask.reference.SmallCNN(), ask.describe(public.CNN)[0].get("modules", {}))
    got = ask.forward(public.CNN, x, params=fresh_params(ours, ask.generator))
    same(got[0], ours.eval()(x).detach(), "SmallCNN's output with the grader's weights")


@case("count_parameters", "count_parameters(DenseNet(32)) counts a narrower network too", 0.5, public=False)
def count_parameters_narrower(ask):
    found, expected = public.counted(ask, built("DenseNet", 32), "DenseNet(32)")
    assert found == expected, f"count_parameters(DenseNet(32)) is {found}; DenseNet(32) holds {expected:,} parameters"
