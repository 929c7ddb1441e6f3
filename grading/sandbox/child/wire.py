"""The wire format between the grader (parent) and the sandboxed runner (child): data only, never code.

A message is a 4-byte big-endian length, a JSON object of at most ``HEADER_LIMIT`` bytes, then the raw bytes of the
tensors its ``"tensors"`` entry declares: ``[{"dtype": "float32", "shape": [4, 1, 28, 28]}, ...]``. The decoder
checks every declaration (a dtype of the whitelist, a short list of non-negative ints, the element count and the
byte total under their caps) BEFORE it reads or allocates anything, so a child that lies about a shape costs only
its own answer. Nothing is unpickled, evaluated or imported.
"""

import json
import math
import struct

import torch

HEADER_LIMIT = 256 * 1024  # bytes of one JSON header
TENSOR_LIMIT = 4 * 2**20  # elements of one tensor (the largest honest one: a 64-image batch, 65,536)
TOTAL_LIMIT = 64 * 2**20  # bytes of tensors in one message
MAX_TENSORS, MAX_DIMS = 64, 6
DTYPES = {"float32": torch.float32, "int64": torch.int64, "uint8": torch.uint8}
NAMES = {dtype: name for name, dtype in DTYPES.items()}


class ProtocolError(Exception):
    """A message that breaks the format (the peer's answer is refused; nothing of it was allocated)."""


def encode(header, tensors=()):
    """bytes of one message: ``header`` (a JSON-able dict) and ``tensors`` (CPU tensors of a whitelisted dtype)."""
    tensors = [t.detach().cpu().contiguous() for t in tensors]
    for t in tensors:
        if t.dtype not in NAMES:
            raise ProtocolError(f"dtype {t.dtype} is not sent")
    header = dict(header, tensors=[{"dtype": NAMES[t.dtype], "shape": list(t.shape)} for t in tensors])
    text = json.dumps(header, separators=(",", ":")).encode()
    if len(text) > HEADER_LIMIT:
        raise ProtocolError(f"header of {len(text):,} bytes")
    return b"".join([struct.pack(">I", len(text)), text, *(t.numpy().tobytes() for t in tensors)])


def send(stream, header, tensors=()):
    stream.write(encode(header, tensors))
    stream.flush()


def _exactly(stream, n):
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the peer closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def declared(header):
    """[(dtype, shape, bytes)] of the tensors a header declares, validated; ProtocolError naming the first fault."""
    specs = header.get("tensors", [])
    if not isinstance(specs, list) or len(specs) > MAX_TENSORS:
        raise ProtocolError("'tensors' is not a list of at most 64 declarations")
    found, total = [], 0
    for spec in specs:
        if not isinstance(spec, dict) or spec.get("dtype") not in DTYPES:
            raise ProtocolError(f"dtype {str(spec.get('dtype') if isinstance(spec, dict) else spec)[:20]!r} is refused")
        shape = spec.get("shape")
        if (not isinstance(shape, list) or len(shape) > MAX_DIMS
                or not all(type(n) is int and 0 <= n <= TENSOR_LIMIT for n in shape)):
            raise ProtocolError(f"shape {str(shape)[:60]} is refused")
        count = math.prod(shape)
        if count > TENSOR_LIMIT:
            raise ProtocolError(f"shape {shape} holds {count:,} elements (at most {TENSOR_LIMIT:,})")
        size = count * DTYPES[spec["dtype"]].itemsize
        total += size
        if total > TOTAL_LIMIT:
            raise ProtocolError(f"the tensors hold more than {TOTAL_LIMIT // 2**20} MiB")
        found.append((DTYPES[spec["dtype"]], tuple(shape), size))
    return found


def receive(stream):
    """(header, tensors) of the next message on ``stream``; ProtocolError or EOFError when it breaks the format."""
    (length,) = struct.unpack(">I", _exactly(stream, 4))
    if length > HEADER_LIMIT:
        raise ProtocolError(f"header of {length:,} bytes (at most {HEADER_LIMIT:,})")
    try:
        header = json.loads(_exactly(stream, length))
    except ValueError as error:
        raise ProtocolError(f"header is not JSON ({str(error)[:60]})") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    tensors = []
    for dtype, shape, size in declared(header):  # every declaration checked before the first byte is read
        data = bytearray(_exactly(stream, size))
        tensors.append(torch.frombuffer(data, dtype=dtype).reshape(shape) if size else torch.zeros(shape, dtype=dtype))
    return header, tensors
