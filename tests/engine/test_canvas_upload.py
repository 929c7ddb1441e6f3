"""Canvas's upload of feedback files gives each page of ``feedback_for_canvas.zip`` to its own student, and no entry
of the download reaches another student's row. ``canvas_reads`` is Canvas's own rule, re-implemented here from its
source (``infer_comment_context_from_filename``, app/models/abstract_assignment.rb; app/models/assignment.rb before
it), not from the grader's: every name the grader writes is checked against it. Graded with a fake grading that
copies each submission's files as the grader does (no sandbox), so these tests are quick."""

import html
import json
import re
import zipfile

import pytest

from fakes import NB, record
from grading.assignment import load as load_assignment
from grading import grade
from grading.batch import pipeline
from grading.intake import canvas, collect
from grading.outputs import publish

HW = load_assignment()


def canvas_reads(file_name):
    """(user id, or ``anon_<id>``; attachment id) that Canvas's upload looks up for ``file_name``, or None when it
    ignores the file by its name alone. Canvas: ``split_filename = filename.split("_") - ["LATE"]``; an ``anon``
    first: the next two tokens are the anonymous id and the attachment id; else ``user_id, attachment_id =
    split_filename.grep(/^\\d+$/).take(2)``; no attachment when the last token starts ``link`` or the name ``._``.
    (Ruby: ``\\d`` is ASCII's, ``^``/``$`` match at each line, ``split`` drops trailing empty fields.)"""
    name = file_name.rsplit("/", 1)[-1]
    tokens = name.split("_")
    while tokens and tokens[-1] == "":
        tokens.pop()
    tokens = [t for t in tokens if t != "LATE"]
    if tokens and tokens[0] == "anon":
        anon, attachment = (tokens[1:3] + [None, None])[:2]
        user = None if anon is None else f"anon_{anon}"
    else:
        user, attachment = ([t for t in tokens if re.search(r"^[0-9]+$", t, re.M)] + [None, None])[:2]
    if (tokens and re.search(r"^link", tokens[-1], re.M)) or re.search(r"^\._", name, re.M):
        attachment = None
    return (user, attachment) if user and attachment else None


def test_the_rule_reads_as_canvas_does():
    assert canvas_reads("richardsdavid_2_link.html") is None  # Canvas's own example: a URL submission
    assert canvas_reads("garcialuis_LATE_48213_99812_hw2.ipynb") == ("48213", "99812")
    assert canvas_reads("evans_100003_100070_feedback.html") == ("100003", "100070")  # the first two, wherever
    assert canvas_reads("LATE_anon_Zq9_77_x.html") == ("anon_Zq9", "77")
    assert canvas_reads("a\n12_b_34_x.html") == ("a\n12", "34")  # a line of digits is enough for Ruby's /^\d+$/
    assert canvas_reads("._garcialuis_48213_1_x.html") is None and canvas_reads("x_٣_٤_y.html") is None


@pytest.mark.parametrize("name, late, user, attachment", [
    ("garcialuis", False, "100003", "901"),
    ("garcialuis_100003", False, "100070", "903"),  # the victim's name and id in one's own name
    ("evans_100003", True, "100070", "905"),  # _<victim id>, late
    ("123", False, "100071", "906"),  # a name that is all digits
    ("1_2_3", True, "100071", "906"),
    ("anon_100003", False, "100074", "911"),  # a name that starts as anonymous grading's entries do
    ("x_LATE_100003", False, "100075", "912"),
    ("zoëåß_ø", True, "100072", "907"),  # unicode
    ("mia_٣", False, "100073", "908"),  # a digit of another script (Ruby's \d is ASCII's; dropped all the same)
    ("x_a\n100003", False, "100076", "913"),  # a line of digits: Ruby's /^\d+$/ takes it
    ("", False, "100077", "914"),
    ("", True, "anon_Zq9", "909"),
    ("", False, "anon_12345", "910"),  # an anonymous id of digits only
])
def test_each_page_name_reads_as_its_own_student_and_attachment(name, late, user, attachment):
    written = canvas.upload_name(name, late, user, attachment)
    assert canvas_reads(written) == (user, attachment), written  # guard: upload_name drops digits-only and anon


