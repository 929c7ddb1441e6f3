"""Write the student version of HW2 from the solved files: ``python -m grading.make_student [--out dist/student]``.

What a student gets (every file generated from the solved sources on every run, never edited by hand):

- ``hw2.ipynb``: the solved notebook without its ``solution-only`` cells, with outputs cleared, each
  ``answer`` cell replaced by ``*Your answer here.*`` and every graded line blanked as the original assignment
  blanks it (``NOTEBOOK_RULES``); one short note (tagged ``student-only``) says where the code goes.
- ``hw2_models.py``: the solved module with the assignment's blanks (``MODULE_RULES``): the ``_`` of LeNet-5's
  layers and the ``### YOUR CODE HERE ###`` layer lines of ``Encoder`` and ``Decoder``; text that would give
  an answer away (LeNet-5's docstring and shape comments, the VAE's "Build it as ..." hint) is rewritten.
- ``hw2_helpers.py`` as it is, ``imgs/`` (only the images the student notebook shows), ``data/`` (the four
  MNIST ``.gz`` files and their README: source, attribution, licence) and ``requirements.txt``.

Each rule is (what, solved text, blank text), both made of whole lines, and must match exactly once in the solved
file, so a change to the solution that breaks a rule stops the generator (and ``tests/test_grading.py``) instead of
shipping the answer. ``fill_back`` applies the rules in reverse: the round trip gives the solved sources back.
"""

import argparse
import copy
import re
import shutil
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
YOUR_CODE = "### YOUR CODE HERE ###"
EMPTY_ANSWER = "*Your answer here.*"
STUDENT_NOTE_TAG = "student-only"
STUDENT_NOTE = (
    "> **Where your code goes.** The model classes live in [`hw2_models.py`](hw2_models.py), next to this notebook: "
    "fill in its blanks there (the `_` of `LeNet_5` and the `### YOUR CODE HERE ###` lines of `Encoder` and `Decoder`); "
    "the notebook imports them and shows the file's current code. The other blanks are in the notebook's cells. "
    "`hw2_helpers.py` holds provided helpers: leave it as it is. After editing `hw2_models.py`, restart the kernel. "
    "Python cannot import `hw2_models.py` while one of its `### YOUR CODE HERE ###` lines is still empty, and the "
    "notebook's first cell imports it: to run Part 1 before you reach Part 2, write `None` in front of each of those "
    "`###` (`self.conv_1 = None  ### YOUR CODE HERE ###`) until you fill it in. "
    "Set the environment variable `HW2_QUICK=1` before starting Jupyter for a quick run (small subsets, one epoch per "
    "model) while you work; hand in the notebook and `hw2_models.py`."
)

# (what, solved text, student text): whole lines of a notebook cell, each matching exactly one place.
NOTEBOOK_RULES = [
    ("transform (1 pt)",
     "transform = transforms.Compose([\n"
     "    transforms.Resize((32, 32)),\n"
     "    transforms.ToTensor(),\n"
     "    transforms.Normalize((0.1307,), (0.3081,)),\n"
     "])",
     f"transform = {YOUR_CODE}"),
    ("dataloaders (1 pt)",
     "training_dataloader = torch.utils.data.DataLoader(\n"
     "    mnist_training_set, batch_size=batch_size, shuffle=True, generator=loader_generator\n"
     ")\n"
     "validation_dataloader = torch.utils.data.DataLoader(\n"
     "    mnist_validation_set, batch_size=batch_size, shuffle=True, generator=loader_generator\n"
     ")",
     f"training_dataloader = {YOUR_CODE}\nvalidation_dataloader = {YOUR_CODE}"),
    ("LeNet-5 instantiated (1 pt)",
     "model = LeNet_5().to(device, memory_format=hw2.memory_format(device))",
     f"model = {YOUR_CODE}"),
    ("AutoEncoder built (1 pt)",
     "ae_model = AutoEncoder(Encoder(), Decoder()).to(device, memory_format=hw2.memory_format(device))",
     f"ae_model = {YOUR_CODE}"),
    ("VAE built (1 pt)",
     "vae_model = VariationalAutoEncoder(\n"
     "    Encoder(latent_dimensionality=4), Decoder(latent_dimensionality=2), latent_dimensionality=2\n"
     ").to(device, memory_format=hw2.memory_format(device))",
     f"vae_model = {YOUR_CODE}"),
    ("where LeNet-5 is filled in",
     "# The class lives in hw2_models.py (one source of truth); here is the filled-in code.",
     "# The class lives in hw2_models.py: replace its _ there, then restart the kernel. Here is the file's current code."),
    ("where the encoder is filled in",
     "# Filled in hw2_models.py. Fix: the provided shape comment on conv_1 said 3x28x28; MNIST images have 1 channel.",
     "# Define the layers in hw2_models.py. Fix: the provided shape comment on conv_1 said 3x28x28; MNIST images have 1 channel."),
]

