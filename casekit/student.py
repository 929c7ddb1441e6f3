"""The student's side of every homework, configured from its ``assignment.json``: ``hw = Homework()`` in the
notebook's first cell, then ``hw.check("part")`` after a graded cell, ``hw.prepare_data()`` before the dataset is read
and ``hw.make_submission()`` in the last cell.

A student version ships the assignment's ``assignment.json`` and ``public_cases.py`` in a folder of their own
(``student.checks_folder``, ``checking/`` by default) and this package beside the notebook; in the instructors'
repository the assignment's folder itself is read. The public checks are the grader's own public cases, run on the
kernel's objects (``casekit.kernel``); the hand-in is ``casekit.handin``; a module whose blanks are open is imported
definition by definition (``casekit.source``). Nothing here imports the grader.
"""

import json
import os
import sys
from pathlib import Path

import casekit.data
from casekit import handin, source

YOUR_CODE, EMPTY_ANSWER = source.YOUR_CODE, "*Your answer here.*"  # as the student version writes them
SHIPPED = "checking"  # where a student version ships the public checks unless assignment.json says otherwise


class HomeworkError(RuntimeError):
    """The homework's files are not where the toolkit looks, or its dataset is damaged: what to do, in a student's
    words."""


def _find(folder):
    """The folder holding assignment.json: ``folder``, else ``checking/`` in the working directory (a student
    version), else the working directory itself (the instructors' copy of an assignment); None when none holds one."""
    if folder is not None:
        return Path(folder)
    for candidate in (Path.cwd() / SHIPPED, Path.cwd()):
        if (candidate / "assignment.json").is_file():
            return candidate
    return None


