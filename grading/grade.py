"""Grade a folder of HW2 submissions: ``python -m grading.grade SUBMISSIONS [--out results] [--written-scores CSV]``.

SUBMISSIONS holds one entry per student: a folder or a ``.zip`` with the student's ``hw2.ipynb`` and
``hw2_models.py`` (found at any depth; other files are ignored). Writes into ``--out``:

- ``grades.csv``: one row per submission (sorted by name), one column per point-valued part of the assignment,
  ``automatic`` (of 12), ``written`` (of 3), ``total`` (of 15) and ``status`` (what went wrong, or ``ok``);
- ``written_hw1_comparison.html`` and ``written_vae_use_case.html``: every submission's answer beside the reference
  answer and the points available;
- ``written_scores_template.csv``: fill it in, save it (e.g. as ``written_scores.csv``) and run the command again with
  ``--written-scores written_scores.csv`` to merge the written points into ``grades.csv``;
- ``details/NAME.json``: every check's result and message; ``logs/NAME.txt``: what the grading process printed.

Each submission is graded in its own temporary copy, by its own process (``grading.sandbox``), with a time limit;
run as root, that process also gets private mount and network namespaces and an unprivileged user id of its own.
"""

import argparse
import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grading import assignment_format, parts

REPO = Path(__file__).resolve().parents[1]
GRADING = REPO / "grading"
FILES = ("hw2.ipynb", "hw2_models.py")
FILE_LIMIT = 20 * 1024 * 1024
# (column, points, what) in the assignment's order, from the one table of parts; written parts are scored by a person.
PARTS = [(part.name, part.points, "auto" if part.kind == parts.AUTOMATIC else "written") for part in parts.PARTS]
AUTOMATIC = parts.AUTOMATIC_POINTS
WRITTEN = {part.name: part.points for part in parts.written()}
QUESTIONS = {part.name: (part.follows, parts.heading(part)) for part in parts.written()}  # (phrase, title)
EMPTY_ANSWER = "*Your answer here.*"
UID_BASE = 61000


# ------------------------------------------------------------------------------------------------
# Submissions
# ------------------------------------------------------------------------------------------------
def submission_name(entry):
    name = entry.name[:-4] if entry.name.lower().endswith(".zip") else entry.name
    return name


def find_submissions(folder):
    entries = [e for e in Path(folder).iterdir() if not e.name.startswith(".")
               and (e.is_dir() or (e.is_file() and e.name.lower().endswith(".zip")))]
    names = {}
    for entry in sorted(entries, key=lambda e: e.name):
        names.setdefault(submission_name(entry), entry)  # a folder and a zip of one name: the folder (sorted first)
    return sorted(names.items())


def _pick(paths):
    """The shallowest of each wanted file name: {name: path}."""
    chosen = {}
    for path in sorted(paths, key=lambda p: (len(Path(p).parts), str(p))):
        name = Path(path).name
        if name in FILES and name not in chosen and "__MACOSX" not in Path(path).parts:
            chosen[name] = path
    return chosen


def extract(entry, workdir):
    """Copy the submission's two files into ``workdir``; returns problems (strings)."""
    problems = []
    if entry.is_dir():
        found = []
        for root, dirs, files in os.walk(entry, followlinks=False):
            found += [os.path.join(root, f) for f in files]
        for name, path in _pick(found).items():
            info = os.lstat(path)
            if not os.path.isfile(path) or os.path.islink(path):
                problems.append(f"{name} is not a regular file")
            elif info.st_size > FILE_LIMIT:
                problems.append(f"{name} is larger than {FILE_LIMIT // 2**20} MB")
            else:
                shutil.copyfile(path, workdir / name, follow_symlinks=False)
    else:
        try:
            with zipfile.ZipFile(entry) as archive:
                members = {m.filename: m for m in archive.infolist() if not m.is_dir()}
                for name, member_name in _pick(members).items():
                    member = members[member_name]
                    if member.file_size > FILE_LIMIT:
                        problems.append(f"{name} is larger than {FILE_LIMIT // 2**20} MB")
                        continue
                    with archive.open(member) as source, open(workdir / name, "wb") as target:
                        target.write(source.read(FILE_LIMIT + 1)[:FILE_LIMIT])
        except (zipfile.BadZipFile, OSError) as error:
            problems.append(f"the zip could not be read ({type(error).__name__})")
    for name in FILES:
        if not (workdir / name).exists():
            problems.append(f"no {name} in the submission")
    return problems


