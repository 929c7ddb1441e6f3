"""Text and files as every output writes them, in one leaf module (it imports nothing of the grader): text made
encodable, spreadsheet-safe CSV cells, and writes that a reader never sees half done."""

import csv
import io
import os
import re

_SURROGATE = re.compile("[\ud800-\udfff]")  # what is left of a surrogate in a str is lone: json pairs them
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def clean(text):
    """``text`` with lone surrogates (JSON's ``\\ud800``, or undecodable bytes) replaced: always encodable."""
    return _SURROGATE.sub("\ufffd", str(text))


def number(value):
    return f"{value:g}"


def write_text(path, text):
    path.write_text(text, encoding="utf-8", errors="replace", newline="")


def write_atomically(path, data):
    """Write a whole file or nothing (``data``: text, or bytes): a reader never sees half a grades.csv."""
    temporary = path.with_name(f".{path.name}.partial")
    if isinstance(data, bytes):
        temporary.write_bytes(data)
    else:
        write_text(temporary, data)
    os.replace(temporary, path)


def spreadsheet_safe(value):
    """A cell a spreadsheet shows as text: one beginning with = + - @ (or a tab or return) would run as a formula."""
    value = str(value)
    return "'" + value if value[:1] in _FORMULA else value


def unquote(value):
    """A cell as ``spreadsheet_safe`` wrote it, read back (``'=1+2`` -> ``=1+2``)."""
    return value[1:] if value[:1] == "'" and value[1:2] in _FORMULA else value


def csv_text(rows, header=None):
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows([[spreadsheet_safe(v) for v in row] for row in rows])
    return handle.getvalue()
