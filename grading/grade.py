"""Grade a folder of HW2 submissions: ``python -m grading.grade SUBMISSIONS [--out results] [--written-scores CSV]``.

SUBMISSIONS holds one entry per student: a folder or a ``.zip`` with the student's ``hw2.ipynb`` and
``hw2_models.py`` (found at any depth; other files are ignored). Writes into ``--out``:

- ``grades.csv``: one row per submission (sorted by name), one column per point-valued part of the assignment,
  ``automatic`` (of 12), ``written`` (of 3), ``total`` (of 15) and ``status`` (what went wrong, or ``ok``);
- ``written_hw1_comparison.html`` and ``written_vae_use_case.html``: every submission's answer beside the reference
  answer and the points available;
- ``written_scores_template.csv``: fill it in, save it (e.g. as ``written_scores.csv``) and run the command again with
  ``--written-scores written_scores.csv`` to merge the written points into ``grades.csv``;
- ``details/NAME.json``: every check's result and message; ``logs/NAME.txt``: what the grading process printed.

Each submission is graded in its own temporary copy, by its own sandboxed process (grading.isolation, through
grading.session), with a time limit. This module is the command line and the orchestration only: finding and
copying submissions (grading.submissions), reading notebooks (grading.notebook), turning records into rows
(grading.results) and writing them (grading.report) live in their own modules.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grading import isolation, notebook, report, results, session, submissions

QUESTIONS = {name: phrase for name, (phrase, _) in report.QUESTIONS.items()}


def _reason(step, error):
    text = str(error).splitlines()[0][:120] if str(error) else ""
    return notebook.clean(f"{step}: {type(error).__name__}{': ' + text if text else ''}")


def grade_one(index, name, entry, scratch, options):
    """The record of one submission: copied with bounds, its format decided, run in its sandbox, its answers read.
    Each step that fails becomes the record's reason; nothing raises."""
    workdir = scratch / f"{index:05d}"
    pristine = workdir / "in"
    step = "copying the submission"
    try:
        pristine.mkdir(parents=True)
        problems = submissions.extract(entry, pristine)
        step = "reading the notebook"
        fmt, problems, note = notebook.decide(pristine, problems)
        step = "reading the written answers"
        answers = notebook.written_answers(pristine / "hw2.ipynb", QUESTIONS)
        step = "running it in the sandbox"
        ran = session.grade_submission(name, pristine, fmt, options, workdir)
    except Exception as error:  # the batch goes on: this submission gets a row saying what happened
        return results.failed_record(name, _reason(step, error), traceback.format_exc())
    record = {"name": name, "format": fmt, "notes": [note] if note else [], "problems": problems, "answers": answers}
    for key, value in ran.items():
        record[key] = record[key] + list(value) if key in ("notes", "problems") else value
    record["name"] = name
    return record


def _row(record, written, options):
    try:
        return results.row_for(record, written, options)
    except Exception as error:  # never the batch's end: the row says the grader failed on it
        return results.row_for(results.failed_record(record.get("name", "?"), _reason("making its row", error)),
                               written, options)


def grade(submissions_folder, out, written_scores=None, jobs=1, timeout=120.0, cell_limit=60.0, quiet=False):
    """Grade every submission in ``submissions_folder``; write the results into ``out``; return (rows, records).

    Raises RuntimeError, saying how to get one, where no sandbox runs here (nothing is graded without isolation), and
    ValueError for submission names that collide or written scores that do not fit, before anything is graded."""
    out = Path(out)
    report.clear(out)
    entries = submissions.find(submissions_folder)
    names = [name for name, _ in entries]
    submissions.refuse_collisions(names)
    written = results.read_written_scores(written_scores, set(names)) if written_scores else {}
    problem = isolation.problem()
    if problem is not None:
        raise RuntimeError(f"{isolation.HOW_TO_GET_A_SANDBOX} ({problem})")
    import hw2_helpers

    limits = isolation.per_submission_limits()
    if limits is None and jobs > 1:  # the process limit is the instructor's own: two submissions would share it
        print("grading.grade: no cgroup and no root here, so processes are limited per instructor, not per "
              "submission; grading one submission at a time (see grading/README.md, Users and limits)", file=sys.stderr)
        jobs = 1
    options = {"timeout": timeout, "cell_limit": cell_limit, "limits": limits,
               "threads": max(1, (os.cpu_count() or 1) // max(1, jobs)),
               "data": str(Path(hw2_helpers.verify_mnist()).resolve())}  # the four files checked, extracted once
    scratch = Path(tempfile.mkdtemp(prefix="hw2-grading-"))
    os.chmod(scratch, 0o711)  # each sandbox user must reach its own folder to bind it; none can list the others

    def one(item):
        index, (name, entry) = item
        record = grade_one(index, name, entry, scratch, options)
        if not quiet:
            print(f"  {name}: {record.get('seconds', 0.0):.1f} s", file=sys.stderr)
        return record

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            records = list(pool.map(one, enumerate(entries)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = [_row(record, written, options) for record in records]
    try:
        report.write(out, rows, records, written)
    finally:
        report.write_grades(out, rows)  # whatever else could not be written, grades.csv is
    return rows, records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", help="folder of submissions (folders or .zip files)")
    parser.add_argument("--out", default="results", help="folder for grades.csv and the answer pages (default: results)")
    parser.add_argument("--written-scores", help="the instructor's CSV of written scores (submission, hw1_comparison, "
                                                 "vae_use_case) to merge into grades.csv")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="submissions graded at once, each with its share of the cores (default: the cores, at most 4)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per submission (default 120)")
    parser.add_argument("--cell-timeout", type=float, default=60, help="seconds per notebook cell (default 60)")
    args = parser.parse_args(argv)
    if not Path(args.submissions).is_dir():
        parser.error(f"{args.submissions} is not a folder of submissions")
    started = time.monotonic()
    try:
        rows, _ = grade(args.submissions, args.out, args.written_scores, args.jobs, args.timeout, args.cell_timeout)
    except (RuntimeError, ValueError) as error:
        parser.exit(2, f"grading.grade: {error}\n")
    print(f"Graded {len(rows)} submissions in {time.monotonic() - started:.0f} s: {Path(args.out) / 'grades.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