# ------------------------------------------------------------------------------------------------
# Running one submission
# ------------------------------------------------------------------------------------------------
def can_isolate():
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--net", "--", "true"], capture_output=True)
    return probe.returncode == 0


def copy_helpers(workdir):
    """The provided helpers (a module file or a package folder) into the copy, read-only; returns the copy's path."""
    package = REPO / "hw2_helpers"
    if package.is_dir():
        target = workdir / "hw2_helpers"
        shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for path in [*target.rglob("*"), target]:
            os.chmod(path, 0o555 if path.is_dir() else 0o444)
        return target
    target = workdir / "hw2_helpers.py"
    shutil.copyfile(REPO / "hw2_helpers.py", target)
    os.chmod(target, 0o444)
    return target


def fingerprint():
    """A hash of the grader and the solved files: a submission run without isolation must not change it."""
    digest = hashlib.sha256()
    paths = (sorted(GRADING.rglob("*.py")) + [REPO / "hw2.ipynb", REPO / "hw2_models.py", REPO / "hw2_helpers.py"]
             + sorted((REPO / "hw2_helpers").rglob("*.py")))
    for path in paths:
        digest.update(str(path).encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    for path in sorted((REPO / "data" / "MNIST" / "raw").iterdir()):  # the shared data: size and time suffice
        info = path.stat()
        digest.update(f"{path.name} {info.st_size} {info.st_mtime_ns}".encode())
    return digest.hexdigest()


def run_one(index, name, entry, scratch, options, data):
    """Grade one submission in its own copy and process; returns its record (dict)."""
    workdir = scratch / f"{index:04d}"
    workdir.mkdir()
    (workdir / "home").mkdir()
    record = {"name": name, "problems": extract(entry, workdir), "results": [], "events": []}
    record["format"], record["problems"], note = assignment_format.decide(workdir, record["problems"])
    record["notes"] = [note] if note else []
    helpers = copy_helpers(workdir)
    isolate = options["isolate"]
    if isolate:
        (workdir / "data").mkdir()
        uid = UID_BASE + index
        for path in [workdir, *workdir.rglob("*")]:
            if path != helpers and helpers not in path.parents:
                os.chown(path, uid, uid, follow_symlinks=False)
        os.chmod(workdir, 0o700)
    else:
        (workdir / "data").symlink_to(data, target_is_directory=True)
        uid = None
    result = scratch / f"{index:04d}.jsonl"
    result.touch()
    if uid is not None:
        os.chown(result, uid, uid)
    config = {"workdir": str(workdir), "result": str(result), "repo": str(REPO), "data": str(data), "uid": uid,
              "isolate": isolate, "cell_limit": options["cell_limit"], "threads": options["threads"],
              "output_limit": options["output_limit"], "format": record["format"]}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir / "home"), "LANG": "C.UTF-8",
           "HW2_QUICK": "1", "HW2_DEVICE": "cpu", "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg",
           "HW2_GRADING_DATA": str(workdir / "data"), "PYTHONDONTWRITEBYTECODE": "1",
           "OMP_NUM_THREADS": str(options["threads"]), "MKL_NUM_THREADS": str(options["threads"]),
           "TQDM_DISABLE": "1", "PYTHONHASHSEED": "0"}
    command = [sys.executable, "-m", "grading.sandbox", json.dumps(config)]
    if isolate:
        command = ["unshare", "--mount", "--net", "--"] + command
    log_path = scratch / f"{index:04d}.log"
    started = time.monotonic()
    timed_out = False
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            process.wait(timeout=options["timeout"])
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the process and anything it started
            except ProcessLookupError:
                pass
            process.wait()
    record["seconds"] = time.monotonic() - started
    record["timed_out"] = timed_out
    record["returncode"] = process.returncode
    with open(result, "rb") as handle:
        for line in handle.read(4 * 1024 * 1024).decode(errors="replace").splitlines():
            try:
                entry_ = json.loads(line)
            except ValueError:
                continue
            (record["results"] if "part" in entry_ else record["events"]).append(entry_)
    with open(log_path, "rb") as handle:
        record["log"] = handle.read(64 * 1024).decode(errors="replace")
    record["answers"] = written_answers(workdir / "hw2.ipynb")
    return record


