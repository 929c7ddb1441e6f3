"""A student's day, from the student's seat: the provided cells take every transform that works, a file that does not
compile is named as such, a stale kernel is named, and the hand-in says what a grader would notice.

Each test works on small subsets or on temporary folders and takes seconds.
"""

import ast
import importlib
import re
import sys
import time
import traceback
import warnings
import zipfile

import nbformat
import pytest
import torch
import torchvision
import torchvision.transforms as transforms
from torchvision.transforms import v2

import hw2_helpers as hw2
import hw2_models  # the repository's module stays in sys.modules: the tests that import another put it back
from conftest import REPO
from hw2_helpers import checks, data, models_import, submission

NORMALIZE = ((0.1307,), (0.3081,))


@pytest.fixture(scope="module")
def mnist_root():
    return hw2.verify_mnist()


def _mnist(root, transform, train=False):
    return torchvision.datasets.MNIST(root, train=train, transform=transform)


class Counting:
    """A transform step that counts the images through it (and can take its time)."""

    def __init__(self, seconds=0.0):
        self.calls, self.seconds = 0, seconds

    def __call__(self, image):
        self.calls += 1
        time.sleep(self.seconds)
        return image


# ------------------------------------------------------------------------------------------------
# 1. The provided data cells take every transform that works
# ------------------------------------------------------------------------------------------------
WORKING = {
    "v2": v2.Compose([v2.ToImage(), v2.Resize(32), v2.ToDtype(torch.float32, scale=True), v2.Normalize(*NORMALIZE)]),
    "totensor_then_resize": transforms.Compose([transforms.ToTensor(), transforms.Resize((32, 32)),
                                                transforms.Normalize(*NORMALIZE)]),
    "pad_for_resize": transforms.Compose([transforms.Pad(2), transforms.ToTensor(), transforms.Normalize(*NORMALIZE)]),
    "lambda": transforms.Compose([transforms.ToTensor(),
                                  transforms.Lambda(lambda x: torch.nn.functional.pad(x, (2, 2, 2, 2)))]),
}


@pytest.mark.parametrize("name", sorted(WORKING))
def test_the_data_cell_takes_every_transform_that_works(mnist_root, name):
    dataset = _mnist(mnist_root, WORKING[name])
    kept = hw2.subset(hw2.in_memory(dataset), 64, seed=0)  # the data cell's calls, in its order (quick mode)
    assert len(kept) == 64
    for k in range(0, 64, 9):
        image, label = kept[k]
        expected, expected_label = dataset[kept.indices[k]]
        assert torch.equal(image, expected.as_subclass(torch.Tensor)) and image.shape == (1, 32, 32)
        assert image.dtype == torch.float32 and int(label) == expected_label
    images, labels = next(iter(torch.utils.data.DataLoader(kept, batch_size=16, shuffle=True,
                                                           generator=torch.Generator().manual_seed(0))))
    assert images.shape == (16, 1, 32, 32) and labels.dtype == torch.int64


def test_a_slow_transform_runs_once_per_image_and_the_result_is_a_tensor_dataset(mnist_root):
    counting = Counting()
    dataset = torch.utils.data.Subset(_mnist(mnist_root, transforms.Compose([
        transforms.ToTensor(), transforms.Lambda(counting), transforms.Pad(2)])), range(300))
    kept = hw2.in_memory(dataset)
    assert isinstance(kept, torch.utils.data.TensorDataset)
    images, labels = kept.tensors
    assert images.shape == (300, 1, 32, 32) and labels.shape == (300,) and labels.dtype == torch.int64
    assert counting.calls == 300 + 2  # each image once, and the first twice more to tell a random transform
    for _ in range(2):  # two epochs: nothing is transformed again
        assert sum(len(x) for x, _ in torch.utils.data.DataLoader(kept, batch_size=64, shuffle=True)) == 300
    assert counting.calls == 302
    assert all(torch.equal(images[i], dataset[i][0]) for i in (0, 17, 299))


