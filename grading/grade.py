"""Grade a folder of submissions: ``python -m grading.grade SUBMISSIONS [--homework FOLDER] [--out results]``.

``--homework`` names the assignment's folder (``grading.assignment``; default: the repository's own). SUBMISSIONS
holds one entry per student: a folder or a ``.zip`` with the files the assignment names (found at any depth; other
files are ignored), or it is Canvas's *Download Submissions* zip (or its unzipped folder), whose files are grouped by
Canvas user id (grading.intake.collect). Writes into ``--out``:

- ``grades.csv``: one row per submission (sorted by name), one column per point-valued part of the assignment,
  ``automatic``, ``written``, ``total`` and ``status`` (what went wrong, or ``ok``);
- ``written_PART.html`` for each written part: every submission's answer beside the reference answer and the points
  available;
- ``written_scores_template.csv``: fill it in, save it (e.g. as ``written_scores.csv``) and run the command again with
  ``--written-scores written_scores.csv`` to merge the written points into ``grades.csv``;
- ``details/NAME.json``: every check's result and message; ``logs/NAME.txt``: what the grading process printed;
- ``records/NAME.json``: the submission's full record, from which every other file is made again (grading.outputs.store);
- ``feedback/NAME.html`` (and ``feedback_for_canvas.zip``), ``summary.html`` and, with ``--gradebook``,
  ``canvas_import.csv`` (grading.outputs.publish).

Each submission is graded in its own temporary copy, by its own sandboxed process (grading.sandbox.isolation, through
grading.judge.session), with a time limit. This module is the command line and the orchestration only: finding and
copying submissions (grading.intake.submissions), reading notebooks (grading.intake.notebook), turning records into rows
(grading.outputs.results) and writing them (grading.outputs.report) live in their own modules.
"""

import argparse
import difflib
import hashlib
import os
import shutil
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grading import assignment as assignments
from grading import settings
from grading.intake import canvas as canvas_format
from grading.intake import collect, notebook, submissions
from grading.judge import session
from grading.outputs import publish, report, results, store
from grading.sandbox import isolation
from grading.text import clean



def _reason(step, error):
    text = str(error).splitlines()[0][:120] if str(error) else ""
    return notebook.clean(f"{step}: {type(error).__name__}{': ' + text if text else ''}")


def grade_one(index, name, entry, scratch, options, assignment):
    """The record of one submission: copied with bounds, its format decided, run in its sandbox, its answers read.
    Each step that fails becomes the record's reason; nothing raises."""
    workdir = scratch / f"{index:05d}"
    pristine = workdir / "in"
    step = "copying the submission"
    notes = []
    try:
        pristine.mkdir(parents=True)
        problems = collect.extract(entry, pristine, notes, tuple(assignment.files.values()))
        step = "reading the notebook"
        fmt, problems, note = notebook.decide(pristine, problems, assignment)
        step = "reading the written answers"
        answers = notebook.written_answers(pristine / assignment.files["notebook"],
                                           {part.name: part.question for part in assignment.written()})
        shown = notebook.shown_outputs(pristine / assignment.files["notebook"], assignment.written())
        step = "running it in the sandbox"
        ran = session.grade_submission(name, pristine, fmt, options, workdir, assignment)
    except Exception as error:  # the batch goes on: this submission gets a row saying what happened
        return {**results.failed_record(name, _reason(step, error), traceback.format_exc()), **collect.meta(entry)}
    record = {"name": name, "format": fmt, "notes": notes + ([note] if note else []), "problems": problems,
              "answers": answers, "shown": shown, **collect.meta(entry)}
    for key, value in ran.items():
        record[key] = record[key] + list(value) if key in ("notes", "problems") else value
    record["name"] = name
    return record


def in_shard(name, shard):
    """Whether submission ``name`` is in ``shard`` (K, N): a hash of the name alone, so adding one moves no other."""
    k, n = shard
    return int(hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:12], 16) % n == k - 1


