"""The public checks' verdicts on submissions, as a student's kernel would see them: ``python tests/public_verdicts.py
SUBMISSION...`` prints {submission: {part: [[title, status, message]]}} as JSON.

Each submission's notebook cells run in this process, in the grader's order and with its stand-ins (the sandboxed
child's own runner, without the sandbox: these are the tests' own files), in quick mode; then the public cases of
every part run on the kernel's variables through ``casekit.kernel``, as ``hw2.check`` runs them."""

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.update(HW2_QUICK="1", HW2_DEVICE="cpu", MPLBACKEND="Agg", TQDM_DISABLE="1")

from grading.assignment import load as load_assignment  # noqa: E402
from grading import settings  # noqa: E402
from grading.intake import notebook  # noqa: E402
from casekit import kernel  # noqa: E402
from grading.sandbox.child import runner as child  # noqa: E402
from grading.sandbox.child.notebook import defined_classes  # noqa: E402


def verdicts(folder, assignment, data):
    """{part: [[title, status, message]]} of one submission folder."""
    work = Path(tempfile.mkdtemp(prefix="public-"))
    pristine, workdir = work / "in", work / "run"
    shutil.copytree(folder, pristine)
    workdir.mkdir()
    for source in assignment.provided():
        shutil.copytree(source, pristine / source.name, ignore=shutil.ignore_patterns("__pycache__"))
    fmt, _, _ = notebook.decide(pristine, [], assignment)
    runner = child.Runner()
    config = {"workdir": str(workdir), "pristine": str(pristine), "data": str(data), "format": fmt,
              "assignment": assignment.sandbox(), "limits": settings.Limits().child()}
    answer = runner.load({"config": config, "limit": 60})
    nb, _ = notebook.load(pristine / assignment.files["notebook"])
    skip = {i for i, text in notebook.code_cells(nb) if defined_classes(text, assignment.classes + assignment.functions)} \
        if fmt == notebook.ASSIGNMENT else set()
    last = assignment.cell_parts()[-1].follows
    for index, names in notebook.plan(nb, assignment.needed(), last, skip | set(answer["ran"])):
        runner.cell({"cell": index, "names": names, "stand_ins": [], "limit": 60})
    found = {part.name: [list(v) for v in kernel.results(assignment.folder, part.name, runner.namespace, data)]
             for part in assignment.automatic()}
    os.chdir("/")
    sys.path.remove(str(workdir))
    shutil.rmtree(work, ignore_errors=True)
    return found


def main(folders):
    assignment = load_assignment()
    data = assignment.prepare_data()
    print(json.dumps({Path(folder).name: verdicts(folder, assignment, data) for folder in folders}))


if __name__ == "__main__":
    main(sys.argv[1:])
