"""The trusted-parent design's pieces that need no sandbox: the wire format refuses before it allocates, and the
notebook's import hook and the grader's child split a hw2_models.py that does not compile with one splitter, at the
file's real statements."""

import ast
import io
import struct
from pathlib import Path

import pytest
import torch

from grading.assignment import load as load_assignment
from grading.student import make as ms
from grading.sandbox.child import notebook as child_notebook
from grading.sandbox.child import wire
from fakes import Recorder, message
from hw2_helpers import models_import

REPO = Path(__file__).resolve().parents[2]
HW = load_assignment()


def test_a_message_goes_through_whole():
    x, labels = torch.randn(3, 1, 4, 4), torch.arange(5)
    header, tensors = wire.receive(io.BytesIO(wire.encode({"op": "forward", "n": 1}, [x, labels])))
    assert header["op"] == "forward" and header["n"] == 1
    assert torch.equal(tensors[0], x) and torch.equal(tensors[1], labels) and tensors[1].dtype == torch.int64


@pytest.mark.parametrize("spec, says", [
    ({"dtype": "float32", "shape": [2**22, 2**22]}, "elements"),  # 64 TiB declared
    ({"dtype": "float32", "shape": [2**22 + 1]}, "refused"),
    ({"dtype": "float32", "shape": [64] * 6}, "elements"),
    ({"dtype": "float32", "shape": [-1, 4]}, "refused"),
    ({"dtype": "float32", "shape": [1.5]}, "refused"),
    ({"dtype": "float64", "shape": [4]}, "dtype 'float64' is refused"),
    ({"dtype": "object", "shape": [4]}, "refused"),
])
def test_a_bad_declaration_is_refused_before_anything_is_read(spec, says):
    stream = Recorder(message({"op": "x", "tensors": [spec]}))
    header_bytes = len(stream.getvalue())
    with pytest.raises(wire.ProtocolError, match=says):
        wire.receive(stream)
    assert stream.taken == header_bytes  # not one byte of tensor data was asked for


def test_the_tensor_total_and_the_header_are_capped():
    many = [{"dtype": "float32", "shape": [wire.TENSOR_LIMIT]}] * 5  # each allowed, together 80 MiB
    with pytest.raises(wire.ProtocolError, match="MiB"):
        wire.receive(Recorder(message({"tensors": many})))
    stream = Recorder(struct.pack(">I", wire.HEADER_LIMIT + 1) + b"{" * 100)
    with pytest.raises(wire.ProtocolError, match="header of"):
        wire.receive(stream)
    assert stream.taken == 4
    for bad in [b"not json", b"[1, 2]"]:
        with pytest.raises(wire.ProtocolError):
            wire.receive(io.BytesIO(struct.pack(">I", len(bad)) + bad))
    with pytest.raises(EOFError):  # a message cut short: the peer's fault, never a hang or a partial tensor
        wire.receive(io.BytesIO(message({"tensors": [{"dtype": "uint8", "shape": [10]}]}, b"12345")))


def test_the_child_and_the_import_hook_split_the_student_version_alike_at_its_statements(tmp_path):
    """Both split hw2_models.py with the hook's top_level_statements; each chunk starts where a top-level statement
    of the solved file starts (the student file has the same lines), so none is a slice of a docstring."""
    student = ms.make_student(tmp_path / "student")
    source = (student / "hw2_models.py").read_text()
    with pytest.raises(SyntaxError):
        compile(source, "hw2_models.py", "exec")
    hook = models_import.top_level_statements(source)
    child = child_notebook.splitter(student, HW.sandbox())(source)  # the copy the sandbox loads from the submission's workdir
    assert child == hook
    solved = ms.solved_module().splitlines()
    starts = {solved[min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1]
              for node in ast.parse("\n".join(solved)).body}  # the first lines of the solved file's statements
    for first, text in hook:
        code = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        assert code[0] in starts, f"the chunk at line {first} starts inside a statement: {code[0]!r}"
    assert len(hook) == 19
    broken = []
    for first, text in hook:
        try:
            compile("\n" * (first - 1) + text, "hw2_models.py", "exec")
        except SyntaxError:
            broken.append(models_import._definition_name(text))
    assert broken == ["Encoder", "Decoder"]  # LeNet_5 compiles: its blanks are `_`, a NameError when built


