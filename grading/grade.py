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
  ``--written-scores written_scores.csv`` to merge the written points into ``grades.csv`` (a template holding scores
  not merged yet is never overwritten: the fresh one is then ``written_scores_template.new.csv``);
- ``details/NAME.json``: every check's result and message; ``logs/NAME.txt``: what the grading process printed;
- ``records/NAME.json``: the submission's full record, from which every other file is made again (grading.outputs.store);
- ``feedback/NAME.html`` (and ``feedback_for_canvas.zip``), ``summary.html`` and, with ``--gradebook``,
  ``canvas_import.csv`` (grading.outputs.publish).

Each submission is graded in its own temporary copy, by a worker process of its own (grading.judge.worker: memory
and time bounded) that runs its sandboxed child (grading.sandbox.isolation, through grading.judge.session). Running
the same command again grades only what is new or changed since its record (``--regrade``: everything), so a run
stopped with Ctrl-C goes on where it stopped. This module is the command line and the orchestration only: finding and
copying submissions (grading.intake.submissions), reading notebooks (grading.intake.notebook), turning records into rows
(grading.outputs.results) and writing them (grading.outputs.report) live in their own modules.
"""

import argparse
import difflib
import hashlib
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

from tqdm import tqdm

from grading import assignment as assignments
from grading import settings
from grading.intake import canvas as canvas_format
from grading.intake import collect, notebook, submissions
from grading.judge import session, worker
from grading.outputs import publish, report, results, store
from grading.sandbox import isolation
from grading.text import clean, number



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
        cut = {}  # {part: the length of an answer longer than settings.ANSWER_LIMIT}
        answers = notebook.written_answers(pristine / assignment.files["notebook"],
                                           {part.name: part.question for part in assignment.written()}, cut)
        shown = notebook.shown_outputs(pristine / assignment.files["notebook"], assignment.written())
        step = "running it in the sandbox"
        ran = session.grade_submission(name, pristine, fmt, options, workdir, assignment)
    except Exception as error:  # the batch goes on: this submission gets a row saying what happened
        return {**results.failed_record(name, _reason(step, error), traceback.format_exc()), **collect.meta(entry)}
    record = {"name": name, "format": fmt, "notes": notes + ([note] if note else []), "problems": problems,
              "answers": answers, "shown": shown, **({"answers_cut": cut} if cut else {}), **collect.meta(entry)}
    for key, value in ran.items():
        record[key] = record[key] + list(value) if key in ("notes", "problems") else value
    record["name"] = name
    return record


_GRADE_ONE = grade_one  # the worker calls this one; a replacement (a test's fake grading) runs in this process
IN_PROCESS = False  # True: grade in this process, in threads (for tests that replace what grade_one calls)


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


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: its text is the one line the instructor reads (what was kept, how to go on)."""


class _State:
    """How far a run got, for the one line an interrupted run prints."""

    def __init__(self, out):
        self.out, self.total, self.kept, self.graded = Path(out), None, 0, False

    def line(self):
        if self.total is None or not self.graded:
            return f"stopped before anything was graded; nothing in {self.out} changed"
        return (f"{self.kept} of {self.total} graded and kept in {self.out / store.FOLDER}; run the same command again "
                "to go on")


def failed(record):
    """Whether a kept record is the grader's failure on its submission (a run tries it again)."""
    return any("the grader failed" in str(p) for p in record.get("problems") or [])


def current(record, entry):
    """Whether a kept ``record`` stands for ``entry`` as it is now: the same fingerprint (``collect.meta``'s
    ``source``, a hash of its content) and not a failure of the grader."""
    return bool(record) and record.get("source") == collect.meta(entry)["source"] and not failed(record)


