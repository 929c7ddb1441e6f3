import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# A test that reads one of these fixtures grades a batch in the sandbox or reads a notebook's execution: it is marked
# slow here, once for all of them; the tests that grade or execute on their own carry @pytest.mark.slow
SLOW_FIXTURES = {"hw2_batch", "graded", "judged", "hostile", "run_by_readme", "quick_runs"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _seeded():
    import hw2_helpers

    hw2_helpers.seed_everything(0)

os.environ.setdefault("MPLBACKEND", "Agg")
NOTEBOOK = REPO / "hw2.ipynb"


def source(cell):
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def zip_bytes(files):
    """A zip archive's bytes holding ``files`` ({name: text or bytes}), as a student's zip or Canvas's download."""
    import io
    import zipfile

    handle = io.BytesIO()
    with zipfile.ZipFile(handle, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return handle.getvalue()


def run_notebook(workdir, env, rerun_from=None, stop_on_error=True, stop_before=None):
    """Execute a copy of hw2.ipynb in ``workdir`` (the kernel's working directory) with ``env`` added.

    Returns (notebook after the run, notebook as it was after the first pass, error or None).
    With ``rerun_from`` (a substring of a cell's source), the cells from that one on run a second
    time in the same kernel; with ``stop_before`` (another), no cell from that one on runs (in either pass).
    """
    import copy

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:  # a fresh start, as Restart & Run All: nothing of the committed run is left
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    path = Path(workdir) / "hw2.ipynb"
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        error = None
        end = next(i for i, c in enumerate(nb.cells) if stop_before in source(c)) if stop_before else len(nb.cells)
        with client.setup_kernel():
            try:
                for index, cell in enumerate(nb.cells[:end]):
                    client.execute_cell(cell, index)
                first_pass = copy.deepcopy(nb)
                if rerun_from is not None:
                    start = next(i for i, c in enumerate(nb.cells) if rerun_from in source(c))
                    for index in range(start, end):
                        client.execute_cell(nb.cells[index], index)
            except CellExecutionError as exc:
                if stop_on_error:
                    raise
                error, first_pass = exc, copy.deepcopy(nb)
    nbformat.write(nb, path)
    return nb, first_pass, error


def mnist_batch(n, train=False):
    """The first ``n`` MNIST images (validation set by default) as (n, 1, 28, 28) floats in [0, 1]."""
    import torchvision

    import hw2_helpers

    dataset = torchvision.datasets.MNIST(hw2_helpers.verify_mnist(), train=train)
    return dataset.data[:n].unsqueeze(1).float() / 255


@pytest.fixture
def fake_grading(monkeypatch):
    """grade.grade with pipeline.grade_one replaced (no worker, no sandbox: each record is made up, its code never
    runs); returns the names graded, in order."""
    from fakes import record
    from grading import grade
    from grading.batch import pipeline
    from grading.intake import collect

    ran = []

    def grade_one(index, name, entry, scratch, options, assignment):
        ran.append(name)
        return {**record(name), **collect.meta(entry)}

    monkeypatch.setattr(pipeline, "grade_one", grade_one)
    monkeypatch.setattr(grade.isolation, "problem", lambda: None)
    return ran


@pytest.fixture(scope="session")
def student_version(tmp_path_factory):
    """The generated student version and the solution filled back into it, built once per session
    (hw2_submissions.student_version says what it holds): tests read it and copy before they change anything."""
    import hw2_submissions

    return hw2_submissions.student_version(tmp_path_factory.mktemp("student_version"))


@pytest.fixture(scope="session")
def hw2_batch(student_version, tmp_path_factory):
    """HW2's submissions built from the student version, graded once in the sandbox for every test that reads the
    results (hw2_submissions.grade_batch)."""
    import hw2_submissions

    return hw2_submissions.grade_batch(student_version, tmp_path_factory.mktemp("hw2_batch"))
