"""A record's size, bounded whatever a submission holds: ``fit(record)`` is applied where a record is saved
(grading.outputs.store) and again where one is read to publish it (grading.outputs.publish), since a record on disk is
not trusted. Each written answer keeps its first ``settings.limits().answer_length`` characters (``answers_cut`` says how long
it was); a record still over ``settings.limits().record_size`` bytes has its longest texts cut to one length, each saying
how much was cut, and only then, if it must, its shown images dropped."""

import json

from grading import settings
from grading.intake import notebook

CUT = "\n[... cut by the grader: {:,} characters]"
KEPT = ("name", "source", "canvas_user_id", "canvas_name", "late", "written")  # never cut: rows match by them, and the
# instructor's scores are not the submission's


def size(record):
    """The bytes of ``record`` as ``store.save`` writes it (ASCII JSON)."""
    return len(json.dumps(record, sort_keys=True, default=repr))


def _cut_answers(record):
    answers = record.get("answers")
    if not isinstance(answers, dict):
        return record
    cut = dict(record["answers_cut"]) if isinstance(record.get("answers_cut"), dict) else {}
    kept = {}
    for part, text in answers.items():
        if isinstance(text, str):
            text, length = notebook.cut_answer(text)
            if length is not None:
                cut[part] = max(length, cut.get(part, 0)) if isinstance(cut.get(part), int) else length
        kept[part] = text
    return {**record, "answers": kept, **({"answers_cut": cut} if cut else {})}


def _drop_images(record):
    shown = record.get("shown")
    if not isinstance(shown, dict):
        return record
    dropped = {part: {"problem": f"the saved output was not kept: with it the record would be over "
                                 f"{settings.limits().record_size // 2**10:,} KiB", "cell": item.get("cell")}
               if isinstance(item, dict) and "data" in item else item for part, item in shown.items()}
    return {**record, "shown": dropped}


def _leaves(value, path=()):
    """(path, text) of every string inside ``value`` (dicts and lists), in order, but those ``KEPT`` and the shown
    images' data (dropped whole by ``_drop_images``, never cut into something that is no image)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if not (path == () and key in KEPT) and not (len(path) == 2 and path[0] == "shown" and key == "data"):
                yield from _leaves(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, path + (index,))


def _replace(value, path, text):
    if not path:
        return text
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, text)}
    return [*value[:head], _replace(value[head], rest, text), *value[head + 1:]]


def _prefix(text, budget):
    """The longest start of ``text`` whose JSON takes at most ``budget`` bytes (a binary search: linear in all)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(json.dumps(text[:middle])) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def _cut_longest(record, excess):
    """``record`` with its longest texts cut to one length (a water level) so that about ``excess`` bytes go."""
    leaves = [(path, text, len(json.dumps(text))) for path, text in _leaves(record)]
    low, high = 0, max((cost for _, _, cost in leaves), default=0)
    while low < high:  # the highest level that frees at least ``excess`` bytes
        level = (low + high + 1) // 2
        if sum(cost - level for _, _, cost in leaves if cost > level) >= excess:
            low = level
        else:
            high = level - 1
    for path, text, cost in leaves:
        if cost > low:
            marker = CUT.format(len(text))
            record = _replace(record, path, _prefix(text, max(0, low - len(json.dumps(marker)))) + marker)
    return record


def fit(record, limit=None):
    """``record`` (a dict; not changed) within ``limit`` bytes (default ``settings.limits().record_size``) as saved."""
    limit = limit or settings.limits().record_size
    record = _cut_answers(record)
    if size(record) <= limit:
        return record
    for step in range(6):  # the longest texts cut, then the images dropped: each pass frees what was over
        over = size(record) - limit
        if over <= 0:
            return record
        record = _drop_images(record) if step == 3 else _cut_longest(record, over + 4096)
    kept = {key: record[key] for key in KEPT if key in record and size(record[key]) <= 4096}
    return {**kept, "format": record.get("format"), "notes": [], "results": [], "events": [{"event": "finished"}],
            "rejected": [], "answers": {}, "log": "", "problems": [
                f"the grader failed on this submission (its record would be over {limit // 2**10:,} KiB even with "
                "its longest texts cut); grade it by hand"]}
