"""Records to rows: one submission's record (what its run reported, validated) becomes its row of grades.csv; the
instructor's written scores are read, keyed by the exact submission name.

A record comes from the grader's own code, but its texts come from the submission (status messages, answers), so
``row_for`` takes nothing on trust: a field of the wrong kind is shown, never raised on, and every text is made
encodable (lone surrogates replaced)."""

import csv
import difflib
import re

from grading import parts, settings
from grading.intake.notebook import clean

# (column, points, what) in the assignment's order, from the one table of parts; written parts are scored by a person.
PARTS = [(part.name, part.points, "auto" if part.kind == parts.AUTOMATIC else "written") for part in parts.PARTS]
WRITTEN = {part.name: part.points for part in parts.written()}
# canvas_user_id and late: from Canvas's download (empty for a plain folder); late_penalty: points off (--late-penalty)
COLUMNS = ["submission", "canvas_user_id", "late"] + [name for name, _, _ in PARTS] + ["automatic", "written",
                                                                                    "late_penalty", "total", "status"]
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def number(value):
    return f"{value:g}"


def _text(value, limit=300):
    """Any value as one short line of encodable text."""
    text = clean(value if isinstance(value, str) else repr(value))[:limit * 4]
    text = re.sub(r"0x[0-9a-fA-F]+", "0x…", text)
    text = text.strip()
    if text.startswith("AssertionError: "):
        text = text[len("AssertionError: "):]
    return " ".join(text.split())[:limit]


def _texts(value):
    return [_text(v) for v in value] if isinstance(value, list) else [_text(value)]


