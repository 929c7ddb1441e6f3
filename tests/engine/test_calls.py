"""A graded function of the module, asked with ``ask.call``: the sandboxed child's runner (here in this process, its
answers through the wire format) and the student's kernel (``casekit.kernel.LocalAsk``) give the same answer (a
number, or float tensors) or the same message naming the function; the parent refuses an answer of any other form;
``describe`` reports a module's plain settings (``attributes``), and the runner's stand-in keeps the settings it is
given, its keywords read from the assignment's data. No sandbox: these run in a second."""

import io
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import casekit
from casekit import kernel
from grading import settings
from grading.assignment import Assignment
from grading.judge.session import Ask
from grading.judge.transport import Refused
from grading.sandbox.child import notebook as nbk
from grading.sandbox.child import runner as child
from grading.sandbox.child import wire

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "tiny"

MODULE = '''
import torch
import torch.nn as nn


class Doubler(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return self.linear(x)


class Sly(int):
    """An int that says it equals anything and runs code when it is read as a float."""

    def __eq__(self, other):
        return True

    def __float__(self):
        raise RuntimeError("read me")


class Hijack(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError("hijacked")


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def halves(x):
    return x / 2


def pairs(x, model):
    return x, model.linear.weight


def raises(model):
    raise ValueError("no count here")


def describes(model):
    return {"count": 20}


def claims(model):
    return Sly(20)


def hijacks(model):
    return torch.full((2,), 20.0).as_subclass(Hijack)


def giant(model):
    return torch.zeros(5 * 2**20)


def unlisted():
    return 1


flag = 3
'''
FUNCTIONS = ["count_parameters", "halves", "pairs", "raises", "describes", "claims", "hijacks", "giant", "flag",
             "missing"]
DOUBLER = casekit.built("Doubler")


class InProcess:
    """The child's runner in this process, each request and answer sent through the wire format; an error answer is
    Refused, as the transport refuses it."""

    def __init__(self, runner):
        self.runner = runner

    def ask(self, header, tensors=(), limit=None, setup=False):
        request, sent = wire.receive(io.BytesIO(wire.encode(dict(header, limit=5), tensors)))
        op = request["op"]
        try:
            answer, out = getattr(self.runner, op)(request, *([sent] if op in ("call", "forward") else []))
        except Exception as error:
            answer, out = {"error": f"{type(error).__name__}: {nbk.first_line(error)}"}, []
        answer, out = wire.receive(io.BytesIO(wire.encode(answer, out)))
        if answer.get("error"):
            raise Refused(str(answer["error"])[:300])
        return answer, out


@pytest.fixture
def askers(tmp_path, monkeypatch):
    """(the parent's Ask on the in-process child, the kernel's LocalAsk), both on MODULE as ``tiny_models``."""
    folder = tmp_path / "tiny"
    shutil.copytree(TINY, folder)
    data = json.loads((folder / "assignment.json").read_text())
    data["functions"] = FUNCTIONS
    (folder / "assignment.json").write_text(json.dumps(data))
    pristine, workdir = tmp_path / "in", tmp_path / "run"
    pristine.mkdir()
    workdir.mkdir()
    (pristine / "tiny_models.py").write_text(MODULE)
    assignment = Assignment(folder)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the runner puts its workdir first
    monkeypatch.setitem(sys.modules, "tiny_models", None)  # the runner's module takes its place until the test ends
    runner = child.Runner()
    runner.load({"config": {"workdir": str(workdir), "pristine": str(pristine), "data": str(tmp_path), "format": "kit",
                            "assignment": assignment.sandbox(), "limits": settings.Limits().child()}, "limit": 30})
    return Ask(InProcess(runner), assignment, None), kernel.LocalAsk(assignment.data, {})


def _outcome(ask, function, *args):
    """("value", the answer) or (the kind of AssertionError, its message)."""
    try:
        return "value", ask.call(function, *args)
    except AssertionError as error:
        return type(error).__name__, str(error)