def test_quick_mode_transforms_only_the_images_it_keeps(mnist_root):
    counting = Counting()
    training = _mnist(mnist_root, transforms.Compose([transforms.ToTensor(), transforms.Lambda(counting),
                                                      transforms.Resize((32, 32))]), train=True)
    training = hw2.in_memory(training)  # the notebook's data cell: in_memory on all 60,000 images, then the subset
    training = hw2.subset(training, 2048)
    assert tuple(training[0][0].shape) == (1, 32, 32)  # the cell's last line prints this
    assert sum(len(x) for x, _ in torch.utils.data.DataLoader(training, batch_size=256, shuffle=True)) == 2048
    assert counting.calls <= 2048 + 2, counting.calls


def test_a_progress_bar_only_when_transforming_takes_more_than_a_second(mnist_root, capsys):
    fast = torch.utils.data.Subset(_mnist(mnist_root, WORKING["pad_for_resize"]), range(200))
    hw2.in_memory(fast).tensors
    assert capsys.readouterr().err == ""
    slow = torch.utils.data.Subset(_mnist(mnist_root, transforms.Compose([
        transforms.ToTensor(), transforms.Lambda(Counting(seconds=0.3))])), range(5))
    hw2.in_memory(slow).tensors  # 1.5 s
    assert "Transforming the images once" in capsys.readouterr().err


def _frames(error):
    return [frame.name for frame in traceback.extract_tb(error.__traceback__)]


@pytest.mark.parametrize("transform, message", [
    (transforms.Resize((32, 32)),
     "transform returns a PIL Image, not a tensor: the model needs tensors. Is ToTensor() (or v2.ToImage() + "
     "v2.ToDtype(torch.float32, scale=True)) missing from transform?"),
    (v2.Compose([v2.ToImage(), v2.Resize(32)]),
     "transform returns torch.uint8 tensors, not floats: the model needs float32. Is v2.ToDtype(torch.float32, "
     "scale=True) missing from transform?"),
], ids=["no_totensor", "no_todtype"])
def test_a_transform_that_gives_no_float_tensor_gets_one_short_message(mnist_root, transform, message):
    with pytest.raises(data.TransformError) as caught:
        hw2.in_memory(_mnist(mnist_root, transform))
    assert str(caught.value) == message
    # the traceback ends in in_memory itself: nothing of the helpers' insides, no chained error
    assert _frames(caught.value)[-1] == "in_memory" and caught.value.__suppress_context__
    assert caught.value.__cause__ is None


# ------------------------------------------------------------------------------------------------
# 2. A file that does not compile is named as such; a blank is called a blank only when there is one
# ------------------------------------------------------------------------------------------------
SOLVED = (REPO / "hw2_models.py").read_text(encoding="utf-8")
C1 = "self.conv1 = nn.Conv2d(1, 6, kernel_size=5, stride=1)"
TYPO = "self.conv1 = nn.Conv2d(1, 6 kernel_size=5, stride=1)"  # a comma forgotten


def _edit(text, old, new):
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _line_of(text, fragment):
    return text[:text.index(fragment)].count("\n") + 1


def _lines_of_class(text, name):
    """The first and last line of class ``name`` as the file holds it (up to its last line of code)."""
    first = _line_of(text, f"class {name}(")
    lines = text.splitlines()
    last = next(i for i in range(first, len(lines)) if lines[i][:1] not in ("", " ", "#") or i == len(lines) - 1)
    while not lines[last - 1].strip() or lines[last - 1].startswith("#"):
        last -= 1
    return first, last


def _import_from(folder, monkeypatch):
    """``import hw2_models`` from ``folder`` as the notebook's kernel does (the hook installed by hw2_helpers);
    returns (module, [warning messages]). The repository's module is put back after the test."""
    monkeypatch.delitem(sys.modules, "hw2_models")
    monkeypatch.syspath_prepend(str(folder))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module("hw2_models")
    assert module.__file__ == str(folder / "hw2_models.py")
    return module, [str(w.message) for w in caught]


def _refusal(cls):
    with pytest.raises(models_import.UnfinishedError) as caught:
        cls()
    return str(caught.value)


