"""HW2's submissions built from the GENERATED student version, and the one sandboxed batch that grades them.

Graded once per session (conftest's ``hw2_batch``) and read by tests/assignments/test_hw2_cases.py (the exact points of
every part) and tests/assignments/test_mistakes.py (a mistake costs its own parts, and the public checks agree): one
submission per change, so a mistake both modules judge is graded once."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile

import nbformat

from grading.settings import Limits
from grading import grade as grading
from grading.student import annotate
from grading.student import make as ms
from conftest import REPO

AUTO = ["transform", "dataloaders", "lenet_layers", "lenet_instantiated", "encoder", "decoder", "ae_built", "vae_built"]
FULL = {"transform": 1, "dataloaders": 1, "lenet_layers": 3, "lenet_instantiated": 1, "encoder": 2, "decoder": 2,
        "ae_built": 1, "vae_built": 1}
ZERO = dict.fromkeys(AUTO, 0)
# the one batch's limits: each mistake's own cells take seconds, so a cell past CELL_LIMIT seconds is a hang; a
# submission's time leaves room for one hang and the fresh process after it on a busy machine (at 90 s the hang's
# submission ran out of time with other work on the 2 cores)
CELL_LIMIT = 30
OPTIONS = {"jobs": 2, "limits": Limits(timeout=120, cell_timeout=CELL_LIMIT), "quiet": True}

V2 = ("transforms.v2.Compose([transforms.v2.ToImage(), transforms.v2.Resize((32, 32)), "
      "transforms.v2.ToDtype(torch.float32, scale=True), transforms.v2.Normalize((0.1307,), (0.3081,))])")
# mistake -> (notebook changes {old: new}, module changes {old: new}, the parts it must cost)
MISTAKES = {
    "no_resize": ({"    transforms.Resize((32, 32)),\n": ""}, {}, {"transform"}),
    "no_totensor": ({"    transforms.ToTensor(),\n": ""}, {}, {"transform"}),
    "no_normalize": ({"    transforms.Normalize((0.1307,), (0.3081,)),\n": ""}, {}, {"transform"}),
    "pad_instead_of_resize": ({"    transforms.Resize((32, 32)),\n": "    transforms.Pad(2),\n"}, {}, {"transform"}),
    "totensor_before_resize": ({"    transforms.Resize((32, 32)),\n    transforms.ToTensor(),\n":
                                "    transforms.ToTensor(),\n    transforms.Resize((32, 32)),\n"}, {}, set()),
    "v2_transform": ({"transform = transforms.Compose([\n    transforms.Resize((32, 32)),\n    transforms.ToTensor(),\n"
                      "    transforms.Normalize((0.1307,), (0.3081,)),\n])": f"import torchvision.transforms.v2\n"
                                                                           f"transform = {V2}"}, {}, set()),
    "no_shuffle": ({"mnist_training_set, batch_size=batch_size, shuffle=True":
                    "mnist_training_set, batch_size=batch_size, shuffle=False"}, {}, {"dataloaders"}),
    "no_flatten": ({}, {"        x = x.view(-1, 120)\n": ""}, {"lenet_layers", "lenet_instantiated"}),
    "lenet_padding": ({}, {"nn.Conv2d(1, 6, kernel_size=5, stride=1)": "nn.Conv2d(1, 6, kernel_size=5, stride=1, padding=2)"},
                      {"lenet_layers", "lenet_instantiated"}),  # the instance cannot run (C5 gives 2x2 maps)
    "c1_kernel_3": ({}, {"nn.Conv2d(1, 6, kernel_size=5, stride=1)": "nn.Conv2d(1, 6, kernel_size=3, stride=1)"},
                    {"lenet_layers"}),
    "encoder_width_fixed": ({}, {"self.fc_2 = nn.Linear(32, latent_dimensionality)": "self.fc_2 = nn.Linear(32, 2)"},
                            {"encoder"}),
    "decoder_upsampling_identity": ({}, {"self.upsample_1 = nn.UpsamplingNearest2d(scale_factor=(2, 2))":
                                         "self.upsample_1 = nn.Identity()"}, {"decoder"}),
    "decoder_upsampling_deleted": ({}, {"        self.upsample_1 = nn.UpsamplingNearest2d(scale_factor=(2, 2))\n": "",
                                        "        x = self.upsample_1(x)  # 64x5x5 -> 64x10x10\n": ""}, {"decoder"}),
    "vae_encoder_width_2": ({"Encoder(latent_dimensionality=4), Decoder": "Encoder(latent_dimensionality=2), Decoder"}, {},
                            {"vae_built"}),
    "ae_latent_4": ({"AutoEncoder(Encoder(), Decoder())": "AutoEncoder(Encoder(4), Decoder(4))"}, {}, {"ae_built"}),
    "syntax_error_in_encoder": ({}, {"self.fc_2 = nn.Linear(32, latent_dimensionality)":
                                     "self.fc_2 = nn.Linear(32, latent_dimensionality"}, {"encoder"}),
    "model_is_the_class": ({"model = LeNet_5().to(": "model = LeNet_5\n_ = LeNet_5().to("}, {}, {"lenet_instantiated"}),
}
CORRECT = "full"  # the solution filled back in: the mistakes' control, its answers written

HANG = ("\nwhile True:  # a hang that swallows the cell's alarm: only the parent's deadline for the cell stops it\n"
        "    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n")
# submissions beyond the mistakes' table -> (notebook changes {cell text: new}, module changes)
MORE = {
    "c5_wrong_input": ({}, {"nn.Conv2d(16, 120, kernel_size=5": "nn.Conv2d(6, 120, kernel_size=5"}),
    "hangs": ({"ae_model = AutoEncoder(Encoder(), Decoder()).to(device, memory_format=hw2.memory_format(device))":
               "ae_model = AutoEncoder(Encoder(), Decoder()).to(device, memory_format=hw2.memory_format(device))" + HANG},
              {}),
    "raises_at_import": ({}, {"\nclass DeviceError(RuntimeError):":
                              "\nraise RuntimeError('boom')\n\n\nclass DeviceError(RuntimeError):"}),
    "prints_forever": ({"device, device_reason = device_choice()":
                        "device, device_reason = device_choice()\nwhile True:\n    print('spam' * 1000)"}, {}),
}
TAMPER = '''
import os, pathlib
for target in [{targets}]:
    for attempt in (lambda p: p.write_text("hacked"), lambda p: os.remove(p)):
        try:
            attempt(pathlib.Path(target))
        except Exception:
            pass
try:
    if "Answer" in pathlib.Path({solved!r}).read_text():  # read the reference: it would cost this point
        model = None
except Exception:
    pass
'''
PROTECTED = [REPO / "hw2_models.py", REPO / "hw2.ipynb", REPO / "grading" / "assignments" / "hw2" / "public_cases.py",
             REPO / "grading" / "grade.py"]

# The assignment's own format: one notebook with the classes in its cells, rebuilt from the assignment's text
# (tests/assignment_notebooks.py) and filled from the solved files; graded in the same batch.
# submission -> (changes {text: new} to the filled notebook, expected points of each automatic part)
ASSIGNMENT_MUTANTS = {
    "asg_f6_64": ({"nn.Linear(120, 84)": "nn.Linear(120, 64)", "nn.Linear(84, 10)": "nn.Linear(64, 10)"},
                  dict(FULL, lenet_layers=1.5)),  # the public parameter count and the hidden F6 case
    "asg_no_resize": ({"    transforms.Resize((32, 32)),\n": ""}, dict(FULL, transform=0)),
    "asg_decoder_one_upsampling": ({"self.upsample_2 = nn.UpsamplingNearest2d(scale_factor=(2, 2))":
                                    "self.upsample_2 = nn.Identity()"}, dict(FULL, decoder=0.5)),
    "asg_encoder_fc1_16": ({"self.fc_1 = nn.Linear(64 * 5 * 5, 32)": "self.fc_1 = nn.Linear(64 * 5 * 5, 16)",
                            "nn.Linear(32, latent_dimensionality)": "nn.Linear(16, latent_dimensionality)"},
                           dict(FULL, encoder=0.5)),  # what it computes with its layers is still the Encoder's
    "asg_ae_latent_4": ({"AutoEncoder(Encoder(), Decoder())": "AutoEncoder(Encoder(4), Decoder(4))"}, dict(FULL, ae_built=0)),
    "asg_encoder_cell_broken": ({"nn.Linear(32, latent_dimensionality)": "nn.Linear(32, latent_dimensionality"},
                                dict(FULL, encoder=0)),  # the cell does not compile: LeNet-5, Decoder, AE, VAE keep theirs
}
IGNORED_MODULE = "raise SystemExit('this hw2_models.py must not run')\n"
LENET_ANSWER, VAE_ANSWER = "My own answer about LeNet-5.", "My own answer about a VAE."


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def replace_once(text, old, new, what):
    assert text.count(old) == 1, f"{what}: {old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def student_version(base):
    """The generated student version in ``base``, and the solution filled back into it: a dict of its folder ``out``,
    its notebook ``nb`` and module text ``module``, the solved notebook ``solved`` (read from ``solved_path``: the
    repository's, or a marked copy while it has no marks), fill_back's cell ``sources`` and ``filled`` module, and
    the cells ``kept`` (the student version's but its generated notes). Readers copy before they change anything."""
    solved_path = REPO / "hw2.ipynb"
    if annotate.annotate(nbformat.read(solved_path, as_version=4)):
        solved_path = base / "solved" / "hw2.ipynb"
        solved_path.parent.mkdir(parents=True)
        solved_path.write_bytes((REPO / "hw2.ipynb").read_bytes())
        assert annotate.main([str(solved_path)]) == 0
    solved = nbformat.read(solved_path, as_version=4)
    out = ms.make_student(base / "student", notebook=solved_path)
    nb = nbformat.read(out / "hw2.ipynb", as_version=4)
    module = (out / "hw2_models.py").read_text()
    sources, filled = ms.fill_back(nb, module, solved)
    kept = [c for c in nb.cells if ms.STUDENT_NOTE_TAG not in tags(c)]
    return {"out": out, "nb": nb, "module": module, "solved": solved, "solved_path": solved_path,
            "sources": sources, "filled": filled, "kept": kept}


def write(folder, cells, module, zipped=False):
    nb = nbformat.v4.new_notebook(cells=cells)
    if zipped:
        with zipfile.ZipFile(f"{folder}.zip", "w") as archive:
            archive.writestr("hw2/hw2.ipynb", nbformat.writes(nb))
            archive.writestr("hw2/hw2_models.py", module)
            archive.writestr("hw2/notes.txt", "not graded")
    else:
        folder.mkdir()
        nbformat.write(nb, folder / "hw2.ipynb")
        (folder / "hw2_models.py").write_text(module)


def cells_with(student, changes, what=""):
    """Fresh copies of the solved cells of the student version with ``changes`` ({old: new}, each in one cell) made."""
    cells = [nbformat.from_dict({**dict(c), "source": text}) for c, text in zip(student["kept"], student["sources"])]
    for old, new in changes.items():
        hits = [c for c in cells if old in c.source]
        assert len(hits) == 1, (what, old)
        hits[0].source = replace_once(hits[0].source, old, new, what or old)
    return cells


def module_with(student, changes, what):
    text = student["filled"]
    for old, new in changes.items():
        text = replace_once(text, old, new, what)
    return text


def write_mistakes(student, folder, names):
    """``folder``/NAME for each NAME of ``names`` (a MISTAKES or MORE key): the solution filled back into the student
    version, the changes of its table made in its notebook and module."""
    for name in names:
        notebook_changes, module_changes = (MISTAKES[name][:2] if name in MISTAKES else MORE[name])
        write(folder / name, cells_with(student, notebook_changes, name), module_with(student, module_changes, name))


def _write_assignment_submissions(folder, solved_path):
    import assignment_notebooks as an

    blank = an.assignment_notebook()
    full = an.fill(blank, an.solution_fills(solved_path))

    def changed(changes):
        nb = nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(c)) for c in full.cells])
        for old, new in changes.items():
            hits = [c for c in nb.cells if old in c.source]
            assert len(hits) == 1, old
            hits[0].source = replace_once(hits[0].source, old, new, old)
        return nb

    for name, book, module in [("asg_full", full, None), ("asg_untouched", blank, None),
                               ("asg_with_module", full, IGNORED_MODULE),
                               *((name, changed(changes), None) for name, (changes, _) in ASSIGNMENT_MUTANTS.items())]:
        (folder / name).mkdir()
        nbformat.write(book, folder / name / "hw2.ipynb")
        if module is not None:
            (folder / name / "hw2_models.py").write_text(module)


