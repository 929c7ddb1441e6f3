"""How long the autograder takes on a folder of submissions of mixed formats and mistakes.

    python bench/grading_bench.py [--n 30 200] [--jobs 1 2]

The submissions cycle through ``KINDS``: the kit's format and the assignment's own notebook, each filled in from
the solved files (every check runs to the end: the slowest kind), with one typical mistake, or untouched. Every
row's automatic points are checked against what its kind should earn. Prints one line per measurement and a
Markdown table for bench/README.md and grading/README.md. The assignment's notebook is rebuilt from its text
(``grading/assignments/hw2/hw2_assignment.txt``, kept in the repository).
"""

import argparse
import platform
import subprocess
import importlib.util
import os
import tempfile
import time
from pathlib import Path

import nbformat

from grading import grade as grading
from grading.sandbox import isolation
from grading.student import make as ms

REPO = Path(__file__).resolve().parents[1]


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except Exception:
        return platform.processor() or "unknown CPU"


# (kind, format, changes to the filled notebook {text: new}, changes to the filled module, automatic points expected);
# the submissions cycle through them, so any n mixes both formats, right answers, mistakes and untouched versions.
KINDS = [
    ("kit_full", "kit", {}, {}, 12),
    ("assignment_full", "assignment", {}, {}, 12),
    ("kit_c1_kernel_3", "kit", {}, {"nn.Conv2d(1, 6, kernel_size=5": "nn.Conv2d(1, 6, kernel_size=3"}, 10),
    ("assignment_no_resize", "assignment", {"    transforms.Resize((32, 32)),\n": ""}, {}, 11),
    ("kit_ae_latent_4", "kit", {"AutoEncoder(Encoder(), Decoder())": "AutoEncoder(Encoder(4), Decoder(4))"}, {}, 11),
    ("assignment_encoder_broken", "assignment",
     {"nn.Linear(32, latent_dimensionality)": "nn.Linear(32, latent_dimensionality"}, {}, 10),
    ("kit_untouched", "kit", None, None, 0),
    ("assignment_untouched", "assignment", None, None, 0),
]


def _changed(cells, changes):
    cells = [nbformat.from_dict(dict(c)) for c in cells]
    for old, new in changes.items():
        hits = [c for c in cells if old in c.source]
        assert len(hits) == 1, old
        hits[0].source = hits[0].source.replace(old, new)
    return nbformat.v4.new_notebook(cells=cells)


def make_submissions(folder, n):
    """n submissions cycling through KINDS; returns (folder, {submission: automatic points expected})."""
    spec = importlib.util.spec_from_file_location(
        "hw2_assignment_notebook", REPO / "grading" / "assignments" / "hw2" / "assignment_notebook.py")
    an = importlib.util.module_from_spec(spec)  # HW2's own builder of the handed-out notebook
    spec.loader.exec_module(an)
    from grading.student import annotate

    solved = folder / "solved.ipynb"
    solved.write_bytes((REPO / "hw2.ipynb").read_bytes())
    annotate.main([str(solved)])
    student = ms.make_student(folder / "student", notebook=solved)
    nb = nbformat.read(student / "hw2.ipynb", as_version=4)
    untouched = nbformat.read(student / "hw2.ipynb", as_version=4)  # nb's cells are filled in below
    student_module = (student / "hw2_models.py").read_text()
    sources, module = ms.fill_back(nb, student_module, nbformat.read(solved, as_version=4))
    cells = [c for c in nb.cells if ms.STUDENT_NOTE_TAG not in c.metadata.get("tags", [])]
    for cell, text in zip(cells, sources):
        cell.source = text
    blank_assignment = an.assignment_notebook()
    assignment_cells = an.fill(blank_assignment, an.solution_fills(solved)).cells
    submissions, expected = folder / "submissions", {}
    for k in range(n):
        kind, form, notebook_changes, module_changes, points = KINDS[k % len(KINDS)]
        name = f"student_{k:03d}_{kind}"
        target = submissions / name
        target.mkdir(parents=True)
        if form == "kit":
            book = untouched if notebook_changes is None else _changed(cells, notebook_changes)
            text = student_module if module_changes is None else module
            for old, new in (module_changes or {}).items():
                text = text.replace(old, new)
            (target / "hw2_models.py").write_text(text)
        else:
            book = blank_assignment if notebook_changes is None else _changed(assignment_cells, notebook_changes)
        nbformat.write(book, target / "hw2.ipynb")
        expected[name] = points
    return submissions, expected


def timed(folder, out, jobs, expected):
    started = time.perf_counter()
    rows, records = grading.grade(folder, out, jobs=jobs, quiet=True)
    seconds = time.perf_counter() - started
    wrong = {row["submission"]: (row["automatic"], row["status"]) for row in rows
             if float(row["automatic"]) != expected[row["submission"]]}
    assert not wrong, wrong  # a benchmark of a grader that grades wrongly measures nothing
    return seconds, [record["seconds"] for record in records]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[30], help="folder sizes to grade (default 30)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    import hw2_helpers

    quiet = hw2_helpers.load_reading()
    time.sleep(5)  # the machine before the run: the sandboxes' processes are killed, not waited for, so during the
    print("Before the run, 5 s: " + hw2_helpers.load_report(quiet))  # run their CPU counts as other processes' work
    started, table = hw2_helpers.load_reading(), []
    for n in args.n:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            submissions, expected = make_submissions(tmp, n)
            for jobs in args.jobs:
                seconds, each = timed(submissions, tmp / f"results-{jobs}", jobs, expected)
                print(f"{n} submissions, {jobs} at a time: {seconds:.1f} s ({seconds / n:.2f} s per submission; "
                      f"each one's own process {min(each):.1f}-{max(each):.1f} s, mean {sum(each) / n:.1f} s)", flush=True)
                table.append((str(n), str(jobs), f"{seconds:.0f} s ({seconds / 60:.1f} min)", f"{seconds / n:.2f} s",
                              f"{sum(each) / n:.1f} s"))
    print(f"\nCPU: {cpu_name()}, {os.cpu_count()} cores; isolation: {isolation.problem() is None}; "
          f"kinds cycled: {', '.join(kind for kind, *_ in KINDS)}\n")
    print("| submissions | graded at once | wall time | per submission | one submission's process (mean) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for row in table:
        print("| " + " | ".join(row) + " |")
    print("\nDuring the run (the sandboxes' own work counts as other processes' here): "
          + hw2_helpers.load_report(started))


if __name__ == "__main__":
    main()
