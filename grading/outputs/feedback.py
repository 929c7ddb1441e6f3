"""A page for each student: ``feedback/FILE.html`` (FILE: ``submissions.file_name``), each graded part with its points
and what the check found, in the checks' own words (never a check's source or the reference code), the written parts'
scores once merged; from Canvas's download also ``feedback_for_canvas.zip``, each page named as Canvas's *Re-upload
submissions* (bulk upload of graded submissions) expects: it finds the student by the first ``_<digits>_`` of the
name (why Canvas's ``sanitize_user_name`` keeps ``_<digits>_`` out of names), so ``<name>[_LATE]_<user id>_feedback.html``
(``anon_<id>`` under anonymous grading), as the download names the student's files."""

import html
import io
import zipfile

from grading import parts
from grading.outputs.report import write_atomically
from grading.text import clean
from grading.outputs.results import _text, number
from grading.intake.submissions import file_name

STYLE = ("body { font-family: sans-serif; margin: 1.5em; max-width: 60em; } table { border-collapse: collapse; } "
         "td, th { border-top: 1px solid #ccc; padding: 0.4em; vertical-align: top; text-align: left; } "
         ".ok { color: #2a7a2a; } .lost { color: #a33; } .points { white-space: nowrap; }")


def _checks(record, part):
    """[(passed, what the check found)] of one automatic part, in its cases' order."""
    found = [r for r in record.get("results") or [] if isinstance(r, dict) and r.get("part") == part]
    lines = []
    for result in sorted(found, key=lambda r: str(r.get("case"))):
        points = result.get("points")
        worth = f" ({number(points)} pt)" if isinstance(points, (int, float)) and not isinstance(points, bool) else ""
        if result.get("passed") is True:
            lines.append((True, f"passed{worth}"))
        else:
            lines.append((False, f"not earned{worth}: {_text(result.get('message') or 'the check failed')}"))
    return lines or [(False, "not checked: see the notes below (your code did not get this far)")]


def page(record, row):
    """The HTML page of one submission, from its record and its row of grades.csv."""
    name = html.escape(row["submission"])
    body = []
    for part in parts.PARTS:
        earned = row.get(part.name, "")
        if part.kind == parts.WRITTEN:
            found = [(True, "scored by your instructor")] if earned else [(False, "not scored yet")]
        else:
            found = _checks(record, part.name)
        shown = "".join(f'<li class="{"ok" if ok else "lost"}">{html.escape(text)}</li>' for ok, text in found)
        body.append(f'<tr><td>{html.escape(part.title)}</td><td class="points">{html.escape(earned or "-")} / '
                    f'{part.points:g}</td><td><ul>{shown}</ul></td></tr>')
    own = {p.name for p in parts.PARTS}
    notes = [s for s in row["status"].split("; ") if s and s != "ok" and s.split(":")[0] not in own
             and not s.startswith("written parts not scored yet")]
    noted = "".join(f"<li>{html.escape(s)}</li>" for s in notes) or "<li>none</li>"
    late = f"<p>Late: {html.escape(row['late_penalty'])} point(s) off.</p>" if row.get("late_penalty") else ""
    written = ("" if all(row.get(p.name) for p in parts.written()) else
               " The written parts are not scored yet; this page shows the automatic points.")
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>HW2 feedback: {name}</title><style>{STYLE}</style></head><body>
<h1>HW2 feedback: {name}</h1>
<p><strong>Total: {html.escape(row['total'])} / {parts.AUTOMATIC_POINTS + parts.WRITTEN_POINTS}</strong> (automatic
{html.escape(row['automatic'])} / {parts.AUTOMATIC_POINTS}, written {html.escape(row['written'])} /
{parts.WRITTEN_POINTS}).{written}</p>{late}
<table><tr><th>part</th><th>points</th><th>what the check found</th></tr>{''.join(body)}</table>
<h2>Notes on your submission</h2><ul>{noted}</ul>
</body></html>
"""


def canvas_name(record):
    """``<name>[_LATE]_<user id>_feedback.html``, as Canvas's bulk upload of graded submissions finds the student."""
    prefix = "_".join(p for p in (record.get("canvas_name"), "LATE" if record.get("late") else "") if p)
    return f"{prefix + '_' if prefix else ''}{record['canvas_user_id']}_feedback.html"


def write(out, records, rows):
    """feedback/FILE.html of every record; feedback_for_canvas.zip when a record came from Canvas's download."""
    folder = out / "feedback"
    folder.mkdir(exist_ok=True)
    by_name = {row["submission"]: row for row in rows}
    pages = {}
    for record in records:
        text = page(record, by_name[record["name"]])
        write_atomically(folder / f"{file_name(record['name'])}.html", text)
        if isinstance(record.get("canvas_user_id"), str):
            pages[canvas_name(record)] = text
    (out / "feedback_for_canvas.zip").unlink(missing_ok=True)
    if pages:
        handle = io.BytesIO()
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for entry in sorted(pages):
                archive.writestr(entry, clean(pages[entry]).encode("utf-8", "replace"))  # as feedback/ has it
        temporary = out / ".feedback_for_canvas.zip.partial"
        temporary.write_bytes(handle.getvalue())
        temporary.replace(out / "feedback_for_canvas.zip")
