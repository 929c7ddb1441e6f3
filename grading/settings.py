"""Every limit of the grader, written once (``Limits``): what a submission may hand in, and what its sandbox may use.

A run's limits are one ``Limits`` value: the defaults below, or a course's own from the command line
(``python -m grading.grade --limits FILE``, ``--timeout``, ``--cell-timeout``). ``grading.grade`` puts it in force
(``use``) and hands it to each worker, which puts it in force in its own process; the rooms (submissions, notebook,
isolation, report) read the one in force (``limits()``), the sandboxed child gets its share in its first request
(``Limits.child``), and each record keeps the whole value in its ``conditions``."""

import dataclasses
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GRADING = REPO / "grading"


@dataclasses.dataclass(frozen=True)
class Limits:
    # How long a submission may take (records keep what a run used).
    timeout: float = 120.0  # seconds for one submission, its questions and the grader's own work on them
    cell_timeout: float = 60.0  # seconds for one notebook cell or one question

    # What a submission may hand in and print (the sandboxed child gets these two in its first request).
    file_size: int = 20 * 2**20  # bytes of one submitted file (the notebook, the module)
    output_kept: int = 64 * 2**10  # characters of a submission's printing kept per cell (or piece of code), in the sandbox

    # What the grader's own process reads of a submission (it parses them outside every sandbox limit).
    notebook_depth: int = 64  # nesting of the notebook's JSON (nbformat's own needs 5); checked by a linear scan
    notebook_cells: int = 5_000  # cells of one notebook (the assignment has about 80)
    zip_entries: int = 10_000  # entries of one zip, counted from its central directory before anything is built from it
    zip_declared: int = 2 * 2**30  # total uncompressed size the central directory may declare
    zip_directory: int = 16 * 2**20  # bytes of the central directory (10,000 honest entries take about 1 MB)
    walk_entries: int = 10_000  # files and folders of one submitted folder looked at
    name_length: int = 120  # characters of a submission's name shown and used for its files (the rest gets a hash)
    shown_size: int = 512 * 2**10  # bytes of one saved output (an image) a written answer's page shows beside the
    # answer: a figure saved at the notebook's resolution takes about 40 KB, and its base64 (4/3 of it) must leave room
    # in a record
    image_side: int = 8_192  # pixels of a shown image's width and height (its PNG header read first): a 65535 x 65535
    # PNG compresses to 509 KiB and would take 16 GiB to display
    answer_length: int = 20_000  # characters of one written answer kept (the rest cut, saying how much): an answer is
    # a few kB, and 100 answers at the limit make a page of 2 to 8 MB; the renderer is linear, so this bounds its work
    record_size: int = 2**20  # bytes of one submission's record (records/NAME.json), whatever the submission holds

    # What the sandbox may use (grading.sandbox.isolation).
    memory: int = 6 * 2**30  # bytes: the memory cgroup (RSS, tmpfs, /dev/shm and memfds) and the address space
    processes: int = 64  # processes and threads: the pids cgroup, else RLIMIT_NPROC of the fresh uid
    disk: int = 64 * 2**20  # the submission's folder and /tmp (tmpfs sizes), and any one file it writes
    shm: int = 16 * 2**20  # /dev/shm (a sized tmpfs; the rest of /dev is read-only)
    log_kept: int = 64 * 2**10  # bytes of the sandbox's printing kept at each end (head and tail); the total is counted

    # What the grader's own work on one submission may use: each submission is graded by a process of its own
    # (grading.batch.workers: extraction, the session with its sandbox, the checks), so no submission's parent-side
    # computation can exhaust the grader or stop the batch.
    worker_memory: int = 6 * 2**30  # bytes of address space (RLIMIT_AS); importing torch alone reserves about 3.2 GiB
    worker_margin: float = 60.0  # seconds past the submission's timeout (copying, the last answers) before it is killed

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            kinds = (int, float) if field.type in (float, "float") else (int,)
            if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
                raise ValueError(f"limit {field.name}: {value!r} is not a positive "
                                 f"{'number' if kinds == (int, float) else 'whole number'}")

    def child(self):
        """The sandboxed child's share, sent in its first request (the child ships alone, without this module)."""
        return {"file": self.file_size, "output": self.output_kept}

    def read(self, path):
        """These limits with those of the JSON object in ``path`` ({field: value}); ValueError naming a field that
        is not one (and the known ones) or a value of the wrong type."""
        try:
            given = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"--limits {path}: {getattr(error, 'strerror', None) or error}; expected a JSON object "
                             'of limit -> value, e.g. {"timeout": 300}') from None
        if not isinstance(given, dict):
            raise ValueError(f'--limits {path}: expected a JSON object of limit -> value, e.g. {{"timeout": 300}}')
        known = [field.name for field in dataclasses.fields(self)]
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"--limits {path}: no limit named {', '.join(unknown)}; the limits: {', '.join(known)}")
        try:
            return dataclasses.replace(self, **given)
        except ValueError as error:
            raise ValueError(f"--limits {path}: {error}") from None


def described():
    """Every limit with its default, for --help."""
    return "limits (--limits FILE, a JSON object of limit -> value; defaults): " + ", ".join(
        f"{field.name}={field.default}" for field in dataclasses.fields(Limits))


_in_force = Limits()


def limits():
    """The limits in force in this process."""
    return _in_force


def use(chosen):
    """Put ``chosen`` (a Limits) in force in this process: a run's, or a worker's from its task."""
    global _in_force
    if not isinstance(chosen, Limits):
        raise TypeError(f"expected a Limits, got {type(chosen).__name__}")
    _in_force = chosen