def test_an_open_bracket_costs_its_own_statement_only():
    source = (REPO / "hw2_models.py").read_text().replace("nn.Linear(32, latent_dimensionality)",
                                                          "nn.Linear(32, latent_dimensionality", 1)
    chunks = models_import.top_level_statements(source)
    failing = []
    for first, text in chunks:
        try:
            compile("\n" * (first - 1) + text, "hw2_models.py", "exec")
        except SyntaxError:
            failing.append(models_import._definition_name(text))
    assert failing == ["Encoder"]
    assert "class Decoder" in "".join(text for _, text in chunks if models_import._definition_name(text) == "Decoder")


def test_a_described_layer_larger_than_the_assignment_needs_is_refused_before_it_is_built(monkeypatch):
    """A child that describes LeNet-5's fc1 as Linear(32768, 32768) (4 GiB of weights) makes the parent build nothing:
    the size is computed from the description and refused (guard: casekit.rebuild's factor)."""
    import casekit

    built = []
    monkeypatch.setattr(casekit, "build_layer", lambda info: built.append(info) or None)
    reference = HW.reference.LeNet_5()
    modules = {name: {"type": type(m).__name__, **casekit.layer_config(m)} for name, m in reference.named_modules()}
    modules["fc1"] = {"type": "Linear", "in": 32768, "out": 32768}
    with pytest.raises(AssertionError, match="more parameters than the assignment's layer could need"):
        casekit.rebuild(reference, modules)
    assert built == []
    modules["fc1"] = {"type": "Linear", "in": 120, "out": 64}  # a mistake of the assignment's own size is rebuilt
    with pytest.raises(AssertionError, match="not one the grader can recompute"):
        casekit.rebuild(HW.reference.LeNet_5(), modules)
    assert built == [modules["fc1"]]


@pytest.mark.parametrize("layer, change, says", [
    ("upsample_2", {"scale": [120.0, 120.0]}, "its layer upsample_2 (UpsamplingNearest2d) is described with scale 120, "
                                              "outside 0.25..4"),
    ("conv_1", {"padding": [2, 100000]}, "its layer conv_1 (Conv2d) is described with padding 100000, outside 0..64"),
    ("conv_2", {"kernel": [1, 65]}, "its layer conv_2 (Conv2d) is described with kernel 65, outside 1..64"),
    ("conv_3", {"stride": [1, 0]}, "its layer conv_3 (Conv2d) is described with stride 0, outside 1..64"),
    ("fc_1", {"out": 2.5}, "its layer fc_1 (Linear) is described with out 2.5, not a whole number"),
    ("upsample_1", {"size": [4096, 4096]}, "its layer upsample_1 (UpsamplingNearest2d) is described with 'size', "
                                           "which a UpsamplingNearest2d layer the grader builds has not"),
])
def test_every_number_of_a_described_layer_is_bounded_before_it_is_built(monkeypatch, layer, change, says):
    """An upsampling described with scale 120 (each later activation 3,600 times larger), or a padding, a kernel, a
    stride, a size out of what the toolkit builds, is refused naming the layer, the number and the bound, before
    anything is built (guard: casekit.out_of_bounds in rebuild)."""
    import casekit

    built = []
    monkeypatch.setattr(casekit, "build_layer", lambda info: built.append(info) or None)
    reference = HW.reference.Decoder(2)
    modules = {name: {"type": type(m).__name__, **casekit.layer_config(m)} for name, m in reference.named_modules()}
    modules[layer] = {**modules[layer], **change}
    with pytest.raises(AssertionError) as refused:
        casekit.rebuild(reference, modules)
    assert str(refused.value) == says + ("" if "which" in says or "not a whole" in says else " (the most the grader "
                                                                                           "builds)")
    assert built == []
    assert casekit.out_of_bounds({"type": "Upsample", "mode": "nearest", "scale": [3.0, 3.0]}) is None  # a mistake
