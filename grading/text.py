"""Text the grader shows or writes, made safe in one place: a submission's name made printable and bounded
(``display_name``), a file name of its own (``file_name``) and a key for the scores template (``score_key``), control
characters removed (``clean``), CSV cells a spreadsheet shows as text (``spreadsheet_safe``, ``csv_text``), and
files written whole (``write_text``, ``write_atomically``, ``write_json``).

A leaf: it imports nothing of the grader but ``settings``, so the intake, the outputs and the command line all use
the same rules (``grading.outputs.report`` imports ``write_atomically`` and the CSV helpers from here)."""

import csv
import hashlib
import io
import json
import os
import re
import unicodedata
from pathlib import Path

from grading import settings

_SURROGATE = re.compile("[\ud800-\udfff]")  # what is left of a surrogate in a str is lone: json pairs them
# C0 controls but tab and newline, DEL, C1 controls (ESC sequences, CSI, bells, backspaces, carriage returns), and the
# bidirectional marks, embeddings, overrides and isolates (they reorder what a reader sees)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_HASHED = re.compile(r"-[0-9a-f]{16}\Z")  # how a hashed file name ends: a name of that form is hashed too
FILE_NAME_LIMIT = 80  # characters of a name kept in its file name (then ``-`` and 16 hex digits)


def encodable(text):
    """``text`` with lone surrogates (JSON's ``\\ud800``, or undecodable bytes) replaced: always encodable, and
    otherwise unchanged (a cell's code keeps its tabs and form feeds)."""
    return _SURROGATE.sub("\ufffd", str(text))


def clean(text, newlines=True):
    """``text`` as the grader shows or writes it: lone surrogates replaced and every control character removed (an
    ESC sequence, a bell, a carriage return, a bidirectional override); tab and newline are kept when ``newlines``
    (a multi-line text: an answer, a log, a file), else they become spaces (one line: a message, a cell)."""
    text = _CONTROL.sub("", encodable(text))
    return text if newlines else text.replace("\n", " ").replace("\t", " ")


def _digest(raw):
    return hashlib.sha256(os.fsencode(raw) if isinstance(raw, str) else raw).hexdigest()[:8]


def display_name(raw):
    """A printable name of at most ``Limits.name_length`` characters for a directory entry's name (``os.fsdecode``'s, whose
    undecodable bytes are surrogates); a changed or shortened name ends in ``~HASH`` of the original bytes."""
    text = os.fsencode(raw).decode("utf-8", "replace")
    shown = "".join("?" if unicodedata.category(c)[0] == "C" else c for c in text)
    if shown == raw and len(shown) <= settings.limits().name_length:
        return shown
    return f"{shown[:settings.limits().name_length - 9]}~{_digest(raw)}"


def _exact(name):
    """The exact bytes of a name (a lone surrogate is its own bytes, never a replacement shared with another)."""
    return str(name).encode("utf-8", "surrogatepass")


def file_name(name):
    """A file name of its own for a submission (records, details, logs, feedback): the name itself where it is
    lowercase ASCII letters, digits and ``_ . -`` (not first a dot), at most FILE_NAME_LIMIT long and not of the
    hashed form; any other name is cleaned, shortened and gets ``-`` and 16 hex digits of a hash of its exact text.

    Two different names never share a file, even on a case-insensitive disk: a name kept as it is has no capital
    and does not end as a hashed one does, and two hashed ones differ in their lowercase hash."""
    name = str(name)
    safe = re.sub(r"[^\w.-]", "_", name, flags=re.A).lstrip(".") or "_"
    if safe == name and len(safe) <= FILE_NAME_LIMIT and safe == safe.lower() and not _HASHED.search(safe):
        return safe
    return f"{safe[:FILE_NAME_LIMIT]}-{hashlib.sha256(_exact(name)).hexdigest()[:16]}"


def score_key(name):
    """The key of a submission in the scores template: ``k`` and 12 hex digits of a hash of the exact name. A
    spreadsheet leaves it as it is (a letter first: never a number, a date or a formula), so ``=bob`` and ``'=bob``,
    which a spreadsheet's quoting makes one cell, keep their own scores."""
    return "k" + hashlib.sha256(_exact(name)).hexdigest()[:12]


def number(value):
    return f"{value:g}"


def unquote(value):
    """A cell as ``spreadsheet_safe`` wrote it, read back (``'=1+2`` -> ``=1+2``)."""
    return value[1:] if value[:1] == "'" and value[1:2] in _FORMULA else value


def spreadsheet_safe(value):
    """A cell a spreadsheet shows as text: one beginning with = + - @ (or a tab or return) would run as a formula."""
    value = str(value)
    return "'" + value if value[:1] in _FORMULA else value


def csv_text(rows, header=None, keep=()):
    """CSV of ``rows`` (lists): each cell cleaned of control characters, then made spreadsheet-safe, but the columns
    whose indices are in ``keep`` (written exactly as given, e.g. Canvas's numeric user ids)."""
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    if header:
        writer.writerow([spreadsheet_safe(clean(v)) for v in header])
    writer.writerows([[str(v) if i in keep else spreadsheet_safe(clean(v)) for i, v in enumerate(row)] for row in rows])
    return handle.getvalue()


def write_text(path, text):
    """Write ``text`` as UTF-8, its control characters removed (tab and newline kept) and anything unencodable
    replaced, so no text of a submission can stop the writing or reach a terminal or an editor as a command."""
    path.write_text(clean(text), encoding="utf-8", errors="replace", newline="")


def write_atomically(path, data):
    """Write a whole file or nothing (``write_text``, or the bytes as they are, then a rename): a reader never sees
    half a grades.csv."""
    temporary = path.with_name(f".{path.name}.partial")
    if isinstance(data, bytes):
        temporary.write_bytes(data)
    else:
        write_text(temporary, data)
    os.replace(temporary, path)


def write_json(path, data):
    """Write ``data`` as JSON (keys sorted; what JSON cannot hold as its repr), whole or not at all."""
    write_atomically(Path(path), json.dumps(data, sort_keys=True, default=repr).encode("utf-8", "replace"))


def reason(step, error):
    """What a row says when a step failed: ``step: ErrorType: the first line of its text`` (at most 120 characters of
    it), cleaned."""
    text = str(error).splitlines()[0][:120] if str(error) else ""
    return clean(f"{step}: {type(error).__name__}{': ' + text if text else ''}")
