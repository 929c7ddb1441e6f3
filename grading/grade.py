"""Grade a folder of submissions: ``python -m grading.grade SUBMISSIONS [--assignment DIR] [--out results]``.

``--assignment`` names the assignment's folder (``grading.assignment``; default: the repository's own). SUBMISSIONS
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

Each submission is graded in its own temporary copy, by a worker process of its own (grading.batch.workers: memory
and time bounded) that runs its sandboxed child (grading.sandbox.isolation, through grading.judge.session). Running
the same command again grades only what is new or changed since its record (``--regrade``: everything), so a run
stopped with Ctrl-C goes on where it stopped. This module is the command line and the run's steps only: the batch
(grading.batch: the per-submission pipeline, the workers, the progress line, which kept records stay), finding and
copying submissions (grading.intake.submissions), turning records into rows (grading.outputs.results) and writing
them (grading.outputs.report) live in their own modules.
"""

import argparse
import dataclasses
import difflib
import hashlib
import os
import signal
import sys
import time
from pathlib import Path

from grading import assignment as assignment_option
from grading.assignment import load as load_assignment
from grading import settings
from grading.batch import pipeline, progress
from grading.intake import canvas as canvas_format
from grading.intake import collect, submissions
from grading.outputs import publish, report, results, store
from grading.sandbox import isolation
from grading.text import clean


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


def grade(submissions_folder, out, written_scores=None, jobs=1, limits=None, quiet=False, only=None, shard=None, late_penalty=None, gradebook=None,
          column=None, regrade=False, messages=None, canvas=None, assignment_folder=None, scale_to=False):
    """Grade the submissions in ``submissions_folder`` (a folder, or Canvas's download); write the results into
    ``out``; return (rows, records) of every submission ``out`` holds.

    ``canvas``: True reads a folder as Canvas's download unzipped (``--canvas``); None (the default) reads so only
    Canvas's zip, or a folder whose every entry is named as Canvas names them; any other folder is a plain one.
    A submission whose kept record is current (``current``: its content unchanged) is not graded again unless
    ``regrade``; so a run stopped by Ctrl-C goes on where it stopped. ``only``: names or Canvas user ids to grade
    again, every other kept record stays; ``shard`` (K, N): grade the K-th of N shares; ``written_scores``: the
    instructor's scores, kept in each record (``record["written"]``) until new ones for that student are given.
    ``limits``: the run's ``settings.Limits`` (default: the declared ones), in force while it runs and kept in each
    record. ``scale_to``: scale the totals to the gradebook column's Points Possible where it differs from the assignment's.
    Raises RuntimeError, saying how to get one, where no sandbox runs here (nothing is graded without isolation), and
    ValueError for names that collide or do not match, written scores or a gradebook that do not fit, an input that
    is an output; each before anything in ``out`` changes. A full run moves the records of submissions no longer
    in the folder to ``out/records-removed/`` (never deletes them). ``messages`` (a list) receives what the user
    should be told. ``assignment_folder``: the assignment's folder (default: the repository's own); ``column``: the
    gradebook's column (its title or id) where the export has several. Ctrl-C raises
    ``Interrupted`` (one line: what was kept) once every worker and sandbox is stopped."""
    state, before = progress.State(out), settings.limits()
    limits = limits or settings.Limits()
    settings.use(limits)  # the rooms this process reads submissions and records with (each worker uses it too)
    try:
        return _grade(state, submissions_folder, out, written_scores, jobs, limits, quiet, only, shard,
                      late_penalty, gradebook, column, regrade, messages, canvas, assignment_folder, scale_to)
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(state.line()) from None
    finally:
        settings.use(before)


