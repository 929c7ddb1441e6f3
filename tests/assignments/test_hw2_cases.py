"""The instructor's kit: the generated student version and the autograder, proven on submissions built from it.

Submissions in the kit's format start from the GENERATED student version: the solution filled back in, the untouched
version, one per typical mistake, and a few that misbehave (hang, raise at import, print without end, try to
overwrite or read the grader's files). Submissions in the assignment's own format are rebuilt from the assignment's
text and filled from the solved files (tests/assignment_notebooks.py). All are graded in one batch (conftest's
session-scoped ``hw2_batch``, built by tests/hw2_submissions.py and shared with the mistakes' table), and each test
asserts the exact points of every part.
"""

import csv
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from grading.student import annotate
from grading.assignment import Assignment, AssignmentError, heading, load as load_assignment
from grading.intake import notebook
from grading.outputs import report, results
from grading import grade as grading
from grading.student import make as ms
from hw2_submissions import ASSIGNMENT_MUTANTS, AUTO, CELL_LIMIT, FULL, OPTIONS, ZERO

REPO = Path(__file__).resolve().parents[2]
HW = load_assignment()
ASSIGNMENT = REPO / "grading" / "assignments" / "hw2" / "hw2_assignment.txt"  # the assignment as handed out, kept in the repository
def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


# ------------------------------------------------------------------------------------------------
# The student version
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def solved_path(student_version):
    return student_version["solved_path"]


@pytest.fixture(scope="module")
def student(student_version):
    return student_version["out"], student_version["nb"], student_version["module"]


@pytest.fixture(scope="module")
def solved(student_version):
    return student_version["solved"]


def test_every_text_rule_matches_exactly_once(solved):
    module = ms.solved_module()
    for rule in ms.text_rules()["module"]:
        assert len(ms.whole_line_matches(module, rule[1])) == 1, rule[0]
    cells = [c.source for c in ms.kept_cells(solved)]
    for rule in ms.text_rules()["notebook"]:
        assert sum(len(ms.whole_line_matches(text, rule[1])) for text in cells) == 1, rule[0]
    with pytest.raises(ms.RuleError, match="matches 2 times"):
        ms.apply_rules(["a\nb\na"], [("twice", "a", "x")])
    with pytest.raises(ms.RuleError, match="matches 0 times"):
        ms.apply_rules(["ab"], [("not a whole line", "a", "x")])


def test_module_markers_delete_to_the_solved_lines_and_give_nothing_away(student):
    _, _, module = student
    text = (REPO / "hw2_models.py").read_text()
    markers = re.findall(r"(?m)# blank\b.*$", text)
    assert len(markers) == 5 + 7 + 7 + 7  # LeNet-5's layers and shape comments, Encoder's and Decoder's layers
    for marker in markers:  # what a repo hook flags as an unfilled blank never appears in a marker
        assert "### YOUR CODE HERE ###" not in marker and not re.search(r"[(,]\s*_\s*[,)]", marker), marker
    solved, blanks = ms.module_blanks(text)
    assert solved == ms.solved_module() == re.sub(r"[ \t]+# blank\b[^\n]*", "", text)  # show_source's regex
    compile(solved, "hw2_models.py", "exec")
    assert "# blank" not in module
    student_lines = {student for _, _, student in blanks}
    assert "        self.conv1 = nn.Conv2d(_, _, kernel_size=_, stride=1)" in student_lines
    assert "        self.fc1 = nn.Linear(_, _)" in student_lines
    assert "        self.upsample_2 = ### YOUR CODE HERE ###" in student_lines
    assert "        x = self.conv1(x)" in student_lines


@pytest.mark.parametrize("line, message", [
    ("    x = f(1)  # blank: args, kernel_size", "names kernel_size=, which the call lacks"),
    ("    f(1)  # blank: line", "marks an assignment"),
    ("    x = 1  # blank: everything", "must be the last text of its line, one of"),
    ("    x = 1  # blank: line  # why", "must be the last text of its line"),
    ("    x = (1,  # blank: line", "must be a whole statement"),
])
def test_a_bad_marker_stops_the_generator(line, message):
    with pytest.raises(ms.RuleError, match=re.escape(message)):
        ms.module_blanks(f"def f():\n{line}\n")


