"""An assignment, read from its folder: the one place the engine learns what it grades.

A folder holds ``assignment.json`` (plain data: the files a submission holds, the graded classes, the parts and their
points, the notebook variables the checks need, the stand-ins, the dataset and its constants, the environment of a
quick run), ``public_cases.py`` and ``hidden_cases.py`` (the check cases, ``@case(part, title, points, public=...)``;
the public ones ship with the student version) and ``student/`` (the student version's texts); hidden cases compare
with ``reference``, the solved module the data names, loaded privately in the grader. Paths in the data are relative
to the folder. ``load(folder)`` checks that every automatic part's cases add up to its points before anything is graded.
"""

import argparse
import difflib
import functools
import importlib.util
import json
import sys
from collections import namedtuple
from pathlib import Path

import casekit
import casekit.data


ASSIGNMENTS = Path(__file__).resolve().parent / "assignments"  # the repository's own assignment is its one folder
AUTOMATIC, WRITTEN = "automatic", "written"
YOUR_CODE = "### YOUR CODE HERE ###"  # a blank, as a student version writes it
EMPTY_ANSWER = "*Your answer here.*"  # a written answer left as a student version hands it out

Part = namedtuple("Part", "name points kind follows title fills question shows")
# Every setting assignment.json may hold, declared once: loading refuses any other, naming the closest known one, and
# python -m grading.selftest checks the keys of the sections too.
SETTINGS = ("name", "title", "files", "solved", "provided", "data", "checksums", "splitter", "classes", "functions",
            "parts", "needed", "stand_ins", "dataset", "fallbacks", "environment", "student", "preamble")
PART_SETTINGS = Part._fields
SECTIONS = {"files": ("notebook", "module"), "solved": ("notebook", "module"),
            "dataset": ("torchvision", "mean", "std", "side", "source", "license"),
            "student": ("check_cell", "checks_folder", "leave_out", "ship"), "student.ship": ("files", "data")}
REQUIRED, PART_REQUIRED = ("name", "files", "parts"), ("name", "points", "kind", "title")
Case = namedtuple("Case", "part title points public function")


class AssignmentError(ValueError):
    """An assignment folder that cannot be graded with: what is wrong and where."""


def unknown_setting(key, known, where):
    """The line that refuses ``key`` (not one of ``known``) in ``where``, with the closest known key as the fix."""
    close = difflib.get_close_matches(str(key), known, 1, 0.6)
    fix = f"did you mean {close[0]!r}? rename it" if close else f"remove it; the known ones: {', '.join(known)}"
    return f"{where}: no setting {key!r} ({fix})"


def unknown_settings(data, sections=True):
    """The lines refusing each unknown key of an assignment's data: top level and parts, and (``sections``) the
    keys of ``files``, ``solved``, ``dataset``, ``student`` and ``student.ship``."""
    if not isinstance(data, dict):
        return ["assignment.json: expected a JSON object of settings, e.g. {\"name\": \"hw3\", \"files\": ..., \"parts\": [...]}"]
    found = [unknown_setting(key, SETTINGS, "assignment.json") for key in data if key not in SETTINGS]
    for k, part in enumerate(data.get("parts") or []):
        where = f"assignment.json part {part.get('name', k + 1) if isinstance(part, dict) else k + 1}"
        found += [unknown_setting(key, PART_SETTINGS, where) for key in (part if isinstance(part, dict) else ())
                  if key not in PART_SETTINGS]
    for section, known in SECTIONS.items() if sections else ():
        value = data
        for step in section.split("."):
            value = value.get(step) if isinstance(value, dict) else None
        found += [unknown_setting(key, known, f"assignment.json {section}") for key in (value or {})
                  if isinstance(value, dict) and key not in known]
    return found