def test_a_typo_says_the_file_does_not_compile_where_and_why(tmp_path, monkeypatch):
    text = _edit(SOLVED, C1, TYPO)
    (tmp_path / "hw2_models.py").write_text(text)
    line, (first, last) = _line_of(text, TYPO), _lines_of_class(text, "LeNet_5")
    module, caught = _import_from(tmp_path, monkeypatch)
    assert caught == [f"hw2_models.py does not compile (line {line}: invalid syntax. Perhaps you forgot a comma?): "
                      f"LeNet_5 is defined on lines {first}-{last}, which could not be loaded; fix the line and "
                      "restart the kernel. Using it stops with a message naming the line; the rest of the file works, "
                      "so the cells before it run."]
    assert _refusal(module.LeNet_5) == (
        f"hw2_models.py does not compile (line {line}: invalid syntax. Perhaps you forgot a comma?): LeNet_5 is "
        f"defined on lines {first}-{last}, which could not be loaded; fix the line "
        f"(`{TYPO}  # C1  # blank: args, kernel_size`) and restart the kernel.")
    assert module.Encoder(2).latent_dimensionality == 2  # the rest of the file works
    problem = submission._class_problem(text, "LeNet_5")  # the hand-in says the same
    assert problem.startswith(f"hw2_models.py does not compile (line {line}: invalid syntax") and "blank" not in problem
    assert f"LeNet_5, on lines {first}-{last}, cannot be loaded" in problem


def test_blanks_are_called_blanks_and_only_they(tmp_path, monkeypatch):
    # the student version's state: `_` in LeNet_5 (it compiles), ### YOUR CODE HERE ### in Encoder; then a typo too
    blanked = _edit(_edit(_edit(SOLVED, C1, "self.conv1 = nn.Conv2d(_, _, kernel_size=_, stride=1)"),
                          "self.fc1 = nn.Linear(120, 84)", "self.fc1 = nn.Linear(_, 84)"),
                    "self.conv_1 = nn.Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1))",
                    "self.conv_1 = ### YOUR CODE HERE ###")
    (tmp_path / "hw2_models.py").write_text(blanked)
    module, caught = _import_from(tmp_path, monkeypatch)
    assert caught == ["hw2_models.py does not compile yet: Encoder still has blanks, and using them stops with a "
                      "message naming the line. The rest of the file works, so the cells before them run."]
    assert _refusal(module.Encoder).startswith("Encoder is not finished: hw2_models.py line")
    typo = _edit(blanked, "self.conv1 = nn.Conv2d(_, _, kernel_size=_, stride=1)",
                 "self.conv1 = nn.Conv2d(_, _ kernel_size=_, stride=1)")
    folder = tmp_path / "typo"
    folder.mkdir()
    (folder / "hw2_models.py").write_text(typo)
    monkeypatch.setitem(sys.modules, "hw2_models", hw2_models)
    module, caught = _import_from(folder, monkeypatch)
    line = _line_of(typo, "self.conv1 = nn.Conv2d(_, _ kernel_size")
    first, last = _lines_of_class(typo, "LeNet_5")
    assert caught[0].startswith(f"hw2_models.py does not compile (line {line}: invalid syntax")
    assert f"LeNet_5 is defined on lines {first}-{last}, which could not be loaded" in caught[0]
    assert "LeNet_5 still" not in caught[0] and "Encoder still has blanks." in caught[0]
    blanks = [_line_of(typo, f"self.{name} = nn.") for name in ("conv1", "fc1")]
    assert _refusal(module.LeNet_5).endswith(f"It also still has blanks (lines {', '.join(map(str, blanks))}).")


