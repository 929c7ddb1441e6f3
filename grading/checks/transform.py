"""Hidden check: the transform (1 pt). Otter-grader exception-based test file."""
from otter.test_files import test_case

OK_FORMAT = False
name = "transform"


@test_case(name="transform: Resize(32) + ToTensor + Normalize(0.1307, 0.3081) on real MNIST images", points=1, hidden=True)
def transform_output(transform):
    import torch

    from grading import checkhelpers as H

    assert transform is not None, "no variable transform"
    assert callable(transform), f"transform is a {type(transform).__name__}, not a transform"
    reference, images = H.reference_transform(), H.mnist(False)
    for index in (0, 1, 7, 42):
        image = images[index][0]  # a PIL image, as torchvision's MNIST hands it to the transform
        try:
            out = transform(image)
        except Exception as error:
            raise AssertionError(f"transform(a MNIST PIL image) raised {type(error).__name__}: {error}")
        assert isinstance(out, torch.Tensor), f"transform returns a {type(out).__name__}, not a tensor"
        assert tuple(out.shape) == (1, 32, 32), f"transform returns shape {tuple(out.shape)}, expected (1, 32, 32)"
        expected = reference(image)
        difference = (out.float() - expected).abs().max().item()
        assert difference < 1e-4, (
            f"transform's output differs from Resize(32), ToTensor(), Normalize((0.1307,), (0.3081,)) by up to "
            f"{difference:.3f} (its values span {out.min().item():.3f}..{out.max().item():.3f}, expected "
            f"{expected.min().item():.3f}..{expected.max().item():.3f})")