def parse_shard(text):
    """``K/N`` -> (K, N) with 1 <= K <= N; ValueError saying the form otherwise."""
    k, slash, n = str(text).partition("/")
    if not (slash and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise ValueError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. --shard 2/4")
    return int(k), int(n)


def select(entries, only):
    """The entries ``only`` names (submission names or Canvas user ids); ValueError naming any it cannot match."""
    by_key = {}
    for name, entry in entries:
        by_key[name] = name
        user = collect.meta(entry).get("canvas_user_id")
        if user:
            by_key[user] = name
    wanted, unknown = set(), []
    for token in (t.strip() for t in only if t.strip()):
        (wanted.add(by_key[token]) if token in by_key else unknown.append(token))
    if unknown:
        close = sorted({n for t in unknown for n in difflib.get_close_matches(t, sorted(by_key), 3, 0.5)})
        raise ValueError(f"--only: {', '.join(unknown)} is not a submission (nor a Canvas user id) of this folder"
                         + (f"; close names: {', '.join(close)}" if close else ""))
    return [(name, entry) for name, entry in entries if name in wanted]


def grade(submissions_folder, out, written_scores=None, jobs=1, timeout=settings.TIMEOUT,
          cell_limit=settings.CELL_LIMIT, quiet=False, only=None, shard=None, late_penalty=None, gradebook=None,
          assignment=None, regrade=False, messages=None, canvas=None, homework=None):
    """Grade the submissions in ``submissions_folder`` (a folder, or Canvas's download); write the results into
    ``out``; return (rows, records) of every submission ``out`` holds.

    ``canvas``: True reads a folder as Canvas's download unzipped (``--canvas``); None (the default) reads so only
    Canvas's zip, or a folder whose every entry is named as Canvas names them; any other folder is a plain one.
    ``only``: names or Canvas user ids to grade again, every other kept record stays; ``shard`` (K, N): grade the
    K-th of N shares; ``written_scores`` alone (every submission already has a record, no ``regrade``) runs no code.
    Raises RuntimeError, saying how to get one, where no sandbox runs here (nothing is graded without isolation), and
    ValueError for names that collide or do not match, written scores or a gradebook that do not fit; each before
    anything in ``out`` changes. A full run moves the records of submissions no longer in the folder to
    ``out/records-removed/`` (never deletes them). ``messages`` (a list) receives what the user should be told.
    ``homework``: the assignment's folder (default: the repository's own)."""
    homework = assignments.load(homework)
    out = Path(out)
    told = []
    if late_penalty is not None and not 0 <= late_penalty <= 1:
        raise ValueError(f"--late-penalty {late_penalty}: expected a fraction of the total between 0 and 1, e.g. 0.1")
    book = publish.read_gradebook(gradebook, assignment, homework) if gradebook else None
    students = ({row["ID"]: canvas_format.download_name(row.get("Student", "")) for row in book[0].rows}
                if book else None)
    entries, ignored = collect.find(submissions_folder, canvas, students, told)
    submissions.refuse_collisions([name for name, _ in entries])
    if shard:
        entries = [(name, entry) for name, entry in entries if in_shard(name, shard)]
    kept = store.load(out)
    names = {name for name, _ in entries}
    if only:
        todo = select(entries, only)
        held = set(kept) | names
    elif written_scores and not regrade and names <= set(kept):  # the scores change: only changed submissions run
        todo, held = [(n, e) for n, e in entries if kept[n].get("source") != collect.meta(e)["source"]], set(kept)
        if todo:
            told.append(f"graded again, changed since their records: {', '.join(n for n, _ in todo)}")
    else:
        todo, held = entries, names
    written = results.read_written_scores(written_scores, held, homework) if written_scores else {}
    options = {"timeout": timeout, "cell_limit": cell_limit, "late_penalty": late_penalty}
    if todo or not written_scores:  # only merging written scores, with nothing changed, runs no code
        problem = isolation.problem()
        if problem is not None:
            raise RuntimeError(f"{isolation.HOW_TO_GET_A_SANDBOX} ({problem})")
    if todo:
        options["data"] = str(homework.prepare_data() or "")  # the dataset's files checked, extracted once
    # every input is checked: from here on --out changes
    if todo:
        report.clear(out, homework)  # a run stopped while grading never leaves a grades.csv looking current
    fresh = _run(todo, out, options, jobs, quiet, homework) if todo else []
    if not only and todo:
        moved = store.set_aside(out, names)  # a full run shows the records of this folder only, and deletes none
        gone, older = [n for n in moved if n not in names], [n for n in moved if n in names]
        if gone:
            told.append(f"records of submissions not in {submissions_folder} moved to {out / store.REMOVED} (not "
                        f"shown, not deleted): {', '.join(gone)}")
        if older:
            told.append(f"older copies of the records of {', '.join(older)} (under an earlier file name) moved to "
                        f"{out / store.REMOVED}")
    records = {**{n: r for n, r in kept.items() if n in held}, **{r["name"]: r for r in fresh}}
    rows, written_told = publish.write(out, list(records.values()), written, options, book, ignored, homework,
                                       clear=not todo)
    told += written_told + ([f"not graded (not named as Canvas names its entries, or refused above): "
                             f"{', '.join(ignored)}"] if ignored else [])
    if messages is not None:
        messages += [clean(m, newlines=False) for m in told]
    return rows, sorted(records.values(), key=lambda r: r["name"])


def _run(entries, out, options, jobs, quiet, assignment):
    """The records of ``entries``, each kept in ``out`` as soon as it is graded."""
    limits = isolation.per_submission_limits()
    if limits is None and jobs > 1:  # the process limit is the instructor's own: two submissions would share it
        print("grading.grade: no cgroup and no root here, so processes are limited per instructor, not per "
              "submission; grading one submission at a time (see grading/THREAT_MODEL.md, Users and limits)",
              file=sys.stderr)
        jobs = 1
    options = {**options, "limits": limits, "threads": max(1, (os.cpu_count() or 1) // max(1, jobs))}
    isolation.remove_stale()  # the scratch folders and cgroups of a grader that was killed
    scratch = isolation.scratch_folder()  # grading-run-PID.START-...: the next run removes it if this one is killed
    os.chmod(scratch, 0o711)  # each sandbox user must reach its own folder to bind it; none can list the others

    def one(item):
        index, (name, entry) = item
        record = grade_one(index, name, entry, scratch, options, assignment)
        store.save(out, record)
        if not quiet:
            print(f"  {name}: {record.get('seconds', 0.0):.1f} s", file=sys.stderr)
        return record

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            return list(pool.map(one, enumerate(entries)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", help="folder of submissions (folders or .zip files), or Canvas's Download "
                                            "Submissions zip (or its unzipped folder)")
    parser.add_argument("--out", default="results", help="folder for grades.csv and the answer pages (default: results)")
    parser.add_argument("--written-scores", help="the instructor's CSV of written scores (written_scores_template.csv, "
                                                 "filled in) to merge into grades.csv (no code runs again)")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="submissions graded at once, each with its share of the cores (default: the cores, at most 4)")
    parser.add_argument("--homework", help="the assignment's folder (default: the repository's own, under "
                                           "grading/assignments/)")
    parser.add_argument("--timeout", type=float, default=settings.TIMEOUT,
                        help=f"seconds per submission (default {settings.TIMEOUT:g})")
    parser.add_argument("--cell-timeout", type=float, default=settings.CELL_LIMIT,
                        help=f"seconds per notebook cell or question (default {settings.CELL_LIMIT:g})")
    parser.add_argument("--only", help="NAME[,NAME...]: grade these again (names or Canvas user ids), keep every other row")
    parser.add_argument("--regrade", action="store_true", help="with --written-scores: run every submission again")
    parser.add_argument("--shard", help="K/N: grade the K-th of N shares (join them with python -m grading.merge)")
    parser.add_argument("--gradebook", help="Canvas's gradebook export (CSV): write canvas_import.csv for it")
    parser.add_argument("--assignment", help="the export's column for this assignment (its title or id) when it has several")
    parser.add_argument("--late-penalty", type=float, help="fraction of a late submission's total taken off (e.g. 0.1)")
    parser.add_argument("--canvas", action="store_true", default=None,
                        help="SUBMISSIONS is Canvas's Download Submissions unzipped (a folder whose every entry is "
                             "named as Canvas names them is read so without it; Canvas's zip always is)")
    args = parser.parse_args(argv)
    started, messages = time.monotonic(), []
    try:
        shard = parse_shard(args.shard) if args.shard else None
        rows, _ = grade(args.submissions, args.out, args.written_scores, args.jobs, args.timeout, args.cell_timeout,
                        only=args.only.split(",") if args.only else None, shard=shard, late_penalty=args.late_penalty,
                        gradebook=args.gradebook, assignment=args.assignment, regrade=args.regrade, messages=messages,
                        homework=args.homework, canvas=args.canvas)
    except (RuntimeError, ValueError) as error:
        parser.exit(2, f"grading.grade: {clean(error, newlines=False)}\n")
    for message in messages:
        print(clean(message, newlines=False))
    print(clean(f"{len(rows)} submissions in {Path(args.out) / 'grades.csv'} ({time.monotonic() - started:.0f} s)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
