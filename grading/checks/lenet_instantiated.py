"""Hidden check: LeNet-5 instantiated (1 pt).

``model`` must be an instance of the submission's LeNet_5 (or of the grader's stand-in for it, used only when the
submission's class itself cannot be built, so that a mistake in the class costs the layer points, not this one).
When the class itself runs, ``model`` must run too: (1, 1, 32, 32) -> (1, 10).
"""
from otter.test_files import test_case

OK_FORMAT = False
name = "lenet_instantiated"


@test_case(name="LeNet-5 instantiated: model is a LeNet_5 that runs", points=1, hidden=True)
def instantiated(env, model):
    import torch

    from grading import checkhelpers as H

    assert model is not None, "no variable model"
    cls = H.module_class(env, "LeNet_5")
    stand_in = getattr(model, "_grading_stand_in", None) == "LeNet_5"
    assert isinstance(model, cls) or stand_in, f"model is a {type(model).__name__}, not a LeNet_5 instance"
    if stand_in:
        return
    try:
        fresh_runs = tuple(H.run(cls(), torch.zeros(1, 1, 32, 32)).shape) == (1, 10)
    except AssertionError:
        fresh_runs = False
    if fresh_runs:
        out = H.run(model.cpu(), torch.zeros(1, 1, 32, 32))
        assert tuple(out.shape) == (1, 10), f"model maps (1, 1, 32, 32) to {tuple(out.shape)}, expected (1, 10)"
