"""The student's side of the kit, from a student's seat: the generated student version, filled part by part.

The public checks (``hw2.check``) run in-process on the notebook variables a scripted student's cells define (the
graded statements of the solved cells, put back one part at a time with ``make.fill_back``), so their flips
cost seconds; the notebook runs end to end once, through the README's own quick-mode command, and the zip its last
cell writes is graded by ``grading.grade.grade``.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn as nn
import torchvision.transforms as transforms

import hw2_helpers as hw2
from grading import grade as grading
from grading.student import aids
from grading.student import make as ms
from grading.assignment import load as load_assignment
from grading.settings import Limits
from hw2_helpers import checks, submission

PASSED, FAILED, UNFINISHED = "passed", "FAILED", "not finished"
from hw2_helpers.models_import import load_statement_by_statement, top_level_statements

HW = load_assignment()

REPO = Path(__file__).resolve().parents[2]
AUTO = [p.name for p in HW.automatic()]
FULL = {p.name: p.points for p in HW.automatic()}
CLASSES = ["LeNet_5", "AutoEncoder", "Encoder", "Decoder", "VariationalAutoEncoder"]
# one mistake per kind the brief names: (notebook changes {old: new}, module changes, the part whose check reports it)
MISTAKES = {
    "no_resize": ({"    transforms.Resize((32, 32)),\n": ""}, {}, "transform"),
    "no_first_upsampling": ({}, {"self.upsample_1 = nn.UpsamplingNearest2d(scale_factor=(2, 2))": "self.upsample_1 = nn.Identity()"},
                            "decoder"),
    "ae_latent_4": ({"AutoEncoder(Encoder(), Decoder())": "AutoEncoder(Encoder(4), Decoder(4))"}, {}, "ae_built"),
    "shuffle_off": ({"mnist_training_set, batch_size=batch_size, shuffle=True": "mnist_training_set, batch_size=batch_size, shuffle=False"},
                    {}, "dataloaders"),
    "c1_kernel_3": ({}, {"nn.Conv2d(1, 6, kernel_size=5, stride=1)": "nn.Conv2d(1, 6, kernel_size=3, stride=1)"}, "lenet_layers"),
    "encoder_fc1_16": ({}, {"self.fc_1 = nn.Linear(64 * 5 * 5, 32)": "self.fc_1 = nn.Linear(64 * 5 * 5, 16)",
                            "self.fc_2 = nn.Linear(32, latent_dimensionality)": "self.fc_2 = nn.Linear(16, latent_dimensionality)"},
                       "encoder"),
    "model_is_the_class": ({"model = LeNet_5().to(": "model = LeNet_5\n_ = LeNet_5().to("}, {}, "lenet_instantiated"),
    "vae_latent_3": ({"latent_dimensionality=2\n).to(": "latent_dimensionality=3\n).to("}, {}, "vae_built"),
}


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


@pytest.fixture(scope="module")
def student(student_version):
    return student_version  # conftest's, built once per session: out, nb, module, sources, filled


def _replace(text, changes):
    for old, new in changes.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


# ------------------------------------------------------------------------------------------------
# A scripted student's state: the module with some classes filled, the notebook's graded cells run
# ------------------------------------------------------------------------------------------------
def _module_with(student, classes, changes=None):
    """The student's hw2_models.py with the statements of ``classes`` taken from the solved module, then ``changes``."""
    def named(text):
        return [(re.search(r"(?m)^class (\w+)", statement) or [None, None])[1] for _, statement in
                top_level_statements(text)], [statement for _, statement in top_level_statements(text)]

    names, texts = named(student["module"])
    solved = dict(zip(*named(student["filled"])))
    texts = [solved[name] if name in classes else text for name, text in zip(names, texts)]
    return _replace("".join(texts), changes or {})


