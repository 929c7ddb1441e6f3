"""The shipped dataset's files, checked and extracted once: the same rule for the grader (``Assignment.prepare_data``)
and the student's side (the notebook's helpers), each of which words its own message. Imports only the standard
library: it runs in the grader, in the sandbox and in a student's kernel."""

import gzip
import hashlib
from pathlib import Path


def damaged(root, checksums):
    """The lines naming each file of ``checksums`` ({path relative to ``root``: MD5}) that is missing or differs,
    ``  PATH: missing (expected MD5 X)`` or ``  PATH: MD5 expected X, found Y``; empty when every file is intact."""
    problems = []
    for relative, expected in checksums.items():
        path = Path(root) / relative
        if not path.is_file():
            problems.append(f"  {path}: missing (expected MD5 {expected})")
            continue
        found = hashlib.md5(path.read_bytes()).hexdigest()
        if found != expected:
            problems.append(f"  {path}: MD5 expected {expected}, found {found}")
    return problems


def extract(root, checksums):
    """Write each ``.gz`` of ``checksums`` decompressed beside itself (as torchvision reads its datasets) where that file is
    missing or no longer matches it: extracted files are derived data, never trusted as they are."""
    for relative in checksums:
        path = Path(root) / relative
        if path.suffix != ".gz":
            continue
        content, extracted = gzip.decompress(path.read_bytes()), path.with_suffix("")
        if not extracted.is_file() or extracted.read_bytes() != content:
            partial = extracted.with_name(extracted.name + ".partial")
            partial.write_bytes(content)
            partial.replace(extracted)  # a reader never sees half a file