class Assignment:
    def __init__(self, folder):
        self.folder = Path(folder).resolve()
        path = self.folder / "assignment.json"
        if not path.is_file():
            raise AssignmentError(f"{self.folder} holds no assignment.json: pass an assignment folder "
                                  f"(the repository's own are in {ASSIGNMENTS})")
        try:
            self.data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise AssignmentError(f"{path} is not JSON ({error}): fix the line it names") from None
        unknown = unknown_settings(self.data, sections=False)
        missing = [key for key in REQUIRED if key not in self.data] if not unknown else []
        missing += [f"parts[{k}].{key}" for k, p in enumerate(self.data.get("parts") or []) if not unknown
                    for key in PART_REQUIRED if key not in p]
        if unknown or missing:
            raise AssignmentError(f"{path}: " + "; ".join(unknown) if unknown else
                                  f"{path} lacks {', '.join(missing)}: add it (grading/AUTHORING.md lists each setting)")
        self.name = self.data["name"]
        self.files = self.data["files"]
        self.module = Path(self.files["module"]).stem if self.files.get("module") else None
        self.classes = tuple(self.data.get("classes", []))
        self.functions = tuple(self.data.get("functions", []))  # the module's graded functions, beside its classes
        self.parts = tuple(Part(p["name"], float(p["points"]), p["kind"], p.get("follows"), p["title"],
                                tuple(p.get("fills", ())), p.get("question"), p.get("shows"))
                           for p in self.data["parts"])

    # -- the table of parts ------------------------------------------------------------------------------------
    def automatic(self):
        return [part for part in self.parts if part.kind == AUTOMATIC]

    def written(self):
        return [part for part in self.parts if part.kind == WRITTEN]

    def module_parts(self):
        """The automatic parts that follow a class or a function of the module, in the assignment's order."""
        return [part for part in self.automatic() if part.follows in self.classes + self.functions]

    def cell_parts(self):
        """The automatic parts that follow a notebook variable, in the assignment's order."""
        return [part for part in self.automatic() if part.follows not in self.classes + self.functions]

    @property
    def automatic_points(self):
        return sum(part.points for part in self.automatic())

    @property
    def written_points(self):
        return sum(part.points for part in self.written())

    @property
    def total(self):
        return self.automatic_points + self.written_points

    def path(self, relative):
        return (self.folder / relative).resolve()

    def solved(self, kind):
        """The solved file of ``kind`` (``notebook`` or ``module``)."""
        return self.path(self.data["solved"][kind])

    def provided(self):
        """The folders and files copied next to every submission and into the student version."""
        return [self.path(p) for p in self.data.get("provided", [])]

    def data_folder(self):
        return self.path(self.data["data"]) if self.data.get("data") else None

    def prepare_data(self):
        """The dataset's folder, its files checked against the assignment's checksums and each ``.gz`` extracted
        beside itself (as torchvision reads them); None for an assignment without data. AssignmentError naming a
        damaged file."""
        root = self.data_folder()
        if root is None:
            return None
        checksums = self.data.get("checksums", {})
        problems = casekit.data.damaged(root, checksums)
        if problems:
            raise AssignmentError(f"{problems[0].strip()}; restore the file from the repository (git checkout -- data)")
        casekit.data.extract(root, checksums)
        return root

    def student_text(self, name):
        return (self.folder / "student" / name).read_text(encoding="utf-8")

    def sandbox(self):
        """What the sandboxed child needs, sent as data in its first request."""
        keys = ("files", "classes", "functions", "stand_ins", "dataset", "fallbacks", "preamble", "splitter")
        return {key: self.data[key] for key in keys if key in self.data}

    def needed(self):
        """The notebook variables the plan runs cells for: those the checks follow and the graded cells fill, and
        what the planned cells read that earlier cells assign, derived from the solved notebook
        (``grading.intake.needs``); ``needed`` in assignment.json, where given, overrides the derivation."""
        if "needed" in self.data:
            return set(self.data["needed"]) | {part.follows for part in self.cell_parts()}
        return set(self.needs[0])

    def graded_variables(self):
        return {part.follows for part in self.cell_parts()} | {name for part in self.cell_parts() for name in part.fills}

    @functools.cached_property
    def needs(self):
        """(derived needed names, [(cell index, name)] that a planned cell reads and no earlier cell defines), from
        the solved notebook."""
        from grading.intake import needs, notebook

        nb, problem = notebook.load(self.solved("notebook"))
        if nb is None:
            raise AssignmentError(f"{self.solved('notebook')}: {problem}; solved.notebook in assignment.json must "
                                  "name the solved notebook")
        last = self.cell_parts()[-1].follows if self.cell_parts() else None
        return needs.needs(nb, self.graded_variables(), last)

    # -- the cases -------------------------------------------------------------------------------------------------
    @functools.cached_property
    def cases(self):
        """{part: [Case]} for every automatic part, public ones first; AssignmentError when a part's cases do not add
        up to its points, or a case names no automatic part, or sits in the wrong file for its ``public`` flag."""
        found = {part.name: [] for part in self.automatic()}
        for public, file in ((True, "public_cases.py"), (False, "hidden_cases.py")):
            path = self.folder / file
            if not path.is_file():
                continue
            for part, title, points, flag, function in casekit.load_cases(path, f"assignment_{self.name}_{path.stem}"):
                if flag != public:
                    raise AssignmentError(f"{path}: case {title!r} says public={flag} but sits in {file}: move it to "
                                          f"{'public_cases.py' if flag else 'hidden_cases.py'} or change public=")
                if part not in found:
                    raise AssignmentError(f"{path}: case {title!r} is of {part!r}, which is no automatic part: name one "
                                          f"of {', '.join(found)} in its @case, or add the part to assignment.json")
                found[part].append(Case(part, title, points, public, function))
        for part in self.automatic():
            points = sum(case.points for case in found[part.name])
            if abs(points - part.points) > 1e-9:
                raise AssignmentError(f"{self.folder.name}'s cases award {points:g} points to {part.name}; "
                                      f"assignment.json gives it {part.points:g}: make them agree (the part's points "
                                      "in assignment.json, or the points of its @case lines)")
        return found

    @functools.cached_property
    def reference(self):
        """The solved module (``solved.module``) as a private module, never the one a notebook imports (None without
        one): hidden cases read it as ``ask.reference``."""
        if not self.data.get("solved", {}).get("module"):
            return None
        spec = importlib.util.spec_from_file_location(f"assignment_{self.name}_reference", self.solved("module"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def points_label(points):
    """As an assignment writes a part's points: ``(1 pt)``, ``(2 points)``."""
    return f"({points:g} pt)" if points == 1 else f"({points:g} points)"


def heading(part):
    """The part's title with its points."""
    return f"{part.title} {points_label(part.points)}"


@functools.lru_cache(maxsize=None)
def _load(folder):
    assignment = Assignment(folder)
    assignment.cases  # the cases read and their points checked now, before anything is generated or graded
    return assignment


def own():
    """The repository's own assignment's folder: the one folder of grading/assignments that holds an
    assignment.json; AssignmentError when there is none or there are several (then name one)."""
    found = sorted(path.parent for path in ASSIGNMENTS.glob("*/assignment.json"))
    if len(found) != 1:
        raise AssignmentError(f"{ASSIGNMENTS} holds {len(found)} assignment folders "
                              f"({', '.join(p.name for p in found) or 'none'}): name one (--assignment DIR)")
    return found[0]


def load(folder=None):
    """The assignment of ``folder`` (default: the repository's own, ``own()``), read once per folder."""
    return _load(str(Path(folder or own()).resolve()))


def add_option(parser):
    """``--assignment DIR`` (and, for one release, the old ``--homework DIR``, hidden from --help)."""
    parser.add_argument("--assignment", metavar="DIR",
                        help="the assignment's folder (default: the repository's own, under grading/assignments/)")
    parser.add_argument("--homework", metavar="DIR", help=argparse.SUPPRESS)


def folder_from(args, command):
    """The assignment folder ``args`` name (None: the repository's own). For one release it reads the old spellings,
    each with a one-line notice on stderr: ``--homework DIR``, and ``--assignment COLUMN`` (the gradebook's column,
    now ``--column``) where a gradebook is given and COLUMN is no assignment folder; ``args.column`` is set then."""
    folder = args.assignment
    if (folder and getattr(args, "gradebook", None) and getattr(args, "column", None) is None
            and not (Path(folder) / "assignment.json").is_file()):
        print(f"{command}: --assignment {folder!r} read as the gradebook's column (no assignment.json there); "
              "name the column with --column, --assignment names the assignment's folder", file=sys.stderr)
        args.column, folder = folder, None
    if args.homework:
        print(f"{command}: --homework is now --assignment DIR; read as --assignment {args.homework}", file=sys.stderr)
        folder = folder or args.homework
    return folder