def _load(text):
    """hw2_models from ``text`` as the notebook's import hook loads it (stand-ins for what does not compile)."""
    module = types.ModuleType("hw2_models")
    load_statement_by_statement(module, text, "<student hw2_models.py>")  # a name no file has: linecache reads none
    return module


def _graded_cell(student, part):
    """The solved source (fill_back's) of the cell where the student version blanks ``part``'s variables."""
    kept = [c for c in student["nb"].cells if ms.STUDENT_NOTE_TAG not in _tags(c)]
    index = next(i for i, c in enumerate(kept) if f"{part.fills[0]} = {ms.YOUR_CODE}" in c.source)
    return student["sources"][index]


def _run_graded(namespace, source, names):
    """Run the top-level statements of ``source`` that assign ``names``, as their cell would; a failure leaves them
    undefined, as a failed cell does."""
    tree = ast.parse(source)
    nodes = [n for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, "id", None) in names for t in n.targets)]
    try:
        exec(compile(ast.Module(body=nodes, type_ignores=[]), "<cell>", "exec"), namespace)
    except Exception:
        pass


def _real_set(train, n):
    """The first ``n`` images of a real MNIST set at 32x32, as the notebook's datasets hold them."""
    import torchvision

    data = torchvision.datasets.MNIST(str(hw2.DATA_ROOT), train=train, download=False)
    images = torch.nn.functional.interpolate(data.data[:n].unsqueeze(1).float() / 255, size=(32, 32), mode="bilinear",
                                             antialias=True)  # as Resize(32) makes them
    return torch.utils.data.TensorDataset(images, data.targets[:n])


def _state(student, filled_parts, notebook_changes=None, module_changes=None):
    """The notebook's variables after a student filled ``filled_parts`` (and made the given changes), cells run."""
    module = _load(_module_with(student, {p.follows for p in HW.module_parts() if p.name in filled_parts},
                                module_changes))
    generator = torch.Generator().manual_seed(0)
    namespace = {"torch": torch, "nn": nn, "transforms": transforms, "hw2": hw2, "device": torch.device("cpu"),
                 "SEED": 0, "loader_generator": generator, "batch_size": 64,
                 "mnist_training_set": _real_set(True, 256), "mnist_validation_set": _real_set(False, 64)}
    namespace.update({name: getattr(module, name) for name in CLASSES if hasattr(module, name)})
    for part in HW.cell_parts():
        if part.name in filled_parts:
            _run_graded(namespace, _replace(_graded_cell(student, part), {
                old: new for old, new in (notebook_changes or {}).items() if old in _graded_cell(student, part)}),
                set(part.fills))
    return namespace


def _statuses(namespace):
    return {part: [status for status, _, _ in checks.results(part, namespace)] for part in AUTO}


@pytest.mark.slow
def test_each_check_flips_from_not_finished_to_passed_exactly_when_its_part_is_filled(student):
    for k in range(len(AUTO) + 1):
        filled = AUTO[:k]
        found = _statuses(_state(student, filled))
        for part in AUTO:
            if part in filled:
                assert set(found[part]) == {PASSED}, (k, part, checks.results(part, _state(student, filled)))
            else:
                assert set(found[part]) == {UNFINISHED}, (k, part, found[part])


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
@pytest.mark.slow
def test_a_mistake_is_reported_by_its_own_check_only(student, mistake):
    notebook_changes, module_changes, part = MISTAKES[mistake]
    namespace = _state(student, AUTO, notebook_changes, module_changes)
    found = _statuses(namespace)
    assert {p for p, statuses in found.items() if FAILED in statuses or UNFINISHED in statuses} == {part}, found
    text = "\n".join(message for _, _, message in checks.results(part, namespace))
    expected = {"no_resize": "transform(image) has shape (1, 28, 28), expected (1, 32, 32): is Resize(32) missing?",
                "no_first_upsampling": "Decoder.upsample_1 should be nn.Upsample, is Identity: is the first upsampling "
                                       "(upsample_1) missing?",
                "ae_latent_4": "ae_model's encoder and decoder have latent widths (4, 4), expected (2, 2)",
                "shuffle_off": "training_dataloader does not shuffle (its sampler is SequentialSampler): set shuffle=True",
                "c1_kernel_3": "LeNet_5() holds 61,610 parameters, expected 61,706",
                "encoder_fc1_16": "Encoder.fc_1: (in, out) is (1600, 16), expected (1600, 32)",
                "model_is_the_class": "model is a type, not a LeNet_5 instance",
                "vae_latent_3": "`vae_model` is not defined yet"}[mistake]  # the provided VAE class refuses the widths
    assert expected in text, text


