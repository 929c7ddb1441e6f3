"""Every limit of the grader, written once: what a submission may hand in, and what its sandbox may use.

The rooms (submissions, notebook, isolation, report) and the sandboxed child read them from here."""

from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
GRADING = REPO / "grading"

# How long a submission may take: the defaults of python -m grading.grade (records keep what a run used).
TIMEOUT = 120.0  # seconds for one submission, its questions and the grader's own work on them
CELL_LIMIT = 60.0  # seconds for one notebook cell or one question

# What a submission may hand in and print (the sandboxed child gets these two in its first request).
FILE_LIMIT = 20 * 2**20  # bytes of one submitted file (the notebook, the module)
OUTPUT_LIMIT = 64 * 2**10  # characters of a submission's printing kept per cell (or piece of code), in the sandbox

# What the grader's own process reads of a submission (it parses them outside every sandbox limit).
NOTEBOOK_DEPTH = 64  # nesting of the notebook's JSON (nbformat's own needs 5); checked by a linear scan
NOTEBOOK_CELLS = 5_000  # cells of one notebook (the assignment has about 80)
ZIP_ENTRIES = 10_000  # entries of one zip, counted from its central directory before anything is built from it
ZIP_DECLARED = 2 * 2**30  # total uncompressed size the central directory may declare
ZIP_DIRECTORY = 16 * 2**20  # bytes of the central directory (10,000 honest entries take about 1 MB)
WALK_ENTRIES = 10_000  # files and folders of one submitted folder looked at
NAME_LIMIT = 120  # characters of a submission's name shown and used for its files (the rest gets a hash)
SHOWN_LIMIT = 512 * 2**10  # bytes of one saved output (an image) a written answer's page shows beside the answer: a
# figure saved at the notebook's resolution takes about 40 KB, and its base64 (4/3 of it) must leave room in a record
IMAGE_SIDE = 8_192  # pixels of a shown image's width and height (its PNG header read first): a 65535 x 65535 PNG
# compresses to 509 KiB and would take 16 GiB to display
ANSWER_LIMIT = 20_000  # characters of one written answer kept (the rest cut, saying how much): a homework answer is a
# few kB, and 100 answers at the limit make a page of 2 to 8 MB; the renderer is linear, so this bounds its work too
RECORD_LIMIT = 2**20  # bytes of one submission's record (records/NAME.json), whatever the submission holds

# What the sandbox may use (grading.sandbox.isolation).
MEMORY_LIMIT = 6 * 2**30  # bytes: the memory cgroup (RSS, tmpfs, /dev/shm and memfds) and the address space
PROCESS_LIMIT = 64  # processes and threads: the pids cgroup, else RLIMIT_NPROC of the fresh uid
DISK_LIMIT = 64 * 2**20  # the submission's folder and /tmp (tmpfs sizes), and any one file it writes
SHM_LIMIT = 16 * 2**20  # /dev/shm (a sized tmpfs; the rest of /dev is read-only)
LOG_KEEP = 64 * 2**10  # bytes of the sandbox's printing kept at each end (head and tail); the total is counted

# What the grader's own work on one submission may use: each submission is graded by a process of its own
# (grading.batch.workers: extraction, the session with its sandbox, the checks), so no submission's parent-side
# computation can exhaust the grader or stop the batch.
WORKER_MEMORY = 6 * 2**30  # bytes of address space (RLIMIT_AS); importing torch alone reserves about 3.2 GiB
WORKER_MARGIN = 60.0  # seconds past the submission's --timeout (copying, the last answers) before it is killed
