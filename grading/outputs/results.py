"""Records to outcomes, outcomes to rows. ``outcome(record, written, options, assignment)`` is the typed result of one
submission: per part its points and cases (title, points, passed, message), the totals, and its ``issues`` (each a
kind and a text); grades.csv, the feedback pages, the summary and the Canvas import all render text from outcomes,
and nothing reads a status text back. Written scores are read here, keyed by the exact submission name.

A record comes from the grader's own code, but its texts come from the submission (messages, answers), so nothing of
it is taken on trust: a field of the wrong kind is shown, never raised on, and every text is made encodable."""

import csv
import difflib
import hashlib
import re

from grading import settings
from grading.text import clean, number, unquote

# kinds of issue that mean the submission's code could not be graded (the summary lists them)
UNGRADED = {"missing", "grader", "timeout", "ended"}
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]{6,}>")  # an object's address in a repr: it changes from run to run


ANSWER_HASH = "_answer_hash"  # the scores template's column PART_answer_hash: which answer the row's PART scores
_HASH = re.compile(r"sha256-[0-9a-f]{16}")


def answer_hash(text):
    """The identity of a written answer (a record's ``answers[part]``) that a score is given for: a prefix of its
    SHA-256, marked so that no spreadsheet reads it as a number."""
    data = (text if isinstance(text, str) else "").encode("utf-8", "replace")
    return "sha256-" + hashlib.sha256(data).hexdigest()[:16]


def stale_scores(record, written):
    """{part: the points kept} of the written scores (``written``: the record's, {part: points, ...}) that were
    given for another answer than the one ``record`` holds now (the student handed in a new one): not counted. A score
    without the hash of its answer (merged before scores kept one) is never stale."""
    given_for = record.get("written_for") if isinstance(record.get("written_for"), dict) else {}
    answers = record.get("answers") if isinstance(record.get("answers"), dict) else {}
    return {part: points for part, points in (written or {}).items()
            if isinstance(given_for.get(part), str) and given_for[part] != answer_hash(answers.get(part))}


def columns(assignment):
    """grades.csv's columns: identity, one per part, the totals, the status."""
    return (["submission", "canvas_user_id", "late"] + [part.name for part in assignment.parts]
            + ["automatic", "written", "late_penalty", "total", "status"])


def _text(value, limit=300):
    """Any value as one short line of encodable text, control characters dropped."""
    text = clean(value if isinstance(value, str) else repr(value), newlines=False)[:limit * 4]
    text = _ADDRESS.sub(">", text).strip()
    if text.startswith("AssertionError: "):
        text = text[len("AssertionError: "):]
    return " ".join(text.split())[:limit]


def _texts(value):
    return [_text(v) for v in value] if isinstance(value, list) else [_text(value)]


