"""Each submission's full record, kept in ``OUT/records/FILE.json`` (FILE: ``grading.text.file_name``, one file per
name), written atomically as soon as it is graded: the rows, the pages, the feedback and the summary are made again
from them, so grading some submissions again (``--only``), merging written scores or joining shards never runs other
code again and never loses another row. No run deletes a record: those of submissions no longer in the folder are
moved to ``OUT/records-removed/`` (``set_aside``)."""

import json
import os
import time
from pathlib import Path

from grading.outputs import bounds, results
from grading.text import file_name, write_json

FOLDER = "records"
REMOVED = "records-removed"


def save(out, record):
    """Write ``record`` (JSON) to its file, whole or not at all."""
    folder = Path(out) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / f"{file_name(record['name'])}.json", bounds.fit(record))  # fit: settings.limits().record_size


def _read(path):
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return record, record["name"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a record the grader wrote ({type(error).__name__}); remove it and grade "
                         "that submission again with --only NAME") from None


def load(out):
    """{name: record} of every record kept in ``out`` ({} when none); raises ValueError naming a damaged one. Where
    two files hold one name (a record written under an older file name), the one at the name's own file wins."""
    folder = Path(out) / FOLDER
    records = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        record, name = _read(path)
        if name not in records or path.name == f"{file_name(name)}.json":
            records[name] = record
    return records


def set_aside(out, names):
    """Move the kept records of submissions not in ``names`` (a full run over a folder that no longer holds them)
    to ``OUT/records-removed/``, never overwriting one moved before; returns the names moved, sorted."""
    keep = {f"{file_name(name)}.json" for name in names}
    folder, removed = Path(out) / FOLDER, Path(out) / REMOVED
    moved = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.name in keep:
            continue
        try:
            moved.append(str(json.loads(path.read_text(encoding="utf-8"))["name"]))
        except (OSError, ValueError, KeyError, TypeError):
            moved.append(path.stem)
        removed.mkdir(exist_ok=True)
        target = removed / path.name
        if target.exists():
            target = removed / f"{path.stem}.{time.strftime('%Y%m%dT%H%M%S')}-{time.monotonic_ns()}.json"
        os.replace(path, target)
    return sorted(moved)


def remove_except(out, names):
    """What ``set_aside`` does (the older name: records are moved aside, never deleted)."""
    return set_aside(out, names)


def _scores(written):
    """The points of a record's written scores ({part: points}; the comments are text)."""
    return {k: v for k, v in written.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def keep_written(old, record):
    """Carry the instructor's scores of ``old`` (the kept record) into ``record`` (its submission graded again), each
    with the hash of the answer it was given for (``record["written_for"]``), so a new answer shows it stale
    (``results.stale_scores``). A score kept without one (merged before scores kept it) is taken to be for the answer
    ``old`` holds: the last answer it stood beside."""
    if not old or not isinstance(old.get("written"), dict) or "written" in record:
        return
    record["written"] = old["written"]
    given_for = dict(old["written_for"]) if isinstance(old.get("written_for"), dict) else {}
    answers = old.get("answers")
    if isinstance(answers, dict):
        for part in _scores(old["written"]):
            given_for.setdefault(part, results.answer_hash(answers.get(part)))
    if given_for:
        record["written_for"] = given_for


def merge_written(out, records, scores):
    """Put the instructor's new written ``scores`` ({name: {part: points, part_comment: text, part_answer_hash:
    text}}) into ``records`` ({name: record}): each part or comment given replaces the one kept
    (``record["written"]``), every other stays, so scores once merged live in the records through ``--only``, a
    regrade and a new download. Each score given is kept with the hash of the answer it scores
    (``record["written_for"]``): its row's (the template's ``PART_answer_hash``), else the record's answer now, unless
    it is the score kept already (an older file merged again scores no new answer). Saves each record that changed;
    returns {name: written scores} of every record that holds some."""
    for name, given in scores.items():
        record = records.get(name)
        if record is None or not given:
            continue
        before = record.get("written") if isinstance(record.get("written"), dict) else {}
        kept_for = record.get("written_for") if isinstance(record.get("written_for"), dict) else {}
        answers = record.get("answers") if isinstance(record.get("answers"), dict) else {}
        fields = {k: v for k, v in given.items() if not k.endswith(results.ANSWER_HASH)}
        given_for = dict(kept_for)
        for part, points in _scores(fields).items():
            row = given.get(f"{part}{results.ANSWER_HASH}")
            if row:
                given_for[part] = row
            elif not (before.get(part) == points and part in kept_for):
                given_for[part] = results.answer_hash(answers.get(part))
        merged = {**before, **fields}
        if merged != record.get("written") or given_for != kept_for:
            record["written"], record["written_for"] = merged, given_for
            save(out, record)
    return {name: dict(record["written"]) for name, record in records.items()
            if isinstance(record.get("written"), dict) and record["written"]}


OUTPUT_FILES = ("grades.csv", "summary.html", "canvas_import.csv", "feedback_for_canvas.zip")
OUTPUT_FOLDERS = ("details", "logs", "feedback", FOLDER, REMOVED)


def refuse_inputs_in_outputs(out, inputs, assignment):
    """ValueError naming an input (``inputs``: [(option, path)]) that this run would delete or overwrite in ``out``:
    one of its output files or inside its output folders (the scores template may be passed: it is read first and
    never overwritten while it holds scores not merged)."""
    out = Path(out).resolve()
    files = {out / name for name in OUTPUT_FILES} | {out / f"written_{p.name}.html" for p in assignment.written()}
    folders = [out / name for name in OUTPUT_FOLDERS]
    for option, path in inputs:
        if path is None:
            continue
        found = Path(path).resolve()
        if found in files or any(found == f or f in found.parents for f in folders):
            raise ValueError(f"{option} {path} is in {out} where this run writes its results (it would be deleted or "
                             "overwritten): copy it outside --out and pass the copy")
