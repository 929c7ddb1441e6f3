"""What the sandbox mounts of the machine, and what a run leaves there: the Python installation without any installed
copy of the kit (``python_mounts``), and the scratch folders and cgroups of a grader that was killed, which the next
run removes (``scratch_folder``, ``remove_stale``)."""

import os
import re
import shutil
import stat
import sys
import tempfile
from pathlib import Path

from grading import settings
from grading.sandbox.cgroups import owner_alive, owner_tag, tag_of
from grading.sandbox.cgroups import remove_stale as _remove_stale_cgroups


# ------------------------------------------------------------------------------------------------
# What a grader that was killed leaves behind
# ------------------------------------------------------------------------------------------------
SCRATCH = "grading-run-"  # the scratch folders of a run: SCRATCH + its owner's tag + "-" + mkdtemp's letters


def scratch_folder():
    """A new scratch folder for one run, in the system's temporary folder, named with its owner's tag
    (``cgroups.owner_tag``) so that a later run removes it if this process is killed before it can."""
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH}{owner_tag()}-"))


def remove_stale(folder=None):
    """Remove what graders that were killed left behind: their cgroups (every process inside killed first) and their
    scratch folders in ``folder`` (the system's temporary folder), those whose owner's tag names no running process
    and, for folders, that this user owns (never a link). Returns the paths removed."""
    removed = [str(f) for f in _remove_stale_cgroups()]
    folder = Path(folder or tempfile.gettempdir())
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        tag = tag_of(entry.name, SCRATCH)
        if tag is None or owner_alive(tag):
            continue
        try:
            info = os.lstat(entry.path)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid():
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    return removed


# ------------------------------------------------------------------------------------------------
# The Python installation, without any installed copy of the kit
# ------------------------------------------------------------------------------------------------
def _kit():
    """(top-level modules, distribution name as installers normalise it) of the kit: what a ``pip install`` of the
    repository puts in site-packages, read from its pyproject.toml in a checkout, else from the installed metadata of
    the distribution that holds this package."""
    pyproject = settings.REPO / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        tool = data.get("tool", {}).get("setuptools", {})
        modules = {name.split(".")[0] for name in tool.get("packages", [])} | set(tool.get("py-modules", []))
        name = data["project"]["name"]
    else:
        from importlib import metadata

        owners = metadata.packages_distributions()
        name = owners[__name__.split(".")[0]][0]
        modules = {top for top, names in owners.items() if name in names}
    return tuple(sorted(modules)), re.sub(r"[-_.]+", "_", name).lower()


PROJECT_MODULES, DISTRIBUTION = _kit()
PROJECT_NAMES = tuple(n for m in PROJECT_MODULES for n in (m, f"{m}.py", f"{m}.pyc"))  # what the kit installs
SITE_FOLDERS = ("lib*/python*/site-packages", "lib*/python*/dist-packages", "local/lib*/python*/site-packages",
                "local/lib*/python*/dist-packages", "lib/site-packages")


def _inside(path, roots):
    return any(path == root or root in path.parents for root in roots)


def _project_entry(folder, name):
    """Whether the entry ``name`` of the site folder ``folder`` belongs to an installed copy of the kit: its modules
    and packages, and its distribution's .dist-info, .egg-info, .egg-link, .pth and editable finder (by name, or by
    a metadata folder's top_level.txt naming the kit's modules)."""
    if name in PROJECT_NAMES or DISTRIBUTION in name.lower().replace("-", "_").replace(".", "_"):
        return True
    if name.endswith((".dist-info", ".egg-info")):
        try:
            top = (folder / name / "top_level.txt").read_text(errors="replace").split()
        except OSError:
            return False
        return bool(set(top) & set(PROJECT_MODULES))
    return False


def python_mounts(prefixes=None, path=None, checkout=settings.REPO):
    """(mounts, hidden) for the Python installation the sandboxed child runs with. ``mounts`` [(host path, path
    inside, False)]: its prefixes (``sys.prefix``, ``sys.base_prefix``) and each site-packages folder of its path
    (``sys.path``) outside them, read-only. ``hidden`` [(path inside, kind)]: every installed copy of the kit inside
    them (its top-level modules and packages and their compiled copies, the distribution's metadata, its
    .pth, .egg-link and editable finder), wherever a ``pip install`` of any kind put it; ``start`` covers each with
    an empty read-only folder, an empty file or a module that raises ImportError ("dir", "file", "module"), so the
    solved module and the grader are not in the sandbox however the kit is installed. A ``checkout`` of the kit (a
    folder with its ``pyproject.toml``, the repository by default) inside them is hidden whole."""
    prefixes = (sys.prefix, sys.base_prefix) if prefixes is None else prefixes
    path = sys.path if path is None else path
    roots = sorted({Path(p).resolve() for p in prefixes})
    folders = {f.resolve() for root in roots for pattern in SITE_FOLDERS for f in root.glob(pattern) if f.is_dir()}
    extra = set()
    for entry in path:
        if not entry:
            continue
        found = Path(entry).resolve()
        if not found.is_dir():
            continue
        if _inside(found, roots):
            folders.add(found)
        elif found.name in ("site-packages", "dist-packages"):  # e.g. the user's site, or one a .pth names
            extra.add(found)
    mounted = roots + sorted(extra)
    hidden = []
    checkout = Path(checkout).resolve()
    if (checkout / "pyproject.toml").is_file() and _inside(checkout, mounted) and checkout not in mounted:
        hidden.append((str(checkout), "dir"))  # e.g. the repository inside a conda prefix: no solved file
    for folder in sorted(folders | extra):
        try:
            names = sorted(os.listdir(folder))
            cached = sorted(os.listdir(folder / "__pycache__")) if (folder / "__pycache__").is_dir() else []
        except OSError:
            continue
        found = [folder / n for n in names if _project_entry(folder, n)]
        found += [folder / "__pycache__" / n for n in cached if n.split(".")[0] in PROJECT_MODULES]
        for item in found:
            real = item.resolve()
            if not _inside(real, mounted) or not os.path.lexists(real):
                continue  # a link to what the sandbox does not mount: nothing behind it there
            kind = "dir" if real.is_dir() else "module" if real.suffix == ".py" else "file"
            if (str(real), kind) not in hidden:
                hidden.append((str(real), kind))
    covered = [Path(h) for h, kind in hidden if kind == "dir"]
    hidden = [(h, kind) for h, kind in hidden if not any(c in Path(h).parents for c in covered)]  # gone with its folder
    return [(root, str(root), False) for root in mounted], hidden