def test_check_prints_the_cases_and_an_unfinished_part_without_a_traceback(student, capsys):
    namespace = _state(student, [])
    for part in AUTO:
        hw2.check(part, namespace)
    printed = capsys.readouterr().out
    assert printed.count(": not finished (the grader runs these and hidden ones)") == len(AUTO)
    assert "Traceback" not in printed
    assert re.search(r"Encoder is not finished: hw2_models.py line \d+, `self.conv_1 = ### YOUR CODE HERE ###`", printed)
    assert "LeNet_5 still has a blank `_`" in printed
    hw2.check("decoder", _state(student, AUTO, module_changes=MISTAKES["no_first_upsampling"][1]))
    printed = capsys.readouterr().out
    assert printed.startswith("Public checks of decoder (2 points): 2 of 2 failed")
    assert "Decoder() maps (8, 2) to (8, 1, 18, 18), expected (8, 1, 28, 28): is the first upsampling" in printed
    odd = dict(_state(student, ["lenet_layers", "encoder", "decoder"]), transform=42, training_dataloader="loader",
               validation_dataloader=[], model=None, ae_model=3, vae_model=object())
    for part in [p.name for p in HW.cell_parts()]:  # odd values: each check says what it found, none raises
        assert FAILED in [status for status, _, _ in checks.results(part, odd)], part
    assert "training_dataloader is a str, not a torch.utils.data.DataLoader" in str(checks.results("dataloaders", odd))

    class Stream(torch.utils.data.IterableDataset):  # a loader without a length: a case the checks do not foresee
        def __iter__(self):
            return iter([])

    odd.update(training_dataloader=torch.utils.data.DataLoader(Stream(), batch_size=64),
               validation_dataloader=torch.utils.data.DataLoader(Stream(), batch_size=64))
    status, _, message = checks.results("dataloaders", odd)[-1]
    assert (status, message) == (FAILED, "could not check it: TypeError: object of type 'Stream' has no len()")
    with pytest.raises(ValueError, match="automatic parts are transform, dataloaders"):
        checks.results("hw1_comparison", {})


@pytest.mark.slow
def test_the_checks_keep_the_notebooks_random_state(student):
    namespace = _state(student, AUTO)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    for part in AUTO:
        checks.results(part, namespace)
    assert torch.equal(torch.random.get_rng_state(), before)  # a notebook with check cells trains as one without


# ------------------------------------------------------------------------------------------------
# The generated student version: its check cells, its last cell, its README
# ------------------------------------------------------------------------------------------------
def test_one_check_cell_after_each_graded_cell_and_the_hand_in_cell_last(student):
    cells = student["nb"].cells
    check_cells = [(i, c) for i, c in enumerate(cells) if aids.CHECK_TAG in _tags(c)]
    assert [c.source for _, c in check_cells] == [f'hw2.check("{part}")' for part in AUTO]
    shipped = student["out"] / "hw2_helpers" / "checking"
    assert sorted(p.name for p in shipped.iterdir()) == ["assignment.json", "public_cases.py"]
    assert sorted(p.name for p in (student["out"] / "casekit").iterdir()) == ["__init__.py", "data.py", "handin.py", "kernel.py",
                                                                          "source.py", "student.py"]
    for (i, cell), part in zip(check_cells, HW.automatic()):
        above = cells[i - 1].source
        graded = (re.search(rf"(?m)^from hw2_models import .*\b{part.follows}\b", above) if part.follows in HW.classes
                  else all(f"{name} = {ms.YOUR_CODE}" in above for name in part.fills))
        assert graded, (part.name, above)
        assert ms.STUDENT_NOTE_TAG in _tags(cell)  # generated: fill_back and the grader's tests leave it out
    assert cells[-1].source.endswith("hw2.make_submission()") and aids.SUBMISSION_TAG in _tags(cells[-1])
    assert "upload it to Canvas: the cell below does the zipping" in cells[-2].source
    solved = nbformat.read(REPO / "hw2.ipynb", as_version=4)
    assert not any("hw2.check(" in c.source or "make_submission" in c.source for c in solved.cells)
    assert "hw2_helpers.py" not in ms.student_note() and "`hw2_helpers/`" in ms.student_note()


