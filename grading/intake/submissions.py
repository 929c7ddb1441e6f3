"""The submissions folder: find each entry and name it, refuse names that collide, pick and copy the two files of a
folder or a zip, with bounds (the grader's own process reads them outside every sandbox limit)."""

import os
import re
import stat
import struct
import zipfile
from pathlib import Path

from grading import settings
from grading.text import display_name



def collision_key(name):
    """What the grader, a spreadsheet or a case-insensitive disk might treat as the same name."""
    return re.sub(r"[^\w.-]", "_", name.strip(), flags=re.A).lstrip(".").casefold()


def collisions(names):
    """[[names that collide]] under stripping, case and file-name sanitising (empty when every name is distinct)."""
    groups = {}
    for name in names:
        groups.setdefault(collision_key(name), []).append(name)
    return [sorted(group) for group in groups.values() if len(group) > 1]


def refuse_collisions(names):
    """Raise ValueError naming every group of colliding names and how to fix it."""
    found = collisions(names)
    if found:
        listed = "; ".join(" and ".join(repr(n) for n in group) for group in found)
        raise ValueError(f"submission names that the grader (or a spreadsheet, or a case-insensitive disk) cannot tell "
                         f"apart: {listed}. Rename one of each group (in the submissions folder) so the names differ "
                         f"by more than spaces at either end, letter case or punctuation, then run again.")


def find(folder):
    """[(name, path)] for every entry of ``folder`` but hidden ones, sorted by name: each gets a row. A folder and a
    zip of one name keep their full names (``a`` and ``a.zip``), so neither hides the other."""
    entries = sorted((Path(e.path) for e in os.scandir(folder) if not e.name.startswith(".")), key=lambda p: p.name)
    short = [p.name[:-4] if p.name.lower().endswith(".zip") and not p.is_dir() else p.name for p in entries]
    return sorted((display_name(name if short.count(name) == 1 else p.name), p) for name, p in zip(short, entries))


def _parts(path):
    return [part for part in str(path).replace("\\", "/").split("/") if part]


def _not_the_work(parts):
    """macOS's and Jupyter's copies (``__MACOSX``, ``.ipynb_checkpoints``, ``.DS_Store``, any hidden file or folder)."""
    return any(part == "__MACOSX" or part.startswith(".") for part in parts)


def pick(paths, notes, files):
    """The shallowest of each wanted file name of ``files`` (the notebook first): {name: path} (``\\`` counts as a
    separator: zips made on Windows). Without the notebook, the only notebook there is stands for it (renamed), and
    ``notes`` says so."""
    chosen = {}
    ordered = [(p, _parts(p)) for p in sorted(paths, key=lambda p: (len(_parts(p)), str(p)))]
    ordered = [(p, found) for p, found in ordered if found and not _not_the_work(found)]
    for path, found in ordered:
        if found[-1] in files and found[-1] not in chosen:
            chosen[found[-1]] = path
    notebooks = [(p, found) for p, found in ordered if found[-1].lower().endswith(".ipynb")]
    if files[0] not in chosen and len(notebooks) == 1:  # e.g. Lab3_JisooLee.ipynb: the work, renamed
        chosen[files[0]] = notebooks[0][0]
        if notes is not None:
            notes.append(f"graded from {'/'.join(notebooks[0][1])[-120:]}, the only notebook (not named {files[0]})")
    return chosen


def walk(folder, limit=None):
    """(paths of the files and links under ``folder``, whether it held more than ``limit`` entries): iterative, no
    link followed, stops after ``limit`` entries."""
    limit = settings.limits().walk_entries if limit is None else limit
    found, stack, seen = [], [str(folder)], 0
    while stack:
        try:
            with os.scandir(stack.pop()) as listing:
                for entry in listing:
                    seen += 1
                    if seen > limit:
                        return found, True
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        found.append(entry.path)
        except OSError:
            pass
    return found, False


