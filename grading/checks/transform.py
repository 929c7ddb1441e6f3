"""The transform (1 pt): on real MNIST images drawn at grading time, sent as uint8 and made PIL images in the child
(as torchvision's MNIST hands them over), its output equals the parent's Resize(32), ToTensor(), Normalize."""

from PIL import Image

from grading import reference as R
from grading.checks import case


@case("transform: Resize(32) + ToTensor + Normalize(0.1307, 0.3081) on real MNIST images", 1)
def transform_output(ask):
    _, raw = ask.images(4, raw=True)
    outs = ask.transform(raw)
    assert len(outs) == len(raw), f"transform answered {len(outs)} images for {len(raw)}"
    reference = R.reference_transform()
    for image, out in zip(raw, outs):
        assert tuple(out.shape) == (1, 32, 32), f"transform returns shape {tuple(out.shape)}, expected (1, 32, 32)"
        expected = reference(Image.fromarray(image.numpy(), mode="L"))
        difference = (out - expected).abs().max().item()
        assert difference < 1e-4, (
            f"transform's output differs from Resize(32), ToTensor(), Normalize((0.1307,), (0.3081,)) by up to "
            f"{difference:.3f} (its values span {out.min().item():.3f}..{out.max().item():.3f}, expected "
            f"{expected.min().item():.3f}..{expected.max().item():.3f})")
