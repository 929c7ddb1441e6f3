"""The wire format between the grader (parent) and the sandboxed runner (child): data only, never code.

A message is a 4-byte big-endian length, a JSON object of at most ``HEADER_LIMIT`` bytes nested at most
``HEADER_DEPTH`` deep, then the raw bytes of the tensors its ``"tensors"`` entry declares: ``[{"dtype": "float32",
"shape": [4, 3, 16, 16], "bytes": 12288}, ...]``. The decoder checks the header's nesting with one linear scan before
``json.loads`` (which would recurse), and every declaration (a dtype of the whitelist, a short list of non-negative
ints each at most TENSOR_LIMIT, the product of the extents, a zero counted as one, under TENSOR_LIMIT, so no shape
overflows a stride, the byte count it implies equal to the one declared, the byte total under its cap) BEFORE it
reads or allocates anything, so a child that lies about a shape costs only its own answer: every fault of a message
is a ProtocolError (or EOFError when it is cut short). Nothing is unpickled, evaluated or imported.
"""

import json
import math
import struct

import torch

HEADER_LIMIT = 256 * 1024  # bytes of one JSON header
TENSOR_LIMIT = 4 * 2**20  # elements of one tensor (a batch of 64 images of 3 x 64 x 64 holds 786,432)
TOTAL_LIMIT = 64 * 2**20  # bytes of tensors in one message
MAX_TENSORS, MAX_DIMS = 64, 6
HEADER_DEPTH = 32  # nesting of one JSON header (the deepest honest one: about 5)
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
    header = dict(header, tensors=[{"dtype": NAMES[t.dtype], "shape": list(t.shape),
                                    "bytes": t.numel() * t.element_size()} for t in tensors])
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


def depth(text):
    """The deepest nesting of ``[`` and ``{`` outside strings of a JSON text (bytes): one linear pass, no recursion."""
    level = deepest = 0
    in_string = escaped = False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            level += 1
            deepest = max(deepest, level)
        elif byte in (0x5D, 0x7D):
            level -= 1
    return deepest


def _extent(shape):
    """The product of ``shape``'s extents with each zero counted as one (what the strides of such a tensor reach), or
    None once it passes TENSOR_LIMIT: computed step by step, never as an unbounded product."""
    product = 1
    for n in shape:
        product *= max(n, 1)
        if product > TENSOR_LIMIT:
            return None
    return product


def declared(header):
    """[(dtype, shape, bytes)] of the tensors a header declares, validated; ProtocolError naming the first fault."""
    specs = header.get("tensors", [])
    if not isinstance(specs, list) or len(specs) > MAX_TENSORS:
        raise ProtocolError("'tensors' is not a list of at most 64 declarations")
    found, total = [], 0
    for spec in specs:
        dtype = spec.get("dtype") if isinstance(spec, dict) else spec
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise ProtocolError(f"dtype {str(dtype)[:20]!r} is refused")
        shape = spec.get("shape")
        if (not isinstance(shape, list) or len(shape) > MAX_DIMS
                or not all(type(n) is int and 0 <= n <= TENSOR_LIMIT for n in shape)):
            raise ProtocolError(f"shape {str(shape)[:60]} is refused")
        if _extent(shape) is None:  # e.g. [0, 4Mi, 4Mi]: no element, but strides past any integer
            raise ProtocolError(f"shape {str(shape)[:80]} spans more than {TENSOR_LIMIT:,} elements (a zero "
                                "extent counted as one)")
        count = math.prod(shape)  # at most the extent: bounded
        size = count * DTYPES[dtype].itemsize
        stated = spec.get("bytes", size)
        if type(stated) is not int or stated != size:
            raise ProtocolError(f"shape {shape} of {dtype} holds {size:,} bytes, declared {str(stated)[:20]}")
        total += size
        if total > TOTAL_LIMIT:
            raise ProtocolError(f"the tensors hold more than {TOTAL_LIMIT // 2**20} MiB")
        found.append((DTYPES[dtype], tuple(shape), size))
    return found


def receive(stream):
    """(header, tensors) of the next message on ``stream``; ProtocolError or EOFError when it breaks the format."""
    (length,) = struct.unpack(">I", _exactly(stream, 4))
    if length > HEADER_LIMIT:
        raise ProtocolError(f"header of {length:,} bytes (at most {HEADER_LIMIT:,})")
    text = _exactly(stream, length)
    if depth(text) > HEADER_DEPTH:  # before json.loads, which recurses once per level (RecursionError)
        raise ProtocolError(f"header nested deeper than {HEADER_DEPTH} levels")
    try:
        header = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ProtocolError(f"header is not JSON ({str(error)[:60]})") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    tensors = []
    for dtype, shape, size in declared(header):  # every declaration checked before the first byte is read
        data = bytearray(_exactly(stream, size))
        tensors.append(torch.frombuffer(data, dtype=dtype).reshape(shape) if size else torch.zeros(shape, dtype=dtype))
    return header, tensors