_LENET_BLANKS = [
    ("conv1", "nn.Conv2d(1, 6, kernel_size=5, stride=1)  # C1", "nn.Conv2d(_, _, kernel_size=_, stride=1)"),
    ("conv2", "nn.Conv2d(6, 16, kernel_size=5, stride=1)  # C3", "nn.Conv2d(_, _, kernel_size=_, stride=1)"),
    ("conv3", "nn.Conv2d(16, 120, kernel_size=5, stride=1)  # C5", "nn.Conv2d(_, _, kernel_size=_, stride=1)"),
    ("fc1", "nn.Linear(120, 84)  # F6", "nn.Linear(_, _)"),
    ("fc2", "nn.Linear(84, 10)  # OUTPUT", "nn.Linear(_, _)"),
]
_ENCODER_LINES = [
    ("conv_1", "nn.Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1))"),
    ("conv_2", "nn.Conv2d(16, 32, kernel_size=(3, 3), stride=(1, 1))"),
    ("pool_1", "nn.MaxPool2d(kernel_size=(2, 2), stride=(2, 2))"),
    ("conv_3", "nn.Conv2d(32, 64, kernel_size=(3, 3), stride=(1, 1))"),
    ("pool_2", "nn.MaxPool2d(kernel_size=(2, 2), stride=(2, 2))"),
    ("fc_1", "nn.Linear(64 * 5 * 5, 32)"),
    ("fc_2", "nn.Linear(32, latent_dimensionality)"),
]
_DECODER_LINES = [
    ("fc_1", "nn.Linear(latent_dimensionality, 32)"),
    ("fc_2", "nn.Linear(32, 64 * 5 * 5)"),
    ("upsample_1", "nn.UpsamplingNearest2d(scale_factor=(2, 2))"),
    ("conv_1", "nn.Conv2d(64, 32, kernel_size=(3, 3), stride=(1, 1), padding=(2, 2))"),
    ("upsample_2", "nn.UpsamplingNearest2d(scale_factor=(2, 2))"),
    ("conv_2", "nn.Conv2d(32, 16, kernel_size=(3, 3), stride=(1, 1), padding=(2, 2))"),
    ("conv_3", "nn.Conv2d(16, 1, kernel_size=(3, 3), stride=(1, 1), padding=(2, 2))"),
]
_I = " " * 8  # the indentation of a line in __init__


def _layer_block(lines, blank):
    return "\n".join(f"{_I}self.{name} = {blank if blank else solved}" for name, solved in lines)


