"""Test an assignment folder before it is handed out: ``python -m grading.selftest [--assignment DIR]``.

First what runs nothing (``static``): every setting of assignment.json known, every file, class, function, variable
and cell the parts name found in the solved files, one graded cell per part, graded variables assigned at their
cell's top level, and every name a planned cell reads defined by an earlier cell. Then (``runs``) the student version
is made, the public cases run on the solved notebook's objects in a Jupyter kernel (all must pass), and the solved
files, the untouched student version and one planted mistake per automatic part are graded in the sandbox: the solved
files earn every automatic point, the student version none, and each mistake costs its own part only. Prints the table
(submission x part: points) and each problem with its fix; exit status 0 when everything holds, 1 otherwise.
"""

import argparse
import os
import sys
import tempfile
import time

from grading import assignment as assignment_option
from grading.selftest import runs, static
from grading.settings import Limits
from grading.student.aids import RuleError


def _say(line=""):
    print(line, flush=True)


def check(folder, jobs=None, grade=True, limits=None):
    """(problems, notes) of the assignment in ``folder``; ``grade`` False stops after the checks that run nothing."""
    problems, notes = static.problems(folder)
    for note in notes:
        _say(f"note: {note}")
    if problems or not grade:
        return problems, notes
    from grading.sandbox import isolation

    if isolation.problem() is not None:
        return [f"{isolation.HOW_TO_GET_A_SANDBOX} ({isolation.problem()})"], notes
    a = assignment_option.Assignment(folder)
    limits = limits or Limits()
    with tempfile.TemporaryDirectory(prefix="selftest-") as base:
        try:
            out, submissions = runs.build(a, base)
        except (RuleError, ValueError) as error:
            return [f"making the student version: {error}"], notes
        _say(f"the student version: made and filled back ({len(submissions) - 2} planted mistakes)")
        if any(case.public for cases in a.cases.values() for case in cases):
            found, errors = runs.public_in_kernel(a, out, *submissions[runs.SOLVED], base, limits.cell_timeout)
            problems += [f"cell {cell} of the solved notebook raises {error} in a kernel that runs the planned cells "
                         "alone: make it run without the cells the grader skips (what it reads must come from a "
                         "planned cell)" for cell, error in errors]
            failed = [(part, title, message) for part, cases in found.items() for status, title, message in cases
                      if status != "passed"]
            problems += [f"the public case {title!r} of {part} does not pass on the solved notebook's objects in a "
                         f"kernel ({message}): fix the case or the solved files" for part, title, message in failed]
            _say(f"the public cases on the solved notebook's objects, in a kernel: "
                 f"{sum(len(c) for c in found.values()) - len(failed)} of {sum(len(c) for c in found.values())} pass")
        _say(f"grading {len(submissions)} submissions in the sandbox ...")
        table, judged, dependent = runs.judge(a, runs.grade_all(a, submissions, base, jobs or min(4, os.cpu_count() or 1), limits))
        _say(runs.table_text(a, table))
        for note in dependent:
            _say(f"note: {note}")
        return problems + judged, notes + dependent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    assignment_option.add_option(parser)
    parser.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: the cores, at most 4)")
    parser.add_argument("--static", action="store_true", help="only the checks that run nothing (seconds)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    folder = assignment_option.folder_from(args, "grading.selftest") or assignment_option.own()
    _say(f"grading.selftest: {folder}")
    try:
        problems, _ = check(folder, jobs=args.jobs, grade=not args.static)
    except assignment_option.AssignmentError as error:
        problems = [str(error)]
    for problem in problems:
        _say(f"FAIL: {problem}")
    verdict = f"{len(problems)} problem{'s' * (len(problems) != 1)}" if problems else "everything holds"
    _say(f"grading.selftest: {verdict} ({time.monotonic() - started:.0f} s)")
    return 1 if problems else 0
