"""Canvas's formats (grading.intake.canvas): the Download Submissions names and the gradebook export and import."""

import csv
import io

import pytest

from grading.intake import canvas

EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (48200),Homework 2 (48213),Current Points,Final Score
    Points Possible,,,,,10.00,15.00,(read only),(read only)
"Garcia, Luis",48213,G001,lgarcia,Design 101,9,,9,90
"Lee, Jisoo",48214,L002,jlee,Design 101,10,,10,100
"Moreau, Ana",48215,M003,amoreau,Design 101,7,,7,70
Test Student,48299,,,Design 101,,,0,0
"""


@pytest.mark.parametrize("name, expected", [
    ("garcialuis_48213_99812_hw2.ipynb", ("48213", "garcialuis", False, "99812", "hw2.ipynb")),
    ("garcialuis_LATE_48213_99813_hw2_models-1.py", ("48213", "garcialuis", True, "99813", "hw2_models.py")),
    ("anon_AbC12_77_hw2_submission.zip", ("anon_AbC12", "", False, "77", "hw2_submission.zip")),
    ("LATE_anon_x9_78_hw2.ipynb", ("anon_x9", "", True, "78", "hw2.ipynb")),
    ("leejisoo_48214_6_HW2_JisooLee-2.ipynb", ("48214", "leejisoo", False, "6", "HW2_JisooLee.ipynb")),
])
def test_canvas_entry_names_are_read_as_canvas_writes_them(name, expected):
    assert tuple(canvas.parse_entry(name)) == expected


@pytest.mark.parametrize("name", ["__MACOSX", ".DS_Store", "alice", "alice.zip", "x_1_2_", "two words_1_2_hw2.ipynb"])
def test_names_canvas_did_not_write_are_not_taken_for_its_entries(name):
    assert canvas.parse_entry(name) is None


def test_a_long_hostile_name_is_read_in_linear_time():
    import time

    name = "a_" * 200_000 + "1_2"
    started = time.perf_counter()
    assert canvas.parse_entry(name) is None
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("uploaded, original", [("hw2-1.ipynb", "hw2.ipynb"), ("hw2_models-12.py", "hw2_models.py"),
                                                ("hw2.ipynb", "hw2.ipynb"), ("a-b.py", "a-b.py"), ("-1.py", "-1.py"),
                                                ("notes-3", "notes")])
def test_reuploads_get_their_names_back(uploaded, original):
    assert canvas.undo_reupload(uploaded) == original


def test_the_export_is_read_with_its_identity_columns_and_assignments():
    export = canvas.read_export(EXPORT)
    assert export.identity == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert export.assignments == ["Homework 1 (48200)", "Homework 2 (48213)"]
    assert [row["ID"] for row in export.rows] == ["48213", "48214", "48215", "48299"]
    assert len(export.special) == 1
    assert canvas.choose_column(export, "Homework 2") == "Homework 2 (48213)"
    assert canvas.choose_column(export, "48213") == "Homework 2 (48213)"
    with pytest.raises(canvas.GradebookError, match="name this assignment's with --column"):
        canvas.choose_column(export)
    with pytest.raises(canvas.GradebookError, match="Homework 1 \\(48200\\); Homework 2 \\(48213\\)"):
        canvas.choose_column(export, "Homework 3")


@pytest.mark.parametrize("text", ["name,score\nbob,3\n", "", "Student,ID,Homework 2 (1)\n"])
def test_a_file_that_is_not_an_export_says_what_to_do(text):
    with pytest.raises(canvas.GradebookError, match="Export|export"):
        canvas.read_export(text)


def test_the_import_has_canvas_header_one_assignment_and_every_student():
    export = canvas.read_export("\ufeff" + EXPORT)  # Excel's byte-order mark
    text = canvas.import_text(export, "Homework 2 (48213)", {"48213": 14.5, "48215": 0}, 15)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 2 (48213)"]
    assert "Points Possible" in rows[1][0] and rows[1][-1] == "15"
    assert rows[2] == ["Garcia, Luis", "48213", "G001", "lgarcia", "Design 101", "14.5"]
    assert rows[3][-1] == "" and rows[4][-1] == "0" and rows[5][1] == "48299"  # no submission: left empty
    assert len(rows) == 6