def _integer(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _points(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _limit(conditions, options, name):
    """The limit ``name`` (a ``settings.Limits`` field) a record was graded under, as its conditions keep it; else the
    run's (``options["limits"]``) or the declared one."""
    kept = conditions.get(name)
    if isinstance(kept, (int, float)) and not isinstance(kept, bool):
        return kept
    return getattr(options.get("limits") or settings.Limits(), name)


def _event_issue(event, kept):
    kind = event.get("event")
    if kind == "problem":
        return {"kind": "problem", "text": _text(event.get("message"))}
    if kind == "output" and _integer(event.get("cell")) is not None and _integer(event.get("characters")) is not None:
        return {"kind": "output", "text": f"cell {event['cell'] + 1} printed {event['characters']:,} characters (kept "
                                          f"the first {kept // 1024} KiB)"}
    if kind == "cell" and event.get("graded"):
        cell = _integer(event.get("cell"))
        where = f"cell {cell + 1}" if cell is not None else "a cell"
        return {"kind": "cell", "text": f"{where} ({', '.join(_texts(event['graded']))}) failed: "
                                        f"{_text(event.get('message'))}"}
    return None


def outcome(record, written, options, assignment):
    """The typed result of one record; ``written`` {name: {part: points}}, keyed by the exact name;
    ``options["late_penalty"]`` (a fraction, optional) takes that share of a late submission's total off."""
    name = clean(record.get("name", ""))
    issues = [{"kind": "note", "text": t} for t in _texts(record.get("notes") or [])]
    issues += [{"kind": "missing" if t.startswith("no ") else "grader" if "grader failed" in t else "problem", "text": t}
               for t in _texts(record.get("problems") or [])]
    parts = {}
    results = [r for r in record.get("results") or [] if isinstance(r, dict)]
    scored = written.get(name, {})
    stale = stale_scores(record, {p.name: scored[p.name] for p in assignment.written() if p.name in scored})
    for part in assignment.parts:
        entry = {"name": part.name, "title": part.title, "kind": part.kind, "of": part.points, "cases": []}
        if part.kind == "automatic":
            for result in (r for r in results if r.get("part") == part.name):
                entry["cases"].append({"title": _text(result.get("case")), "points": _points(result.get("points")),
                                       "passed": result.get("passed") is True, "public": result.get("public") is True,
                                       "message": _text(result.get("message") or "") if result.get("passed") is not True
                                       else ""})
            earned = sum(max(0.0, c["points"]) for c in entry["cases"] if c["passed"])
            entry["points"] = min(earned, part.points)  # never more than the part is worth, whatever its cases say
            entry["checked"] = bool(entry["cases"])
        else:  # a score given for an answer since replaced is kept aside (``stale``) until it is given again
            entry["stale"] = stale.get(part.name)
            entry["points"] = None if part.name in stale else scored.get(part.name)
            entry["comment"] = "" if part.name in stale else scored.get(f"{part.name}_comment", "")
            entry["checked"] = part.name in scored and part.name not in stale
        parts[part.name] = entry
    for entry in parts.values():
        for case in entry["cases"]:
            if not case["passed"]:
                issues.append({"kind": "case", "part": entry["name"], "text": f"{entry['name']}: {case['message']}"})
    events = [e for e in record.get("events") or [] if isinstance(e, dict)]
    conditions = record.get("conditions") if isinstance(record.get("conditions"), dict) else {}
    output_kept = _limit(conditions, options, "output_kept")
    issues += [issue for issue in (_event_issue(event, output_kept) for event in events) if issue]
    timeout = _limit(conditions, options, "timeout")
    if record.get("timed_out"):
        issues.append({"kind": "timeout", "text": f"stopped at the time limit ({_points(timeout):g} s)"})
    elif not any(e.get("event") == "finished" for e in events):
        issues.append({"kind": "ended", "text": "the grading process ended early (exit status "
                                                f"{_text(record.get('returncode'))})"})
    printed = _integer(record.get("printed"))
    log_kept = _limit(conditions, options, "log_kept")
    if printed and printed > 2 * log_kept:
        issues.append({"kind": "output", "text": f"the grading process printed {printed:,} bytes (its log keeps the "
                                                 f"first and last {log_kept // 1024} KiB)"})
    unchecked = [p.name for p in assignment.automatic() if not parts[p.name]["checked"]]
    if unchecked:
        issues.append({"kind": "unchecked", "text": f"not checked: {', '.join(unchecked)}"})
    rejected = _texts(record.get("rejected") or [])
    if rejected:
        shown = rejected[:3] + ([f"{len(rejected) - 3} more"] if len(rejected) > 3 else [])
        issues.append({"kind": "rejected", "text": "REJECTED answers (the submission broke the grader's protocol): "
                                                   + "; ".join(shown)})
    issues = [dict(i, kind="grader") if i["kind"] == "problem" and "the grader failed" in i["text"] else i
              for i in issues]  # a session's own failure (an event) counts as the grader's too
    automatic = sum(parts[p.name]["points"] for p in assignment.automatic())
    written_total = sum(parts[p.name]["points"] or 0 for p in assignment.written())
    late = record.get("late") is True
    penalty = round((options.get("late_penalty") or 0) * (automatic + written_total), 2) if late else 0
    if penalty:
        issues.append({"kind": "late", "text": f"late: {number(penalty)} point(s) off "
                                               f"({options['late_penalty']:.0%} of the total)"})
    if stale:
        issues.append({"kind": "stale", "text": "the answer changed since it was scored, not counted until scored "
                                                "again: " + ", ".join(f"{part} (was {number(_points(points))})"
                                                                     for part, points in stale.items())})
    unscored = [p.name for p in assignment.written() if not parts[p.name]["checked"] and p.name not in stale]
    if unscored:
        issues.append({"kind": "unscored", "text": "written parts not scored yet" + (
            f": {', '.join(unscored)}" if len(unscored) < len(assignment.written()) else "")})
    seen, unique = set(), []
    for issue in issues:  # each message once, in order
        if issue["text"] and issue["text"] not in seen:
            seen.add(issue["text"])
            unique.append(issue)
    user = record.get("canvas_user_id")
    return {"name": name, "canvas_user_id": clean(user) if isinstance(user, str) else "", "late": late,
            "parts": parts, "automatic": automatic, "written": written_total, "late_penalty": penalty,
            "total": round(automatic + written_total - penalty, 2), "issues": unique,
            "graded": not any(i["kind"] in UNGRADED for i in unique), "unscored": bool(unscored or stale),
            "stale": stale}


def row_for(result, assignment):
    """The row (column -> text) of grades.csv for one outcome."""
    row = {"submission": result["name"], "canvas_user_id": result["canvas_user_id"],
           "late": "late" if result["late"] else ""}
    for part in assignment.parts:
        points = result["parts"][part.name]["points"]
        row[part.name] = "" if points is None else number(points)
    row.update(automatic=number(result["automatic"]), written=number(result["written"]),
               late_penalty=number(result["late_penalty"]) if result["late_penalty"] else "",
               total=number(result["total"]))
    row["status"] = "; ".join(issue["text"] for issue in result["issues"]) or "ok"
    return row


def failed_record(name, reason, log=""):
    """The record of a submission the grader itself failed on: its row says so, the batch goes on."""
    return {"name": name, "format": None, "notes": [], "problems": [f"the grader failed on this submission ({reason}); "
                                                                     "grade it by hand"],
            "results": [], "events": [{"event": "finished"}], "rejected": [], "timed_out": False, "returncode": None,
            "seconds": 0.0, "log": log, "answers": {}}


def read_written_scores(path, names, assignment):
    """{submission: {part: points, part_comment: text, part_answer_hash: text}} from the instructor's CSV (the hash
    only beside a score, where the row has one: which answer the template's row was made for). A row names its submission by its
    ``key`` (the scores template's column: ``grading.text.score_key`` of the exact name, which a spreadsheet leaves as
    it is) where it has one, else by the exact name (never stripped; the template's ``'`` before = + - @ undone), as
    files written before the key column are read. Raises ValueError naming a bad cell, two rows for one submission
    (``=bob`` and ``'=bob`` are one cell to a spreadsheet: their keys tell them apart), submissions whose keys
    collide, or a row that is not a submission of ``names`` when they are given."""
    import io

    from grading.intake.canvas import delimiter, spreadsheet_text
    from grading.text import score_key

    try:
        text = spreadsheet_text(path)  # UTF-8 with or without a BOM, or Windows-1252: as spreadsheets save CSV
    except OSError as error:
        raise ValueError(f"--written-scores {path}: {error.strerror or error}; pass the scores file (the filled-in "
                         "written_scores_template.csv)") from None
    mark = delimiter(text)  # ";" where a spreadsheet's decimal mark is a comma (then 1,5 is 1.5)
    written = {part.name: part.points for part in assignment.written()}
    by_key = None
    if names is not None:
        by_key = {}
        for name in sorted(names):
            other = by_key.setdefault(score_key(name), name)
            if other != name:
                raise ValueError(f"{path}: the submissions {other!r} and {name!r} share the key {score_key(name)}; "
                                 "rename one of them and grade it again")
    scores, seen = {}, {}
    for line, row in enumerate(csv.DictReader(io.StringIO(text, newline=""), delimiter=mark), 2):
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
        for part, most in written.items():
            value = (row.get(part) or "").strip()
            comment = unquote((row.get(f"{part}_comment") or "").strip())
            if comment:
                scores.setdefault(name, {})[f"{part}_comment"] = comment
            if not value:
                continue
            try:
                points = float(value.replace(",", ".") if mark != "," else value)
            except ValueError:
                raise ValueError(f"{path}: {name}'s {part} is {value!r}, not a number") from None
            if not 0 <= points <= most:
                raise ValueError(f"{path}: {name}'s {part} is {value}, outside 0..{most:g}")
            scores.setdefault(name, {})[part] = points
            scored_for = (row.get(f"{part}{ANSWER_HASH}") or "").strip()
            if scored_for:  # the answer the row scores, as the template that made the row saw it
                if not _HASH.fullmatch(scored_for):
                    raise ValueError(f"{path}: line {line} ({name!r}): {part}{ANSWER_HASH} is {scored_for[:40]!r}, "
                                     "not what the template wrote there: copy it from written_scores_template.csv "
                                     "or leave it empty")
                scores[name][f"{part}{ANSWER_HASH}"] = scored_for
    return scores
