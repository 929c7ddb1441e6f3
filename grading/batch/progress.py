"""How far a run got and what it shows: the one line an interrupted run prints (``State``), one line per graded
submission (``Progress``), and which kept records a run keeps (``current``, ``failed``: a run stopped with Ctrl-C goes
on where it stopped)."""

import sys
import time
from pathlib import Path

from tqdm import tqdm

from grading.intake import collect
from grading.outputs import publish, store
from grading.text import clean, number


class State:
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


def say(text):
    tqdm.write(clean(text, newlines=False), file=sys.stderr)


class Progress:
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
        say(line)

    def close(self):
        self.bar.close()