def test_nothing_shipped_for_the_student_side_gives_the_solution_away(student):
    out = student["out"]
    text = "\n".join((out / name).read_text() for name in ["README.md", "hw2_helpers/checks.py", "hw2_helpers/submission.py",
                                                            "hw2_helpers/checking/assignment.json",
                                                            "hw2_helpers/checking/public_cases.py"])
    for giveaway in ["Conv2d(1, 6", "Conv2d(6, 16", "Conv2d(16, 120", "Linear(120, 84)", "Linear(84, 10)",
                     "kernel_size=5", "Linear(64 * 5 * 5", "UpsamplingNearest2d(", "Normalize((0.1307,)",
                     "LeNet_5().to(", "AutoEncoder(Encoder(), Decoder())", "Encoder(latent_dimensionality=4)", "**Answer.**"]:
        assert giveaway not in text, giveaway


def _readme_blocks(out):
    return re.findall(r"```bash\n(.*?)\n```", (out / "README.md").read_text(), re.S)


def test_readme_is_one_screen_and_its_install_command_names_files_that_exist(student):
    out = student["out"]
    readme = (out / "README.md").read_text()
    assert len(readme.splitlines()) <= 45
    install, quick = _readme_blocks(out)
    for name in re.findall(r"-r (\S+)", install):
        assert (out / name).is_file(), name
    assert "HW2_QUICK=1" in quick and "hw2.ipynb" in quick
    for package in ["jupyter", "nbconvert"]:  # what the commands run is what the install installs
        assert re.search(rf"(?m)^{package}==", (out / "requirements.txt").read_text()), package
    for part in HW.parts:  # the table of parts, written once, is the README's
        assert re.search(rf"\| `{part.name}` \| {part.points:g} \|", readme), part.name
    assert "hw2_submission.zip" in readme and "Canvas" in readme and "Ctrl-S / Cmd-S" in readme


# ------------------------------------------------------------------------------------------------
# The hand-in: hw2.make_submission
# ------------------------------------------------------------------------------------------------
def _code_sources(folder):
    return [c.source for c in nbformat.read(folder / "hw2.ipynb", as_version=4).cells if c.cell_type == "code"]


