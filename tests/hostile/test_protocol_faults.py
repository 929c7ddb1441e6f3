"""Protocol faults are protocol faults: a child's message that would make the parent recurse or overflow
(a JSON header nested 100,000 deep, a tensor whose shape spans more than any integer through a zero extent) is a
wire.ProtocolError, so the submission's row says REJECTED with the reason, never "the grader failed". Each test fails
when the guard it names is removed (grading.sandbox.child.wire)."""

import io
import os
import struct
import threading

import pytest
import torch

from grading.assignment import load as load_assignment
from grading.judge import session
from grading.outputs import results
from grading.sandbox.child import wire
from grading.settings import Limits
from fakes import Recorder, message

HW = load_assignment()

MI = 2**20


def _frame(text):
    return struct.pack(">I", len(text)) + text


DEEP = b"[" * 100_000 + b"]" * 100_000  # 200,000 bytes: under the header's byte limit


def test_a_header_nested_100000_deep_is_a_protocol_error():
    assert len(DEEP) <= wire.HEADER_LIMIT
    for text in (DEEP, b'{"op": ' + DEEP + b"}"):
        with pytest.raises(wire.ProtocolError, match="nested deeper than"):  # guard: wire.depth before json.loads
            wire.receive(io.BytesIO(_frame(text)))
    assert wire.depth(b'{"a": "[[[[{{", "b": [[1]], "c": "\\"["}') == 3  # brackets in strings do not count


@pytest.mark.parametrize("shape", [
    [0] + [4 * MI] * 5,  # no element, but strides past 2**63: torch raises RuntimeError
    [0, 4 * MI, 4 * MI],
    [4 * MI, 0, 4 * MI],
    [2, 0, 4 * MI],  # 8 Mi of extent
])
def test_a_zero_extent_does_not_hide_a_shape_past_the_limit(shape):
    stream = Recorder(message({"tensors": [{"dtype": "float32", "shape": shape}]}))
    with pytest.raises(wire.ProtocolError, match="spans more than"):  # guard: wire._extent
        wire.receive(stream)
    assert stream.taken == len(stream.getvalue())  # the header only: nothing past it was asked for


@pytest.mark.parametrize("spec, says", [
    ({"dtype": "float32", "shape": [4], "bytes": 15}, "declared 15"),  # guard: the declared byte count
    ({"dtype": "float32", "shape": [4], "bytes": True}, "declared True"),
    ({"dtype": ["float32"], "shape": [4]}, "refused"),  # an unhashable dtype: a TypeError before
    ({"dtype": {"a": 1}, "shape": [4]}, "refused"),
])
def test_a_declaration_that_does_not_add_up_is_a_protocol_error(spec, says):
    with pytest.raises(wire.ProtocolError, match=says):
        wire.receive(Recorder(message({"tensors": [spec]})))


def test_honest_messages_still_go_through_with_their_byte_counts():
    tensors = [torch.randn(3, 4), torch.zeros(0, 5, dtype=torch.int64), torch.arange(6, dtype=torch.uint8)]
    data = wire.encode({"op": "x", "nested": {"a": [[{"b": 1}]]}}, tensors)
    header, back = wire.receive(io.BytesIO(data))
    assert [spec["bytes"] for spec in header["tensors"]] == [48, 0, 6]
    assert all(torch.equal(a, b) for a, b in zip(tensors, back)) and back[1].shape == (0, 5)


class _Box:
    """A child that answers every question with ``message``: pipes as a sandbox's, nothing run."""

    def __init__(self, message):
        request_read, request_write = os.pipe()
        answer_read, answer_write = os.pipe()
        self.stdin, self.stdout = os.fdopen(request_write, "wb", buffering=0), os.fdopen(answer_read, "rb", buffering=0)
        self._request = os.fdopen(request_read, "rb", buffering=0)
        self.returncode, self.log_total, self.peak_memory = None, 0, None
        threading.Thread(target=self._answer, args=(answer_write, message), daemon=True).start()

    def _answer(self, fd, message):
        try:
            self._request.read(1)  # the first question
            os.write(fd, message)
        except OSError:
            pass
        finally:
            os.close(fd)

    def wait(self, timeout=None):
        return self.returncode

    def log(self):
        return ""

    def stop(self):
        for handle in (self.stdin, self.stdout, self._request):
            try:
                handle.close()
            except OSError:
                pass


@pytest.mark.parametrize("message, says", [
    (_frame(DEEP), "nested deeper than"),
    (message({"tensors": [{"dtype": "float32", "shape": [0] + [4 * MI] * 5}]}), "spans more than"),
])
def test_the_submissions_row_says_rejected_with_the_reason(tmp_path, message, says):
    pristine, workdir = tmp_path / "in", tmp_path / "work"
    pristine.mkdir()
    workdir.mkdir()
    options = {"limits": Limits(timeout=30, cell_timeout=5), "data": str(tmp_path), "launch": lambda: _Box(message)}
    record = session.grade_submission("mallory", pristine, "kit", options, workdir, HW)
    assert record["rejected"] and all(says in r for r in record["rejected"]), record["rejected"]
    problems = [e.get("message", "") for e in record["events"] if e.get("event") == "problem"]
    assert not any("the grader failed" in p for p in problems), problems  # before: RecursionError, RuntimeError
    row = results.row_for(results.outcome({**record, "notes": [], "problems": [], "answers": {}}, {}, {"timeout": 30},
                                          HW), HW)
    assert "REJECTED" in row["status"] and says in row["status"]
