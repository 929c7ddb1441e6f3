"""Everything a results folder shows, made from the records alone (``grading.grade`` after grading, ``grading.merge``
after joining shards): grades.csv, the answer pages, the scores template, details and logs, each student's feedback,
summary.html and, given Canvas's gradebook export, canvas_import.csv. Returns the rows and what to tell the user.
grades.csv and canvas_import.csv are written first and replaced whole, never removed first: a page that fails or a
run stopped half-way never costs a row (``start``, ``write``)."""

from pathlib import Path

from grading.intake import canvas
from grading.outputs import bounds, feedback, report, results, summary
from grading.text import clean, reason, write_atomically


def outcome(record, written, options, assignment):
    try:
        return results.outcome(record, written, options, assignment)
    except Exception as error:  # never the batch's end: the row says the grader failed on it
        failed = results.failed_record(record.get("name", "?"), reason("making its row", error))
        return results.outcome(failed, written, options, assignment)


def add_options(parser):
    """The options of what a results folder publishes, the same for ``grading.grade`` and ``grading.merge``."""
    parser.add_argument("--gradebook", help="Canvas's gradebook export (CSV): write canvas_import.csv for it. When the "
                                            "column's Points Possible differs from the assignment's total, the run "
                                            "stops unless --scale-to is given")
    parser.add_argument("--scale-to", action="store_true",
                        help="with --gradebook: scale each total to the column's Points Possible (e.g. an assignment "
                             "of 10 points in a column of 20: each total doubled)")
    parser.add_argument("--column", metavar="TITLE_OR_ID",
                        help="with --gradebook: the export's column for this assignment (its title or id) when it has several")
    parser.add_argument("--late-penalty", type=float, help="fraction of a late submission's total taken off (e.g. 0.1)")


def read_gradebook(path, column=None, assignment=None, scale_to=False):
    """(export, column) of Canvas's gradebook export at ``path`` (UTF-8 with or without a BOM, or Windows-1252), or
    (export, column, points) when its column's Points Possible differs from the assignment's total and ``scale_to``
    says to scale each total to those points; raises canvas.GradebookError saying what to do (where they differ and
    ``scale_to`` is not given: pass --scale-to)."""
    try:
        text = canvas.spreadsheet_text(path)
    except OSError as error:
        raise canvas.GradebookError(f"{path}: {error.strerror}; export it from Canvas (Grades > Export)") from None
    except ValueError as error:
        raise canvas.GradebookError(f"the gradebook export {error}") from None
    export = canvas.read_export(text)
    chosen = canvas.choose_column(export, column)
    possible = canvas.points_possible(export, chosen)
    if assignment is None or possible is None or abs(possible - assignment.total) < 1e-9:
        return export, chosen
    if not scale_to:
        raise canvas.GradebookError(
            f"the gradebook's column {chosen!r} is worth {possible:g} points (its Points Possible), {assignment.name} "
            f"{assignment.total:g}: pass --scale-to to scale each total to {possible:g} points, or set the column's "
            f"points to {assignment.total:g} in Canvas and export the gradebook again")
    return export, chosen, possible


def canvas_import(out, outcomes, gradebook, assignment):
    """Write canvas_import.csv for ``gradebook`` (export, column[, points to scale the totals to]); returns messages
    for the user."""
    export, column, *scaled = gradebook
    possible = scaled[0] if scaled else assignment.total
    factor = possible / assignment.total if assignment.total else 1.0
    known = {r.get("ID", "") for r in export.rows}
    points = {o["canvas_user_id"]: round(o["total"] * factor, 2) for o in outcomes if o["canvas_user_id"] in known}
    write_atomically(out / "canvas_import.csv", canvas.import_text(export, column, points, possible))
    messages = [f"canvas_import.csv: {len(points)} of the export's {len(export.rows)} students scored, column "
                f"{column!r} (Grades > Import in Canvas)"]
    if scaled:
        messages.append(f"canvas_import.csv: each total scaled from {assignment.total:g} to {possible:g} points "
                        "(--scale-to: the column's Points Possible)")
    unknown = [o["name"] for o in outcomes if o["canvas_user_id"] not in known]
    if unknown:
        messages.append(f"not in the gradebook export, left out of canvas_import.csv: {', '.join(unknown)}")
    if any(o["unscored"] for o in outcomes if o["canvas_user_id"] in known):
        messages.append("canvas_import.csv holds the automatic points only for students whose written parts are not "
                        "scored yet: merge them with --written-scores, then import")
    return messages


