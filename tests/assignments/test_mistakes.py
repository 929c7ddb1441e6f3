"""One judge of a student: the mistakes students make, each graded by the grader (in its sandbox) and checked by the
public checks (in a kernel that ran the same cells), case by case.

For every mistake the table names the parts it must cost; the grader must take those and no other (a mistake costs
its own part only), and every public case must have the same verdict in both places (the cases are written once)."""

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grading.student import annotate
from grading import assignment as assignments
from grading import grade as grading
from grading.student import make as ms
from grading.sandbox import isolation

REPO = Path(__file__).resolve().parents[2]
HW = assignments.load()

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


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _replace_once(text, old, new, what):
    assert text.count(old) == 1, f"{what}: {old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def write_submissions(work, names):
    """``work``/submissions/NAME for each NAME of ``names`` ("correct" or a MISTAKES key): the generated student
    version filled back with the solution, the mistake's changes made in its notebook and module."""
    solved = work / "solved.ipynb"
    solved.write_bytes((REPO / "hw2.ipynb").read_bytes())
    annotate.main([str(solved)])
    student = ms.make_student(work / "student", notebook=solved)
    nb = nbformat.read(student / "hw2.ipynb", as_version=4)
    sources, filled = ms.fill_back(nb, (student / "hw2_models.py").read_text(), nbformat.read(solved, as_version=4))
    kept = [c for c in nb.cells if ms.STUDENT_NOTE_TAG not in _tags(c)]
    folder = work / "submissions"
    for name in names:
        notebook_changes, module_changes, _ = MISTAKES.get(name, ({}, {}, set()))
        cells = [nbformat.from_dict({**dict(c), "source": text}) for c, text in zip(kept, sources)]
        for old, new in notebook_changes.items():
            hits = [c for c in cells if old in c.source]
            assert len(hits) == 1, (name, old)
            hits[0].source = _replace_once(hits[0].source, old, new, name)
        module = filled
        for old, new in module_changes.items():
            module = _replace_once(module, old, new, name)
        (folder / name).mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / name / "hw2.ipynb")
        (folder / name / "hw2_models.py").write_text(module)
    return folder


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    if isolation.problem() is not None:
        pytest.skip(f"no sandbox here ({isolation.problem()})")
    work = tmp_path_factory.mktemp("mistakes")
    folder = write_submissions(work, ["correct", *MISTAKES])
    rows, records = grading.grade(folder, work / "results", jobs=2, timeout=90, cell_limit=30, quiet=True)
    public = subprocess.run([sys.executable, str(REPO / "tests" / "public_verdicts.py"),
                             *sorted(str(p) for p in folder.iterdir())], capture_output=True, text=True,
                            timeout=600, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert public.returncode == 0, public.stderr[-3000:]
    return {r["submission"]: r for r in rows}, {r["name"]: r for r in records}, json.loads(public.stdout.splitlines()[-1])


@pytest.mark.parametrize("mistake", ["correct", *MISTAKES])
def test_a_mistake_costs_its_own_parts_and_both_judges_agree(judged, mistake):
    rows, records, public = judged
    row = rows[mistake]
    cost = set() if mistake == "correct" else MISTAKES[mistake][2]
    lost = {p.name for p in HW.automatic() if float(row[p.name]) < p.points}
    assert lost == cost, (mistake, lost, row["status"])
    grader = {(r["part"], r["case"]): r for r in records[mistake]["results"]}
    for part, cases in public[mistake].items():
        for status, title, message in cases:
            assert status != "not finished" or cost, (mistake, part, title, message)  # a class that did not load
            verdict = grader[(part, title)]
            assert verdict["public"] is True
            assert verdict["passed"] == (status == "passed"), (mistake, part, title, message, verdict["message"])


def test_the_table_names_the_mistakes_the_brief_lists():
    assert len(MISTAKES) >= 15
    assert {"no_resize", "no_totensor", "no_shuffle", "no_flatten", "lenet_padding", "encoder_width_fixed",
            "decoder_upsampling_identity", "decoder_upsampling_deleted", "vae_encoder_width_2", "v2_transform",
            "pad_instead_of_resize", "totensor_before_resize", "syntax_error_in_encoder"} <= set(MISTAKES)


def test_a_module_that_does_not_compile_is_named_so_with_its_line(judged):
    rows, _, _ = judged
    status = rows["syntax_error_in_encoder"]["status"]
    assert re.search(r"hw2_models\.py does not compile \(line \d+: [^)]*\): Encoder could not be loaded", status), status
    assert "defines no class Encoder" not in status  # guard: the runner names the compiler's line, not a missing class