def digest(paths):
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def grade_batch(student, base):
    """Every submission of this module written under ``base``/submissions and graded in one sandboxed batch, with
    the public checks' verdicts on the mistakes' table and its control (tests/public_verdicts.py, in a kernel)."""
    folder, out = base / "submissions", base / "results"
    folder.mkdir()
    solved = student["solved"]
    answers = {c.source: LENET_ANSWER if k == 0 else VAE_ANSWER
               for k, c in enumerate(c for c in solved.cells if "answer" in tags(c))}
    full_cells = cells_with(student, {})
    for cell in full_cells:
        if cell.source in answers:
            cell.source = answers[cell.source]
    write(folder / CORRECT, full_cells, student["filled"])
    write(folder / "full_zipped", full_cells, student["filled"], zipped=True)
    write(folder / "untouched", [nbformat.from_dict(dict(c)) for c in student["nb"].cells], student["module"])
    write_mistakes(student, folder, [*MISTAKES, *MORE])
    # the sandbox hides the repository; grade_batch runs only where there is one (grade refuses without), so
    # these writes never reach the real files
    model_line = "model = LeNet_5().to(device, memory_format=hw2.memory_format(device))"
    tamper = TAMPER.format(targets=", ".join(repr(str(p)) for p in PROTECTED), solved=str(REPO / "hw2.ipynb"))
    write(folder / "tampers", cells_with(student, {model_line: model_line + tamper}), student["filled"])
    _write_assignment_submissions(folder, student["solved_path"])
    (folder / "solved_v3").mkdir()  # the solved files, the notebook saved as nbformat 3 (cells in worksheets)
    solved_v3 = nbformat.convert(nbformat.read(student["solved_path"], as_version=4), 3)
    (folder / "solved_v3" / "hw2.ipynb").write_text(nbformat.writes(solved_v3, version=3))
    shutil.copyfile(REPO / "hw2_models.py", folder / "solved_v3" / "hw2_models.py")
    before = digest(PROTECTED)
    rows, records = grading.grade(folder, out, **OPTIONS)
    after = digest(PROTECTED)
    judged = [folder / name for name in [CORRECT, *MISTAKES]]
    public = subprocess.run([sys.executable, str(REPO / "tests" / "public_verdicts.py"), *map(str, judged)],
                            capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert public.returncode == 0, public.stderr[-3000:]
    return {"rows": {row["submission"]: row for row in rows}, "records": records, "out": out, "folder": folder,
            "before": before, "after": after, "public": json.loads(public.stdout.splitlines()[-1])}
