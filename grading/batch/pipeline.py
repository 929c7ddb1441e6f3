"""One submission's grading and a run's batch of them: ``grade_one`` (copied with bounds, its format decided, run in
its sandbox, its answers read: a record, never an exception) and ``run`` (the records of a list of entries, each
kept as soon as it is graded, each graded by a worker process of its own, grading.batch.workers, which is handed
``grade_one`` itself)."""

import os
import shutil
import sys
import traceback

from grading.batch import workers
from grading.batch.progress import Progress
from grading.intake import collect, notebook
from grading.judge import session
from grading.outputs import results, store
from grading.sandbox import isolation
from grading.text import reason


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
        cut = {}  # {part: the length of an answer longer than settings.limits().answer_length}
        answers = notebook.written_answers(pristine / assignment.files["notebook"],
                                           {part.name: part.question for part in assignment.written()}, cut)
        shown = notebook.shown_outputs(pristine / assignment.files["notebook"], assignment.written())
        step = "running it in the sandbox"
        ran = session.grade_submission(name, pristine, fmt, options, workdir, assignment)
    except Exception as error:  # the batch goes on: this submission gets a row saying what happened
        return {**results.failed_record(name, reason(step, error), traceback.format_exc()), **collect.meta(entry)}
    record = {"name": name, "format": fmt, "notes": notes + ([note] if note else []), "problems": problems,
              "answers": answers, "shown": shown, **({"answers_cut": cut} if cut else {}),
              **collect.meta(entry)}
    for key, value in ran.items():
        record[key] = record[key] + list(value) if key in ("notes", "problems") else value
    record["name"] = name
    return record


_GRADE_ONE = grade_one  # the workers call this one; a replacement (a test's fake grading) runs in this process
IN_PROCESS = False  # True: grade in this process, in threads (for tests that replace what grade_one calls)


def run(entries, out, options, jobs, quiet, assignment, kept=None, state=None):
    """The records of ``entries``, each kept in ``out`` as soon as it is graded (with the written scores its kept
    record held), each graded by a worker process of its own (grading.batch.workers), ``jobs`` at once; in this
    process, in threads, when ``grade_one`` is replaced (a test's fake grading) or ``IN_PROCESS`` is set."""
    kept = kept or {}
    per_submission = isolation.per_submission_limits()
    if per_submission is None and jobs > 1:  # the process limit is the instructor's own: two submissions would share it
        print("grading.grade: no cgroup and no root here, so processes are limited per instructor, not per "
              "submission; grading one submission at a time (see grading/THREAT_MODEL.md, Users and limits)",
              file=sys.stderr)
        jobs = 1
    options = {**options, "per_submission": per_submission, "threads": max(1, (os.cpu_count() or 1) // max(1, jobs))}
    isolation.remove_stale()  # the scratch folders and cgroups of a grader that was killed
    scratch = isolation.scratch_folder()  # grading-run-PID.START-...: the next run removes it if this one is killed
    os.chmod(scratch, 0o711)  # each sandbox user must reach its own folder to bind it; none can list the others
    fresh, progress = [], Progress(len(entries), quiet, options, assignment, kept)

    def done(record):
        store.keep_written(kept.get(record.get("name")), record)  # with the answers they scored, until new ones
        store.save(out, record)
        fresh.append(record)
        if state is not None:
            state.kept += 1
        progress(record)

    try:
        workers.run([(index, name, entry) for index, (name, entry) in enumerate(entries)], scratch, options,
                    assignment, jobs, done, grade_one, in_process=IN_PROCESS or grade_one is not _GRADE_ONE)
    finally:
        progress.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return fresh