def test_annotate_marks_the_graded_cells_by_content_idempotently(tmp_path):
    path = tmp_path / "hw2.ipynb"
    nb = nbformat.read(REPO / "hw2.ipynb", as_version=4)
    for cell in nb.cells:
        cell.metadata.pop(annotate.KEY, None)
    nb.cells.insert(3, nbformat.v4.new_code_cell("x = 1", metadata={annotate.KEY: {"part": "stale", "blank": ["x"]}}))
    nbformat.write(nb, path)
    assert annotate.main([str(path), "--check"]) == 1
    assert annotate.main([str(path)]) == 0
    once = path.read_bytes()
    assert annotate.main([str(path)]) == 0 and path.read_bytes() == once  # a second run changes nothing
    assert annotate.main([str(path), "--check"]) == 0
    marked = nbformat.read(path, as_version=4)
    found = {cell.metadata[annotate.KEY]["part"]: (annotate.blanks_of(cell), cell.source)
             for cell in marked.cells if annotate.KEY in cell.metadata}
    assert sorted(found) == sorted(p.name for p in HW.cell_parts())
    for part in HW.cell_parts():
        names, source = found[part.name]
        assert names == list(part.fills)
        assert all(re.search(rf"(?m)^{name} = ", source) for name in names), (part.name, source)
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if annotate.KEY not in c.metadata or c.metadata[annotate.KEY]["part"] != "ae_built"]
    with pytest.raises(ValueError, match="no code cell assigns 'ae_model'"):
        annotate.annotate(nb)


def test_make_student_refuses_a_notebook_without_marks(tmp_path):
    nb = nbformat.read(REPO / "hw2.ipynb", as_version=4)
    for cell in nb.cells:
        cell.metadata.pop(annotate.KEY, None)
    nbformat.write(nb, tmp_path / "hw2.ipynb")
    with pytest.raises(ms.RuleError, match="run python -m grading.student.annotate"):
        ms.student_notebook(tmp_path / "hw2.ipynb")


def test_one_table_of_parts_agrees_with_every_case_and_the_grader():
    found = HW.cases
    assert sorted(found) == sorted(p.name for p in HW.automatic())
    for part in HW.automatic():
        assert sum(case.points for case in found[part.name]) == part.points, part.name
        assert len({case.title for case in found[part.name]}) == len(found[part.name]), part.name
        assert any(case.public for case in found[part.name]), part.name  # every part has a public check
    assert (HW.automatic_points, HW.written_points) == (12, 3)
    assert results.columns(HW)[3:-5] == [p.name for p in HW.parts]
    assert [p.name for p in HW.module_parts()] == ["lenet_layers", "encoder", "decoder"]
    assert heading(HW.written()[-1]).endswith("VAE? (2 points)")


def test_the_grader_refuses_cases_that_disagree_with_the_table(tmp_path):
    import shutil

    folder = tmp_path / "hw2"
    shutil.copytree(HW.folder, folder, ignore=shutil.ignore_patterns("__pycache__"))
    data = json.loads((folder / "assignment.json").read_text())
    data["parts"][0]["points"] = 2
    (folder / "assignment.json").write_text(json.dumps(data))
    with pytest.raises(AssignmentError, match=r"cases award 1 points to transform; assignment.json gives it 2"):
        Assignment(folder).cases
    data["parts"][0]["points"] = 1
    (folder / "assignment.json").write_text(json.dumps(data))
    text = (folder / "public_cases.py").read_text().replace("public=True)\ndef dataloaders", "public=False)\ndef dataloaders")
    (folder / "public_cases.py").write_text(text)
    with pytest.raises(AssignmentError, match="says public=False but sits in public_cases.py"):
        Assignment(folder).cases