# A download: each student's Student in the export, the name Canvas's download writes for it (Ruby's downcase, of word
# characters only), Canvas user id, late, and uploads (attachment id, file name). VICTIM's own files are named as
# theirs alone; every other name holds digits-only tokens of its own, or a mark (NFD) or a digit of another script.
VICTIM = ("Garcia, Luis", "garcialuis", "100003", False, [("901", "HW2_Garcia.ipynb"), ("902", "hw2_models.py")])
STUDENTS = [
    VICTIM,
    ("Evans_100003", "evans_100003", "100070", False, [("905", "hw2.ipynb")]),  # _<victim id> at the end
    ("123", "123", "100071", False, [("906", "hw2.ipynb"), ("916", "hw2_models.py")]),  # all digits
    ("Anon_100003", "anon_100003", "100074", False, [("911", "hw2.ipynb")]),  # starts as anonymous entries do
    ("Zoe\u0308åß, Ø", "zoe\u0308åßø", "100072", True, [("907", "hw2.ipynb")]),
    ("Mia_٣", "mia_٣", "100073", True, [("908", "hw2.ipynb")]),
]
ATTACKER = ("Garcialuis_100003", "garcialuis_100003", "100075", False, [("920", "hw2.ipynb"),
                                                                       ("921", "hw2_models.py")])
ANONYMOUS = {"anon_Zq9_909_hw2.ipynb": "anonymous", "LATE_anon_x9_910_hw2.ipynb": "anonymous, late"}


def _entries(students):
    """{Canvas's entry name: its content (a notebook that names its owner)} of ``students``."""
    found = {}
    for _, written, user, late, files in students:
        prefix = "_".join(p for p in (written, "LATE" if late else "", user) if p)
        for attachment, file in files:
            found[f"{prefix}_{attachment}_{file}"] = NB.replace("[]", f'[{{"owner": "{user}"}}]', 1)
    return found


def _export(tmp_path, students):
    rows = "".join(f'"{student}",{user},,,S1,\n' for student, _, user, _, _ in students)
    path = tmp_path / "export.csv"
    path.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Homework 2 (48213)\n    Points Possible,,,,,15\n"
                    + rows, encoding="utf-8")
    return path


@pytest.fixture
def grading_copies(monkeypatch):
    """grade.grade with grade_one replaced: each submission's files copied as the grader copies them (never run);
    the record's ``graded`` is the notebook it got."""
    def grade_one(index, name, entry, scratch, options, assignment):
        workdir = scratch / f"{index:05d}" / "in"
        workdir.mkdir(parents=True)
        notes = []
        problems = collect.extract(entry, workdir, notes, tuple(assignment.files.values()))
        notebook = workdir / assignment.files["notebook"]
        made = {**record(name), "notes": notes, "problems": problems, **collect.meta(entry)}
        return {**made, "graded": notebook.read_text() if notebook.exists() else None}

    monkeypatch.setattr(pipeline, "grade_one", grade_one)
    monkeypatch.setattr(grade.isolation, "problem", lambda: None)


def _download(tmp_path, entries):
    path = tmp_path / "submissions.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return path


def _pages(out):
    with zipfile.ZipFile(out / "feedback_for_canvas.zip") as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_a_name_holding_the_victims_id_never_reaches_the_victims_row(tmp_path, grading_copies):
    archive = _download(tmp_path, _entries([VICTIM, ATTACKER]))
    for gradebook in (None, _export(tmp_path, [VICTIM])):  # without the export, and with one that lacks the attacker
        messages = []
        rows, records = grade.grade(archive, tmp_path / f"out{bool(gradebook)}", quiet=True, messages=messages,
                                    gradebook=gradebook, column="48213" if gradebook else None)
        assert [r["name"] for r in records] == ["garcialuis_100003"]  # guard: canvas.assign
        assert '"owner": "100003"' in (records[0]["graded"] or "")  # the only notebook: the victim's own
        refused = [m for m in messages if "garcialuis_100003_100075_920_hw2.ipynb" in m]
        assert refused and ("pass --gradebook export.csv" in refused[0] if gradebook is None else
                            "100003's own files are named as theirs alone" in refused[0])
    with_attacker = _export(tmp_path, [VICTIM, ATTACKER])
    _, records = grade.grade(archive, tmp_path / "both", quiet=True, gradebook=with_attacker, column="48213")
    assert [r["name"] for r in records] == ["garcialuis_100003"]  # read as either in the export: no one's


