"""Canvas's two formats, as Canvas writes and reads them: the *Download Submissions* archive and the gradebook CSV.

**The download.** Canvas (``lib/content_zipper.rb``) writes each uploaded file of a submission as one top-level
entry ``<name>[_LATE]_<user id>_<attachment id>_<file name>``: ``<name>`` is the student's sortable name ("Garcia,
Luis") lowercased with every non-word character removed (``garcialuis``), or nothing under anonymous grading,
where the user id is ``anon_<anonymous id>``. Several files of one student sit side by side, one attachment id each;
only the latest attempt is included, and a file uploaded again is renamed ``hw2-1.ipynb``, ``hw2-2.ipynb``, ...
``parse_entry`` reads such a name without a regular expression (the name is the student's to choose).

**The gradebook.** Its export starts ``Student,ID,SIS User ID,SIS Login ID[,Integration ID],Section``, then one
column per assignment, titled ``Homework 2 (48213)`` (its id in brackets), then Canvas's own totals; a row whose
first cell contains ``Points Possible`` (or ``Manual Posting``) is not a student. The import (Canvas's guide "How
do I import grades in the Gradebook?") reads the same identity columns, matches students by ``ID`` first, and
creates a new assignment for every column it does not know, so ``write_import`` writes the identity columns and the
one assignment column, titled exactly as the export titles it.
"""

import csv
import io
from collections import namedtuple

Entry = namedtuple("Entry", "user name late attachment file")  # user: "48213" or "anon_AbC12"; file: as uploaded

IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section")
NOT_STUDENTS = ("Points Possible", "Manual Posting")
TOTALS = ("Current Points", "Final Points", "Current Score", "Unposted Current Score", "Final Score",
          "Unposted Final Score", "Current Grade", "Unposted Current Grade", "Final Grade", "Unposted Final Grade",
          "Override Score", "Override Grade")


class GradebookError(ValueError):
    """A gradebook export that is not one, or an assignment column that cannot be chosen."""


def parse_entry(entry_name):
    """The ``Entry`` a top-level archive name stands for, or None when Canvas did not name it (a folder of one's own,
    ``__MACOSX``, a file the instructor added). The user id is the first ``<digits>_<digits>_`` (or
    ``anon_<id>_<digits>_``) after the name; the file name, which may hold anything, is the rest."""
    tokens = entry_name.split("_")
    for i in range(len(tokens)):
        if tokens[i] == "anon" and i + 3 < len(tokens) and tokens[i + 1].isascii() and tokens[i + 1].isalnum() \
                and _id(tokens[i + 2]):
            user, attachment, file_start = f"anon_{tokens[i + 1]}", tokens[i + 2], i + 3
        elif i + 2 < len(tokens) and _id(tokens[i]) and _id(tokens[i + 1]):
            user, attachment, file_start = tokens[i], tokens[i + 1], i + 2
        else:
            continue
        name = tokens[:i]
        late = bool(name) and name[-1] == "LATE"
        name = name[:-1] if late else name
        file_name = "_".join(tokens[file_start:])
        if not file_name or not all(t.isalnum() for t in name if t):  # Canvas leaves word characters only
            return None
        return Entry(user, "_".join(name), late, attachment, undo_reupload(file_name))
    return None


def _id(token):
    return token.isascii() and token.isdigit() and len(token) <= 20


def undo_reupload(file_name):
    """``hw2-1.ipynb`` -> ``hw2.ipynb``: the name a student gave the file, before Canvas numbered a re-upload."""
    stem, dot, extension = file_name.rpartition(".")
    if not dot:
        stem, extension = file_name, ""
    base, dash, number = stem.rpartition("-")
    if dash and base and number.isascii() and number.isdigit():
        stem = base
    return f"{stem}.{extension}" if dot else stem


Export = namedtuple("Export", "identity rows assignments special")  # special: the Points Possible row(s)


def read_export(text):
    """An ``Export`` of a Canvas gradebook export's text: the identity columns as it has them, its student rows
    (dicts), its assignment columns (titles) and its non-student rows. Raises GradebookError saying what is wrong."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if not header or header[:2] != ["Student", "ID"]:
        raise GradebookError("this is not a Canvas gradebook export: its first columns should be Student, ID, "
                             f"found {', '.join(header[:2]) if header else 'nothing'} (Grades > Export > Export "
                             "Entire Gradebook writes one)")
    identity = [c for c in header if c in IDENTITY]
    if header[:len(identity)] != identity or "Section" not in identity:
        raise GradebookError("the export's identity columns (Student, ID, SIS User ID, SIS Login ID, Section) are "
                             "not its first columns: export the gradebook again from Canvas without editing it")
    assignments = [c for c in header[len(identity):] if c and c not in TOTALS and not c.endswith(
        (" Current Points", " Final Points", " Current Score", " Final Score", " Unposted Current Score",
         " Unposted Final Score"))]
    rows, special = [], []
    for values in reader:
        row = dict(zip(header, values))
        if not any(values):
            continue
        if any(marker in (values[0] if values else "") for marker in NOT_STUDENTS):
            special.append(row)
        else:
            rows.append(row)
    return Export(identity, rows, assignments, special)


def choose_assignment(export, wanted=None):
    """The export's column for this homework: the one whose title or ``(id)`` is ``wanted``, or the only one."""
    if wanted:
        found = [c for c in export.assignments if c == wanted or c.startswith(f"{wanted} (") or c.endswith(f"({wanted})")]
        if len(found) == 1:
            return found[0]
        raise GradebookError(f"no single assignment column of the export is {wanted!r}; its assignment columns: "
                             f"{'; '.join(export.assignments) or 'none'}")
    if len(export.assignments) == 1:
        return export.assignments[0]
    raise GradebookError("the export has several assignment columns; name this homework's with --assignment "
                         f"(its title or id): {'; '.join(export.assignments) or 'none'}")


def import_text(export, column, points, possible):
    """The CSV Canvas's gradebook import reads: the identity columns of every student of the export, then ``column``
    with the ``Points Possible`` row first; ``points`` maps a Canvas user id to its score (a student without one
    gets an empty cell, which Canvas leaves as it is)."""
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow([*export.identity, column])
    writer.writerow(["    Points Possible", *[""] * (len(export.identity) - 1), f"{possible:g}"])
    for row in export.rows:
        score = points.get(row.get("ID", ""))
        writer.writerow([row.get(c, "") for c in export.identity] + ["" if score is None else f"{score:g}"])
    return handle.getvalue()
