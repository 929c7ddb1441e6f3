"""No answer or image of a submission stops a run or bloats what it writes: an answer is cut at intake to
``settings.limits().answer_length`` characters and rendered by a renderer whose work grows linearly with its text; an image is
embedded only when its header says a real image of at most ``settings.limits().image_side`` pixels a side; a record stays
under ``settings.limits().record_size`` bytes when written and is bounded again when read; grades.csv is written before any
page, replaced whole, and a run stopped while grading leaves one whose rows not graded yet say so."""

import base64
import csv
import json
import struct
import sys

import nbformat
import pytest

from fakes import HW, folder_of, huge_png, record
from grading import grade, merge, settings
from grading.batch import pipeline
from grading.intake import notebook
from grading.outputs import bounds, publish, report

COMPARISON = next(p for p in HW.written() if p.shows)
BIG = 15_000_000  # characters of the crafted answer (a notebook holds it within settings.limits().file_size)


def _rows(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


def _b64(raw):
    return base64.b64encode(raw).decode("ascii")


# -- the renderer ---------------------------------------------------------------------------------------------------
PATTERNS = {  # n -> a crafted answer of about 14 n characters
    "nested emphasis": lambda n: "*a **a " * n + "b" + " a** a*" * n,  # mistune: 11.5 s at 28 kB, cubic
    "underscores": lambda n: "_a __a " * n + "b" + " a__ a_" * n,
    "brackets": lambda n: "[" * 7 * n + "a" + "]" * 7 * n,
    "link openers": lambda n: "[a](" * 3 * n,
    "nested links": lambda n: "[" * 3 * n + "a" + "](b)" * 3 * n,
    "nested images": lambda n: "![" * 3 * n + "a" + "](b)" * 3 * n,
    "emphasis across links": lambda n: "*[a* " * 2 * n + "b" + " ](c)" * 2 * n,
    "strikethrough": lambda n: "~~a " * 2 * n + "b" + " a~~" * 2 * n,
    "a wide table": lambda n: "|" + "a|" * 3 * n + "\n|" + "-|" * 3 * n + "\n" + ("|" + "a|" * 3 * n + "\n") * 2,
}


def _work(text):
    """The renderer's work on ``text``: the calls it makes, counted (not timed); and its output's length."""
    render = report._renderer()
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += 1

    sys.setprofile(count)
    try:
        page = render.render(text, {})
    finally:
        sys.setprofile(None)
    return calls, len(page)


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_the_renderers_work_grows_linearly_on_crafted_answers(pattern):
    small, large = PATTERNS[pattern](100), PATTERNS[pattern](1000)  # about 1.4 kB and 14 kB: 10 times the text
    (work, size), (work_large, size_large) = _work(small), _work(large)
    assert len(large) >= 9 * len(small)
    assert work_large <= 12 * work, f"{pattern}: {work} calls, then {work_large} for 10 times the text"  # mistune: 24
    assert size_large <= 12 * size


def test_an_answer_is_cut_at_intake_and_its_page_says_by_how_much(tmp_path):
    cells = [nbformat.v4.new_markdown_cell(COMPARISON.question), nbformat.v4.new_markdown_cell("x" * BIG)]
    path = tmp_path / "hw2.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    cut = {}
    answers = notebook.written_answers(path, {COMPARISON.name: COMPARISON.question}, cut)
    assert len(answers[COMPARISON.name]) == settings.limits().answer_length  # guard: cut_answer in written_answers
    assert cut == {COMPARISON.name: BIG}
    shown = report.answer_html(answers[COMPARISON.name], cut[COMPARISON.name])
    assert f"cut: the answer has {BIG:,} characters; its first {settings.limits().answer_length:,} are shown" in shown
    attack = PATTERNS["nested emphasis"](20_000)  # 280 kB in a record no intake cut (a record is not trusted)
    shown = report.answer_html(attack)
    assert f"the answer has {len(attack):,} characters" in shown
    assert len(shown) < 4 * settings.limits().answer_length  # guard: cut_answer in answer_html


def test_answers_keep_their_rules_with_the_new_renderer():
    shown = report.answer_html("| a | b |\n|---|---|\n| ~~c~~ | <b>d</b> |\n\n[m](mailto:x@y.z) <javascript:alert(1)> "
                               "[n](JAVASCRIPT:alert(1)) ![](data:image/png;base64,AAAA) ![*alt* `t`](p.png)")
    assert "<table>" in shown and "<s>c</s>" in shown and "&lt;b&gt;d&lt;/b&gt;" in shown
    assert '<a href="mailto:x@y.z" rel="noopener noreferrer nofollow">m</a>' in shown
    assert shown.count('<span class="dead-link"') == 2 and "<img" not in shown and "<a href=\"java" not in shown
    assert "[image: data:image/png;base64,AAAA]" in shown and "[image: alt t]" in shown


def test_an_answer_or_a_page_that_cannot_be_rendered_costs_itself_only(tmp_path, monkeypatch):
    class Broken:
        def render(self, text, env):
            raise RuntimeError("renderer broke")

    monkeypatch.setattr(report, "_renderer", lambda: Broken())
    shown = report.answer_html("mine")
    assert "this answer could not be shown (RuntimeError: renderer broke)" in shown
    monkeypatch.setattr(report, "answer_page", lambda *a, **k: 1 / 0)
    publish.write(tmp_path, [record("alice"), record("bob")], {}, {}, assignment=HW)
    for part in HW.written():
        assert "this page could not be shown (ZeroDivisionError" in (tmp_path / f"written_{part.name}.html").read_text()
    assert set(_rows(tmp_path)) == {"alice", "bob"} and (tmp_path / "summary.html").exists()


# -- images ---------------------------------------------------------------------------------------------------------
def test_an_image_is_embedded_only_when_its_header_says_a_real_one_small_enough():
    huge = huge_png()
    assert len(huge) <= settings.limits().shown_size  # within the byte cap: its header alone says it is too large
    shown = report.output_html({"type": "image/png", "data": _b64(huge), "cell": 3}, "theirs")
    assert "<img" not in shown and "image too large (65535 \u00d7 65535)" in shown  # guard: image_side in checked_image
    small = huge_png(64)
    assert "<img" in report.output_html({"type": "image/png", "data": _b64(small)}, "theirs")
    script = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"
    image_data = struct.pack(">I", len(script)) + b"IDAT" + script + b"\0\0\0\0"  # SVG as the pixels, its CRC wrong
    for body in (b"\x89PNG\r\n\x1a\n" + script, small[:33] + script, small[:33] + image_data):
        shown = report.output_html({"type": "image/png", "data": _b64(body)}, "theirs")
        assert "<img" not in shown and "not an image" in shown  # guards: _png_size, Pillow's open and verify


# -- records ------------------------------------------------------------------------------------------------------
def _hostile_notebook(path, cells):
    """A notebook of ``cells`` cells: printed outputs, the 65535 x 65535 PNG before the question, a 15 MB answer."""
    def code(text, output):
        return {"cell_type": "code", "source": text, "metadata": {}, "outputs": [output], "execution_count": None}

    printed = {"output_type": "stream", "name": "stdout", "text": "y" * 100}
    figure = {"output_type": "display_data", "metadata": {}, "data": {"image/png": _b64(huge_png())}}
    found = [*(code("x = 1", printed) for _ in range(cells - 4)), code("plot_confusion_matrix(cm)", figure),
             *({"cell_type": "markdown", "source": text, "metadata": {}}
               for text in (COMPARISON.question, "<" * BIG, "the end"))]
    path.mkdir(parents=True)
    (path / "hw2.ipynb").write_text(json.dumps({"cells": found, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert (path / "hw2.ipynb").stat().st_size <= settings.limits().file_size


@pytest.mark.slow
def test_a_record_stays_small_whatever_a_submission_holds(tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    _hostile_notebook(subs / "refused", 10_000)  # over settings.limits().notebook_cells: refused with a reason
    _hostile_notebook(subs / "under", settings.limits().notebook_cells - 1)
    run = {"results": [], "events": [{"event": "note", "message": "m" * 500}] * 200 + [{"event": "finished"}],
           "rejected": [], "timed_out": False, "returncode": 0, "seconds": 1.0, "log": "\x01" * 3_000_000,
           "printed": 3_000_000}  # a log that escapes to 18 MB of JSON: bounded by store.save, not by intake
    monkeypatch.setattr(pipeline.session, "grade_submission", lambda *a: dict(run))
    monkeypatch.setattr(pipeline, "IN_PROCESS", True)
    monkeypatch.setattr(grade.isolation, "problem", lambda: None)
    out = tmp_path / "out"
    grade.grade(subs, out, quiet=True)
    for name in ("refused", "under"):
        assert (out / "records" / f"{name}.json").stat().st_size <= settings.limits().record_size  # guard: fit in store.save
    under = json.loads((out / "records" / "under.json").read_text())
    assert under["answers_cut"] == {COMPARISON.name: BIG}
    assert len(under["answers"][COMPARISON.name]) == settings.limits().answer_length
    assert "image too large (65535 \u00d7 65535)" in under["shown"][COMPARISON.name]["problem"]
    assert "[... cut by the grader: 3,000,000 characters]" in under["log"]
    refused = json.loads((out / "records" / "refused.json").read_text())
    assert refused["answers"] == {} and "more than 5,000 cells" in refused["shown"][COMPARISON.name]["problem"]
    page = (out / f"written_{COMPARISON.name}.html").read_text()
    assert len(page) < 512 * 2**10 and f"the answer has {BIG:,} characters" in page
    assert "image too large (65535 \u00d7 65535)" in page and set(_rows(out)) == {"refused", "under"}


def test_a_record_read_back_is_bounded_again(tmp_path):
    shard = tmp_path / "shard"
    untrusted = record("bob", answers={COMPARISON.name: PATTERNS["nested emphasis"](20_000)}, log="z" * 3_000_000,
                       shown={COMPARISON.name: {"type": "image/png", "data": _b64(huge_png())}})
    (shard / "records").mkdir(parents=True)
    (shard / "records" / "bob.json").write_text(json.dumps(untrusted))  # as an older grader, or an editor, wrote it
    publish.write(tmp_path / "published", [untrusted], {}, {}, assignment=HW)
    assert (tmp_path / "published" / "logs" / "bob.txt").stat().st_size <= settings.limits().record_size  # guard: fit in write
    assert merge.main([str(shard), "--out", str(tmp_path / "joined")]) == 0
    assert (tmp_path / "joined" / "records" / "bob.json").stat().st_size <= settings.limits().record_size
    page = (tmp_path / "joined" / f"written_{COMPARISON.name}.html").read_text()
    assert "the answer has 280,001 characters" in page and "image too large (65535 \u00d7 65535)" in page
    many = {"name": "n", "events": [{"message": "\U0001f600" * 1000}] * 10_000}  # 120 MB of escaped JSON
    assert bounds.size(bounds.fit(many)) <= settings.limits().record_size


# -- grades.csv -----------------------------------------------------------------------------------------------------
def test_grades_csv_is_written_before_any_page(tmp_path, fake_grading, monkeypatch):
    seen, page = [], report.answer_page

    def answer_page(*args, **kwargs):
        seen.append(set(_rows(tmp_path / "out")) if (tmp_path / "out" / "grades.csv").exists() else None)
        return page(*args, **kwargs)

    monkeypatch.setattr(report, "answer_page", answer_page)
    grade.grade(folder_of(tmp_path / "subs", ["alice", "bob"]), tmp_path / "out", quiet=True)
    assert seen and all(rows == {"alice", "bob"} for rows in seen)  # guard: publish._grades before report.write


def test_a_run_stopped_while_grading_leaves_rows_that_say_so(tmp_path, fake_grading, monkeypatch):
    subs, out = folder_of(tmp_path / "subs", ["alice", "bob"]), tmp_path / "out"
    grade.grade(subs, out, quiet=True)
    first = _rows(out)
    (subs / "bob" / "hw2_models.py").write_text("# changed")
    folder_of(subs, ["carol"])

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run", stopped)
    with pytest.raises(grade.Interrupted):
        grade.grade(subs, out, quiet=True)
    rows = _rows(out)  # never removed; replaced before grading began
    assert rows["alice"] == first["alice"] and set(rows) == {"alice", "bob", "carol"}  # guard: publish.start
    assert all(rows[n]["status"].startswith("not graded yet") and rows[n]["total"] == "0" for n in ("bob", "carol"))
    assert not list(out.glob("written_*.html"))  # the older pages went: they showed bob's older answer
