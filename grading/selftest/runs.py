"""The self-test's runs: the student version made (``grading.student.make``), the public cases run on the solved
notebook's objects in a Jupyter kernel (``casekit.kernel``), and the solved files, the untouched student version and
one planted mistake per automatic part graded in the real sandbox (``grading.grade``), then judged.

A planted mistake is derived from the student version, never written by hand: the part's own blanks back (for a
notebook variable, the student version's graded cell; for a class or function, its marked lines) in otherwise solved
files."""

import ast
import json
import os
from pathlib import Path

import nbformat

from grading import grade as grading
from grading.intake import notebook as intake
from grading.settings import Limits
from grading.student import make as ms
from grading.student.annotate import KEY

SOLVED, STUDENT, MISTAKE = "solved", "student", "mistake in "
MARK = "SELFTEST-RESULTS "


def _kept_tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def build(a, base):
    """(the student version's folder, {submission: (cells, module text)}): the solved files as a student hands them
    in (the student version with every blank filled back), the untouched student version, and one planted mistake
    per automatic part."""
    out = ms.make_student(Path(base) / "student", assignment=a)
    student_nb = nbformat.read(out / a.files["notebook"], as_version=4)
    module = (out / a.files["module"]).read_text()
    solved_nb = nbformat.read(a.solved("notebook"), as_version=4)
    sources, filled = ms.fill_back(student_nb, module, solved_nb, assignment=a)
    kept = [k for k, c in enumerate(student_nb.cells) if ms.STUDENT_NOTE_TAG not in _kept_tags(c)]
    marks = {k: c.get("metadata", {}).get(KEY, {}).get("part") for k, c in zip(kept, ms.kept_cells(solved_nb))}

    def notebook(replaced=()):
        cells = [nbformat.from_dict(dict(c)) for c in student_nb.cells]
        for k, text in zip(kept, sources):
            if k not in replaced:
                cells[k].source = text
        return cells

    found = {SOLVED: (notebook(), filled), STUDENT: ([nbformat.from_dict(dict(c)) for c in student_nb.cells], module)}
    for part in a.automatic():
        if part.follows in a.classes or part.follows in a.data.get("functions", []):
            found[MISTAKE + part.name] = (notebook(), blanked(a, filled, part.follows))
        else:
            found[MISTAKE + part.name] = (notebook({k for k, name in marks.items() if name == part.name}), filled)
    return out, found


def blanked(a, filled, name):
    """The solved module (``filled``) with the marked lines of the top-level class or function ``name`` as the
    student version writes them."""
    text, blanks = ms.module_blanks(a.solved("module").read_text(encoding="utf-8"), a.files["module"])
    span = next((n.lineno, n.end_lineno) for n in ast.parse(text).body if getattr(n, "name", None) == name)
    lines = filled.split("\n")
    for index, _, student in blanks:
        if span[0] <= index + 1 <= span[1]:
            lines[index] = student
    return "\n".join(lines)


def write(a, folder, cells, module):
    folder.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / a.files["notebook"])
    if module is not None:
        (folder / a.files["module"]).write_text(module)


