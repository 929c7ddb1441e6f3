"""Each submission's full record, kept in ``OUT/records/FILE.json`` (FILE: ``submissions.file_name``), written
atomically as soon as it is graded: the rows, the pages, the feedback and the summary are made again from them, so
grading some submissions again (``--only``), merging written scores or joining shards never runs other code again
and never loses another row."""

import json
import os
from pathlib import Path

from grading.intake.submissions import file_name

FOLDER = "records"


def save(out, record):
    """Write ``record`` (JSON) to its file, whole or not at all."""
    folder = Path(out) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{file_name(record['name'])}.json"
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(json.dumps(record, sort_keys=True, default=repr), encoding="utf-8", errors="replace")
    os.replace(temporary, path)


def load(out):
    """{name: record} of every record kept in ``out`` ({} when none); raises ValueError naming a damaged one."""
    folder = Path(out) / FOLDER
    records = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            name = record["name"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path} is not a record the grader wrote ({type(error).__name__}); remove it and grade "
                             "that submission again with --only NAME") from None
        records[name] = record
    return records


def remove_except(out, names):
    """Remove the kept records of submissions not in ``names`` (a full run over a new folder)."""
    keep = {f"{file_name(name)}.json" for name in names}
    folder = Path(out) / FOLDER
    for path in folder.glob("*.json") if folder.is_dir() else []:
        if path.name not in keep:
            path.unlink()
