"""A page for each student: ``feedback/FILE.html`` (FILE: ``text.file_name``), each graded part with its points
and what the check found, in the checks' own words (never a check's source or the reference code), the written parts'
scores once merged; from Canvas's download also ``feedback_for_canvas.zip`` for Canvas's *Re-Upload Submissions*,
each page named ``<name>[_LATE]_<user id>_<attachment id>_feedback.html`` (``grading.intake.canvas.upload_name``):
Canvas gives a file to the user and the attachment of the first two digits-only tokens of its name, and ignores it
unless that attachment is one of the student's submission. A student with no attachment id from the download (a
plain folder's submission) has a page in ``feedback/`` only, and ``write`` says who."""

import html
import io
import zipfile

from grading.intake.canvas import upload_name
from grading.text import clean, file_name, number, write_atomically

STYLE = ("body { font-family: sans-serif; margin: 1.5em; max-width: 60em; overflow-wrap: break-word; } "
         "table { border-collapse: collapse; } td, th { border-top: 1px solid #ccc; padding: 0.4em; "
         "vertical-align: top; text-align: left; } th, .points { white-space: nowrap; } "
         "li { overflow-wrap: anywhere; } .ok { color: #2a7a2a; } .lost { color: #a33; } ul { margin: 0; } "
         ".comment { white-space: pre-wrap; }")
OWN = {"case", "unscored", "late"}  # issues the page shows in their own place (the table, the total), once


KIND = {True: "ok", False: "lost", None: "comment"}


def _lines(entry):
    """[(passed, text)] of one part: each case by name, passed or with its message; a written part's score and the
    instructor's comment (passed None), read from the scores file's ``PART_comment`` column."""
    if entry["kind"] != "automatic":
        comment = entry.get("comment") if isinstance(entry.get("comment"), str) else ""
        said = [(None, f"your instructor's comment: {comment}")] if comment.strip() else []
        return [(True, "scored by your instructor") if entry["checked"] else (False, "not scored yet")] + said
    if not entry["cases"]:
        return [(False, "not checked: see the notes below (your code did not get this far)")]
    return [(case["passed"], f"{case['title']} ({number(case['points'])} pt): "
             + ("passed" if case["passed"] else f"not earned: {case['message'] or 'the check failed'}"))
            for case in entry["cases"]]


def page(result, assignment):
    """The HTML page of one submission, from its outcome."""
    name = html.escape(result["name"])
    body = []
    for part in assignment.parts:
        entry = result["parts"][part.name]
        earned = "-" if entry["points"] is None else number(entry["points"])
        shown = "".join(f'<li class="{KIND[ok]}">{html.escape(text)}</li>' for ok, text in _lines(entry))
        body.append(f'<tr><td>{html.escape(part.title)}</td><td class="points">{earned} / {number(part.points)}</td>'
                    f'<td><ul>{shown}</ul></td></tr>')
    notes = "".join(f"<li>{html.escape(i['text'])}</li>" for i in result["issues"] if i["kind"] not in OWN) or "<li>none</li>"
    late = next((i["text"] for i in result["issues"] if i["kind"] == "late"), None)
    late = f"<p>{html.escape(late[:1].upper() + late[1:])}.</p>" if late else ""
    written = " The written parts are not scored yet; this page shows the automatic points." if result["unscored"] else ""
    title = html.escape(assignment.name.upper())
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title} feedback: {name}</title><style>{STYLE}</style></head><body>
<h1>{title} feedback: {name}</h1>
<p><strong>Total: {number(result['total'])} / {number(assignment.total)}</strong> (automatic
{number(result['automatic'])} / {number(assignment.automatic_points)}, written {number(result['written'])} /
{number(assignment.written_points)}).{written}</p>{late}
<table><tr><th>part</th><th>points</th><th>what the checks found</th></tr>{''.join(body)}</table>
<h2>Notes on your submission</h2><ul>{notes}</ul>
</body></html>
"""


def canvas_name(record):
    """The name of ``record``'s page in ``feedback_for_canvas.zip``, by which Canvas's upload finds the student and
    their submission; None without both a Canvas user id and the id of one of their attachments."""
    user, attachment = record.get("canvas_user_id"), record.get("canvas_attachment_id")
    if not (isinstance(user, str) and isinstance(attachment, str)):
        return None
    return upload_name(str(record.get("canvas_name") or ""), bool(record.get("late")), user, attachment)


def write(out, records, outcomes, assignment):
    """feedback/FILE.html of every record; feedback_for_canvas.zip of those Canvas's upload can give to their
    student (``canvas_name``). Returns messages: who, of a run from Canvas's download, has no page in the zip."""
    folder = out / "feedback"
    folder.mkdir(exist_ok=True)
    pages, left = {}, []
    for record, result in zip(records, outcomes):
        text = page(result, assignment)
        write_atomically(folder / f"{file_name(record['name'])}.html", text)
        name = canvas_name(record)
        if name:
            pages[name] = text
        else:
            left.append(record["name"])
    (out / "feedback_for_canvas.zip").unlink(missing_ok=True)
    if pages:
        handle = io.BytesIO()
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for entry in sorted(pages):
                archive.writestr(entry, clean(pages[entry]).encode("utf-8", "replace"))  # as feedback/ has it
        write_atomically(out / "feedback_for_canvas.zip", handle.getvalue())
    if not any(isinstance(r.get("canvas_user_id"), str) for r in records) or not left:
        return []  # a plain folder's run: no Canvas page was expected
    return [f"no page in feedback_for_canvas.zip (no attachment id of theirs from Canvas's download): "
            f"{', '.join(left)}; their pages are in {folder.name}/"]