def public_in_kernel(a, student_out, cells, module, base, timeout):
    """({part: [(status, title, message)]} of the public cases on the objects of the solved notebook's planned cells,
    run in a Jupyter kernel in a copy of the student version holding the solved files; [(cell, error)] of the
    planned cells that raised."""
    import shutil

    from nbclient import NotebookClient

    work = Path(base) / "kernel"
    shutil.copytree(student_out, work)
    write(a, work / "_", cells, module)
    for path in (work / "_").iterdir():
        path.replace(work / path.name)
    (work / "_").rmdir()
    nb = nbformat.read(work / a.files["notebook"], as_version=4)
    last = a.cell_parts()[-1].follows if a.cell_parts() else None
    planned = [index for index, _ in intake.plan(nb, a.needed(), last)]
    checks = work / a.data.get("student", {}).get("checks_folder", "") \
        if a.data.get("student", {}).get("checks_folder") else a.folder
    data = a.prepare_data()
    asked = (f"import json as _json\nfrom casekit import kernel as _kernel\n"
             f"print({MARK!r} + _json.dumps({{part: _kernel.results({str(checks)!r}, part, globals(), "
             f"{str(data) if data else None!r}) for part in {[p.name for p in a.automatic()]!r}}}))")
    run = nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(nb.cells[i])) for i in planned]
                                   + [nbformat.v4.new_code_cell(asked)])
    env = {**os.environ, "MPLBACKEND": "Agg", "TQDM_DISABLE": "1", **a.data.get("environment", {})}
    client = NotebookClient(run, timeout=timeout, kernel_name="python3", allow_errors=True,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(work)}})
    client.execute(env=env)
    errors = [(index, f"{o.get('ename')}: {str(o.get('evalue'))[:200]}") for index, cell in zip(planned, run.cells)
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    printed = "".join(o.get("text", "") for o in run.cells[-1].get("outputs", []) if o.get("output_type") == "stream")
    line = next((x for x in printed.splitlines() if x.startswith(MARK)), None)
    if line is None:
        last_error = next((o for o in run.cells[-1].get("outputs", []) if o.get("output_type") == "error"), {})
        raise RuntimeError(f"the public cases did not run in the kernel ({last_error.get('ename')}: "
                           f"{str(last_error.get('evalue'))[:200]})")
    return json.loads(line[len(MARK):]), errors


def grade_all(a, submissions, base, jobs, limits=None):
    """{submission: (row, record)} of every submission graded in the sandbox, through ``grading.grade``."""
    folder = Path(base) / "submissions"
    for name, (cells, module) in submissions.items():
        write(a, folder / name.replace(" ", "_"), cells, module)
    rows, records = grading.grade(folder, Path(base) / "results", assignment_folder=str(a.folder), jobs=jobs,
                                  limits=limits or Limits(), quiet=True)
    rows = {r["submission"]: r for r in rows}
    records = {r["name"]: r for r in records}
    return {name: (rows[name.replace(" ", "_")], records[name.replace(" ", "_")]) for name in submissions}


def _failing(record, part):
    found = [f"{r['case']!r}: {r['message']}" for r in record.get("results", [])
             if r.get("part") == part and not r.get("passed")]
    return "; ".join(found)[:400] or "no case of it ran"


def judge(a, graded):
    """(table rows [(submission, {part: points})], problems, notes): the solved files earn every automatic point, the
    untouched student version none, and each planted mistake costs its own part, and no other but the parts whose
    cells build its class (``stand_ins``: they depend on it by the assignment's own declaration)."""
    problems, notes, table = [], [], []
    builds = {target: {name for name, _ in classes} for target, classes in a.data.get("stand_ins", {}).items()}
    for name, (row, record) in graded.items():
        points = {p.name: float(row[p.name] or 0) for p in a.automatic()}
        table.append((name, points))
        status = "" if row.get("status") in ("ok", None) else f" (the row says: {row['status'][:300]})"
        for part in a.automatic():
            got, full = points[part.name], part.points
            if name == SOLVED and got < full:
                problems.append(f"the solved files earn {got:g} of {full:g} points for {part.name} "
                                f"({_failing(record, part.name)}){status}: fix the solved files or the case, so that "
                                "a student who hands in the solution earns every point")
            elif name == STUDENT and got > 0:
                passing = [r["case"] for r in record.get("results", []) if r.get("part") == part.name and r.get("passed")
                           and r.get("points")]
                problems.append(f"the untouched student version earns {got:g} points for {part.name} (passing on its "
                                f"blanks: {', '.join(map(repr, passing))}): make those cases fail while "
                                f"{part.follows} is blank, or blank more of it")
            elif name.startswith(MISTAKE):
                planted = next(p for p in a.automatic() if p.name == name[len(MISTAKE):])
                if part is planted and got >= full:
                    problems.append(f"the planted mistake in {part.name} ({part.follows} as the student version has "
                                    f"it) still earns all {full:g} points: its cases do not notice the blanks; add a "
                                    "case that fails while they are open")
                elif part is not planted and got < full:
                    if planted.follows in builds.get(part.follows, ()):
                        notes.append(f"the planted mistake in {planted.name} also costs {part.name} ({got:g} of "
                                     f"{full:g}): its cell builds {planted.follows} (stand_ins)")
                        continue
                    problems.append(
                        f"the planted mistake in {planted.name} also costs {part.name} ({got:g} of {full:g}: "
                        f"{_failing(record, part.name)}){status}: a mistake must cost its own part only: make "
                        f"{part.name}'s cases check {part.follows} alone, or give its cell what it needs from "
                        f"{planted.follows} (fallbacks; a stand-in for a class in stand_ins)")
    return table, problems, notes


def table_text(a, table):
    """The table: one row per submission, one column per automatic part and the automatic total."""
    parts = [p.name for p in a.automatic()]
    width = max(len(name) for name, _ in table)
    head = [f"{'submission':<{width}}", *(f"{p:>{max(len(p), 5)}}" for p in parts), "automatic"]
    lines = ["  ".join(head), "  ".join([f"{'(points)':<{width}}", *(f"{p.points:>{max(len(p.name), 5)}g}"
                                                                    for p in a.automatic()), f"{a.automatic_points:>9g}"])]
    for name, points in table:
        lines.append("  ".join([f"{name:<{width}}", *(f"{points[p]:>{max(len(p), 5)}g}" for p in parts),
                                f"{sum(points.values()):>9g}"]))
    return "\n".join(lines)