X = torch.arange(6.0).reshape(2, 3)
EXPECTED = [  # (function, its arguments, ("value", the answer) or ("AssertionError", its message))
    ("count_parameters", (DOUBLER,), ("value", 20)),
    ("halves", (X,), ("value", [X / 2])),
    ("raises", (DOUBLER,), ("AssertionError", "raises(Doubler()) raised ValueError: no count here")),
    ("describes", (DOUBLER,), ("AssertionError", "describes(Doubler()) returns dict, not a tensor, a tuple of tensors "
                                                 "or a number")),
    ("claims", (DOUBLER,), ("AssertionError", "claims(Doubler()) returns Sly, not a tensor, a tuple of tensors or a "
                                              "number")),
    ("hijacks", (DOUBLER,), ("value", [torch.full((2,), 20.0)])),  # read as the plain tensor: no hook of it ran
    ("giant", (DOUBLER,), ("AssertionError", "giant(Doubler()) returns a tensor of shape (5242880,), larger than the "
                                             "grader reads (at most 6 dimensions, 4,194,304 numbers each, 64 MiB in "
                                             "all)")),
    ("unlisted", (), ("AssertionError", "unlisted(): unlisted is not a function the assignment grades")),
    ("count_parameters", (casekit.torch_layer("Linear", **{"in": 4, "out": 3}),), ("value", 15)),  # built there
    ("count_parameters", (casekit.torch_layer("Linear", **{"in": 2**17, "out": 2}),),  # never built: out of bounds
     ("AssertionError", "count_parameters(nn.Linear(131072, 2)): nn.Linear(131072, 2) is not a layer the toolkit "
                        "builds")),
    ("pairs", (X, {"class": "Doubler", "sub": "nothing"}),
     ("AssertionError", "pairs(tensor(2, 3), Doubler().nothing): AttributeError: 'Doubler' object has no attribute "
                        "'nothing'")),
]


@pytest.mark.parametrize("function, args, expected", EXPECTED, ids=[f for f, _, _ in EXPECTED])
def test_the_grader_and_the_kernel_give_one_answer(askers, function, args, expected):
    parent, local = askers
    for asker in (parent, local):
        kind, found = _outcome(asker, function, *args)
        assert kind == expected[0], (asker, found)
        if isinstance(expected[1], list):
            assert len(found) == len(expected[1]) and all(type(t) is torch.Tensor and t.dtype == torch.float32
                                                          and torch.equal(t, e) for t, e in zip(found, expected[1]))
        else:
            assert found == expected[1] and type(found) is type(expected[1])


def test_a_tensor_argument_and_a_target_reach_the_function(askers):
    parent, local = askers
    for asker in (parent, local):
        x, weight = asker.call("pairs", X, DOUBLER)
        assert torch.equal(x, X) and tuple(weight.shape) == (4, 4)  # the Parameter, a tensor subclass, read plainly


def test_a_missing_function_is_named_in_the_grader_and_unfinished_in_the_kernel(askers):
    parent, local = askers
    for name in ("missing", "flag"):  # not defined; defined, but not a function
        assert _outcome(parent, name, DOUBLER) == ("AssertionError", f"{name}(Doubler()): tiny_models.py defines no "
                                                                     f"function {name}")
        with pytest.raises(kernel.Unfinished, match=f"defines no function {name} that this kernel has imported"):
            local.call(name, DOUBLER)


class _Answers:
    """A child that answers a call with ``answer``: what a forged runner could send."""

    def __init__(self, answer, out=()):
        self.answer, self.out = answer, list(out)

    def ask(self, header, tensors=(), limit=None, setup=False):
        if header["op"] == "describe":
            return {"type": "Doubler", "instance_of": ["Doubler"], "params": []}, []
        return wire.receive(io.BytesIO(wire.encode(self.answer, self.out)))


@pytest.mark.parametrize("answer, out, says", [
    ({"number": "20"}, [], "answered str, not a number"),
    ({"number": [20]}, [], "answered list, not a number"),
    ({"number": {"a": 1}}, [], "answered dict, not a number"),
    ({"number": 20}, [torch.zeros(1)], "answered int, not a number"),  # a number and tensors: neither is taken
    ({}, [], "returned nothing"),
])
def test_the_parent_takes_a_number_or_tensors_only(answer, out, says):
    ask = Ask(_Answers(answer, out), Assignment(TINY), None)
    with pytest.raises(AssertionError, match=says):
        ask.call("count_parameters", DOUBLER)
    ask = Ask(_Answers({}, [torch.arange(3)]), Assignment(TINY), None)
    found = ask.call("count_parameters", DOUBLER)
    assert found[0].dtype == torch.float32 and found[0].tolist() == [0.0, 1.0, 2.0]