# ------------------------------------------------------------------------------------------------
# 3. A stale kernel is named: hw2_models.py edited after the kernel imported it
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("compiles", [True, False], ids=["compiles", "does_not_compile"])
def test_models_changed_names_a_file_edited_after_the_import(tmp_path, monkeypatch, compiles):
    path = tmp_path / "hw2_models.py"
    path.write_text(SOLVED if compiles else _edit(SOLVED, C1, TYPO))  # Python's import, or the hook's
    _import_from(tmp_path, monkeypatch)
    assert models_import.models_changed() is None and models_import.models_changed(path) is None
    path.write_text(path.read_text() + "\n# an edit after the import\n")
    expected = "hw2_models.py changed since this kernel imported it: restart the kernel (Kernel > Restart) and run all"
    assert models_import.models_changed() == expected == models_import.models_changed(path)
    assert models_import.models_changed(REPO / "hw2_models.py") is None  # not the file this kernel imported
    path.unlink()
    assert models_import.models_changed() == expected  # gone: not what the kernel imported either


# ------------------------------------------------------------------------------------------------
# 4. The hand-in says what a grader would notice, refuses an unsaved notebook precisely, prints only
# ------------------------------------------------------------------------------------------------
HAND_IN = "hw2.make_submission()"
QUESTIONS = [part["follows"] for part in checks.table()["parts"] if part["kind"] == "written"]
EMPTY = checks.table()["empty_answer"]


def _code(source, count=None, outputs=()):
    return nbformat.v4.new_code_cell(source, execution_count=count, outputs=list(outputs))


def _folder(tmp_path, cells, answers=("My answer.", "Mine too.")):
    """A notebook folder: hw2_models.py (the solved one) and an hw2.ipynb of ``cells``, the two questions answered
    with ``answers``, and the hand-in cell last."""
    folder = tmp_path / "hw2"
    folder.mkdir(parents=True)
    (folder / "hw2_models.py").write_text(SOLVED)
    written = [cell for question, answer in zip(QUESTIONS, answers)
               for cell in (nbformat.v4.new_markdown_cell(f"**Question.** {question}"),
                            nbformat.v4.new_markdown_cell(answer))]
    nb = nbformat.v4.new_notebook(cells=list(cells) + written + [_code(HAND_IN)])
    nbformat.write(nb, folder / "hw2.ipynb")
    return folder


def _hand_in(folder, capsys, history=()):
    assert submission.make_submission(folder, history=list(history)) is None  # it prints; the cell echoes nothing
    return capsys.readouterr().out


def test_the_hand_in_prints_where_the_zip_is_and_returns_nothing(tmp_path, capsys):
    folder = _folder(tmp_path, [_code("import hw2_helpers as hw2", 1)])
    printed = _hand_in(folder, capsys)
    assert printed.startswith(f"Wrote {folder / submission.NAME} (") and "hw2_models.py compiles" in printed
    with zipfile.ZipFile(folder / submission.NAME) as archive:
        assert archive.namelist() == ["hw2.ipynb", "hw2_models.py"]
    assert printed.rstrip().endswith("Upload hw2_submission.zip to Canvas.")


def test_the_hand_in_names_cells_whose_output_is_an_error_and_cells_that_never_ran(tmp_path, capsys):
    error = nbformat.v4.new_output("error", ename="NameError", evalue="name 'LeNet_5' is not defined",
                                   traceback=["NameError: name 'LeNet_5' is not defined"])
    printed_traceback = nbformat.v4.new_output("stream", name="stderr", text=(
        "Traceback (most recent call last):\n  File \"<stdin>\", line 1\nValueError: bad\n"))
    folder = _folder(tmp_path, [
        _code("import hw2_helpers as hw2", 1),
        _code("# Part 1: the model\nmodel = LeNet_5()", 2, [error]),
        _code("print('fine')", 3, [nbformat.v4.new_output("stream", name="stdout", text="fine\n")]),
        _code("run_something()", 4, [printed_traceback]),
        _code("training_dataloader = make_loader()"),  # never ran
        _code("   \n"),  # empty: nothing to run
    ])
    nb = nbformat.read(folder / "hw2.ipynb", as_version=4)
    nb.cells.append(_code("after_the_hand_in = 1"))  # after the hand-in cell: not the hand-in's business
    nbformat.write(nb, folder / "hw2.ipynb")
    printed = _hand_in(folder, capsys)
    assert ("In the saved hw2.ipynb, a grader will notice:\n"
            "  `model = LeNet_5()` (cell [2]): its saved output is an error, NameError: name 'LeNet_5' is not defined\n"
            "  `run_something()` (cell [4]): its saved output holds a traceback\n"
            "  1 code cell never ran (no output saved): `training_dataloader = make_loader()`\n"
            "  Fix the errors, run all cells, save the notebook (Ctrl-S / Cmd-S), then run this cell again.\n"
            ) in printed
    assert "print('fine')" not in printed and "after_the_hand_in" not in printed and "make_submission" not in printed
    assert (folder / submission.NAME).is_file()  # noticed, not refused: the grader grades what is there