# ------------------------------------------------------------------------------------------------
# Written answers
# ------------------------------------------------------------------------------------------------
def _cell_text(cell):
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def written_answers(path):
    """{part: the submission's answer text} from its notebook (answer-tagged cells, else the cell after the question)."""
    try:
        if path.stat().st_size > FILE_LIMIT:
            return {}
        cells = json.loads(path.read_text(errors="replace")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return {}
    cells = [c for c in cells if isinstance(c, dict)]
    answers = {}
    for part, (phrase, _) in QUESTIONS.items():
        question = next((i for i, c in enumerate(cells) if phrase in _cell_text(c)), None)
        if question is None:
            continue
        following = [c for c in cells[question + 1:] if c.get("cell_type") == "markdown"]
        tagged = next((c for c in cells[question + 1:] if "answer" in c.get("metadata", {}).get("tags", [])), None)
        cell = tagged if tagged is not None else (following[0] if following else None)
        if cell is not None:
            answers[part] = _cell_text(cell).strip()
    return answers


def reference_answers():
    import nbformat

    nb = nbformat.read(REPO / "hw2.ipynb", as_version=4)
    tagged = [c.source for c in nb.cells if "answer" in c.get("metadata", {}).get("tags", [])]
    return dict(zip(QUESTIONS, tagged))


def write_answer_pages(out, records):
    reference = reference_answers()
    for part, (_, title) in QUESTIONS.items():
        rows = []
        for record in records:
            answer = record.get("answers", {}).get(part, "")
            if not answer or answer == EMPTY_ANSWER:
                answer_html = "<em>(no answer)</em>"
            else:
                answer_html = html.escape(answer)
            rows.append(f'<tr><td class="name">{html.escape(record["name"])}</td><td><pre>{answer_html}</pre></td>'
                        f'<td class="points">&nbsp;/ {WRITTEN[part]}</td></tr>')
        page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>HW2 written answers: {part}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }} h1 {{ font-size: 1.3em; }}