def test_make_submission_refuses_an_unsaved_notebook_and_zips_a_saved_one(student, tmp_path, capsys):
    folder = tmp_path / "hw2"
    shutil.copytree(student["out"], folder)
    saved = _code_sources(folder)
    transform_cell = next(s for s in saved if s.startswith(f"transform = {ms.YOUR_CODE}"))
    edited = transform_cell.replace(ms.YOUR_CODE, "transforms.Compose([transforms.ToTensor()])")
    assert submission.make_submission(folder, history=saved[:5] + [edited]) is None  # run, not saved
    printed = capsys.readouterr().out
    assert "Save the notebook (Ctrl-S / Cmd-S) and run this cell again" in printed and "transform = transforms" in printed
    assert not (folder / submission.NAME).exists()
    # an edit run and then saved: the earlier run is superseded by the later one, which is on disk
    nb = nbformat.read(folder / "hw2.ipynb", as_version=4)
    next(c for c in nb.cells if c.source == transform_cell).source = edited
    nbformat.write(nb, folder / "hw2.ipynb")
    assert submission.make_submission(folder, history=saved[:5] + [transform_cell, edited]) is None  # prints only
    printed = capsys.readouterr().out
    path = folder / submission.NAME
    assert f"Wrote {path} (" in printed
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["hw2.ipynb", "hw2_models.py"]
        assert archive.read("hw2.ipynb") == (folder / "hw2.ipynb").read_bytes()
    assert "hw2_models.py does NOT compile" in printed
    left = dict(submission.unfinished(folder))
    assert sorted(left) == sorted(p.name for p in HW.parts if p.name != "transform"), left
    assert "LeNet_5 (hw2_models.py line" in left["lenet_layers"] and "`_` left" in left["lenet_layers"]
    assert f"  dataloaders: `training_dataloader = {ms.YOUR_CODE}` is still blank" in printed


@pytest.mark.slow
def test_the_hand_in_cell_reads_the_kernels_own_history(student, tmp_path):
    """In a real kernel: a cell run but not saved stops the hand-in with the message; nothing is written."""
    from nbclient import NotebookClient

    folder = tmp_path / "hw2"
    shutil.copytree(student["out"], folder)
    cells = [nbformat.v4.new_code_cell(s) for s in
             ["import hw2_helpers as hw2", "transform = 'filled, not saved'", student["nb"].cells[-1].source]]
    nb = nbformat.v4.new_notebook(cells=cells)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PYTHONPATH", raising=False)
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "Save the notebook (Ctrl-S / Cmd-S) and run this cell again" in printed, printed
    assert "transform = 'filled, not saved'" in printed and not (folder / submission.NAME).exists()


# ------------------------------------------------------------------------------------------------
# End to end, once: the filled student version run by the README's quick-mode command, its zip graded
# ------------------------------------------------------------------------------------------------
def _fill_folder(student, folder, module_changes=None):
    """A fresh copy of the student version with every blank filled and both questions answered."""
    shutil.copytree(student["out"], folder)
    nb = nbformat.read(folder / "hw2.ipynb", as_version=4)
    sources = iter(student["sources"])
    for cell in nb.cells:
        if ms.STUDENT_NOTE_TAG not in _tags(cell):
            cell.source = next(sources)
            if "answer" in _tags(cell):
                cell.source = "My own answer."
    nbformat.write(nb, folder / "hw2.ipynb")
    (folder / "hw2_models.py").write_text(_replace(student["filled"], module_changes or {}))
    return folder