def _integer(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _event_status(event, status):
    kind = event.get("event")
    if kind == "problem":
        status.append(_text(event.get("message")))
    elif kind == "output" and _integer(event.get("cell")) is not None and _integer(event.get("characters")) is not None:
        status.append(f"cell {event['cell'] + 1} printed {event['characters']:,} characters (kept the first "
                      f"{settings.OUTPUT_LIMIT // 1024} KiB)")
    elif kind == "cell" and event.get("graded"):
        graded = ", ".join(_texts(event["graded"]))
        cell = _integer(event.get("cell"))
        where = f"cell {cell + 1}" if cell is not None else "a cell"
        status.append(f"{where} ({graded}) failed: {_text(event.get('message'))}")


def row_for(record, written, options):
    """The row (column -> text) of one record; ``written`` {name: {part: points}}, keyed by the exact name;
    ``options["late_penalty"]`` (a fraction, optional) takes that share of a late submission's total off."""
    earned = {name: 0.0 for name, _, kind in PARTS if kind == "auto"}
    status = _texts(record.get("notes") or []) + _texts(record.get("problems") or [])
    checked = set()
    results = [r for r in record.get("results") or [] if isinstance(r, dict) and r.get("part") in earned]
    for result in sorted(results, key=lambda r: (str(r.get("part")), str(r.get("case")))):
        checked.add(result["part"])
        points = result.get("points")
        if result.get("passed") is True and isinstance(points, (int, float)) and not isinstance(points, bool):
            earned[result["part"]] += max(0.0, float(points))
        elif result.get("passed") is not True:
            status.append(f"{result['part']}: {_text(result.get('message', ''))}")
    events = [e for e in record.get("events") or [] if isinstance(e, dict)]
    for event in events:
        _event_status(event, status)
    finished = any(e.get("event") == "finished" for e in events)
    if record.get("timed_out"):
        status.append(f"stopped at the time limit ({options['timeout']:g} s)")
    elif not finished:
        status.append(f"the grading process ended early (exit status {_text(record.get('returncode'))})")
    printed = _integer(record.get("printed"))
    if printed and printed > 2 * settings.LOG_KEEP:
        status.append(f"the grading process printed {printed:,} bytes (its log keeps the first and last "
                      f"{settings.LOG_KEEP // 1024} KiB)")
    missing = [name for name in earned if name not in checked]
    if missing:
        status.append(f"not checked: {', '.join(missing)}")
    rejected = _texts(record.get("rejected") or [])
    if rejected:
        shown = rejected[:3] + ([f"{len(rejected) - 3} more"] if len(rejected) > 3 else [])
        status.append(f"REJECTED result lines (the submission wrote into its results): {'; '.join(shown)}")
    name = clean(record.get("name", ""))
    user = record.get("canvas_user_id")
    row = {"submission": name, "canvas_user_id": clean(user) if isinstance(user, str) else "",
           "late": "late" if record.get("late") is True else ""}
    scored = written.get(name, {})
    for part, points, kind in PARTS:
        if kind == "auto":
            earned[part] = min(earned[part], points)  # never more than the part is worth, whatever its cases say
        row[part] = number(earned[part]) if kind == "auto" else (number(scored[part]) if part in scored else "")
    automatic = sum(earned.values())
    written_total = sum(scored.get(part, 0) for part in WRITTEN)
    row["automatic"], row["written"] = number(automatic), number(written_total)
    penalty = (options.get("late_penalty") or 0) * (automatic + written_total) if row["late"] else 0
    row["late_penalty"] = number(round(penalty, 2)) if penalty else ""
    row["total"] = number(round(automatic + written_total - penalty, 2))
    if penalty:
        status.append(f"late: {number(round(penalty, 2))} point(s) off ({options['late_penalty']:.0%} of the total)")
    if set(scored) != set(WRITTEN):
        status.append("written parts not scored yet" if not scored else
                      f"written parts not scored yet: {', '.join(n for n in WRITTEN if n not in scored)}")
    status = list(dict.fromkeys(s for s in status if s))  # each message once, in order
    row["status"] = "; ".join(status) if status else "ok"
    return row


def failed_record(name, reason, log=""):
    """The record of a submission the grader itself failed on: its row says so, the batch goes on."""
    return {"name": name, "format": None, "notes": [], "problems": [f"the grader failed on this submission ({reason}); "
                                                                     "grade it by hand"],
            "results": [], "events": [{"event": "finished"}], "rejected": [], "timed_out": False, "returncode": None,
            "seconds": 0.0, "log": log, "answers": {}}


def unquote(name):
    """A name as the scores template wrote it for spreadsheets (``'=1+2`` -> ``=1+2``)."""
    return name[1:] if name[:1] == "'" and name[1:2] in _FORMULA else name


def read_written_scores(path, names=None):
    """{submission: {part: points}} from the instructor's CSV. A row names its submission by its ``key`` (the scores
    template's column: ``grading.text.score_key`` of the exact name, which a spreadsheet leaves as it is) where it has
    one, else by the exact name (never stripped; the template's ``'`` before = + - @ undone), as files written
    before the key column are read. Raises ValueError naming a bad cell, two rows for one submission (``=bob`` and
    ``'=bob`` are one cell to a spreadsheet: their keys tell them apart), submissions whose keys collide, or a row
    that is not a submission of ``names`` when they are given."""
    from grading.text import score_key

    by_key = None
    if names is not None:
        by_key = {}
        for name in sorted(names):
            other = by_key.setdefault(score_key(name), name)
            if other != name:
                raise ValueError(f"{path}: the submissions {other!r} and {name!r} share the key {score_key(name)}; "
                                 "rename one of them and grade it again")
    scores, seen = {}, {}
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        for line, row in enumerate(csv.DictReader(handle), 2):
            cell = row.get("submission") or ""
            key = (row.get("key") or "").strip()
            if key:
                name = (by_key.get(key) if by_key is not None
                        else next((n for n in (cell, unquote(cell)) if score_key(n) == key), None))
                if name is None:
                    whose = "of this folder" if by_key is not None else "of this folder nor its own name"
                    raise ValueError(f"{path}: line {line} ({cell!r}) has the key {key!r}, which is no submission's "
                                     f"{whose}: copy the rows from the latest written_scores_template.csv, keys "
                                     "included")
            else:
                name = unquote(cell)
            if names is not None and name not in names:
                close = [n for n in names if n.strip().casefold() == name.strip().casefold()]
                close += [n for n in difflib.get_close_matches(name, sorted(names), 3, 0.6) if n not in close]
                hint = (f" (did you mean {close[0]!r}? names must match exactly; close names: "
                        f"{', '.join(repr(n) for n in close)})" if close
                        else "; its submission column must name a row of grades.csv")
                raise ValueError(f"{path}: {name!r} is not a submission of this folder{hint}")
            if name in seen:
                raise ValueError(f"{path}: lines {seen[name]} and {line} are both for {name!r} (a spreadsheet shows "
                                 "=x and '=x alike; the template's key column tells them apart): keep one of them")
            seen[name] = line
            for part, most in WRITTEN.items():
                value = (row.get(part) or "").strip()
                if not value:
                    continue
                try:
                    points = float(value)
                except ValueError:
                    raise ValueError(f"{path}: {name}'s {part} is {value!r}, not a number") from None
                if not 0 <= points <= most:
                    raise ValueError(f"{path}: {name}'s {part} is {value}, outside 0..{most}")
                scores.setdefault(name, {})[part] = points
    return scores
