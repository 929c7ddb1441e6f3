"""Everything a results folder shows, made from the records alone (``grading.grade`` after grading, ``grading.merge``
after joining shards): grades.csv, the answer pages, the scores template, details and logs, each student's feedback,
summary.html and, given Canvas's gradebook export, canvas_import.csv. Returns the rows and what to tell the user."""

from pathlib import Path

from grading import parts
from grading.intake import canvas, notebook
from grading.outputs import feedback, report, results, summary
from grading.text import clean

POSSIBLE = parts.AUTOMATIC_POINTS + parts.WRITTEN_POINTS


def _reason(step, error):
    text = str(error).splitlines()[0][:120] if str(error) else ""
    return notebook.clean(f"{step}: {type(error).__name__}{': ' + text if text else ''}")


def row(record, written, options):
    try:
        return results.row_for(record, written, options)
    except Exception as error:  # never the batch's end: the row says the grader failed on it
        failed = results.failed_record(record.get("name", "?"), _reason("making its row", error))
        return results.row_for(failed, written, options)


def read_gradebook(path, assignment=None):
    """(export, column) of Canvas's gradebook export at ``path``; raises canvas.GradebookError saying what to do."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    except OSError as error:
        raise canvas.GradebookError(f"{path}: {error.strerror}; export it from Canvas (Grades > Export)") from None
    export = canvas.read_export(text)
    return export, canvas.choose_assignment(export, assignment)


def canvas_import(out, rows, gradebook):
    """Write canvas_import.csv for ``gradebook`` (export, column); returns messages for the user."""
    export, column = gradebook
    known = {r.get("ID", "") for r in export.rows}
    points = {r["canvas_user_id"]: float(r["total"]) for r in rows if r["canvas_user_id"] in known}
    report.write_atomically(out / "canvas_import.csv", canvas.import_text(export, column, points, POSSIBLE))
    messages = [f"canvas_import.csv: {len(points)} of the export's {len(export.rows)} students scored, column "
                f"{column!r} (Grades > Import in Canvas)"]
    unknown = [r["submission"] for r in rows if r["canvas_user_id"] not in known]
    if unknown:
        messages.append(f"not in the gradebook export, left out of canvas_import.csv: {', '.join(unknown)}")
    if any(r["status"].find("written parts not scored yet") >= 0 for r in rows if r["canvas_user_id"] in known):
        messages.append("canvas_import.csv holds the automatic points only for students whose written parts are not "
                        "scored yet: merge them with --written-scores, then import")
    return messages


def write(out, records, written, options, gradebook=None, ignored=()):
    """Every output of ``records`` (a list) into ``out``; grades.csv last, atomically. Returns (rows, messages)."""
    out = Path(out)
    records = sorted(records, key=lambda r: r["name"])
    rows = [row(record, written, options) for record in records]
    messages = []
    try:
        report.clear(out)
        report.write(out, rows, records, written)
        feedback.write(out, records, rows)
        summary.write(out, rows, ignored)
        (out / "canvas_import.csv").unlink(missing_ok=True)
        if gradebook:
            messages += canvas_import(out, rows, gradebook)
    finally:
        report.write_grades(out, rows)  # whatever else could not be written, grades.csv is
    return rows, [clean(m, newlines=False) for m in messages]  # names and titles: never a terminal's command