# (what, solved text, student text): whole lines of hw2_models.py, each matching exactly one place.
MODULE_RULES = [
    ("LeNet-5 docstring (gives the layer sizes away)",
     '    C1: 6 maps from 5x5 neighbourhoods of the input, C3: 16 maps from 5x5 neighbourhoods of S2,\n'
     '    C5: 120 maps from 5x5 neighbourhoods of S4 (1x1 each, so C5 is fully connected), F6: 84 units,\n'
     '    output: 10 units. Differences from the paper, as the assignment asks: each C3 map sees all 6\n'
     '    S2 maps (the paper\'s Table I connects each to a subset of 3, 4 or 6, giving 1,516 weights\n'
     '    instead of 2,416); subsampling is max pooling without trainable coefficients; the output layer\n'
     '    is a linear layer trained with cross-entropy instead of Euclidean RBF units.',
     "    Replace every _ below with the sizes of the paper's C1, C3, C5, F6 and output layers (pp. 7-8 and the\n"
     "    architecture figure). As the assignment asks, each C3 map sees all the S2 maps, subsampling is max pooling,\n"
     "    and the output layer is a linear layer trained with cross-entropy."),
] + [
    (f"LeNet-5 {name} (part of 3 pts)",
     f"{_I}self.{name} = {solved}", f"{_I}self.{name} = {blank}") for name, solved, blank in _LENET_BLANKS
] + [
    ("LeNet-5 forward's shape comments (give the layer sizes away)",
     "        x = self.conv1(x)  # 1x32x32 -> 6x28x28\n"
     "        x = self.pool1(x)  # 6x28x28 -> 6x14x14\n"
     "        x = F.tanh(x)\n"
     "        x = self.conv2(x)  # 6x14x14 -> 16x10x10\n"
     "        x = self.pool2(x)  # 16x10x10 -> 16x5x5\n"
     "        x = F.tanh(x)\n"
     "        x = self.conv3(x)  # 16x5x5 -> 120x1x1\n"
     "        x = F.tanh(x)\n"
     "        x = x.view(-1, 120)\n"
     "        x = self.fc1(x)  # 120 -> 84\n"
     "        x = F.tanh(x)\n"
     "        x = self.fc2(x)  # 84 -> 10",
     "        x = self.conv1(x)\n"
     "        x = self.pool1(x)\n"
     "        x = F.tanh(x)\n"
     "        x = self.conv2(x)\n"
     "        x = self.pool2(x)\n"
     "        x = F.tanh(x)\n"
     "        x = self.conv3(x)\n"
     "        x = F.tanh(x)\n"
     "        x = x.view(-1, 120)\n"
     "        x = self.fc1(x)\n"
     "        x = F.tanh(x)\n"
     "        x = self.fc2(x)"),
    ("Encoder layers (2 pts)",
     "        super(Encoder, self).__init__()\n        self.latent_dimensionality = latent_dimensionality\n\n"
     + _layer_block(_ENCODER_LINES, None),
     "        super(Encoder, self).__init__()\n        self.latent_dimensionality = latent_dimensionality\n\n"
     + _layer_block(_ENCODER_LINES, YOUR_CODE)),
    ("Decoder layers (2 pts)",
     "        super(Decoder, self).__init__()\n        self.latent_dimensionality = latent_dimensionality\n\n"
     + _layer_block(_DECODER_LINES, None),
     "        super(Decoder, self).__init__()\n        self.latent_dimensionality = latent_dimensionality\n\n"
     + _layer_block(_DECODER_LINES, YOUR_CODE)),
    ("the VAE's width check spells out the answer of the VAE cell",
     '                    f"latent width {expected}; received one of width {found}. Build it as "\n'
     '                    f"VariationalAutoEncoder(Encoder({2 * latent_dimensionality}), "\n'
     '                    f"Decoder({latent_dimensionality}), {latent_dimensionality})."',
     '                    f"latent width {expected}; received one of width {found}."'),
]


class RuleError(ValueError):
    """A rule of the student version does not match exactly one place of the solved file."""


def whole_line_matches(text, needle):
    """Start offsets where ``needle`` occurs in ``text`` as whole lines (from a line's start to a line's end)."""
    starts, at = [], text.find(needle)
    while at != -1:
        end = at + len(needle)
        if (at == 0 or text[at - 1] == "\n") and (end == len(text) or text[end] == "\n"):
            starts.append(at)
        at = text.find(needle, at + 1)
    return starts


def apply_rules(texts, rules, reverse=False, where="hw2_models.py"):
    """Apply each (what, solved, blank) rule to ``texts`` (a list of strings: a file, or a notebook's cells).

    Each rule's text to replace must occur exactly once over all of ``texts``, as whole lines; RuleError otherwise.
    Returns the new list.
    """
    texts = list(texts)
    for what, solved, blank in rules:
        old, new = (blank, solved) if reverse else (solved, blank)
        found = [(i, at) for i, text in enumerate(texts) for at in whole_line_matches(text, old)]
        if len(found) != 1:
            raise RuleError(
                f"{where}: the rule for {what!r} must match exactly once, as whole lines, and matches {len(found)} "
                f"times:\n{old}\nUpdate the rule in grading/make_student.py to the solved file's current text."
            )
        (i, at), = found
        texts[i] = texts[i][:at] + new + texts[i][at + len(old):]
    return texts


def _source(cell):
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def _tags(cell):
    return list(cell.get("metadata", {}).get("tags", []))


def kept_cells(nb):
    """The solved notebook's cells a student gets (all but ``solution-only``), deep-copied."""
    return [copy.deepcopy(cell) for cell in nb.cells if "solution-only" not in _tags(cell)]