def test_student_version_files(student):
    out, nb, module = student
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    # the helpers, a package: every file of it as it is (nothing compiled), but what only the solution uses
    shipped = [p for p in files if p.startswith("hw2_helpers/")]
    toolkit = [f"casekit/{name}" for name in ("__init__.py", "data.py", "handin.py", "kernel.py", "source.py", "student.py")]
    generated = {name: REPO / source for name, source in [  # the public checks and the case toolkit, as shipped
        ("hw2_helpers/checking/public_cases.py", HW.folder / "public_cases.py"), *[(name, name) for name in toolkit]]}
    assert all((out / p).read_bytes() == path.read_bytes() for p, path in generated.items())
    shipped_spec = json.loads((out / "hw2_helpers" / "checking" / "assignment.json").read_text())
    assert shipped_spec == dict(HW.data, data="../../data")  # the dataset where the student version holds it
    assert not (out / "hw2_helpers" / "checking" / "hidden_cases.py").exists()
    assert shipped and all((out / p).read_bytes() == (REPO / p).read_bytes() for p in shipped
                           if p not in generated and p != "hw2_helpers/checking/assignment.json")
    left_out = {"hw2_helpers/measures.py", "hw2_helpers/seed_study.py"}  # only the solution's cells use them
    assert not left_out & set(shipped) and all((REPO / p).is_file() for p in left_out)
    assert not any(p.endswith(".pyc") for p in shipped)
    files = sorted([f for f in files if f not in shipped] + ["hw2_helpers"])
    assert files == ["README.md", *toolkit, "data/MNIST/raw/t10k-images-idx3-ubyte.gz", "data/MNIST/raw/t10k-labels-idx1-ubyte.gz",
                     "data/MNIST/raw/train-images-idx3-ubyte.gz", "data/MNIST/raw/train-labels-idx1-ubyte.gz",
                     "data/README.md", "hw2.ipynb", "hw2_helpers", "hw2_models.py", "imgs/lenet-5.png",
                     "requirements.txt"]
    assert (out / "requirements.txt").read_bytes() == (REPO / "requirements.txt").read_bytes()
    assert not any(p.name.startswith("grading") or p.name == "checks" for p in out.rglob("*"))


