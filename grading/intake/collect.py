"""What ``grading.grade`` grades: the entries of a plain folder of submissions, or Canvas's *Download Submissions*
archive (the zip itself, or its unzipped folder) grouped by Canvas user id.

``find(source)`` -> ([(name, entry)], ignored): an entry is a path (a plain folder's folder or zip, extracted by
``grading.intake.submissions``) or a ``Group``: every top-level file Canvas wrote for one student, loose files and zips
alike, named ``<canvas name>_<user id>`` (``garcialuis_48213``), or ``anon_<id>`` under anonymous grading.
``extract(entry, workdir, notes)`` copies a submission's two files into ``workdir``, with the bounds of
``grading.settings``, and returns its problems. ``meta(entry)`` is what its row and feedback need of Canvas."""

import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from collections import namedtuple
from pathlib import Path

from grading import settings
from grading.intake import canvas, submissions

Group = namedtuple("Group", "user name late files archive")  # files: [(canvas.Entry, a Path or the archive's member)]


def _visible(name):
    return not name.startswith(".") and name != "__MACOSX"


def _groups(named):
    """[(submission name, Group)] of [(canvas.Entry, source)], sorted by name; archive filled in by the caller."""
    by_user = {}
    for entry, source in named:
        by_user.setdefault(entry.user, []).append((entry, source))
    found = []
    for user, files in by_user.items():
        name = next((e.name for e, _ in files if e.name), "")
        late = any(e.late for e, _ in files)
        found.append((f"{name}_{user}" if name else user, Group(user, name, late, files, None)))
    return sorted(found, key=lambda item: item[0])


def _archive(path):
    """The groups of Canvas's zip at ``path``: its central directory is checked first (entry count, declared size),
    then only its top-level names are read; nothing is extracted here."""
    problem = submissions.zip_problem(path)
    if problem:
        raise ValueError(f"{path}: {problem.split(';')[0]}; is this Canvas's Download Submissions zip?")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{path} could not be read as a zip ({error}); download it from Canvas again") from None
    named, ignored = [], []
    for member in members:
        top = member.filename.replace("\\", "/")
        entry = canvas.parse_entry(top) if "/" not in top else None
        if entry:
            named.append((entry, member.filename))
        elif _visible(top.split("/")[0]):
            ignored.append(top)
    if not named:
        raise ValueError(f"{path} is a zip, but none of its entries is named as Canvas names them "
                         "(<name>_<user id>_<attachment id>_<file>): pass Canvas's Download Submissions zip as it "
                         "came, or unzip a zip of submission folders and pass the folder")
    return [(name, group._replace(archive=Path(path))) for name, group in _groups(named)], ignored


def find(source):
    """([(name, entry)] sorted by name, [names not graded]) for a folder of submissions or Canvas's download (the zip
    or its unzipped folder: a folder whose files are named as Canvas names them and that holds no folder of work)."""
    source = Path(source)
    if source.is_file() and source.name.lower().endswith(".zip"):
        return _archive(source)
    if not source.is_dir():
        raise ValueError(f"{source} is neither a folder of submissions nor Canvas's Download Submissions zip")
    found = _canvas_folder(source)
    if found is None and len(os.listdir(source)) == 1 and (inner := next(os.scandir(source))).is_dir(
            follow_symlinks=False):  # unzipped "into a folder": the download one level down
        found = _canvas_folder(Path(inner.path))
    return found if found is not None else (submissions.find(source), [])


def _canvas_folder(folder):
    """(groups, names not graded) when ``folder`` is Canvas's download unzipped, else None."""
    visible = [e for e in os.scandir(folder) if _visible(e.name)]
    named = [(canvas.parse_entry(e.name), Path(e.path)) for e in visible if e.is_file(follow_symlinks=False)]
    named = [(entry, path) for entry, path in named if entry]
    if named and not any(e.is_dir(follow_symlinks=False) for e in visible):
        taken = {path.name for _, path in named}
        return _groups(named), sorted(e.name for e in visible if e.name not in taken)
    return None


def meta(entry):
    """{canvas_user_id, late, canvas_name} of a Canvas group; {} for a plain folder's entry; both with ``source``,
    what the entry was when graded (its fingerprint)."""
    if isinstance(entry, Group):
        return {"canvas_user_id": entry.user, "late": entry.late, "canvas_name": entry.name,
                "source": fingerprint(entry)}
    return {"source": fingerprint(entry)}


