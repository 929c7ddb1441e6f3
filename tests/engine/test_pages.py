"""The pages people read: each student's feedback, the written answers' pages, the summary, the solved notebook's HTML
export, and the instructors' guide. The pages are made from records, as ``grading.merge`` makes them (nothing is
graded here), with a Canvas gradebook export read from a file as ``--gradebook`` reads it and written scores read
back from the scores template as ``--written-scores`` reads them.

The browser checks open each page in Debian's chromium (headless; ``.ci/run`` installs it) and check that every image
loads, every in-page anchor exists, every relative link names a file and nothing runs off a 1280-pixel-wide window.
Without chromium they are skipped, saying why; in CI (``CI=true``) a missing chromium fails them.
``PAGES_SCREENSHOTS=FOLDER`` keeps a screenshot of each page there."""

import base64
import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from grading.assignment import load as load_assignment
from grading.intake import notebook
from grading.outputs import publish, report, results, summary

REPO = Path(__file__).resolve().parents[2]
HW = load_assignment()
COMPARISON = next(p for p in HW.written() if p.shows)  # the written part whose question refers to an output
USE_CASE = next(p for p in HW.written() if not p.shows)
# A gradebook export as Canvas writes one (Grades > Export): a byte-order mark, the Points Possible row, the test
# student, the totals' columns.
EXPORT = ("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Homework 2 (48213),Current Points,Final Points,"
          "Current Score,Unposted Current Score,Final Score,Unposted Final Score\n"
          "    Points Possible,,,,,15.00,(read only),(read only),(read only),(read only),(read only),(read only)\n"
          '"Garcia, Luis",48213,G001,lgarcia,Design 101,,0,0,,,,\n'
          '"Moreau, Ana",48215,M003,amoreau,Design 101,,0,0,,,,\n'
          '"Nobody, Sam",48218,N004,snobody,Design 101,,0,0,,,,\n')
LONG = "y" * 290  # a message without a space: it must wrap, not widen the page
HOSTILE = ("**Mine.** Fewer errors than HW1 ([Appendix A](#appendix-a), [my notes](notes.md), "
           "[x](javascript:alert(1)), [the docs](https://pytorch.org/docs)). ![my plot](plot.png) "
           "<script>alert(1)</script> <img src=x onerror=alert(1)> " + "z" * 200)


def record(name, user=None, late=False, passed=True, answers=None, shown=None):
    """A record as the grader makes one: every case passed but, unless ``passed``, the first of lenet_layers."""
    found = [{"part": p.name, "case": "all", "points": p.points, "passed": True, "message": ""}
             for p in HW.automatic() if p.name != "lenet_layers"]
    found += [{"part": "lenet_layers", "case": "a", "points": 1, "passed": passed, "message": f"C1 is 3x3 {LONG}"},
              {"part": "lenet_layers", "case": "b", "points": 2, "passed": True, "message": ""}]
    made = {"name": name, "format": "kit", "notes": [], "problems": [], "results": found,
            "events": [{"event": "finished"}], "rejected": [], "timed_out": False, "returncode": 0, "seconds": 1.0,
            "log": "", "answers": answers or {}, "shown": shown or {}}
    if user:
        made.update(canvas_user_id=user, late=late, canvas_name=name.split("_")[0])
    return made


def _solved_shown():
    return notebook.shown_outputs(HW.solved("notebook"), HW.written())


def _records():
    garbage = {COMPARISON.name: {"type": "image/png", "data": base64.b64encode(b"<svg onload=alert(1)>").decode(),
                                 "cell": 3}}
    wide = {COMPARISON.name: {"type": "image/png", "data": _png("orange", (2400, 200)), "cell": 9}}
    return [record("garcialuis_48213", "48213", passed=False, answers={COMPARISON.name: HOSTILE},
                   shown=_solved_shown()),
            record("moreauana_48215", "48215", late=True, answers={COMPARISON.name: "Mine, shorter."}, shown=garbage),
            record("widefigure", answers={COMPARISON.name: "A wide figure."}, shown=wide),  # a plain folder's
            results.failed_record("broken", "copying the submission: OSError")]