class Homework:
    """One homework, read from its ``assignment.json``: its files, parts, graded classes and functions, blanks and
    dataset. ``folder``: where assignment.json is (default: ``checking/`` in the working directory, else the working
    directory); ``data``: the dataset's folder, when not the one assignment.json names (``data``, relative to it)."""

    def __init__(self, folder=None, data=None):
        self.folder = _find(folder)
        self._data_override = Path(data) if data is not None else None
        self._prepared = None  # the dataset's files as last checked (paths, sizes, times): not checked again unchanged
        self.spec = None
        if self.folder is not None and (self.folder / "assignment.json").is_file():
            self.spec = json.loads((self.folder / "assignment.json").read_text(encoding="utf-8"))
            if self.module:
                source.install(self.module)  # before the notebook imports the module: its blanks may be open

    # -- what assignment.json says ------------------------------------------------------------------------------
    def _spec(self):
        if self.spec is None:
            where = self.folder or Path.cwd()
            raise HomeworkError(f"No assignment.json in {where}{'' if self.folder else ' nor in ' + SHIPPED + '/'}: "
                                "open the notebook from the homework's own folder (where it was unzipped, beside "
                                f"{SHIPPED}/ and casekit/), and leave those folders as they are.")
        return self.spec

    @property
    def name(self):
        return self._spec()["name"]

    @property
    def files(self):
        """{"notebook": ..., "module": ...} (no module for a homework whose classes are notebook cells)."""
        return self._spec()["files"]

    @property
    def module(self):
        """The module's import name (``hw2_models``), or None."""
        module = self._spec()["files"].get("module")
        return Path(module).stem if module else None

    @property
    def zip_name(self):
        return f"{self.name}_submission.zip"

    @property
    def check_call(self):
        """How the notebook calls the checks (``hw2.check``), from the check cell's template."""
        template = self._spec().get("student", {}).get("check_cell") or f"{self.name}.check("
        return template.split("(")[0]

    def table(self):
        """The graded parts: {"parts": [{name, points, kind, title, follows, fills, where, defines}], "your_code",
        "empty_answer"}; a written part follows its question (the hand-in finds the answer cell under it); a part
        following a class or function of the module is read in the module (``where``; ``defines``: class or
        function)."""
        spec = self._spec()
        classes, functions = spec.get("classes", []), spec.get("functions", [])
        parts = []
        for part in spec["parts"]:
            follows = part.get("follows") or part.get("question")
            in_module = part.get("follows") in classes or part.get("follows") in functions
            parts.append(dict(part, fills=part.get("fills", []), follows=follows,
                              where=spec["files"]["module"] if in_module else spec["files"]["notebook"],
                              defines="function" if part.get("follows") in functions else "class"))
        return {"parts": parts, "your_code": YOUR_CODE, "empty_answer": EMPTY_ANSWER}

    # -- the dataset --------------------------------------------------------------------------------------------
    def data_folder(self):
        """The dataset's folder, or None for a homework without one."""
        if self._data_override is not None:
            return self._data_override
        relative = self._spec().get("data")
        return (self.folder / relative).resolve() if relative else None

    def _state(self, root, checksums):
        paths = [Path(root) / relative for relative in checksums]
        paths += [path.with_suffix("") for path in paths if path.suffix == ".gz"]
        return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (str(p),) for p in paths)

    def prepare_data(self):
        """The dataset's folder, each file checked against assignment.json's MD5 sums and each ``.gz`` extracted beside
        itself (as torchvision reads them, no download needed); None for a homework without a dataset.
        HomeworkError naming each damaged file and the fix. Without assignment.json (the grader's sandbox runs the
        notebook's cells so), the folder ``data`` in the working directory as it is."""
        if self.spec is None and self.folder is None and (Path.cwd() / "data").is_dir():
            # the grader's sandbox: the notebook's copy without checking/, its data/ the grader checked already
            return Path.cwd() / "data"
        root, checksums = self.data_folder(), self._spec().get("checksums", {})
        if root is None:
            return None
        state = self._state(root, checksums)
        if state == self._prepared:
            return root
        problems = casekit.data.damaged(root, checksums)
        if problems:
            raise HomeworkError(
                f"The homework's dataset is incomplete or damaged, so this stops here instead of reading bad data:\n"
                + "\n".join(problems) + f"\nCopy the {Path(root).name}/ folder again from the homework as you "
                "downloaded it (unzip it afresh and replace this one), then run this cell again.")
        casekit.data.extract(root, checksums)
        self._prepared = self._state(root, checksums)
        return root

    # -- the public checks --------------------------------------------------------------------------------------
    def results(self, part, namespace):
        """[(status, case title, message)] of the public cases of ``part`` on ``namespace`` (the notebook's
        variables); the dataset prepared first (HomeworkError when it is damaged)."""
        from casekit import kernel  # on first use: the notebook's first cell runs no check

        self._spec()
        return kernel.results(self.folder, part, namespace, self.prepare_data())

    def check(self, part, namespace=None):
        """Print the public cases of ``part`` on the caller's variables (or ``namespace``); returns nothing."""
        if namespace is None:
            namespace = sys._getframe(1).f_globals  # in a notebook: the kernel's variables
        from casekit import kernel

        stale = self.module_changed()
        if stale:  # what the kernel runs is not the file on disk: a verdict now would judge the old code
            print(stale)
        try:
            root = self.prepare_data()
        except HomeworkError as error:
            print(f"Public checks of {part}: they cannot run yet.\n{error}")
            return
        kernel.check(self.folder, part, namespace, root)

    def failures_of(self, class_name, namespace=None):
        """The failing public checks' messages of the automatic parts that follow the class ``class_name``: what a
        provided cell adds to its error when a model of that class gives the wrong shape (the hint is written once,
        in the case). Empty for a class no part follows; never raises."""
        found = []
        try:
            parts = self.table()["parts"]
        except Exception:  # a hint is a courtesy: the cell's own error is raised whatever happens here
            return found
        for part in parts:
            if part["kind"] == "automatic" and part["follows"] == class_name:
                try:
                    found += [f"{self.check_call}({part['name']!r}): {message}" for status, _, message in
                              self.results(part["name"], namespace or {}) if message and status != "passed"]
                except Exception:
                    pass
        return found

    # -- the hand-in --------------------------------------------------------------------------------------------
    def module_changed(self, path=None):
        """The message saying the module changed on disk since this kernel imported it, or None (``path``: only if
        the kernel imported that file)."""
        return source.module_changed(self.module, path) if self.spec is not None and self.module else None

    def unfinished(self, folder=None):
        """[(part name, why)] for every part still unfinished in ``folder``'s files (default: the working
        directory), read without running them."""
        return handin.unfinished(Path(folder or os.getcwd()), self.table(), self.files)

    def make_submission(self, folder=None, history=None):
        """Write ``NAME_submission.zip`` (the files assignment.json names) in ``folder`` (default: the working
        directory, the notebook's in Jupyter) and print where, and what a grader would notice. ``history``: the
        sources run (default: this kernel's). When the saved notebook is not the one run, nothing is written and an
        older zip is removed. Returns None: the printed message is the result."""
        try:
            self._spec()
        except HomeworkError as error:
            print(error)
            return None
        history = handin.kernel_history() if history is None else history
        return handin.make_submission(self, Path(folder or os.getcwd()), history)
