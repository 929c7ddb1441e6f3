"""The digits example's hidden cases, run by the grader only: the batches are MNIST's own images with their labels,
SmallCNN computes what the solved SmallCNN (rebuilt with the layers the submission describes) computes on the
grader's weights and images, and count_parameters counts a SmallCNN of another width."""

from casekit import built, case, fresh_params, not_real, rebuild, same, sibling

public = sibling(__file__, "public_cases.py")


@case("dataloader", "training_dataloader's images are MNIST training images, each with its own label", 0.5,
      public=False)
def dataloader_real(ask):
    images, labels = public.batch(ask)
    known, known_labels = ask.dataset(True)
    wrong = not_real(images * public.STD + public.MEAN, labels, known, known_labels)
    assert wrong == 0, f"{wrong} of {len(images)} images of a batch are not MNIST training images with their label"


@case("small_cnn", "SmallCNN computes what the reference SmallCNN computes, on the grader's weights and images", 1,
      public=False)
def small_cnn_computes(ask):
    x = ask.images(8)
    ours = rebuild(ask.reference.SmallCNN(), ask.describe(public.CNN)[0].get("modules", {}))
    got = ask.forward(public.CNN, x, params=fresh_params(ours, ask.generator))
    same(got[0], ours.eval()(x).detach(), "SmallCNN's output with the grader's weights")


@case("count_parameters", "count_parameters(SmallCNN(4)) counts a narrower SmallCNN too", 0.5, public=False)
def count_parameters_other(ask):
    target = built("SmallCNN", 4)
    found, expected = public.counted(ask, target, "SmallCNN(4)")
    assert found == expected, f"count_parameters(SmallCNN(4)) is {found}; SmallCNN(4) holds {expected:,} parameters"