def _publish(out, records, written=None, gradebook=True):
    """Every page of ``records`` in ``out``, as grade and merge make them; the gradebook export read from a file."""
    book = None
    if gradebook:
        export = out.parent / "export.csv"
        export.write_text(EXPORT, encoding="utf-8")
        book = publish.read_gradebook(export, "Homework 2")
    return publish.write(out, records, written or {}, {"timeout": 60, "late_penalty": 0.1}, book, assignment=HW)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A results folder made from records, its written scores and comments merged from the scores template."""
    out = tmp_path_factory.mktemp("pages") / "results"
    records = _records()
    _publish(out, records)
    with open(out / "written_scores_template.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # the instructor scores garcialuis and comments on moreauana's unscored answer
        if row["submission"] == "garcialuis_48213":
            row.update({COMPARISON.name: "1", USE_CASE.name: "2",
                        f"{USE_CASE.name}_comment": "Good use case;\nsay what the latent space means."})
        if row["submission"] == "moreauana_48215":
            row[f"{COMPARISON.name}_comment"] = "Compare the off-diagonal cells."
    scores = out.parent / "written_scores.csv"
    with open(scores, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    written = results.read_written_scores(scores, {r["name"] for r in records}, HW)
    _publish(out, records, written)
    return out


def _read(path):
    return path.read_text(encoding="utf-8")


# -- feedback -----------------------------------------------------------------------------------------------------
def test_feedback_names_each_case_and_each_deduction_once(pages):
    page = _read(pages / "feedback" / "garcialuis_48213.html")
    assert "a (1 pt): not earned: C1 is 3x3" in page and "b (2 pt): passed" in page  # each case, passed or not
    assert page.count("C1 is 3x3") == 1  # its message in the table, not again among the notes
    assert "Total: 14 / 15" in page
    late = _read(pages / "feedback" / "moreauana_48215.html")
    assert "Total: 10.8 / 15" in late
    assert late.count("1.2 point(s) off") == 1 and "(10% of the total)" in late  # the penalty shown once


def test_feedback_takes_the_comments_of_the_scores_file(pages):
    page = _read(pages / "feedback" / "garcialuis_48213.html")
    assert "scored by your instructor" in page
    assert "your instructor&#x27;s comment: Good use case;\nsay what the latent space means." in page
    late = _read(pages / "feedback" / "moreauana_48215.html")
    assert "not scored yet" in late and "Compare the off-diagonal cells." in late  # a comment before the score


# -- the written answers' pages --------------------------------------------------------------------------------
def test_answer_pages_name_students_from_the_gradebook_export(pages, tmp_path):
    page = _read(pages / f"written_{COMPARISON.name}.html")
    assert 'Garcia, Luis<br><span class="submission">garcialuis_48213</span>' in page
    assert "Moreau, Ana" in page and '<td class="name">broken</td>' in page  # not in the export: its name
    _publish(tmp_path / "plain", _records(), gradebook=False)
    plain = _read(tmp_path / "plain" / f"written_{COMPARISON.name}.html")
    assert '<td class="name">garcialuis_48213</td>' in plain and "Garcia" not in plain


def _png(colour, size=(4, 3)):
    """A PNG's base64, as a notebook saves a figure."""
    import io

    from PIL import Image

    handle = io.BytesIO()
    Image.new("RGB", size, colour).save(handle, format="PNG")
    return base64.b64encode(handle.getvalue()).decode()