def answer_rules(nb):
    """One rule per ``answer`` cell: its whole solved text -> the empty answer (so the round trip restores it)."""
    return [(f"answer {k + 1}", _source(cell), EMPTY_ANSWER)
            for k, cell in enumerate(c for c in nb.cells if "answer" in _tags(c) and "solution-only" not in _tags(c))]


def student_notebook(solved_path=REPO / "hw2.ipynb"):
    """The student notebook (an nbformat node) made from the solved one."""
    nb = nbformat.read(solved_path, as_version=4)
    cells = kept_cells(nb)
    answers = [i for i, cell in enumerate(cells) if "answer" in _tags(cell)]
    if len(answers) != 2:
        raise RuleError(f"hw2.ipynb: expected 2 cells tagged 'answer' (the two written questions), found {len(answers)}")
    sources = [_source(cell) for cell in cells]
    for i in answers:  # whole cells: an answer cell's text is unique, and never shipped
        sources[i] = EMPTY_ANSWER
    sources = apply_rules(sources, NOTEBOOK_RULES, where="hw2.ipynb")
    for cell, text in zip(cells, sources):
        cell.source = text
        tags = ["answer"] if "answer" in _tags(cell) else []
        cell.metadata = {"tags": tags} if tags else {}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.pop("attachments", None)
    note = nbformat.v4.new_markdown_cell(STUDENT_NOTE, metadata={"tags": [STUDENT_NOTE_TAG]})
    note.id = "student-note"
    cells.insert(1, note)
    student = nbformat.v4.new_notebook(cells=cells, metadata={
        key: nb.metadata[key] for key in ("kernelspec", "language_info") if key in nb.metadata})
    student.nbformat, student.nbformat_minor = nb.nbformat, nb.nbformat_minor
    return student


def student_module(solved_path=REPO / "hw2_models.py"):
    """The student ``hw2_models.py`` text made from the solved one."""
    return apply_rules([Path(solved_path).read_text()], MODULE_RULES)[0]


def fill_back(student_nb, student_module_text, solved_nb):
    """Fill the student version's blanks with the solution: (notebook cell sources, module text).

    The notebook's sources are those of the cells a student gets (the ``student-only`` note left out), in order.
    """
    cells = [cell for cell in student_nb.cells if STUDENT_NOTE_TAG not in _tags(cell)]
    sources = apply_rules([_source(cell) for cell in cells], NOTEBOOK_RULES, reverse=True, where="student hw2.ipynb")
    answers = iter(solved for _, solved, _ in answer_rules(solved_nb))
    for i, cell in enumerate(cells):  # the answer cells, in order (each holds the same empty answer)
        if "answer" in _tags(cell):
            if sources[i] != EMPTY_ANSWER:
                raise RuleError(f"student hw2.ipynb: answer cell {i} is not the empty answer")
            sources[i] = next(answers)
    module = apply_rules([student_module_text], MODULE_RULES, reverse=True, where="student hw2_models.py")[0]
    return sources, module


def shown_images(nb):
    """The files under imgs/ that the notebook's markdown cells show."""
    found = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found.update(re.findall(r"imgs/[\w.\-]+", _source(cell)))
    return sorted(found)


def make_student(out=REPO / "dist" / "student"):
    """Write the student version into ``out`` (replaced if it exists); return its path."""
    out = Path(out)
    nb = student_notebook()
    module = student_module()
    if out.exists():
        shutil.rmtree(out)
    (out / "imgs").mkdir(parents=True)
    nbformat.write(nb, out / "hw2.ipynb")
    (out / "hw2_models.py").write_text(module)
    shutil.copy2(REPO / "hw2_helpers.py", out / "hw2_helpers.py")
    shutil.copy2(REPO / "requirements.txt", out / "requirements.txt")
    for image in shown_images(nb):
        shutil.copy2(REPO / image, out / image)
    raw = out / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in sorted((REPO / "data" / "MNIST" / "raw").glob("*.gz")):
        shutil.copy2(gz, raw / gz.name)
    shutil.copy2(REPO / "data" / "README.md", out / "data" / "README.md")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "dist" / "student"),
                        help="folder to write (replaced if it exists; default: dist/student)")
    args = parser.parse_args(argv)
    try:
        out = make_student(args.out)
    except RuleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    print(f"Wrote the student version to {out}: {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