def grade(submissions_folder, out, written_scores=None, jobs=1, timeout=settings.TIMEOUT,
          cell_limit=settings.CELL_LIMIT, quiet=False, only=None, shard=None, late_penalty=None, gradebook=None,
          assignment=None, regrade=False, messages=None, canvas=None, homework=None, scale_to=False):
    """Grade the submissions in ``submissions_folder`` (a folder, or Canvas's download); write the results into
    ``out``; return (rows, records) of every submission ``out`` holds.

    ``canvas``: True reads a folder as Canvas's download unzipped (``--canvas``); None (the default) reads so only
    Canvas's zip, or a folder whose every entry is named as Canvas names them; any other folder is a plain one.
    A submission whose kept record is current (``current``: its content unchanged) is not graded again unless
    ``regrade``; so a run stopped by Ctrl-C goes on where it stopped. ``only``: names or Canvas user ids to grade
    again, every other kept record stays; ``shard`` (K, N): grade the K-th of N shares; ``written_scores``: the
    instructor's scores, kept in each record (``record["written"]``) until new ones for that student are given.
    ``scale_to``: scale the totals to the gradebook column's Points Possible where it differs from the assignment's.
    Raises RuntimeError, saying how to get one, where no sandbox runs here (nothing is graded without isolation), and
    ValueError for names that collide or do not match, written scores or a gradebook that do not fit, an input that
    is an output; each before anything in ``out`` changes. A full run moves the records of submissions no longer
    in the folder to ``out/records-removed/`` (never deletes them). ``messages`` (a list) receives what the user
    should be told. ``homework``: the assignment's folder (default: the repository's own). Ctrl-C raises
    ``Interrupted`` (one line: what was kept) once every worker and sandbox is stopped."""
    state = _State(out)
    try:
        return _grade(state, submissions_folder, out, written_scores, jobs, timeout, cell_limit, quiet, only, shard,
                      late_penalty, gradebook, assignment, regrade, messages, canvas, homework, scale_to)
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(state.line()) from None


def _grade(state, submissions_folder, out, written_scores, jobs, timeout, cell_limit, quiet, only, shard,
           late_penalty, gradebook, assignment, regrade, messages, canvas, homework, scale_to):
    homework = assignments.load(homework)
    out = Path(out)
    told = []
    if late_penalty is not None and not 0 <= late_penalty <= 1:
        raise ValueError(f"--late-penalty {late_penalty}: expected a fraction of the total between 0 and 1, e.g. 0.1")
    store.refuse_inputs_in_outputs(out, [("--written-scores", written_scores), ("--gradebook", gradebook),
                                         ("SUBMISSIONS", submissions_folder)], homework)
    book = publish.read_gradebook(gradebook, assignment, homework, scale_to) if gradebook else None
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
    else:
        todo = [(n, e) for n, e in entries if regrade or not current(kept.get(n), e)]
        held = names
        again = [n for n, _ in todo if n in kept and not regrade]
        changed, retried = [n for n in again if not failed(kept[n])], [n for n in again if failed(kept[n])]
        told += [f"graded again, {why}: {', '.join(found)}" for why, found in (
            ("changed since their records", changed), ("the grader had failed on them", retried)) if found]
    scores = results.read_written_scores(written_scores, held, homework) if written_scores else {}
    options = {"timeout": timeout, "cell_limit": cell_limit, "late_penalty": late_penalty}
    if todo or not written_scores:  # only merging written scores, with nothing changed, runs no code
        problem = isolation.problem()
        if problem is not None:
            raise RuntimeError(f"{isolation.HOW_TO_GET_A_SANDBOX} ({problem})")
        options["data"] = str(homework.prepare_data() or "")  # the dataset's files checked, extracted once
    # every input is checked: from here on --out changes
    state.total = len(todo) if only else len(entries)
    state.kept = 0 if only else len(entries) - len(todo)
    if not quiet and not only and len(todo) < len(entries):
        _say(f"{len(entries) - len(todo)} already graded and unchanged, kept; grading {len(todo)}"
             + ("" if written_scores else " (--regrade grades them all again)"))
    state.graded = True
    if todo:  # grades.csv is replaced, never removed: a run stopped while grading leaves one whose rows it had not
        # graded say so (publish.start), never an older grade as this run's; the older pages and details go
        report.clear(out, homework)
        publish.start(out, {n: r for n, r in kept.items() if n in held}, todo, options, book, homework)
    fresh = _run(todo, out, options, jobs, quiet, homework, kept, state) if todo else []
    if not only:
        moved = store.set_aside(out, names)  # a full run shows the records of this folder only, and deletes none
        gone, older = [n for n in moved if n not in names], [n for n in moved if n in names]
        if gone:
            told.append(f"records of submissions not in {submissions_folder} moved to {out / store.REMOVED} (not "
                        f"shown, not deleted): {', '.join(gone)}")
        if older:
            told.append(f"older copies of the records of {', '.join(older)} (under an earlier file name) moved to "
                        f"{out / store.REMOVED}")
    records = {**{n: r for n, r in kept.items() if n in held}, **{r["name"]: r for r in fresh}}
    written = store.merge_written(out, records, scores)
    rows, written_told = publish.write(out, list(records.values()), written, options, book, ignored, homework,
                                       clear=not todo)
    told += written_told + ([f"not graded (not named as Canvas names its entries, or refused above): "
                             f"{', '.join(ignored)}"] if ignored else [])
    if messages is not None:
        messages += [clean(m, newlines=False) for m in told]
    return rows, sorted(records.values(), key=lambda r: r["name"])