def test_the_output_a_question_refers_to_is_the_students_own(tmp_path):
    import nbformat

    figure = {"output_type": "display_data", "metadata": {}}
    cells = [nbformat.v4.new_code_cell("cm = counts()\nplot_confusion_matrix(cm)",
                                       outputs=[nbformat.v4.new_output(**figure, data={"image/png": _png("red")})]),
             nbformat.v4.new_code_cell("plt.plot(losses)",
                                       outputs=[nbformat.v4.new_output(**figure, data={"image/png": _png("blue")})]),
             nbformat.v4.new_markdown_cell(COMPARISON.question + " (1 pt)"),
             nbformat.v4.new_markdown_cell("Mine."),
             nbformat.v4.new_code_cell("plot_confusion_matrix(other)",
                                       outputs=[nbformat.v4.new_output(**figure, data={"image/png": _png("green")})])]
    path = tmp_path / "hw.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    found = notebook.shown_outputs(path, HW.written())
    assert found == {COMPARISON.name: {"type": "image/png", "data": _png("red"), "cell": 1}}  # the phrase's cell
    for cell in cells:  # handed in with its outputs cleared
        if cell.cell_type == "code":
            cell.outputs = []
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    assert "no saved output" in notebook.shown_outputs(path, HW.written())[COMPARISON.name]["problem"]
    # the reference: the solved notebook's own figure, from the last cell before the question that draws it
    solved = json.loads(HW.solved("notebook").read_text(encoding="utf-8"))["cells"]
    question = next(i for i, c in enumerate(solved) if COMPARISON.question in "".join(c["source"]))
    drawn = [i for i, c in enumerate(solved[:question]) if "plot_confusion_matrix(" in "".join(c["source"])
             and any("image/png" in o.get("data", {}) for o in c.get("outputs", []))][-1]
    reference = report.reference_outputs(HW)[COMPARISON.name]
    assert reference["cell"] == drawn + 1
    assert base64.b64decode(reference["data"]) == base64.b64decode(
        "".join(next(o["data"]["image/png"] for o in solved[drawn]["outputs"] if "image/png" in o.get("data", {}))))


def test_answer_page_shows_each_output_beside_the_answer_and_the_reference(pages):
    page = _read(pages / f"written_{COMPARISON.name}.html")
    image = _solved_shown()[COMPARISON.name]["data"]
    assert page.count(f"data:image/png;base64,{image}") == 2  # garcialuis's (the solved figure here) and the reference
    assert "their output, cell" in page and "the solved notebook, cell" in page
    assert "<img" not in _read(pages / f"written_{USE_CASE.name}.html")  # its question refers to no output


def test_a_record_puts_nothing_but_an_image_into_a_page(pages):
    page = _read(pages / f"written_{COMPARISON.name}.html")
    row = page.split("moreauana_48215")[1].split("</tr>")[0]
    assert "<img" not in row and "svg" not in row and "PHN2Zy" not in row and "not an image the page can show" in row
    for shown in ({"type": "text/html", "data": base64.b64encode(b"<script>alert(1)</script>").decode()},
                  {"type": "image/png", "data": "not base64 at all <b>"}, {"type": "image/png"}, "x", None):
        assert "<img" not in report.output_html(shown, "theirs")


def test_answer_pages_run_nothing_and_link_nowhere_dead(pages):
    for part in HW.written():
        page = _read(pages / f"written_{part.name}.html")
        assert "<script" not in page.lower()  # no script, no element but those the page writes
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page or part != COMPARISON  # shown as text
        hrefs = re.findall(r'href="([^"]*)"', page)
        assert all(h.startswith(("https://", "http://", "mailto:")) for h in hrefs), hrefs
        assert all(src.startswith("data:image/") for src in re.findall(r'<img[^>]* src="([^"]*)"', page))
    page = _read(pages / f"written_{COMPARISON.name}.html")
    assert '<a href="https://pytorch.org/docs" rel="noopener noreferrer nofollow">the docs</a>' in page
    assert "Appendix A</span>" in page and "[image: my plot]" in page  # their text kept, not their links