def _grade(state, submissions_folder, out, written_scores, jobs, limits, quiet, only, shard,
           late_penalty, gradebook, column, regrade, messages, canvas, assignment_folder, scale_to):
    assignment = load_assignment(assignment_folder)
    out = Path(out)
    told = []
    if late_penalty is not None and not 0 <= late_penalty <= 1:
        raise ValueError(f"--late-penalty {late_penalty}: expected a fraction of the total between 0 and 1, e.g. 0.1")
    store.refuse_inputs_in_outputs(out, [("--written-scores", written_scores), ("--gradebook", gradebook),
                                         ("SUBMISSIONS", submissions_folder)], assignment)
    book = publish.read_gradebook(gradebook, column, assignment, scale_to) if gradebook else None
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
        todo = [(n, e) for n, e in entries if regrade or not progress.current(kept.get(n), e)]
        held = names
        again = [n for n, _ in todo if n in kept and not regrade]
        changed, retried = ([n for n in again if not progress.failed(kept[n])],
                            [n for n in again if progress.failed(kept[n])])
        told += [f"graded again, {why}: {', '.join(found)}" for why, found in (
            ("changed since their records", changed), ("the grader had failed on them", retried)) if found]
    scores = results.read_written_scores(written_scores, held, assignment) if written_scores else {}
    options = {"limits": limits, "late_penalty": late_penalty}
    if todo or not written_scores:  # only merging written scores, with nothing changed, runs no code
        problem = isolation.problem()
        if problem is not None:
            raise RuntimeError(f"{isolation.HOW_TO_GET_A_SANDBOX} ({problem})")
        options["data"] = str(assignment.prepare_data() or "")  # the dataset's files checked, extracted once
    # every input is checked: from here on --out changes
    state.total = len(todo) if only else len(entries)
    state.kept = 0 if only else len(entries) - len(todo)
    if not quiet and not only and len(todo) < len(entries):
        progress.say(f"{len(entries) - len(todo)} already graded and unchanged, kept; grading {len(todo)}"
             + ("" if written_scores else " (--regrade grades them all again)"))
    state.graded = True
    graded_now = {name for name, _ in todo}
    for name, entry in entries:  # a kept record takes what Canvas's names say of it now (an attachment id it lacked)
        if name in kept and name not in graded_now and any(kept[name].get(k) != v for k, v in collect.meta(entry).items()):
            kept[name] = {**kept[name], **collect.meta(entry)}
            store.save(out, kept[name])
    if todo:  # grades.csv is replaced, never removed: a run stopped while grading leaves one whose rows it had not
        # graded say so (publish.start), never an older grade as this run's; the older pages and details go
        report.clear(out, assignment)
        publish.start(out, {n: r for n, r in kept.items() if n in held}, todo, options, book, assignment)
    fresh = pipeline.run(todo, out, options, jobs, quiet, assignment, kept, state) if todo else []
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
    rows, written_told = publish.write(out, list(records.values()), written, options, book, ignored, assignment,
                                       clear=not todo)
    told += written_told + ([f"not graded (not named as Canvas names its entries, or refused above): "
                             f"{', '.join(ignored)}"] if ignored else [])
    if messages is not None:
        messages += [clean(m, newlines=False) for m in told]
    return rows, sorted(records.values(), key=lambda r: r["name"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=settings.described())
    parser.add_argument("submissions", help="folder of submissions (folders or .zip files), or Canvas's Download "
                                            "Submissions zip (or its unzipped folder)")
    parser.add_argument("--out", default="results", help="folder for grades.csv and the answer pages (default: results)")
    parser.add_argument("--written-scores", help="the instructor's CSV of written scores (written_scores_template.csv, "
                                                 "filled in; UTF-8, with or without a BOM, or Windows-1252) to merge "
                                                 "into grades.csv (no code runs again); kept in the records until "
                                                 "new scores for a student are given")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="submissions graded at once, each with its share of the cores (default: the cores, at most 4)")
    assignment_option.add_option(parser)
    parser.add_argument("--timeout", type=float, help=f"seconds per submission (default {settings.Limits.timeout:g})")
    parser.add_argument("--cell-timeout", type=float,
                        help=f"seconds per notebook cell or question (default {settings.Limits.cell_timeout:g})")
    parser.add_argument("--limits", metavar="FILE", help="a JSON object of limit -> value (every limit and its default: "
                                                         "below); --timeout and --cell-timeout override it")
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
        folder = assignment_option.folder_from(args, "grading.grade")
        limits = settings.Limits().read(args.limits) if args.limits else settings.Limits()
        flags = {"timeout": args.timeout, "cell_timeout": args.cell_timeout}
        limits = dataclasses.replace(limits, **{name: value for name, value in flags.items() if value is not None})
        rows, _ = grade(args.submissions, args.out, args.written_scores, args.jobs, limits,
                        only=args.only.split(",") if args.only else None, shard=shard, late_penalty=args.late_penalty,
                        gradebook=args.gradebook, column=args.column, regrade=args.regrade, messages=messages,
                        assignment_folder=folder, canvas=args.canvas, scale_to=args.scale_to)
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