def _say(text):
    tqdm.write(clean(text, newlines=False), file=sys.stderr)


class _Progress:
    """One line per submission on stderr (``k/N name: 11.5 of 15 points, 3.2 s; about 2 min left``), and a bar
    where stderr is a terminal; nothing when ``quiet``."""

    def __init__(self, total, quiet, options, assignment, kept):
        self.total, self.quiet, self.options, self.assignment, self.kept = total, quiet, options, assignment, kept
        self.done, self.started = 0, time.monotonic()
        self.bar = tqdm(total=total, file=sys.stderr, unit="submission", leave=False, dynamic_ncols=True,
                        disable=quiet or not sys.stderr.isatty())

    def __call__(self, record):
        self.done += 1
        self.bar.update(1)
        if self.quiet:
            return
        written = {record["name"]: record["written"]} if isinstance(record.get("written"), dict) else {}
        result = publish.outcome(record, written, self.options, self.assignment)
        line = (f"{self.done}/{self.total} {record['name']}: {number(result['total'])} of "
                f"{number(self.assignment.total)} points, {float(record.get('seconds') or 0):.1f} s")
        if self.done < self.total:
            left = (time.monotonic() - self.started) / self.done * (self.total - self.done)
            line += f"; about {left / 60:.0f} min left" if left >= 90 else f"; about {left:.0f} s left"
        _say(line)

    def close(self):
        self.bar.close()


def _run(entries, out, options, jobs, quiet, assignment, kept=None, state=None):
    """The records of ``entries``, each kept in ``out`` as soon as it is graded (with the written scores its kept
    record held), each graded by a worker process of its own (grading.judge.worker), ``jobs`` at once; in this
    process, in threads, when ``grade_one`` is replaced (a test's fake grading) or ``IN_PROCESS`` is set."""
    kept = kept or {}
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
    fresh, progress = [], _Progress(len(entries), quiet, options, assignment, kept)

    def done(record):
        store.keep_written(kept.get(record.get("name")), record)  # with the answers they scored, until new ones
        store.save(out, record)
        fresh.append(record)
        if state is not None:
            state.kept += 1
        progress(record)

    try:
        worker.run([(index, name, entry) for index, (name, entry) in enumerate(entries)], scratch, options,
                   assignment, jobs, done, function=grade_one if IN_PROCESS or grade_one is not _GRADE_ONE else None)
    finally:
        progress.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return fresh


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", help="folder of submissions (folders or .zip files), or Canvas's Download "
                                            "Submissions zip (or its unzipped folder)")
    parser.add_argument("--out", default="results", help="folder for grades.csv and the answer pages (default: results)")
    parser.add_argument("--written-scores", help="the instructor's CSV of written scores (written_scores_template.csv, "
                                                 "filled in; UTF-8, with or without a BOM, or Windows-1252) to merge "
                                                 "into grades.csv (no code runs again); kept in the records until "
                                                 "new scores for a student are given")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="submissions graded at once, each with its share of the cores (default: the cores, at most 4)")
    parser.add_argument("--homework", help="the assignment's folder (default: the repository's own, under "
                                           "grading/assignments/)")
    parser.add_argument("--timeout", type=float, default=settings.TIMEOUT,
                        help=f"seconds per submission (default {settings.TIMEOUT:g})")
    parser.add_argument("--cell-timeout", type=float, default=settings.CELL_LIMIT,
                        help=f"seconds per notebook cell or question (default {settings.CELL_LIMIT:g})")
    parser.add_argument("--only", help="NAME[,NAME...]: grade these again (names or Canvas user ids), keep every other row")
    parser.add_argument("--regrade", action="store_true",
                        help="grade every submission again (by default a submission whose kept record is current, its "
                             "content unchanged, is kept: a run stopped with Ctrl-C goes on where it stopped)")
    parser.add_argument("--shard", help="K/N: grade the K-th of N shares (join them with python -m grading.merge)")
    publish.add_options(parser)
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
                        homework=args.homework, canvas=args.canvas, scale_to=args.scale_to)
    except KeyboardInterrupt as error:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while printing the line: no traceback
        line = str(error) if isinstance(error, Interrupted) else f"stopped; nothing in {args.out} is finished"
        print(clean(f"grading.grade: {line}", newlines=False), file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, OSError) as error:
        parser.exit(2, f"grading.grade: {clean(error, newlines=False)}\n")
    for message in messages:
        print(clean(message, newlines=False))
    print(clean(f"{len(rows)} submissions in {Path(args.out) / 'grades.csv'} ({time.monotonic() - started:.0f} s)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