# -- the summary ----------------------------------------------------------------------------------------------------
def test_summary_lists_who_did_not_submit_from_the_gradebook_export(pages):
    page = _read(pages / "summary.html")
    absent = page.split("No submission")[1]
    assert "Nobody, Sam (Canvas user id 48218)" in absent
    assert "Garcia" not in absent and "Moreau" not in absent and "Points Possible" not in page


def test_histogram_counts_whole_submissions():
    outcomes = [publish.outcome(r, {}, {"late_penalty": 0.1}, HW) for r in _records()]
    axes = summary.figure(outcomes, HW).axes[0]
    assert sum(bar.get_height() for bar in axes.patches) == len(outcomes)  # each submission once
    low, high = axes.get_ylim()
    assert [t for t in axes.get_yticks() if low <= t <= high] and all(
        float(t).is_integer() for t in axes.get_yticks() if low <= t <= high), axes.get_yticks()


# -- in a browser ---------------------------------------------------------------------------------------------------
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,900"]
WIDTH = 1280
# Run on the page's load event: the page's width, each image's natural width, each in-page anchor and whether its
# target exists (by the fragment as written, then percent-decoded, as a browser looks), the relative links, and the
# notes the page shows in place of an output or after a cut answer.
CHECK = """<script>window.addEventListener("load", () => setTimeout(() => {
  const decoded = (h) => { try { return decodeURIComponent(h); } catch (e) { return h; } };
  const exists = (h) => h === "" || [h, decoded(h)].some((i) => document.getElementById(i) !== null
                                                         || document.getElementsByName(i).length > 0);
  const links = [...document.querySelectorAll("a[href], area[href]")].map((a) => a.getAttribute("href"));
  document.body.setAttribute("data-check", JSON.stringify({
    width: document.documentElement.scrollWidth,
    images: [...document.images].map((i) => [(i.getAttribute("src") || "").slice(0, 60), i.naturalWidth]),
    anchors: links.filter((h) => h.startsWith("#")).map((h) => [h, exists(h.slice(1))]),
    files: links.filter((h) => !h.startsWith("#") && !/^[a-z][a-z0-9+.-]*:/i.test(h)),
    notes: [...document.querySelectorAll(".none, .cut")].map((e) => e.textContent)}));
}, 0));</script>"""


def _chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is missing: .ci/run installs it (apt-get install -y chromium)")
    pytest.skip("chromium is not installed (apt-get install -y chromium, as .ci/run does): the pages are not opened")


def _run(browser, *args):
    with tempfile.TemporaryDirectory() as profile:  # a new, empty profile every time
        return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=120)


def open_page(browser, page, base=None):
    """What the page looks like loaded in chromium (see CHECK), relative links resolved from ``base`` (default: the
    page's folder); missing: the relative links that name no file."""
    page = Path(page).resolve()
    base = Path(base or page.parent).resolve()
    text = _read(page)
    text = re.sub(r"<head[^>]*>", lambda m: f'{m.group()}<base href="{base.as_uri()}/">', text, count=1)
    text = text.replace("</body>", f"{CHECK}</body>", 1) if "</body>" in text else text + CHECK
    with tempfile.TemporaryDirectory() as folder:  # a copy with the check, the page itself left as it is
        copy = Path(folder) / "page.html"
        copy.write_text(text, encoding="utf-8")
        done = _run(browser, "--virtual-time-budget=10000", "--dump-dom", copy.as_uri())
        if os.environ.get("PAGES_SCREENSHOTS"):  # the window's first 1280 x 900 pixels
            shots = Path(os.environ["PAGES_SCREENSHOTS"]).resolve()
            shots.mkdir(parents=True, exist_ok=True)
            _run(browser, "--hide-scrollbars", f"--screenshot={shots / (page.stem + '.png')}", copy.as_uri())
    found = re.search(r'<body[^>]*\sdata-check="([^"]*)"', done.stdout)
    assert found, f"chromium did not run the check on {page}: {done.stderr[-2000:]}"
    seen = json.loads(html.unescape(found.group(1)))
    seen["missing"] = [h for h in seen["files"] if not (base / unquote(urlsplit(h).path)).exists()]
    return seen


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The solved notebook's HTML export (``jupyter nbconvert --to html hw2.ipynb``), into a folder of its own."""
    folder = tmp_path_factory.mktemp("export")
    done = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(HW.solved("notebook")),
                           "--output-dir", str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return folder / f"{HW.solved('notebook').stem}.html"


