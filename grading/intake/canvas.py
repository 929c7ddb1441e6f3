"""Canvas's two formats, as Canvas writes and reads them: the *Download Submissions* archive and the gradebook CSV.

**The download.** Canvas (``lib/content_zipper.rb``) writes each uploaded file of a submission as one top-level
entry ``<name>[_LATE]_<user id>_<attachment id>_<file name>``: ``<name>`` is the student's sortable name ("Garcia,
Luis") lowercased with every non-word character removed (``garcialuis``), or nothing under anonymous grading,
where the user id is ``anon_<anonymous id>``. Several files of one student sit side by side, one attachment id each;
only the latest attempt is included, and a file uploaded again is renamed ``lab-1.ipynb``, ``lab-2.ipynb``, ...
``parse_entry`` reads such a name without a regular expression (the name is the student's to choose).

**The upload of feedback files.** Canvas's *Re-Upload Submissions* (the bulk upload of feedback files) reads
each file's name in ``infer_comment_context_from_filename`` (``Assignment``, in ``app/models/assignment.rb``; since
then in ``app/models/abstract_assignment.rb``): ``split_filename = filename.split("_") - ["LATE"]``; when its first
token is ``anon``, the next two are the anonymous id and the attachment id; else ``user_id, attachment_id =
split_filename.grep(/^\\d+$/).take(2)``, the first two tokens made only of digits, wherever they are; the file is
ignored unless that attachment exists, its user may read it and ``submission.attachments.where(id:
attachment_id).exists?``. So a name's digits-only tokens decide who gets the page (Canvas's own download names
keep them when the student puts them in their name): ``upload_name`` leaves none but the user id and the
attachment id.

**The gradebook.** Its export starts ``Student,ID,SIS User ID,SIS Login ID[,Integration ID],Section``, then one
column per assignment, titled ``Homework 2 (48213)`` (its id in brackets), then Canvas's own totals; a row whose
first cell contains ``Points Possible`` (or ``Manual Posting``) is not a student. The import (Canvas's guide "How
do I import grades in the Gradebook?") reads the same identity columns, matches students by ``ID`` first, and
creates a new assignment for every column it does not know, so ``write_import`` writes the identity columns and the
one assignment column, titled exactly as the export titles it.
"""

import csv
import io
import unicodedata
from collections import namedtuple
from pathlib import Path

from grading.text import csv_text

Entry = namedtuple("Entry", "user name late attachment file")  # user: "48213" or "anon_AbC12"; file: as uploaded

IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section")
NOT_STUDENTS = ("Points Possible", "Manual Posting")
TOTALS = ("Current Points", "Final Points", "Current Score", "Unposted Current Score", "Final Score",
          "Unposted Final Score", "Current Grade", "Unposted Current Grade", "Final Grade", "Unposted Final Grade",
          "Override Score", "Override Grade")


class GradebookError(ValueError):
    """A gradebook export that is not one, or an assignment column that cannot be chosen."""


def parses(entry_name):
    """Every ``Entry`` a top-level archive name could stand for, in order ([] when Canvas did not name it: a folder
    of one's own, ``__MACOSX``, a file the instructor added). Canvas writes ``<name>[_LATE]_<user id>_<attachment
    id>_<file>``, and both the name (a student may put ``_<digits>`` in it) and the file name may hold
    ``_<digits>_``, so a name can be read at each ``<digits>_<digits>_`` (or ``anon_<id>_<digits>_`` with no name
    before it); ``assign`` decides which reading is the student's. No regular expression: one pass over the tokens."""
    tokens = entry_name.split("_")
    found = []
    for i in range(len(tokens)):
        if tokens[i] == "anon" and i + 3 < len(tokens) and tokens[i + 1].isascii() and tokens[i + 1].isalnum() \
                and _id(tokens[i + 2]):
            user, attachment, file_start = f"anon_{tokens[i + 1]}", tokens[i + 2], i + 3
            if tokens[:i] not in ([], ["LATE"]):  # under anonymous grading Canvas writes no name
                continue
        elif i + 2 < len(tokens) and _id(tokens[i]) and _id(tokens[i + 1]):
            user, attachment, file_start = tokens[i], tokens[i + 1], i + 2
        else:
            continue
        name = tokens[:i]
        late = bool(name) and name[-1] == "LATE"
        name = name[:-1] if late else name
        file_name = "_".join(tokens[file_start:])
        if not file_name or not all(_word(t) for t in name):  # Canvas leaves word characters only
            continue
        found.append(Entry(user, "_".join(name), late, attachment, undo_reupload(file_name)))
    return found


def parse_entry(entry_name):
    """The first reading of ``parses`` (the first ``<digits>_<digits>_`` after the name), or None. Grouping a
    download uses ``assign``, which weighs every reading."""
    found = parses(entry_name)
    return found[0] if found else None