def test_an_answer_is_bounded_as_the_wire_bounds_it():
    assert casekit.ANSWER == {"tensors": wire.MAX_TENSORS, "elements": wire.TENSOR_LIMIT, "bytes": wire.TOTAL_LIMIT,
                              "dims": wire.MAX_DIMS}
    with pytest.raises(TypeError, match="at most 64 tensors"):
        casekit.answer([torch.zeros(1)] * 65)
    with pytest.raises(TypeError, match="larger than the grader reads"):
        casekit.answer([torch.zeros(2**20)] * 17)  # each allowed, together past 64 MiB
    with pytest.raises(TypeError, match="more than the 64 the grader reads"):
        casekit.answer(2**70)
    with pytest.raises(TypeError, match="returns an empty tuple"):
        casekit.answer(())
    assert casekit.answer(True) is True and casekit.answer(2.5) == 2.5


class _Settings(nn.Module):
    def __init__(self):
        super().__init__()
        self.width, self.rate, self.name, self.on = 3, 0.5, "relu", False
        self.essay, self.weights, self.sly, self._hidden = "x" * 101, torch.zeros(2), type("Big", (int,), {})(3), 7
        self.layer = nn.Linear(1, 1)


def test_describe_reports_a_modules_plain_settings_only():
    info, _ = casekit.describe(_Settings(), {})
    assert info["attributes"] == {"width": 3, "rate": 0.5, "name": "relu", "on": False}  # not training, nor the rest
    assert casekit.describe(torch.zeros(2), {})[0]["attributes"] == {}


def test_the_parent_keeps_plain_attributes_only():
    class Child:
        def ask(self, header, tensors=(), limit=None, setup=False):
            return {"type": "Doubler", "params": [], "attributes": {"width": 3, "list": [1], "nested": {"a": 1},
                                                                    "name": "relu"}}, []

    info, _, _ = Ask(Child(), Assignment(TINY), None).describe(DOUBLER)
    assert info["attributes"] == {"width": 3, "name": "relu"}


def test_a_stand_in_keeps_the_settings_it_is_given_with_the_datas_keywords():
    cls = child.stand_in("Widget", {"width": 2, "depth": 1})
    assert casekit.attributes(cls()) == {"width": 2, "depth": 1}  # the data's values where a call leaves them out
    assert casekit.attributes(cls(4)) == {"width": 4, "depth": 1}  # positional arguments in the data's order
    assert casekit.attributes(cls(depth=5, extra="x")) == {"width": 2, "depth": 5, "extra": "x"}
    odd = cls(forward=1, training=3, _private=2, layer=nn.Linear(1, 1))  # never a method or nn.Module's own state
    assert casekit.attributes(odd) == {"width": 2, "depth": 1} and callable(odd.forward)
    assert casekit.attributes(child.stand_in("Plain")(7, size=3)) == {"size": 3}
    info, _ = casekit.describe(cls(), {}, child.STAND_INS)
    assert info["stand_in"] == "Widget"


def test_the_real_image_check_reads_the_known_images_channels_and_size():
    generator = torch.Generator().manual_seed(0)
    known = torch.randint(0, 256, (12, 10, 10, 3), dtype=torch.uint8, generator=generator)  # as a colour set holds them
    labels = torch.arange(12) % 3
    real = nn.functional.interpolate(casekit.channels_first(known[:4]).float() / 255, size=(20, 20), mode="bilinear")
    fake = torch.rand(2, 3, 20, 20, generator=generator)
    assert casekit.not_real(real, labels[:4], known, labels) == 0
    assert casekit.not_real(fake, labels[:2], known, labels) == 2
    assert casekit.not_real(real[:, :1], labels[:4], known, labels) == 4  # one channel of three: never real
    grey = known[..., 0]  # (N, H, W), as a greyscale set holds them: a padded image's middle is its image
    padded = nn.functional.pad(casekit.channels_first(grey[:4]).float() / 255, (3, 3, 3, 3))
    assert casekit.not_real(padded[..., 3:13, 3:13], labels[:4], grey, labels) == 0
    assert casekit.not_real(fake[:, :1], labels[:2], grey, labels) == 2