def test_student_notebook_has_no_solution(student, solved):
    _, nb, module = student
    assert not any("solution-only" in _tags(c) for c in nb.cells)
    assert all(not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    assert "widgets" not in nb.metadata
    answers = [c.source for c in nb.cells if "answer" in _tags(c)]
    assert answers == [ms.EMPTY_ANSWER, ms.EMPTY_ANSWER]
    text = "\n".join(c.source for c in nb.cells)
    for giveaway in ["transforms.Normalize((0.1307,)", "shuffle=True, generator=loader_generator", "LeNet_5().to(",
                     "AutoEncoder(Encoder(), Decoder())", "Encoder(latent_dimensionality=4)", "**Answer.**"]:
        assert giveaway not in text, giveaway
    for giveaway in ["Conv2d(1, 6", "Conv2d(6, 16", "Conv2d(16, 120", "Linear(120, 84)", "Linear(84, 10)",
                     "Conv2d(1, 16", "Linear(64 * 5 * 5, 32)", "UpsamplingNearest2d", "6x28x28", "Build it as"]:
        assert giveaway not in module, giveaway
    assert "HW2_QUICK" in text  # quick mode kept


def test_round_trip_gives_the_solved_sources(student, solved):
    _, nb, module = student
    sources, filled_module = ms.fill_back(nb, module, solved)
    assert filled_module == ms.solved_module()
    assert sources == [c.source for c in ms.kept_cells(solved)]


def _assignment_blanks():
    """(blank line, prose line before its code block) for every blank line of the assignment, in order."""
    lines = ASSIGNMENT.read_text().splitlines()
    found, anchor = [], None
    for i, line in enumerate(lines):
        if re.fullmatch(r"In \[[^\]]*\]:", line.strip()):
            anchor = next(l for l in reversed(lines[:i]) if l.strip()).strip()
        if "### YOUR CODE HERE ###" in line or re.search(r"nn\.(Conv2d|Linear)\(_", line):
            found.append((line.strip(), anchor))
    return found


def test_every_blank_of_the_assignment_is_in_the_student_version_at_its_place(student):
    _, nb, module = student
    blanks = _assignment_blanks()
    assert len(blanks) == 25  # transform 1, loaders 2, LeNet-5 5, model 1, Encoder 7, Decoder 7, AE 1, VAE 1
    # the module's classes, by text (the student module does not compile until its blanks are filled)
    classes = dict(re.findall(r"(?ms)^class (\w+)(.*?)(?=^\S)", module + "\nEND"))
    reading, anchors = [], []  # the student's lines in reading order, each with the markdown just above its cell
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        above, j = [], i - 1
        while j >= 0 and nb.cells[j].cell_type == "markdown":
            above.append(nb.cells[j].source.strip().splitlines()[-1].strip())
            j -= 1
        text = cell.source
        for name in re.findall(r"show_source\((\w+)\)", cell.source):
            text += "\n" + classes.get(name, "")
        for line in text.splitlines():
            reading.append(line.strip())
            anchors.append(above)
    position = 0
    for line, anchor in blanks:
        assert line in reading[position:], f"{line!r} missing or out of order"
        position = reading.index(line, position) + 1
        assert anchor in anchors[position - 1], f"{line!r} is not under the assignment's text {anchor!r}"


# ------------------------------------------------------------------------------------------------
# Submissions built from the student version, graded in one batch
# ------------------------------------------------------------------------------------------------
# submission -> expected points of each automatic part; the submissions and their one batch are hw2_submissions'
# (conftest's hw2_batch), shared with tests/assignments/test_mistakes.py
MUTANTS = {
    "no_normalize": dict(FULL, transform=0),
    "no_shuffle": dict(FULL, dataloaders=0),
    "c1_kernel_3": dict(FULL, lenet_layers=1),  # the public parameter count and the hidden C1 case
    "c5_wrong_input": dict(FULL, lenet_layers=0.5, lenet_instantiated=0),  # the class cannot run: no instance point
    "vae_encoder_width_2": dict(FULL, vae_built=0),
    "decoder_upsampling_identity": dict(FULL, decoder=0.5),
    "ae_latent_4": dict(FULL, ae_built=0),
    "syntax_error_in_encoder": dict(FULL, encoder=0),  # the class does not compile: the AE and VAE are judged with a stand-in
    "hangs": dict(FULL, ae_built=0),  # the parent stops the cell at its deadline; the VAE's cell still runs
    "raises_at_import": dict(ZERO, transform=1, dataloaders=1),  # the notebook's own parts are still graded
    "prints_forever": FULL,
}


@pytest.fixture(scope="module")
def graded(hw2_batch):
    return hw2_batch


def _points(row):
    return {part: float(row[part]) for part in AUTO}


def test_solution_filled_back_earns_every_automatic_point(graded):
    for name in ["full", "full_zipped"]:
        row = graded["rows"][name]
        assert _points(row) == FULL, row["status"]
        assert row["automatic"] == "12" and row["total"] == "12"
        assert row["hw1_comparison"] == row["vae_use_case"] == ""
        assert row["status"] == "written parts not scored yet"


def test_untouched_student_version_earns_nothing_and_is_graded(graded):
    row = graded["rows"]["untouched"]
    assert _points(row) == ZERO
    assert "hw2_models.py does not compile" in row["status"] and "stopped" not in row["status"]


# The assignment's own format: one notebook with the classes in its cells, rebuilt from the assignment's text
# (tests/assignment_notebooks.py) and filled from the solved files; graded in the same batch (ASSIGNMENT_MUTANTS).
def test_a_notebook_in_nbformat_3_earns_what_its_nbformat_4_twin_earns(graded, solved_path):
    """Converted once, by nbformat, in the parent: the plan, the child's cells (guard: notebook.save_upgraded; without
    it the child finds no such cell, 7 of 12), the written answers and the saved outputs (guard: notebook.upgraded in
    parse) are those of the nbformat 4 notebook."""
    row = graded["rows"]["solved_v3"]
    assert _points(row) == FULL and row["automatic"] == "12", row["status"]
    assert row["status"] == "written parts not scored yet"
    record = next(r for r in graded["records"] if r["name"] == "solved_v3")
    questions = {p.name: p.question for p in HW.written()}
    assert record["answers"] == notebook.written_answers(solved_path, questions) == report.reference_answers(HW)
    assert record["shown"] == notebook.shown_outputs(solved_path, HW.written()) and "data" in record["shown"][
        "hw1_comparison"]


def _assignment_row(graded, name):
    return graded["rows"][name]


def test_assignment_format_solution_earns_every_point(graded):
    row = _assignment_row(graded, "asg_full")
    assert _points(row) == FULL and row["automatic"] == "12", row["status"]
    assert row["status"] == "written parts not scored yet"  # no training ran: nothing timed out, nothing failed
    record = next(r for r in graded["records"] if r["name"] == "asg_full")
    assert record["format"] == "assignment"
    assert record["answers"] == dict.fromkeys([p.name for p in HW.written()], ms.EMPTY_ANSWER)  # the cells under the questions


def test_assignment_format_with_a_module_too_is_graded_from_its_cells_and_says_so(graded):
    row = _assignment_row(graded, "asg_with_module")
    assert _points(row) == FULL, row["status"]
    assert "graded as the assignment's notebook" in row["status"] and "hw2_models.py ignored" in row["status"]
    record = next(r for r in graded["records"] if r["name"] == "asg_with_module")
    assert "must not run" not in record["log"] + row["status"]


def test_untouched_assignment_notebook_earns_nothing_and_says_why(graded):
    row = _assignment_row(graded, "asg_untouched")
    assert _points(row) == ZERO
    assert "cell 27 (Encoder) does not compile" in row["status"], row["status"]
    assert "(transform) failed: SyntaxError" in row["status"] and "LeNet_5() raised NameError" in row["status"]
    assert "stopped" not in row["status"] and "no hw2_models.py" not in row["status"]


@pytest.mark.parametrize("name", sorted(ASSIGNMENT_MUTANTS))
def test_each_assignment_format_mistake_costs_its_own_part_only(graded, name):
    row = _assignment_row(graded, name)
    assert _points(row) == ASSIGNMENT_MUTANTS[name][1], row["status"]


def test_which_format_a_submission_is_in(tmp_path):
    from grading.intake import notebook as af

    def notebook(*sources):
        path = tmp_path / "hw2.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)
        return af.load(path)[0]

    assert af.detect(notebook("class Encoder(nn.Module):\n    x = ### YOUR CODE HERE ###"), HW) == af.ASSIGNMENT
    assert af.detect(notebook("from hw2_models import Encoder", "class Encoder:\n    pass"), HW) == af.KIT
    assert af.detect(notebook("import hw2_helpers as hw2", "model = LeNet_5()"), HW) == af.KIT
    assert af.detect(None, HW) == af.KIT
    notebook("class LeNet_5:\n    pass")
    (tmp_path / "hw2_models.py").write_text("x = 1\n")
    found, problems, note = af.decide(tmp_path, ["no hw2.ipynb in the submission", "other"], HW)
    assert (found, problems) == (af.ASSIGNMENT, ["no hw2.ipynb in the submission", "other"])
    assert "hw2_models.py ignored" in note and not (tmp_path / "hw2_models.py").exists()
    found, problems, note = af.decide(tmp_path, ["no hw2_models.py in the submission"], HW)
    assert (found, problems, note) == (af.ASSIGNMENT, [], None)


def test_the_assignment_text_rebuilds_into_its_notebook():
    import assignment_notebooks as an

    nb = an.assignment_notebook()
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert len(code) == len(re.findall(r"(?m)^In \[[^\]]*\]:", ASSIGNMENT.read_text())) == 39
    training = next(c for c in code if c.startswith("n_epochs = 20\n\nfor i in tqdm"))  # a loop header apart from its body
    assert "np.mean(validation_losses)" in training
    assert sum(c.count(ms.YOUR_CODE) for c in code) == 20
    assert [c.cell_type for c in nb.cells].count("markdown") == 22
    assert nb.cells[[c.source for c in nb.cells].index(next(s for s in code if s.startswith("del model"))) - 1].source \
        == ms.EMPTY_ANSWER  # the answer cell under "How does this compare ...", as the assignment says


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_each_mistake_costs_its_own_part_only(graded, name):
    row = graded["rows"][name]
    assert _points(row) == MUTANTS[name], row["status"]
    assert row["automatic"] == f"{sum(MUTANTS[name].values()):g}"


def test_misbehaving_submissions_say_why(graded):
    rows = graded["rows"]
    assert f"(ae_model) failed: ran past {CELL_LIMIT} s (the grader stopped it and went on with a fresh process)" in rows["hangs"]["status"]
    assert "stopped at the time limit" not in rows["hangs"]["status"]
    assert "raised RuntimeError at import: boom" in rows["raises_at_import"]["status"]
    assert re.search(r"cell \d+ printed [\d,]+ characters", rows["prints_forever"]["status"])
    assert "encoder: " in rows["syntax_error_in_encoder"]["status"]
    assert "shuffle=True" in rows["no_shuffle"]["status"]
    assert "conv1" in rows["c1_kernel_3"]["status"]


def test_a_submission_cannot_alter_or_read_the_grader_and_the_solution(graded):
    assert graded["after"] == graded["before"]
    row = graded["rows"]["tampers"]  # the repository is hidden: writing, deleting and reading the reference all fail
    assert _points(row) == FULL, row["status"]


def test_written_answer_pages_and_scores(graded, tmp_path):
    out, rows = graded["out"], graded["rows"]
    page = (out / "written_hw1_comparison.html").read_text()
    assert "My own answer about LeNet-5." in page and "(no answer)" in page
    reference = next(c.source for c in nbformat.read(REPO / "hw2.ipynb", as_version=4).cells if "answer" in c.metadata.get("tags", []))
    assert report.answer_html(reference.strip()) in page  # the solved notebook's reference answer, beside them
    assert "My own answer about a VAE." in (out / "written_vae_use_case.html").read_text()
    with open(out / "written_scores_template.csv") as handle:
        template = list(csv.DictReader(handle))
    assert [r["submission"] for r in template] == sorted(rows)
    scores = tmp_path / "written_scores.csv"
    scores.write_text("submission,hw1_comparison,vae_use_case\nfull,1,1.5\n")
    written = results.read_written_scores(scores, None, HW)
    record = next(r for r in graded["records"] if r["name"] == "full")
    options = {"timeout": 75}
    row = results.row_for(results.outcome(record, written, options, HW), HW)
    assert (row["hw1_comparison"], row["vae_use_case"], row["written"], row["total"], row["status"]) == (
        "1", "1.5", "2.5", "14.5", "ok")
    scores.write_text("submission,hw1_comparison,vae_use_case\nfull,2,0\n")
    with pytest.raises(ValueError, match="outside 0..1"):
        results.read_written_scores(scores, None, HW)


def test_grades_csv_is_sorted_and_the_same_when_run_again(graded, tmp_path):
    with open(graded["out"] / "grades.csv") as handle:
        first = list(csv.DictReader(handle))
    assert [r["submission"] for r in first] == sorted(r["submission"] for r in first)
    again = tmp_path / "again"
    again.mkdir()
    for name in ["c1_kernel_3", "decoder_upsampling_identity", "full", "raises_at_import"]:
        shutil.copytree(graded["folder"] / name, again / name)  # the shared batch's folder stays whole
    rows, _ = grading.grade(again, tmp_path / "results", **OPTIONS)
    assert rows == [r for r in first if r["submission"] in {row["submission"] for row in rows}]


def test_readme_is_a_landing_page_and_the_manual_points_agree_with_the_table():
    readme = (REPO / "README.md").read_text()
    assert len(readme) <= 14_000, f"README.md is {len(readme):,} characters; the landing page keeps to 14,000"
    assert "python -m grading.student" in readme and "python -m grading.grade" in readme
    assert "(grading/README.md)" in readme
    manual = (REPO / "grading" / "README.md").read_text()
    rows = dict(re.findall(r"(?m)^\| ([a-z]\w*) \| (\d+) \|", manual))  # the points table: parts by name
    assert rows == {part.name: f"{part.points:g}" for part in HW.parts}
    assert "python -m grading.student.annotate hw2.ipynb" in manual and ms.MARKER.pattern in manual


# ------------------------------------------------------------------------------------------------
# A student works Part 1 before Part 2
# ------------------------------------------------------------------------------------------------
def _run_until_error(folder, cells):
    """Execute ``cells`` in ``folder`` (quick mode) until one fails: (executed notebook, index of the failed cell, error)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook(cells=cells)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HW2_QUICK", "1")
        patch.setenv("MPLBACKEND", "Agg")
        patch.delenv("PYTHONPATH", raising=False)  # the student's folder alone
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as error:
                    return nb, index, str(error)
    return nb, None, None


def _part_one_only(student, solved, tmp_path, fill_part_two_cells):
    """The student version with Part 1 filled in (its cells and LeNet_5 in hw2_models.py) and every Part 2 blank of the
    module as the assignment writes it; with ``fill_part_two_cells``, the notebook's Part 2 cells are filled too."""
    out, nb, module = student
    sources, filled = ms.fill_back(nb, module, solved)
    kept = [nbformat.from_dict(dict(c)) for c in nb.cells if ms.STUDENT_NOTE_TAG not in _tags(c)]
    part_two = next(i for i, c in enumerate(kept) if c.source.startswith("### Part 2"))
    for i, (cell, text) in enumerate(zip(kept, sources)):
        if i < part_two or fill_part_two_cells:
            cell.source = text
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    start, end = (filled.index("class LeNet_5("), filled.index("\n# ----", filled.index("class LeNet_5(")))
    blank_start, blank_end = module.index("class LeNet_5("), module.index("\n# ----", module.index("class LeNet_5("))
    folder = tmp_path / "student"
    shutil.copytree(out, folder)
    (folder / "hw2_models.py").write_text(module[:blank_start] + filled[start:end] + module[blank_end:])
    assert "### YOUR CODE HERE ###" in (folder / "hw2_models.py").read_text()
    return folder, kept, part_two


@pytest.mark.slow
def test_part_one_runs_while_part_two_is_blank(student, solved, tmp_path):
    folder, cells, part_two = _part_one_only(student, solved, tmp_path, fill_part_two_cells=False)
    nb, failed, error = _run_until_error(folder, cells)
    summary = next(i for i, c in enumerate(nb.cells) if c.source.startswith("summary(model"))
    training = next(i for i, c in enumerate(nb.cells) if "hw2.classifier_epoch(model, training_dataloader" in c.source)
    assert failed is not None and failed > part_two > training > summary, (failed, error)
    assert "Total params: 61,706" in json.dumps(nb.cells[summary].outputs)
    assert "of the final model" in json.dumps(nb.cells[training].outputs)


@pytest.mark.slow
def test_the_first_part_two_cell_that_needs_an_unfinished_class_names_it_and_its_line(student, solved, tmp_path):
    folder, cells, part_two = _part_one_only(student, solved, tmp_path, fill_part_two_cells=True)
    text = (folder / "hw2_models.py").read_text()
    line = text[:text.index("self.conv_1 = ### YOUR CODE HERE ###")].count("\n") + 1
    nb, failed, error = _run_until_error(folder, cells)
    assert failed is not None and failed > part_two and "ae_model = AutoEncoder(" in nb.cells[failed].source, error
    assert "UnfinishedError" in error
    assert f"Encoder is not finished: hw2_models.py line {line}, `self.conv_1 = ### YOUR CODE HERE ###`" in error