def download_name(student):
    """The name Canvas's download writes for the gradebook's ``Student`` (its sortable name, "Garcia, Luis"):
    ``_<digits>_`` made ``<digits>``, every non-word character removed, lowercased (``garcialuis``)."""
    text = str(student)
    kept, i = [], 0
    while i < len(text):  # Ruby's gsub(/_(\d+)_/, '\1'), left to right, without a regular expression
        j = i + 1
        while j < len(text) and "0" <= text[j] <= "9":
            j += 1
        if text[i] == "_" and j > i + 1 and j < len(text) and text[j] == "_":
            kept.append(text[i + 1:j])
            i = j + 1
        else:
            kept.append(text[i])
            i += 1
    return _folded("".join(c for c in "".join(kept) if _word(c)))


def _word(text):
    """Whether every character of ``text`` is one of Ruby's ``[[:word:]]``, which Canvas's download keeps of a name:
    a letter, a mark, a decimal digit or a connector (``_``)."""
    return all(unicodedata.category(c)[0] in "LM" or unicodedata.category(c) in ("Nd", "Pc") for c in text)


def _folded(name):
    return unicodedata.normalize("NFKC", name).casefold()


def _digits_only(token):
    """Whether Ruby's ``/^\\d+$/`` matches ``token`` (a line of it all digits; here any digit, not only ASCII's)."""
    return any(line.isdigit() for line in token.split("\n"))


def upload_name(name, late, user, attachment):
    """The name of a student's page in ``feedback_for_canvas.zip``: ``<name>[_LATE]_<user id>_<attachment
    id>_feedback.html``, ``name`` without its digits-only tokens (nor ``anon``, which Canvas's upload reads as
    anonymous grading's when first), so that Canvas's upload reads ``user`` and ``attachment`` (``anon_<id>``: no
    name) and nothing else; None when ``user`` or ``attachment`` is not one Canvas writes."""
    anonymous = user.startswith("anon_") and user[5:].isascii() and user[5:].isalnum()
    if not (_id(user) or anonymous) or not _id(attachment):
        return None
    kept = [] if anonymous else [t for t in name.split("_") if t and not _digits_only(t) and t != "anon"]
    return "_".join(kept + (["LATE"] if late else []) + [user, attachment, "feedback.html"])


def assign(entry_names, students=None):
    """({entry name: Entry}, {entry name: why it is not graded}) for the top-level names of a download, so that no
    student's upload is taken for another's. Names with no reading are in neither.

    An entry of one reading is Canvas's own: the student's own name and id are written before the file, so their
    reading is always one of an entry's, and the only one when no other fits. An entry of several (a student put
    ``_<digits>`` in their name, or two digits-only tokens in a file's) is never given to a user id that an entry
    of one reading holds: a name ``garcialuis_100003`` must not put its files with those of ``garcialuis``, user
    100003. Without ``students`` it is not graded at all, which the message says with the fix (``--gradebook``).
    With ``students`` ({user id: ``download_name`` of the gradebook's Student}, from ``--gradebook``): a reading
    counts only when its user id is a student of the export and its name that student's (an anonymous id, which no
    export lists, when no named reading fits); an entry with no such reading, or with two, is not graded. Last, a
    user id read with two different names grades neither name's entries."""
    chosen, refused, options = {}, {}, {}
    for entry_name in entry_names:
        found = parses(entry_name)
        if found:
            options[entry_name] = found
    held = {found[0].user for found in options.values() if len(found) == 1}
    for entry_name, found in options.items():
        users = " or ".join(e.user for e in found)
        if students is None:
            if len(found) == 1:
                chosen[entry_name] = found[0]
            else:
                refused[entry_name] = (f"its name reads as the upload of Canvas user {users}; without the gradebook "
                                       "export which one is not guessed: pass --gradebook export.csv (Grades > "
                                       "Export) so it is read as its student's, or grade it by hand")
            continue
        fits = [e for e in found if e.user in students and _folded(e.name) == students[e.user]]
        anonymous = [e for e in found if e.user.startswith("anon_")]
        if len(fits) > 1:
            refused[entry_name] = (f"it reads as the upload of {' or of '.join(f'{e.name}_{e.user}' for e in fits)}"
                                   " in the gradebook export; graded as no one's (grade it by hand)")
        elif not fits and len(anonymous) != 1:
            refused[entry_name] = ("no reading of it is a student of the gradebook export (user id and name: "
                                   f"{', '.join(f'{e.user} {e.name!r}' for e in found)})")
        elif len(found) > 1 and (fits or anonymous)[0].user in held:
            refused[entry_name] = (f"its name reads as the upload of Canvas user {users}, and user "
                                   f"{(fits or anonymous)[0].user}'s own files are named as theirs alone; graded as no "
                                   "one's (grade it by hand)")
        else:
            chosen[entry_name] = (fits or anonymous)[0]
    names_of = {}
    for entry_name, entry in chosen.items():
        names_of.setdefault(entry.user, set()).add(entry.name)
    for entry_name, entry in list(chosen.items()):
        if len(names_of[entry.user]) > 1:
            del chosen[entry_name]
            refused[entry_name] = (f"Canvas user {entry.user} is read with two names "
                                   f"({' and '.join(repr(n) for n in sorted(names_of[entry.user]))}); graded as no "
                                   "one's (pass --gradebook to decide, or grade them by hand)")
    return chosen, refused