def test_an_empty_answer_asks_for_the_answer_and_for_a_save(tmp_path, capsys):
    hint = ("An answer typed but not saved looks empty on disk: if you wrote one, save the notebook (Ctrl-S / Cmd-S) "
            "and run this cell again.")
    printed = _hand_in(_folder(tmp_path, [], answers=(EMPTY, "Mine.")), capsys)
    assert "  hw1_comparison: no answer yet in the cell under its question" in printed and hint in printed
    assert "vae_use_case" not in printed
    printed = _hand_in(_folder(tmp_path / "answered", []), capsys)
    assert "hw1_comparison" not in printed and hint not in printed


TRANSFORM_CELL = ("transform = transforms.Compose([\n    transforms.Resize((32, 32)),\n    transforms.ToTensor(),\n"
                  "    transforms.Normalize((0.1307,), (0.3081,)),\n])")


@pytest.mark.parametrize("ran, quoted", [
    (TRANSFORM_CELL.replace("ToTensor()", "PILToTensor()"),
     "in the latest, the line `transforms.PILToTensor(),` is `transforms.ToTensor(),` in the saved file"),
    (TRANSFORM_CELL.replace("    transforms.Resize((32, 32)),\n", ""),
     "in the latest, the saved file still has the line `transforms.Resize((32, 32)),`, which the cell you ran lacks"),
    (TRANSFORM_CELL.replace("])", "    transforms.Pad(0),\n])"),
     "in the latest, the line `transforms.Pad(0),` is not in the saved file"),
    ("x = 42\nprint(x)", "the latest, a cell the saved file does not have, starts `x = 42`"),
], ids=["changed", "removed", "added", "new_cell"])
def test_an_unsaved_notebook_is_refused_with_the_line_that_changed(tmp_path, capsys, ran, quoted):
    folder = _folder(tmp_path, [_code("import hw2_helpers as hw2", 1), _code(TRANSFORM_CELL, 2)])
    printed = _hand_in(folder, capsys, history=["import hw2_helpers as hw2", ran])
    assert printed.startswith(f"hw2.ipynb on disk is not the notebook you ran: 1 cell(s) ran here in a form the saved "
                              f"file lacks ({quoted}).\nSave the notebook (Ctrl-S / Cmd-S) and run this cell again.")
    assert not (folder / submission.NAME).exists()


def test_a_refusal_removes_an_older_zip_so_it_is_not_uploaded(tmp_path, capsys):
    folder = _folder(tmp_path, [_code("import hw2_helpers as hw2", 1), _code(TRANSFORM_CELL, 2)])
    zipped = folder / submission.NAME
    _hand_in(folder, capsys)
    assert zipped.is_file()
    printed = _hand_in(folder, capsys, history=[TRANSFORM_CELL.replace("ToTensor()", "PILToTensor()")])
    assert printed.rstrip().endswith(f"Removed the older hw2_submission.zip ({zipped}), so that it is not uploaded "
                                     "instead.")
    assert not zipped.exists()
    _hand_in(folder, capsys)
    (folder / "hw2_models.py").rename(folder / "my_models.py")  # a refusal of another kind: a file is missing
    printed = _hand_in(folder, capsys)
    assert printed.startswith(f"No hw2_models.py in {folder}") and "Removed the older hw2_submission.zip" in printed
    assert not zipped.exists()