def fingerprint(entry):
    """A short text that changes when the submission does: a Canvas group's uploads (each has its own attachment
    id), else the size and modification time of the entry and of the files under it (bounded walk)."""
    if isinstance(entry, Group):
        text = "|".join(sorted(f"{e.attachment}:{e.file}" for e, _ in entry.files))
    else:
        paths = [str(entry)] + (submissions.walk(entry)[0] if Path(entry).is_dir() else [])
        stats = []
        for path in sorted(paths):
            try:
                info = os.lstat(path)
                stats.append(f"{os.path.relpath(path, entry)}:{info.st_size}:{info.st_mtime_ns}")
            except OSError:
                stats.append(f"{path}:gone")
        text = "|".join(stats)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def _stage(group, entry, source, staging, index):
    """A path holding one of the group's files: itself in a folder, else a bounded copy out of the archive (a zip up
    to the archive's declared total, any other file up to FILE_LIMIT); (path, problem)."""
    if group.archive is None:
        return source, None
    with zipfile.ZipFile(group.archive) as archive:
        member = archive.getinfo(source)
        if member.flag_bits & 0x1:
            return None, f"{entry.file} is encrypted in Canvas's zip"
        if stat.S_IFMT(member.external_attr >> 16) not in (0, stat.S_IFREG):
            return None, f"{entry.file} is not a regular file in Canvas's zip"
        limit = settings.ZIP_DECLARED if entry.file.lower().endswith(".zip") else settings.FILE_LIMIT
        target = staging / f"{index:03d}{'.zip' if entry.file.lower().endswith('.zip') else ''}"
        with archive.open(member) as data, open(target, "wb") as out:
            copied = 0
            while chunk := data.read(2**20):
                copied += len(chunk)
                if copied > limit:
                    return None, f"{entry.file} is larger than {limit // 2**20} MB"
                out.write(chunk)
    return target, None


def extract(entry, workdir, notes, files):
    """Copy the submission's ``files`` (the notebook first) into ``workdir``; returns problems, appends to ``notes``
    what was chosen or ignored. A Canvas group: a file uploaded under one of those names (re-upload suffix undone) first,
    the latest upload of a name winning, then the newest zip that holds it, then the only notebook uploaded."""
    workdir = Path(workdir)
    if not isinstance(entry, Group):
        return submissions.extract(entry, workdir, notes, files)
    problems, ignored, chosen = [], [], {}
    staging = Path(tempfile.mkdtemp(prefix="staged-", dir=workdir.parent))
    try:
        ordered = sorted(entry.files, key=lambda f: (int(f[0].attachment), f[0].file))  # oldest upload first
        loose = [(e, s) for e, s in ordered if not e.file.lower().endswith(".zip")]
        for name in files:
            uploads = [(e, s) for e, s in loose if e.file == name]
            if len(uploads) > 1:
                notes.append(f"{name} was uploaded {len(uploads)} times; graded the latest upload")
            if uploads:
                chosen[name] = uploads[-1]
        for index, (e, source) in enumerate(reversed([(e, s) for e, s in ordered if e.file.lower().endswith(".zip")])):
            if all(name in chosen for name in files):
                ignored.append(e.file)
                continue
            path, problem = _stage(entry, e, source, staging, index)
            unpacked = staging / f"zip{index:03d}"
            unpacked.mkdir()
            found_notes = []
            found = submissions.extract(path, unpacked, found_notes, files) if path else [problem]
            problems += [f"{e.file}: {p}" for p in found if not p.startswith("no ")]
            for name in files:
                if name not in chosen and (unpacked / name).exists():
                    chosen[name] = (unpacked / name, None)
                    notes.extend(f"{e.file}: {n}" for n in found_notes if name == files[0])
        notebooks = [(e, s) for e, s in loose if e.file.lower().endswith(".ipynb") and e.file not in files
                     and not e.file.startswith(".") and not e.file.endswith("-checkpoint.ipynb")]
        if files[0] not in chosen and len(notebooks) == 1:
            chosen[files[0]] = notebooks[0]
            notes.append(f"graded from {notebooks[0][0].file}, the only notebook uploaded (not named {files[0]})")
        used = {(e.attachment, e.file) for e, s in chosen.values() if s is not None}
        ignored += [e.file for e, s in loose if (e.attachment, e.file) not in used and e.file not in files
                    and not e.file.startswith(".")]  # .DS_Store and the like: never the work, not worth a note
        for index, (name, picked) in enumerate(sorted(chosen.items())):
            if picked[1] is None:  # already copied out of a zip, with its bounds
                shutil.copyfile(picked[0], workdir / name)
                continue
            path, problem = _stage(entry, picked[0], picked[1], staging, 100 + index)
            problem = problem or submissions._copy_regular(path, workdir / name)
            if problem:
                problems.append(problem)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    ignored = sorted(set(ignored))
    if ignored:
        notes.append(f"not graded (only {' and '.join(files)} are): {', '.join(ignored)[:300]}")
    return problems + [f"no {name} in the submission" for name in files if not (workdir / name).exists()]