def _id(token):
    return token.isascii() and token.isdigit() and len(token) <= 20


def undo_reupload(file_name):
    """``lab-1.ipynb`` -> ``lab.ipynb``: the name a student gave the file, before Canvas numbered a re-upload."""
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
    for line, values in enumerate(reader, 2):
        row = dict(zip(header, values))
        if not any(values):
            continue
        if any(marker in (values[0] if values else "") for marker in NOT_STUDENTS):
            special.append(row)
        elif not (row.get("ID", "").isascii() and row.get("ID", "").isdigit()):
            raise GradebookError(f"line {line} of the export has the ID {row.get('ID', '')[:40]!r}, not Canvas's "
                                 "numeric user id: export the gradebook again from Canvas without editing it")
        else:
            rows.append(row)
    return Export(identity, rows, assignments, special)


def spreadsheet_text(path):
    """The text of a CSV file as spreadsheets save it: UTF-8 with or without a BOM (Excel's "CSV UTF-8"), else
    Windows-1252 (Excel's "CSV" on Windows). Raises OSError when it cannot be read, ValueError naming the encoding
    (or the kind of file) when it is neither."""
    data = Path(path).read_bytes()
    save = "save it from the spreadsheet as CSV UTF-8 (comma delimited) and pass that file"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(data) > 1 and data[1:2] == b"\0" and data[3:4] == b"\0"):
        raise ValueError(f"{path} is UTF-16 text (a spreadsheet's \"Unicode Text\"), not UTF-8 or Windows-1252: {save}")
    if data.startswith(b"PK\x03\x04"):
        raise ValueError(f"{path} is a spreadsheet workbook (.xlsx, a zip), not a CSV file: {save}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is neither UTF-8 nor Windows-1252 (cp1252) text (byte 0x{data[error.start]:02x} at "
                         f"offset {error.start}): {save}") from None


def delimiter(text):
    """The delimiter of a spreadsheet's CSV text: ``,``, or ``;`` (a spreadsheet where the decimal mark is a comma)
    or a tab when its first line holds those and no comma."""
    first = text.split("\n", 1)[0]
    return next((d for d in (",", ";", "\t") if d in first), ",")


def points_possible(export, column):
    """The ``Points Possible`` of ``column`` in the export (a number), or None when the export does not say."""
    for row in export.special:
        if "Points Possible" in (next(iter(row.values()), "") or ""):
            try:
                return float((row.get(column) or "").strip())
            except ValueError:
                return None
    return None


def choose_column(export, wanted=None):
    """The export's column for this assignment: the one whose title or ``(id)`` is ``wanted``, or the only one."""
    if wanted:
        found = [c for c in export.assignments if c == wanted or c.startswith(f"{wanted} (") or c.endswith(f"({wanted})")]
        if len(found) == 1:
            return found[0]
        raise GradebookError(f"no single assignment column of the export is {wanted!r}; its assignment columns: "
                             f"{'; '.join(export.assignments) or 'none'}")
    if len(export.assignments) == 1:
        return export.assignments[0]
    raise GradebookError("the export has several assignment columns; name this assignment's with --column "
                         f"(its title or id): {'; '.join(export.assignments) or 'none'}")


def import_text(export, column, points, possible):
    """The CSV Canvas's gradebook import reads: the identity columns of every student of the export, then ``column``
    with the ``Points Possible`` row first; ``points`` maps a Canvas user id to its score (a student without one
    gets an empty cell, which Canvas leaves as it is)."""
    rows = [["    Points Possible", *[""] * (len(export.identity) - 1), f"{possible:g}"]]
    for row in export.rows:
        score = points.get(row.get("ID", ""))
        rows.append([row.get(c, "") for c in export.identity] + ["" if score is None else f"{score:g}"])
    # every cell a spreadsheet would run as a formula is made text (a Student cell "=HYPERLINK(...)"), but the ID,
    # by which Canvas matches each row: it is written exactly as the export has it (digits, checked by read_export)
    return csv_text(rows, [*export.identity, column], keep={export.identity.index("ID")})