def test_the_hand_in_names_a_kernel_older_than_hw2_models(tmp_path, capsys, monkeypatch):
    folder = _folder(tmp_path, [_code("import hw2_helpers as hw2", 1)])
    stale = "hw2_models.py changed since this kernel imported it: restart the kernel (Kernel > Restart) and run all"
    _import_from(folder, monkeypatch)  # the kernel imports the folder's hw2_models.py
    assert stale not in _hand_in(folder, capsys)
    (folder / "hw2_models.py").write_text(SOLVED.replace("stride=1)  # C1", "stride=1)  # C1, edited"))
    printed = _hand_in(folder, capsys)
    assert printed.splitlines()[1] == stale  # right under the line naming the zip


# ------------------------------------------------------------------------------------------------
# 5. What hw2_models.py's docstring names exists
# ------------------------------------------------------------------------------------------------
def test_the_models_docstring_names_only_files_that_exist():
    docstring = ast.get_docstring(ast.parse(SOLVED))
    named = re.findall(r"``([\w./]+(?:\.py|\.ipynb|/))``", docstring)
    assert "hw2_helpers/" in named and "hw2.ipynb" in named
    assert [name for name in named if not (REPO / name).exists()] == []


# ------------------------------------------------------------------------------------------------
# Where a mistake surfaces in a provided cell: advice that fits what was received
# ------------------------------------------------------------------------------------------------
def test_a_wrong_batch_gets_only_the_advice_that_fits_its_shape():
    net = hw2_models.LeNet_5()
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        net(torch.zeros(1, 32, 32))  # one image: a batch dimension is what it lacks
    with pytest.raises(ValueError) as wrong_size:
        net(torch.zeros(2, 1, 28, 28))  # a batch of the wrong size: no unsqueeze advice
    assert "Resize(32)" in str(wrong_size.value) and "unsqueeze" not in str(wrong_size.value)


def test_a_classifier_with_more_rows_than_images_stops_with_the_public_checks_hint(monkeypatch):
    built = hw2_models.LeNet_5.__init__

    def padded(self, *args, **kwargs):  # the common mistake: padding=2 in C1, as in the paper's MNIST padding
        built(self, *args, **kwargs)
        self.conv1 = torch.nn.Conv2d(1, 6, kernel_size=5, padding=2)

    monkeypatch.setattr(hw2_models.LeNet_5, "__init__", padded)
    torch.manual_seed(0)
    batches = [(torch.randn(4, 1, 32, 32), torch.arange(4))]
    with pytest.raises(ValueError) as stopped:  # guard: classifier_epoch checks the rows before the loss
        hw2.classifier_epoch(hw2_models.LeNet_5(), batches, torch.nn.CrossEntropyLoss(), "cpu")
    said = str(stopped.value)
    assert "(4, 1, 32, 32) to (16, 10)" in said and "one row of scores per image" in said
    assert "hw2.check('lenet_layers')" in said and "C1 takes the 32x32 image without padding" in said

    wide = torch.nn.Sequential(torch.nn.Flatten(0), torch.nn.Unflatten(0, (-1, 10)))  # no part follows its class
    with pytest.raises(ValueError, match=r"one row of scores per image, \(4, classes\)\.$"):
        hw2.classifier_epoch(wide, [(torch.randn(4, 5, 4), torch.arange(4))], torch.nn.CrossEntropyLoss(), "cpu")


def test_a_check_in_a_stale_kernel_says_to_restart(tmp_path, monkeypatch, capsys):
    (tmp_path / "hw2_models.py").write_text(SOLVED)
    _import_from(tmp_path, monkeypatch)  # the kernel imports this hw2_models.py
    hw2.check("transform", {})
    assert models_import.CHANGED not in capsys.readouterr().out
    (tmp_path / "hw2_models.py").write_text(SOLVED + "\n# an edit after the import\n")
    hw2.check("transform", {})
    printed = capsys.readouterr().out
    assert printed.startswith(models_import.CHANGED)  # guard: the check asks whether the module changed first