NOT_GRADED = ("not graded yet: the run that grades it has not finished (if it was stopped, run the same command "
              "again to go on)")


def not_graded(name, entry):
    """The record of a submission a run is about to grade: its row says so and earns nothing."""
    from grading.intake.collect import Group

    who = ({"canvas_user_id": entry.user, "late": entry.late, "canvas_name": entry.name} if isinstance(entry, Group)
           else {})
    return {**results.failed_record(name, ""), **who, "problems": [NOT_GRADED]}


def _grades(out, records, written, options, gradebook, assignment, skip=()):
    """Write grades.csv, then canvas_import.csv (with ``gradebook``; else an older one is removed, being no run's
    of these records), each replaced whole; returns (outcomes, rows, messages). ``skip``: names whose points
    canvas_import.csv leaves empty (Canvas keeps what it has)."""
    outcomes = [outcome(record, written, options, assignment) for record in records]
    rows = [results.row_for(o, assignment) for o in outcomes]
    out.mkdir(parents=True, exist_ok=True)
    report.write_grades(out, rows, assignment)
    if not gradebook:
        (out / "canvas_import.csv").unlink(missing_ok=True)
        return outcomes, rows, []
    return outcomes, rows, canvas_import(out, [o for o in outcomes if o["name"] not in skip], gradebook, assignment)


def start(out, kept, todo, options, gradebook=None, assignment=None):
    """grades.csv (and canvas_import.csv) as a run that is about to grade ``todo`` [(name, entry)] begins: the rows
    of the ``kept`` records {name: record} it shows, and a row per submission of ``todo`` saying it is not graded
    yet (``NOT_GRADED``; left empty in canvas_import.csv). So a run stopped or killed while grading leaves files
    that agree with the records then kept and never show an older grade as this run's; ``write`` replaces them."""
    pending = {name: not_graded(name, entry) for name, entry in todo}
    records = sorted([*(r for n, r in kept.items() if n not in pending), *pending.values()], key=lambda r: r["name"])
    written = {r["name"]: r["written"] for r in records if isinstance(r.get("written"), dict)}
    _grades(Path(out), records, written, options, gradebook, assignment, skip=set(pending))


def write(out, records, written, options, gradebook=None, ignored=(), assignment=None, clear=True):
    """Every output of ``records`` (a list, each bounded again by ``bounds.fit``: a record read back is not
    trusted) into ``out``: grades.csv and canvas_import.csv first, each replaced whole, so no page, however it
    fails, costs a row; then the answer pages, details, logs, feedback and summary (``clear``: the older ones
    removed first). Returns (rows, messages)."""
    out = Path(out)
    records = sorted((bounds.fit(record) for record in records), key=lambda r: r["name"])
    outcomes, rows, messages = _grades(out, records, written, options, gradebook, assignment)
    if clear:
        report.clear(out, assignment)
    students = {r.get("ID", ""): r.get("Student", "") for r in gradebook[0].rows} if gradebook else {}
    messages += report.write(out, rows, records, written, assignment, students)
    messages += feedback.write(out, records, outcomes, assignment)
    present = {o["canvas_user_id"] for o in outcomes}
    absent = sorted((name, user) for user, name in students.items() if user not in present)
    summary.write(out, outcomes, assignment, ignored, absent)
    return rows, [clean(m, newlines=False) for m in messages]  # names and titles: never a terminal's command
