"""What ``grading.grade`` grades: the entries of a plain folder of submissions, or Canvas's *Download Submissions*
archive (the zip itself, or its unzipped folder) grouped by Canvas user id.

``find(source, canvas_mode, students, messages)`` -> ([(name, entry)], ignored): an entry is a path (a plain
folder's folder or zip, extracted by ``grading.intake.submissions``) or a ``Group``: every top-level file Canvas wrote for one student, loose files and zips
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


def _chosen(names, students, messages):
    """[(canvas.Entry, name)] of the top-level ``names`` that ``canvas.assign`` reads as a student's, and the names
    it refuses (each with its reason in ``messages``)."""
    chosen, refused = canvas.assign(names, students)
    if messages is not None:
        messages.extend(f"not graded: {name!r}: {why}" for name, why in sorted(refused.items()))
    return [(chosen[n], n) for n in names if n in chosen], sorted(refused)


def _archive(path, students=None, messages=None):
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
    tops, ignored = {}, []
    for member in members:
        top = member.filename.replace("\\", "/")
        if "/" not in top and canvas.parses(top):
            tops[top] = member.filename
        elif _visible(top.split("/")[0]):
            ignored.append(top)
    if not tops:
        raise ValueError(f"{path} is a zip, but none of its entries is named as Canvas names them "
                         "(<name>_<user id>_<attachment id>_<file>): pass Canvas's Download Submissions zip as it "
                         "came, or unzip a zip of submission folders and pass the folder")
    named, refused = _chosen(list(tops), students, messages)
    named = [(entry, tops[top]) for entry, top in named]
    return [(name, group._replace(archive=Path(path))) for name, group in _groups(named)], ignored + refused


def find(source, canvas_mode=None, students=None, messages=None):
    """([(name, entry)] sorted by name, [names not graded]) for a folder of submissions or Canvas's download.

    Canvas's download is the zip itself, or a folder read as one when ``canvas_mode`` is True (``--canvas``: its
    entries not named as Canvas names them are listed, not graded), or, when it is None, a folder (or the one folder
    it holds) whose every entry is a file named as Canvas names them (``messages`` says so). Any other folder is a
    plain one: each entry is a submission of its own, whatever its name, so no student's entry named like Canvas's
    can make the others vanish. ``students`` ({user id: ``canvas.download_name``}, from ``--gradebook``) decides
    which reading of a Canvas name is right (``canvas.assign``); ``messages`` (a list) gets what was refused."""
    source = Path(source)
    if source.is_file() and source.name.lower().endswith(".zip"):
        return _archive(source, students, messages)
    if not source.is_dir():
        raise ValueError(f"{source} is neither a folder of submissions nor Canvas's Download Submissions zip")
    if canvas_mode is False:
        return submissions.find(source), []
    inner = None
    if len(os.listdir(source)) == 1 and (only := next(os.scandir(source))).is_dir(follow_symlinks=False):
        inner = Path(only.path)  # unzipped "into a folder": the download one level down
    every = not canvas_mode
    for folder in [source] + ([inner] if inner else []):
        found = _canvas_folder(folder, every, students, messages)
        if found is not None:
            if every and messages is not None:
                messages.append(f"read {folder} as Canvas's Download Submissions (every entry is named as Canvas "
                                "names them); pass --canvas to say so")
            return found
    if canvas_mode:
        raise ValueError(f"--canvas: no entry of {source} is named as Canvas names them (<name>_<user id>_"
                         "<attachment id>_<file>); pass Canvas's Download Submissions zip or its unzipped folder")
    return submissions.find(source), []


def _canvas_folder(folder, every, students=None, messages=None):
    """(groups, names not graded) when ``folder`` is read as Canvas's download unzipped, else None: with ``every``,
    only when each of its visible entries is a file named as Canvas names them; else when any is."""
    visible = [e for e in os.scandir(folder) if _visible(e.name)]
    named = [e for e in visible if e.is_file(follow_symlinks=False) and canvas.parses(e.name)]
    if not named or (every and len(named) != len(visible)):
        return None
    paths = {e.name: Path(e.path) for e in named}
    chosen, refused = _chosen(sorted(paths), students, messages)
    taken = {name for _, name in chosen}
    return (_groups([(entry, paths[name]) for entry, name in chosen]),
            sorted(e.name for e in visible if e.name not in taken))


def meta(entry):
    """{canvas_user_id, late, canvas_name, canvas_attachment_id} of a Canvas group; {} for a plain folder's entry;
    both with ``source``, what the entry was when graded (its fingerprint). ``canvas_attachment_id`` is the id of the
    group's latest upload: Canvas's upload of feedback files takes a page only for an attachment of the student's
    submission (``canvas.upload_name``)."""
    if isinstance(entry, Group):
        return {"canvas_user_id": entry.user, "late": entry.late, "canvas_name": entry.name,
                "canvas_attachment_id": max((e.attachment for e, _ in entry.files), key=int),
                "source": fingerprint(entry)}
    return {"source": fingerprint(entry)}


def _limit(name):
    """How many bytes of a file can matter to its grading: a zip's up to the declared bound of its contents, any
    other file's up to one byte past FILE_LIMIT (a larger file is refused, whatever it holds)."""
    return settings.limits().zip_declared if str(name).lower().endswith(".zip") else settings.limits().file_size + 1