@pytest.mark.parametrize("which", ["summary", "feedback", "answers", "notebook"])
@pytest.mark.slow
def test_pages_in_a_browser(which, pages, request):
    browser = _chromium()
    page = {"summary": pages / "summary.html", "feedback": pages / "feedback" / "garcialuis_48213.html",
            "answers": pages / f"written_{COMPARISON.name}.html"}.get(which)
    base = None
    if which == "notebook":  # read beside the notebook, where nbconvert writes it: its links name the kit's files
        page, base = request.getfixturevalue("exported"), HW.solved("notebook").parent
    seen = open_page(browser, page, base)
    assert all(width > 0 for _, width in seen["images"]), [src for src, width in seen["images"] if not width]
    assert not [h for h, exists in seen["anchors"] if not exists], "in-page links to no anchor"
    assert not seen["missing"], "relative links to no file"
    assert seen["width"] <= WIDTH, f"{page.name} is {seen['width']} pixels wide"
    if which in ("summary", "answers", "notebook"):
        assert seen["images"], "the page's images were not found"


def test_an_answer_page_with_a_huge_image_and_answer_stays_small_in_a_browser(tmp_path):
    from fakes import huge_png

    browser = _chromium()
    hostile = record("hostile", answers={COMPARISON.name: "x " * 7_500_000},  # 15 MB, as a record before the cut
                     shown={COMPARISON.name: {"type": "image/png", "data": base64.b64encode(huge_png()).decode(),
                                              "cell": 4}})  # a valid 65535 x 65535 PNG of 509 KiB
    _publish(tmp_path / "out", [hostile], gradebook=False)
    page = tmp_path / "out" / f"written_{COMPARISON.name}.html"
    assert page.stat().st_size < 256 * 2**10  # guards: image_side in notebook.checked_image, answer_length
    seen = open_page(browser, page)
    assert len(seen["images"]) == 1 and seen["images"][0][1] > 0  # the reference's figure only
    assert seen["width"] <= WIDTH
    assert "image too large (65535 \u00d7 65535)" in seen["notes"]
    assert "cut: the answer has 15,000,000 characters; its first 20,000 are shown (14,980,000 cut)" in seen["notes"]


# -- the guide --------------------------------------------------------------------------------------------------
GUIDES = [REPO / "grading" / "README.md", REPO / "grading" / "THREAT_MODEL.md", REPO / "bench" / "README.md",
          REPO / "grading" / "AUTHORING.md"]


def _headings(path):
    """The anchors GitHub gives a markdown file's headings."""
    return {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            for line in re.sub(r"```.*?```", "", _read(path), flags=re.S).splitlines() if line.startswith("#")}


def test_the_guide_is_short_and_its_links_resolve():
    guide = _read(GUIDES[0])
    assert len(guide) <= 12_000, f"grading/README.md is {len(guide):,} characters; the guide keeps to 12,000"
    assert "(THREAT_MODEL.md)" in guide and "(../bench/README.md)" in guide and "(AUTHORING.md)" in guide
    authoring = _read(GUIDES[3])
    assert len(authoring) <= 12_000, f"grading/AUTHORING.md is {len(authoring):,} characters; it keeps to 12,000"
    assert "(grading/README.md)" in _read(REPO / "README.md")  # the landing page links to the guide
    dead = []
    for path in GUIDES:
        text = re.sub(r"```.*?```", "", _read(path), flags=re.S)  # links, not code
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / unquote(file)) if file else path
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in _headings(linked)):
                dead.append(f"{path.relative_to(REPO)}: {target}")
    assert not dead, dead