@pytest.fixture(scope="module")
def run_by_readme(student, tmp_path_factory):
    folder = _fill_folder(student, tmp_path_factory.mktemp("fresh") / "hw2")
    _, quick = _readme_blocks(folder)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the student's folder alone
    env.update(PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}", MPLBACKEND="Agg")
    result = subprocess.run(["bash", "-c", quick], cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, nbformat.read(folder / "hw2_quick.ipynb", as_version=4)


def _printed(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def test_the_readme_quick_command_runs_every_check_passes_and_the_last_cell_zips(run_by_readme):
    folder, nb = run_by_readme
    check_cells = [c for c in nb.cells if aids.CHECK_TAG in _tags(c)]
    assert len(check_cells) == len(AUTO)
    for cell in check_cells:
        assert ": all passed" in _printed(cell) and "FAILED" not in _printed(cell), _printed(cell)
    last = _printed(nb.cells[-1])
    assert "Wrote" in last and "Every part is filled in." in last and "hw2_models.py compiles" in last, last
    with zipfile.ZipFile(folder / submission.NAME) as archive:
        assert archive.namelist() == ["hw2.ipynb", "hw2_models.py"]


def test_the_zip_earns_every_point_and_edited_public_checks_change_nothing(student, run_by_readme, tmp_path):
    folder, _ = run_by_readme
    batch = tmp_path / "submissions"
    batch.mkdir()
    shutil.copy2(folder / submission.NAME, batch / "as_handed_in.zip")
    # edited helpers travel with a submission: they may neither cost (an import that fails) nor earn (checks that
    # always pass) anything, since the grader runs the provided ones
    broken = _fill_folder(student, batch / "helpers_broken")
    (broken / "hw2_helpers" / "__init__.py").write_text("raise SystemExit('edited helpers must not run')\n")
    lying = _fill_folder(student, batch / "checks_lie", MISTAKES["no_first_upsampling"][1])
    (lying / "hw2_helpers" / "checking" / "public_cases.py").write_text("from casekit import case\n")
    rows, _ = grading.grade(batch, tmp_path / "results", jobs=2, limits=Limits(timeout=120, cell_timeout=30), quiet=True)
    rows = {row["submission"]: row for row in rows}
    points = {name: {p: float(row[p]) for p in AUTO} for name, row in rows.items()}
    assert points["as_handed_in"] == FULL and rows["as_handed_in"]["automatic"] == "12", rows["as_handed_in"]["status"]
    assert points["helpers_broken"] == FULL, rows["helpers_broken"]["status"]
    assert points["checks_lie"] == dict(FULL, decoder=0.5), rows["checks_lie"]["status"]


# ------------------------------------------------------------------------------------------------
# Part 1 of the student version, run in quick mode with each transform that works: no provided cell stops it
# ------------------------------------------------------------------------------------------------
RECIPE = ("transform = transforms.Compose([\n    transforms.Resize((32, 32)),\n    transforms.ToTensor(),\n"
          "    transforms.Normalize((0.1307,), (0.3081,)),\n])")
WORKING_TRANSFORMS = {  # each passes the public transform check but "pad": Pad(2) is 32x32 too, but not the recipe
    "v2": ("import torchvision.transforms.v2 as v2\ntransform = v2.Compose([v2.ToImage(), v2.Resize((32, 32)), "
           "v2.ToDtype(torch.float32, scale=True), v2.Normalize((0.1307,), (0.3081,))])"),
    "totensor_first": ("transform = transforms.Compose([transforms.ToTensor(), transforms.Resize((32, 32)), "
                       "transforms.Normalize((0.1307,), (0.3081,))])"),
    "pad": ("transform = transforms.Compose([transforms.Pad(2), transforms.ToTensor(), "
            "transforms.Normalize((0.1307,), (0.3081,))])"),
}


@pytest.mark.parametrize("name", sorted(WORKING_TRANSFORMS))
@pytest.mark.slow
def test_part_1_runs_in_quick_mode_with_each_transform_that_works(student, tmp_path, monkeypatch, name):
    from nbclient import NotebookClient

    folder = _fill_folder(student, tmp_path / "hw2")
    nb = nbformat.read(folder / "hw2.ipynb", as_version=4)
    part_2 = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("### Part 2"))
    nb.cells = nb.cells[:part_2]
    recipe = [c for c in nb.cells if RECIPE in c.source]
    assert len(recipe) == 1
    recipe[0].source = recipe[0].source.replace(RECIPE, WORKING_TRANSFORMS[name])
    monkeypatch.setenv("HW2_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the student's folder alone
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert errors == []
    checks_printed = {_printed(c).split(" (")[0]: _printed(c) for c in nb.cells if aids.CHECK_TAG in _tags(c)}
    assert set(checks_printed) == {"Public checks of transform", "Public checks of dataloaders",
                                   "Public checks of lenet_layers", "Public checks of lenet_instantiated"}
    for title, printed in checks_printed.items():
        assert ("all passed" in printed) != (name == "pad" and title.endswith("transform")), printed
    assert any("Validation of the final model" in _printed(c) for c in nb.cells if c.cell_type == "code"), "Part 1 never trained LeNet-5"