def zip_problem(path):
    """Why the zip at ``path`` is not opened (too many entries, too large a declared size, too large a directory),
    from its central directory alone, before zipfile builds anything; None when it may be."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - 22 - 65535))
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) < at + 22:
            return None  # no directory: zipfile says it is not a zip
        entries, directory_size = struct.unpack_from("<H", tail, at + 10)[0], struct.unpack_from("<I", tail, at + 12)[0]
        end = size - len(tail) + at
        locator = tail[at - 20:at] if at >= 20 else b""
        if locator[:4] == b"PK\x06\x07":  # zip64: the counts are in its own end record
            handle.seek(struct.unpack_from("<Q", locator, 8)[0])
            record = handle.read(56)
            if record[:4] == b"PK\x06\x06" and len(record) == 56:
                entries, directory_size = struct.unpack_from("<QQ", record, 32)
                end = struct.unpack_from("<Q", locator, 8)[0]
        if entries > settings.limits().zip_entries:
            return f"the zip has {entries:,} entries (at most {settings.limits().zip_entries:,}); zip only your two files"
        if directory_size > settings.limits().zip_directory:
            return f"the zip's directory is larger than {settings.limits().zip_directory // 2**20} MiB; zip only your two files"
        handle.seek(max(0, end - directory_size))
        directory = handle.read(directory_size)
    count, declared, offset = 0, 0, 0
    while offset + 46 <= len(directory) and directory[offset:offset + 4] == b"PK\x01\x02":
        count += 1
        declared += struct.unpack_from("<I", directory, offset + 24)[0]
        if count > settings.limits().zip_entries:
            return f"the zip has more than {settings.limits().zip_entries:,} entries; zip only your two files"
        if declared > settings.limits().zip_declared:
            return f"the zip declares more than {settings.limits().zip_declared // 2**30} GiB of files; zip only your two files"
        offset += 46 + sum(struct.unpack_from("<HHH", directory, offset + 28))
    return None


def _too_large(name):
    return f"{name} is larger than {settings.limits().file_size // 2**20} MB"


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
        if info.st_size > settings.limits().file_size:
            return _too_large(name)
        target.write_bytes(source.read(settings.limits().file_size))
    return None


def _short(error):
    return str(error).splitlines()[0][:80] if str(error) else type(error).__name__


def _from_zip(entry, workdir, notes, files):
    problem = zip_problem(entry)
    if problem:
        return [problem]
    problems = []
    with zipfile.ZipFile(entry) as archive:
        members = {m.filename: m for m in archive.infolist() if not m.is_dir()}
        for name, member_name in pick(members, notes, files).items():
            member = members[member_name]
            kind = stat.S_IFMT(member.external_attr >> 16)
            if member.flag_bits & 0x1:
                problems.append(f"{name} is encrypted in the zip; submit it without a password")
            elif kind and kind != stat.S_IFREG:
                problems.append(f"{name} is not a regular file in the zip")
            elif member.file_size > settings.limits().file_size:
                problems.append(_too_large(name))
            else:
                with archive.open(member) as source:
                    data = source.read(settings.limits().file_size + 1)  # the declared size may lie: read one byte more
                if len(data) > settings.limits().file_size:
                    problems.append(_too_large(name))
                else:
                    (workdir / name).write_bytes(data)
    return problems


def extract(entry, workdir, notes, files):
    """Copy the submission's ``files`` into ``workdir``; returns problems (strings), and appends to ``notes`` what
    was taken in their stead (a renamed notebook). Never raises on its input."""
    problems = []
    info = os.lstat(entry)
    if stat.S_ISLNK(info.st_mode):
        problems.append("the submission is a symbolic link; not followed (submit a folder or a .zip)")
    elif stat.S_ISDIR(info.st_mode):
        found, more = walk(entry)
        if more:
            problems.append(f"the folder holds more than {settings.limits().walk_entries:,} entries; looked at the first ones")
        relative = {os.path.relpath(path, entry): path for path in found}  # hidden folders above it do not count
        for name, path in pick(relative, notes, files).items():
            problem = _copy_regular(relative[path], workdir / name)
            if problem:
                problems.append(problem)
    elif not stat.S_ISREG(info.st_mode) or not entry.name.lower().endswith(".zip"):
        problems.append("the submission is neither a folder nor a .zip file")
    else:
        try:
            problems += _from_zip(entry, workdir, notes, files)
        except NotImplementedError as error:  # e.g. deflate64, which Python's zipfile does not read
            problems.append(f"the zip uses a compression Python cannot read ({_short(error)}); zip it again with "
                            "ordinary deflate (the zip tool of Windows, macOS or Linux)")
        except Exception as error:  # corrupt data (zlib.error, BadZipFile, EOFError, CRC errors, ...)
            problems.append(f"the zip could not be read ({type(error).__name__}: {_short(error)})")
    for name in files:
        if not (workdir / name).exists():
            problems.append(f"no {name} in the submission")
    return problems
