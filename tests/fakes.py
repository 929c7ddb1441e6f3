"""Stand-ins the grader's tests share: an empty notebook, a record as the grader makes one (``conftest``'s
``fake_grading`` gives it for each submission), a stream that counts what is read from it, a wire message, a PNG
too large to show."""

import functools
import io
import json
import struct
import zlib

from conftest import zip_bytes

from grading.assignment import load as load_assignment

HW = load_assignment()
NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def record(name, user=None, **extra):
    """A record as the grader makes one: every automatic case passed; with ``user``, a Canvas submission's (its
    attachment id: the user id's digits reversed)."""
    found = [{"part": p.name, "case": "all", "points": p.points, "passed": True, "message": ""}
             for p in HW.automatic()]
    made = {"name": name, "format": "kit", "notes": [], "problems": [], "results": found,
            "events": [{"event": "finished"}], "rejected": [], "timed_out": False, "returncode": 0, "seconds": 1.0,
            "log": "log of " + name, "answers": {"hw1_comparison": "mine"}}
    if user:
        made.update(canvas_user_id=user, late=False, canvas_name=name.rsplit("_", 1)[0], canvas_attachment_id=user[::-1])
    return {**made, **extra}


def folder_of(base, names):
    """A plain folder of submissions: NAME (a folder) or NAME.zip, each with a notebook."""
    base.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name.lower().endswith(".zip"):
            (base / name).write_bytes(zip_bytes({"hw2.ipynb": NB, "hw2_models.py": f"# {name}"}))
        else:
            (base / name).mkdir()
            (base / name / "hw2.ipynb").write_text(NB)
    return base


def snapshot(folder):
    """{relative path: (bytes, mtime)} of every file under ``folder``: what a run must leave as it was."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
            if p.is_file()}


class Recorder(io.BytesIO):
    """A stream that counts the bytes read from it."""

    def __init__(self, data):
        super().__init__(data)
        self.taken = 0

    def read(self, n=-1):
        chunk = super().read(n)
        self.taken += len(chunk)
        return chunk


def message(header, payload=b""):
    """One wire message as the child frames it: a 4-byte length, the JSON header, then the tensors' bytes."""
    text = json.dumps(header).encode()
    return struct.pack(">I", len(text)) + text + payload


@functools.lru_cache(maxsize=None)
def huge_png(side=65535):
    """A valid PNG of ``side`` x ``side`` black-and-white pixels, all white: 509 KiB at 65535, 16 GiB to display."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_RLE)  # runs of one byte: 6 s for 537 MB of rows
    row = b"\0" * (1 + (side + 7) // 8)  # filter 0, then 1-bit pixels
    rows = [packer.compress(row * 64) for _ in range(side // 64)] + [packer.compress(row * (side % 64)), packer.flush()]
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(rows)) + chunk(b"IEND", b"")