.layout {{ display: grid; grid-template-columns: 3fr 2fr; gap: 1.5em; align-items: start; }}
.reference {{ position: sticky; top: 1em; background: #f4f7ee; padding: 0.5em 1em; max-height: 95vh; overflow: auto; }}
table {{ border-collapse: collapse; width: 100%; }} td {{ border-top: 1px solid #ccc; vertical-align: top; padding: 0.4em; }}
pre {{ white-space: pre-wrap; font-family: inherit; margin: 0; }} .name {{ font-weight: bold; width: 12em; }}
.points {{ white-space: nowrap; width: 4em; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{len(records)} submissions; {WRITTEN[part]} point(s) each. Score them in <code>written_scores_template.csv</code>
(column <code>{part}</code>), save it, then run <code>python -m grading.grade ... --written-scores FILE</code> again.</p>
<div class="layout"><table>{''.join(rows)}</table>
<div class="reference"><h2>Reference answer (the solved notebook)</h2><pre>{html.escape(reference.get(part, ''))}</pre></div>
</div></body></html>
"""
        (out / f"written_{part}.html").write_text(page)


def read_written_scores(path):
    """{submission: {part: points}} from the instructor's CSV; raises ValueError naming a bad cell."""
    scores = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            name = (row.get("submission") or "").strip()
            for part, most in WRITTEN.items():
                value = (row.get(part) or "").strip()
                if not value:
                    continue
                points = float(value)
                if not 0 <= points <= most:
                    raise ValueError(f"{path}: {name}'s {part} is {value}, outside 0..{most}")
                scores.setdefault(name, {})[part] = points
    return scores


# ------------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------------
def _number(value):
    return f"{value:g}"


def _clean(text, record):
    text = re.sub(r"0x[0-9a-fA-F]+", "0x…", str(text))
    text = re.sub(r"^AssertionError: ", "", text.strip())
    return " ".join(text.split())


def row_for(record, written, options):
    earned = {name: 0.0 for name, _, kind in PARTS if kind == "auto"}
    status = list(record.get("notes", [])) + list(record["problems"])
    checked = set()
    for result in sorted(record["results"], key=lambda r: (r["part"], r["case"])):
        checked.add(result["part"])
        if result["passed"]:
            earned[result["part"]] += result["points"]
        else:
            status.append(f"{result['part']}: {_clean(result['message'], record)}")
    for event in record["events"]:
        if event.get("event") == "problem":
            status.append(_clean(event["message"], record))
        elif event.get("event") == "output":
            status.append(f"cell {event['cell'] + 1} printed {event['characters']:,} characters (kept the first 64 KiB)")
        elif event.get("event") == "cell" and event.get("graded"):
            status.append(f"cell {event['cell'] + 1} ({', '.join(event['graded'])}) failed: {_clean(event['message'], record)}")
    finished = any(e.get("event") == "finished" for e in record["events"])
    if record["timed_out"]:
        status.append(f"stopped at the time limit ({options['timeout']:g} s)")
    elif not finished:
        status.append(f"the grading process ended early (exit status {record['returncode']})")
    missing = [name for name in earned if name not in checked]
    if missing:
        status.append(f"not checked: {', '.join(missing)}")
    if record.get("tampered"):
        status.append("ALTERED the grader or the solved files while it ran")
    row = {"submission": record["name"]}
    scored = written.get(record["name"], {})
    for name, points, kind in PARTS:
        row[name] = _number(earned[name]) if kind == "auto" else (_number(scored[name]) if name in scored else "")
    automatic = sum(earned.values())
    written_total = sum(scored.get(name, 0) for name in WRITTEN)
    row["automatic"] = _number(automatic)
    row["written"] = _number(written_total)
    row["total"] = _number(automatic + written_total)
    if set(scored) != set(WRITTEN):
        status.append("written parts not scored yet" if not scored else
                      f"written parts not scored yet: {', '.join(n for n in WRITTEN if n not in scored)}")
    status = list(dict.fromkeys(status))  # each message once, in order
    row["status"] = "; ".join(status) if status else "ok"
    return row


def grade(submissions, out, written_scores=None, jobs=1, timeout=120.0, cell_limit=60.0, isolate=None, quiet=False):
    """Grade every submission in ``submissions``; write the results into ``out``; return the rows."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("details", "logs"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir()
    written = read_written_scores(written_scores) if written_scores else {}
    isolate = can_isolate() if isolate is None else isolate
    sys.path.insert(0, str(REPO))
    import hw2_helpers

    data = Path(hw2_helpers.verify_mnist()).resolve()  # the four files checked, and extracted once
    options = {"timeout": timeout, "cell_limit": cell_limit, "isolate": isolate, "output_limit": 32 * 1024 * 1024,
               "threads": max(1, (os.cpu_count() or 1) // max(1, jobs))}
    entries = find_submissions(submissions)
    scratch = Path(tempfile.mkdtemp(prefix="hw2-grading-"))
    os.chmod(scratch, 0o711)
    before = None if isolate else fingerprint()
    try:
        def one(item):
            index, (name, entry) = item
            record = run_one(index, name, entry, scratch, options, data)
            if before is not None and fingerprint() != before:
                record["tampered"] = True
            if not quiet:
                print(f"  {name}: {record['seconds']:.1f} s", file=sys.stderr)
            return record

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            records = list(pool.map(one, enumerate(entries)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = [row_for(record, written, options) for record in records]
    columns = ["submission"] + [name for name, _, _ in PARTS] + ["automatic", "written", "total", "status"]
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "written_scores_template.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["submission", *WRITTEN])
        for record in records:
            scored = written.get(record["name"], {})
            writer.writerow([record["name"], *(_number(scored[p]) if p in scored else "" for p in WRITTEN)])
    write_answer_pages(out, records)
    for record in records:
        safe = re.sub(r"[^\w.-]", "_", record["name"])
        details = {"submission": record["name"], "format": record.get("format"),
                   "checks": sorted(record["results"], key=lambda r: (r["part"], r["case"])), "events": record["events"], "problems": record["problems"]}
        (out / "details" / f"{safe}.json").write_text(json.dumps(details, indent=1, sort_keys=True) + "\n")
        (out / "logs" / f"{safe}.txt").write_text(record["log"])
    return rows, records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", help="folder of submissions (folders or .zip files)")
    parser.add_argument("--out", default="results", help="folder for grades.csv and the answer pages (default: results)")
    parser.add_argument("--written-scores", help="the instructor's CSV of written scores (submission, hw1_comparison, "
                                                 "vae_use_case) to merge into grades.csv")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="submissions graded at once, each with its share of the cores (default: the cores, at most 4)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per submission (default 120)")
    parser.add_argument("--cell-timeout", type=float, default=60, help="seconds per notebook cell (default 60)")
    args = parser.parse_args(argv)
    try:
        import otter  # noqa: F401
    except ImportError:
        parser.error("the grading engine is not installed: pip install -r requirements-grading.txt")
    if not Path(args.submissions).is_dir():
        parser.error(f"{args.submissions} is not a folder of submissions")
    started = time.monotonic()
    rows, _ = grade(args.submissions, args.out, args.written_scores, args.jobs, args.timeout, args.cell_timeout)
    print(f"Graded {len(rows)} submissions in {time.monotonic() - started:.0f} s: {Path(args.out) / 'grades.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
