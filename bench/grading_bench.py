"""How long the autograder takes: one submission, then a folder of 30, graded one at a time and two at a time.

    python bench/grading_bench.py [--n 30] [--jobs 1 2]

The submissions are the generated student version with the solution filled back in (every check runs to the end:
the slowest kind of submission). Prints one line per measurement and a Markdown table for bench/README.md.
"""

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grading import grade as grading  # noqa: E402
from grading import make_student as ms  # noqa: E402


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except Exception:
        return platform.processor() or "unknown CPU"


def make_submissions(folder, n):
    student = ms.make_student(folder / "student")
    nb = nbformat.read(student / "hw2.ipynb", as_version=4)
    solved = nbformat.read(REPO / "hw2.ipynb", as_version=4)
    sources, module = ms.fill_back(nb, (student / "hw2_models.py").read_text(), solved)
    cells = [c for c in nb.cells if ms.STUDENT_NOTE_TAG not in c.metadata.get("tags", [])]
    for cell, text in zip(cells, sources):
        cell.source = text
    full = nbformat.v4.new_notebook(cells=cells)
    submissions = folder / "submissions"
    for k in range(n):
        target = submissions / f"student_{k:02d}"
        target.mkdir(parents=True)
        nbformat.write(full, target / "hw2.ipynb")
        (target / "hw2_models.py").write_text(module)
    return submissions


def timed(folder, out, jobs):
    started = time.perf_counter()
    rows, records = grading.grade(folder, out, jobs=jobs, quiet=True)
    seconds = time.perf_counter() - started
    assert all(row["automatic"] == "12" for row in rows), [row["status"] for row in rows]
    return seconds, [record["seconds"] for record in records]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        submissions = make_submissions(tmp, args.n)
        one = tmp / "one"
        one.mkdir()
        (submissions / "student_00").rename(one / "student_00")
        table = []
        seconds, _ = timed(one, tmp / "results-one", 1)
        print(f"1 submission: {seconds:.1f} s (the command, start to end)", flush=True)
        table.append(("1", "1", f"{seconds:.0f} s", f"{seconds:.0f} s"))
        (one / "student_00").rename(submissions / "student_00")
        for jobs in args.jobs:
            seconds, each = timed(submissions, tmp / f"results-{jobs}", jobs)
            print(f"{args.n} submissions, {jobs} at a time: {seconds:.1f} s ({seconds / args.n:.1f} s per submission; "
                  f"each one's own process {min(each):.1f}-{max(each):.1f} s)", flush=True)
            table.append((str(args.n), str(jobs), f"{seconds:.0f} s ({seconds / 60:.1f} min)",
                          f"{seconds / args.n:.1f} s"))
    print(f"\nCPU: {cpu_name()}, {grading.os.cpu_count()} cores; isolation: {grading.can_isolate()}\n")
    print("| submissions | graded at once | wall time | per submission |")
    print("| ---: | ---: | ---: | ---: |")
    for row in table:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