def _hash_stream(digest, data, limit):
    left = limit
    while left > 0 and (chunk := data.read(min(2**20, left))):
        digest.update(chunk)
        left -= len(chunk)
    return limit - left


def _hash_file(digest, path, limit):
    """Add the size and bytes (at most ``limit``) of the regular file at ``path`` to ``digest`` (no link followed,
    no FIFO opened; a marker for anything else); returns the bytes read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        digest.update(f"unreadable:{error.errno}".encode())
        return 0
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            digest.update(f"not a file:{stat.S_IFMT(info.st_mode)}".encode())
            return 0
        digest.update(f"file:{info.st_size}:".encode())
        return _hash_stream(digest, handle, limit)


def fingerprint(entry):
    """A sha256 of the submission's bytes, so it changes whenever any byte that can matter does (never its size or
    modification time alone): a plain folder's files (each path and its bytes, the bounded walk, at most
    ZIP_DECLARED bytes in all), a zip's bytes, a Canvas group's uploads (each name, attachment id and its bytes,
    read out of the download when it is the zip). Each file is read up to what can matter (``_limit``). Never
    raises: what cannot be read is a marker of its own."""
    digest = hashlib.sha256()
    try:
        _fingerprint(digest, entry)
    except Exception as error:  # e.g. the download or the folder gone: the record says "changed", never a crash
        digest.update(f"|unreadable:{type(error).__name__}".encode())
    return digest.hexdigest()[:32]


def _fingerprint(digest, entry):
    if isinstance(entry, Group):
        archive = zipfile.ZipFile(entry.archive) if entry.archive is not None else None
        try:
            for e, source in sorted(entry.files, key=lambda f: (f[0].attachment, f[0].file, str(f[1]))):
                digest.update(f"|{e.attachment}:{e.file}:".encode("utf-8", "surrogatepass"))
                if archive is None:
                    _hash_file(digest, source, _limit(e.file))
                    continue
                try:
                    with archive.open(source) as data:
                        _hash_stream(digest, data, _limit(e.file))
                except Exception as error:  # a damaged member: a marker of its own (its row says more)
                    digest.update(f"unreadable:{type(error).__name__}".encode())
        finally:
            if archive is not None:
                archive.close()
    else:
        entry = Path(entry)
        if entry.is_dir() and not entry.is_symlink():
            budget = settings.limits().zip_declared
            for path in sorted(submissions.walk(entry)[0]):
                digest.update(f"|{os.path.relpath(path, entry)}:".encode("utf-8", "surrogatepass"))
                budget -= _hash_file(digest, path, max(0, min(budget, _limit(path))))
        else:
            _hash_file(digest, entry, _limit(entry.name))


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
        limit = settings.limits().zip_declared if entry.file.lower().endswith(".zip") else settings.limits().file_size
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