def test_every_page_in_the_zip_is_read_by_canvas_as_its_own_students(tmp_path, grading_copies):
    notes = "zoe\u0308åßø_LATE_100072_915_notes_1_2_x.txt"  # two readings, one of them hers: her id is held
    entries = {**_entries(STUDENTS), **ANONYMOUS, notes: "notes"}
    messages = []
    rows, records = grade.grade(_download(tmp_path, entries), tmp_path / "out", quiet=True, messages=messages,
                                gradebook=_export(tmp_path, STUDENTS), column="48213")
    uploads = {user: {attachment for attachment, _ in files} for _, _, user, _, files in STUDENTS}
    uploads.update({"anon_Zq9": {"909"}, "anon_x9": {"910"}})  # Canvas's truth: the attachments of each submission
    by_user = {r["canvas_user_id"]: r for r in records}
    assert sorted(by_user) == sorted(uploads)  # every student graded, once
    assert all(f'"owner": "{user}"' in by_user[user]["graded"] for _, _, user, _, _ in STUDENTS)
    assert any(notes in m and "graded as no one's" in m for m in messages)
    pages = _pages(tmp_path / "out")
    assert len(pages) == len(uploads)
    for name, page in pages.items():
        user, attachment = canvas_reads(name)
        assert attachment in uploads[user], name  # guard: upload_name (Canvas ignores or misplaces it otherwise)
        assert f"feedback: {html.escape(by_user[user]['name'])}</h1>" in page, name
    assert {"evans_100070_905_feedback.html", "100071_916_feedback.html", "anon_Zq9_909_feedback.html",
            "LATE_anon_x9_910_feedback.html", "zoe\u0308åßø_LATE_100072_907_feedback.html"} <= set(pages)
    assert not any("no page in feedback_for_canvas.zip" in m for m in messages)


def test_a_student_without_an_attachment_id_has_a_page_but_none_in_the_zip(tmp_path):
    attached = record("garcialuis_100003", "100003")
    kept = {k: v for k, v in record("evans_100070", "100070").items() if k != "canvas_attachment_id"}
    out = tmp_path / "out"
    _, messages = publish.write(out, [attached, kept], {}, {"timeout": 60}, assignment=HW)
    assert list(_pages(out)) == ["garcialuis_100003_300001_feedback.html"]  # guard: feedback.canvas_name
    assert (out / "feedback" / "evans_100070.html").is_file()
    assert [m for m in messages if "no page in feedback_for_canvas.zip" in m and m.endswith("evans_100070; their "
                                                                                           "pages are in feedback/")]
    plain = tmp_path / "plain"
    _, messages = publish.write(plain, [record("alice"), record("bob")], {}, {"timeout": 60}, assignment=HW)
    assert not (plain / "feedback_for_canvas.zip").exists() and messages == []  # a plain folder: nothing to say


def test_a_record_kept_from_an_older_run_takes_its_attachment_id_without_grading_again(tmp_path, fake_grading):
    """A record written before attachment ids were kept is current (its files unchanged): the next run gives it the
    id Canvas's names carry now, without running it again, and its page goes into the zip."""
    archive, out = _download(tmp_path, _entries([VICTIM, ("Kim, Min", "kimmin", "100080", False, [("930", "hw2.ipynb")])])), tmp_path / "out"
    grade.grade(archive, out, quiet=True)
    for path in (out / "records").glob("*.json"):  # as an older run wrote them
        older = {k: v for k, v in json.loads(path.read_text()).items() if k != "canvas_attachment_id"}
        path.write_text(json.dumps(older))
    fake_grading.clear()
    messages = []
    grade.grade(archive, out, quiet=True, messages=messages)
    assert fake_grading == []  # nothing graded again
    assert len(_pages(out)) == 2 and not any("no page" in m for m in messages)  # guard: grade's refresh of kept meta
