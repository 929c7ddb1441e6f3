"""What a run writes into ``--out``: grades.csv, the written-answer pages, the scores template, and per submission
``details/FILE.json`` and ``logs/FILE.txt`` (FILE: ``text.file_name``). Every file is written as UTF-8 with
anything unencodable replaced, so no text of a submission can stop the writing."""

import functools
import html
import json
import shutil
import sys

from grading.assignment import EMPTY_ANSWER, heading
from grading.intake import images, notebook
from grading.outputs.results import ANSWER_HASH, answer_hash, columns, stale_scores
from grading.text import csv_text, file_name, number, score_key, write_atomically, write_text


TEMPLATE = "written_scores_template.csv"
OLD_SCORE = "_old_score"  # the template's column beside a score given for an answer since replaced


def clear(out, assignment):
    """Remove the pages, details and logs an earlier run wrote, so a run that fails never leaves them looking
    current. grades.csv is never removed: each run replaces it whole (``publish``), and a run that grades writes it
    first with the rows it has not graded yet saying so (``publish.start``). The scores template stays: the
    instructor may have typed scores into it (``template_path``)."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in (f"written_{p.name}.html" for p in assignment.written()):
        (out / stale).unlink(missing_ok=True)
    for sub in ("details", "logs"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir()


def reference_answers(assignment):
    """{part: the solved notebook's answer} (its ``answer``-tagged cell after the part's question)."""
    return notebook.written_answers(assignment.solved("notebook"), {p.name: p.question for p in assignment.written()})


def reference_outputs(assignment):
    """{part: the solved notebook's output that the part's question refers to} (``notebook.shown_outputs``)."""
    return notebook.shown_outputs(assignment.solved("notebook"), assignment.written())


WEB = ("http://", "https://", "mailto:")


@functools.lru_cache(maxsize=None)
def _renderer():
    """A markdown renderer for answers (markdown-it-py: its work grows linearly with the text, crafted emphasis,
    brackets and links included): raw HTML is shown as text; a link is kept only to a web page or an e-mail address
    (the page has none of a notebook's anchors and none of its files: another link would be dead, so its text is
    shown with the target as a tooltip); an image becomes its alternative text (a notebook's images are not beside
    the page, and a web image would be fetched by the instructor's browser); tables and strikethrough as GitHub's."""
    from markdown_it import MarkdownIt
    from markdown_it.common.utils import escapeHtml

    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # every link reaches link_open, which decides what it becomes

    def link_open(self, tokens, index, options, env):
        href = tokens[index].attrGet("href") or ""
        web = href.strip().lower().startswith(WEB)
        env.setdefault("links", []).append(web)  # links do not nest: link_close pops this one
        if web:
            return f'<a href="{escapeHtml(href)}" rel="noopener noreferrer nofollow">'
        return f'<span class="dead-link" title="{escapeHtml(href)}">'

    def link_close(self, tokens, index, options, env):
        return "</a>" if env["links"].pop() else "</span>"

    def image(self, tokens, index, options, env):
        token = tokens[index]
        alt = self.renderInlineAsText(token.children or [], options, env) or str(token.attrGet("src") or "")
        return f'<span class="image">[image: {escapeHtml(alt)}]</span>'

    for name, rule in (("link_open", link_open), ("link_close", link_close), ("image", image)):
        md.add_render_rule(name, rule)
    return md


def _failed(what, error):
    """Why ``what`` is not shown: the error's type and first line (a page says it in place of what failed)."""
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return (f'<p class="none">{html.escape(what)} could not be shown ({type(error).__name__}'
            f'{": " + html.escape(text) if text else ""}); see the submission\'s notebook</p>')


def answer_html(text, cut=None):
    """An answer (a notebook's markdown cell) as HTML that runs nothing and links nowhere dead: its first
    ``settings.limits().answer_length`` characters (a record is not trusted), saying it was cut when it was (``cut``: the
    length the record says it had), or why it cannot be shown."""
    if not text or text == EMPTY_ANSWER:
        return "<p><em>(no answer)</em></p>"
    text, length = notebook.cut_answer(text)
    length = max(length or 0, cut if isinstance(cut, int) and not isinstance(cut, bool) else 0)
    note = (f'<p class="cut">cut: the answer has {length:,} characters; its first {len(text):,} are shown '
            f'({length - len(text):,} cut)</p>' if length > len(text) else "")
    try:
        return _renderer().render(text, {}) + note
    except Exception as error:  # this answer only: the page and the other answers are shown
        return _failed("this answer", error) + note


def output_html(shown, whose):
    """The saved output a question refers to, as an image embedded in the page (its bytes checked again: a record is
    not trusted), or why there is none."""
    import base64

    if not isinstance(shown, dict):
        return '<p class="none">no saved output in this record (grade it again to read it)</p>'
    if "data" in shown:
        raw, why = images.checked_image(shown.get("type"), shown.get("data"))
    else:
        raw, why = None, shown.get("problem") if isinstance(shown.get("problem"), str) else None
    if raw is None:
        return f'<p class="none">{html.escape((why or "not an image the page can show")[:300])}</p>'
    cell = shown.get("cell")
    where = f", cell {cell}" if isinstance(cell, int) and not isinstance(cell, bool) else ""
    return (f'<figure><img alt="{html.escape(whose)}: the output{where}" '
            f'src="data:{shown["type"]};base64,{base64.b64encode(raw).decode("ascii")}">'
            f"<figcaption>{html.escape(whose)}{where}</figcaption></figure>")


STYLE = """body { font-family: sans-serif; margin: 1.5em; overflow-wrap: anywhere; } h1 { font-size: 1.3em; }
.layout { display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 2fr); gap: 1.5em; align-items: start; }
.reference { position: sticky; top: 1em; background: #f4f7ee; padding: 0.5em 1em; max-height: 95vh; overflow: auto; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
td { border-top: 1px solid #ccc; vertical-align: top; padding: 0.4em; }
.name { font-weight: bold; width: 9em; } .name .submission { font-weight: normal; color: #555; font-size: 0.85em; }
.points { white-space: nowrap; width: 3.5em; } .answer { display: flex; flex-wrap: wrap; gap: 1em; }
.answer .text { flex: 1 1 14em; min-width: 0; } .answer figure { flex: 0 1 22em; margin: 0; min-width: 0; }
img { max-width: 100%; height: auto; } figcaption, .none { color: #555; font-size: 0.85em; }
.dead-link { text-decoration: underline dotted; } .cut { color: #a33; font-size: 0.85em; }
pre { white-space: pre-wrap; font-family: inherit; margin: 0; }
.answer table { width: auto; table-layout: auto; } p:first-child { margin-top: 0; }"""


def _who(record, names):
    """The student's name from the gradebook export (by the record's Canvas user id), with the submission's name."""
    user = record.get("canvas_user_id")
    student = names.get(user) if isinstance(user, str) and names else None
    own = html.escape(str(record.get("name", "")))
    return f'{html.escape(student)}<br><span class="submission">{own}</span>' if student else own


def answer_page(part, records, reference, assignment, names=None, shown_reference=None):
    """The page of one written part: every submission's answer (by the student's name when ``names``, {Canvas user
    id: name} from the gradebook export, has it), beside it the output its question refers to when the part
    ``shows`` one, and the solved notebook's answer (and output) as the reference."""
    rows = []
    for record in records:
        answers, cut, shown = (record.get(key) if isinstance(record.get(key), dict) else {}
                               for key in ("answers", "answers_cut", "shown"))
        answer = answers.get(part.name, "")
        try:
            output = output_html(shown.get(part.name), "their output") if part.shows else ""
        except Exception as error:  # this output only
            output = _failed("their output", error)
        rows.append(f'<tr><td class="name">{_who(record, names)}</td><td><div class="answer"><div class="text">'
                    f'{answer_html(answer if isinstance(answer, str) else "", cut.get(part.name))}</div>{output}'
                    f'</div></td><td class="points">/ {number(part.points)}</td></tr>')
    solved = output_html((shown_reference or {}).get(part.name), "the solved notebook") if part.shows else ""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(assignment.name)} written answers: {part.name}</title>
<style>
{STYLE}
</style></head><body>
<h1>{html.escape(heading(part))}</h1>
<p>{len(records)} submissions; {number(part.points)} point(s) each. Score them in <code>written_scores_template.csv</code>
(column <code>{part.name}</code>, and <code>{part.name}_comment</code> for a comment the student reads in the feedback),
save it, then run <code>python -m grading.grade ... --written-scores FILE</code> again.</p>
<div class="layout"><table>{''.join(rows)}</table>
<div class="reference"><h2>Reference (the solved notebook)</h2>{solved}{answer_html(reference.get(part.name, ''))}</div>
</div></body></html>
"""


def write_submission_files(out, record):
    """details/FILE.json and logs/FILE.txt of one record."""
    safe = file_name(record["name"])
    checks = [r for r in record.get("results", []) if isinstance(r, dict)]
    details = {"submission": record["name"], "format": record.get("format"),
               "checks": sorted(checks, key=lambda r: (str(r.get("part")), str(r.get("case")))),
               "events": record.get("events", []), "problems": record.get("problems", []),
               "rejected": record.get("rejected", []), "printed": record.get("printed"),
               "peak_memory": record.get("peak_memory"), "seconds": record.get("seconds")}
    write_text(out / "details" / f"{safe}.json", json.dumps(details, indent=1, sort_keys=True, default=repr) + "\n")
    write_text(out / "logs" / f"{safe}.txt", str(record.get("log", "")))


def failed_page(part, assignment, error):
    """The page of a written part that could not be made: why, and where the answers are."""
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(assignment.name)} written '
            f'answers: {part.name}</title></head><body><h1>{html.escape(heading(part))}</h1>'
            f'{_failed("this page", error)}<p>The answers are in each submission\'s notebook and in '
            f'<code>records/</code>; grades.csv and the scores template are written.</p></body></html>\n')


def write(out, rows, records, written, assignment, names=None):
    """Every output of a run but grades.csv, which the caller writes first; ``names`` {Canvas user id: the student's
    name} from the gradebook export, for the answer pages. A page that cannot be made says why in its place."""
    try:
        reference, shown = reference_answers(assignment), reference_outputs(assignment)
    except Exception as error:  # the solved notebook: the pages show no reference, and say nothing is wrong with them
        print(f"grading.grade: the solved notebook's answers could not be read ({error})", file=sys.stderr)
        reference, shown = {}, {}
    for part in assignment.written():
        try:
            page = answer_page(part, records, reference, assignment, names, shown)
        except Exception as error:  # this page only: the others, the details and the template are written
            page = failed_page(part, assignment, error)
        write_text(out / f"written_{part.name}.html", page)
    for record in records:
        try:
            write_submission_files(out, record)
        except Exception as error:  # one submission's files never stop the others' or grades.csv
            print(f"grading.grade: the details of {record.get('name')!r} could not be written ({error})", file=sys.stderr)
    return write_template(out, records, written, assignment)


def write_template(out, records, written, assignment):
    """Write the scores template (``template_path``, ``scores_template``); returns messages: where it went when the
    one there holds scores not merged, and whose scores were given for an answer since replaced (to give again)."""
    given_for = {r["name"]: r["written_for"] for r in records if isinstance(r.get("written_for"), dict)}
    path, message = template_path(out, written, assignment, given_for)
    write_atomically(path, scores_template(records, written, assignment))
    stale = [f"{r['name']}'s {part} (was {number(points)})" for r in records
             for part, points in stale_scores(r, written.get(r["name"])).items()]
    redo = (f"written scores to give again, the answer changed since it was scored (not counted until then): "
            f"{', '.join(stale)}; each old score is beside it in {path} (PART{OLD_SCORE})") if stale else None
    return [m for m in (message, redo) if m]


def typed_scores(path, written, assignment, given_for=None):
    """The scores and comments in the scores file at ``path`` that ``written`` (what the records hold) does not:
    what an instructor typed and has not merged yet ([] when there is no file). A score counts as merged when the
    records hold it for the answer its row names (``given_for``: {name: {part: answer hash}}, the records' own). A
    file that cannot be read as scores counts as typed."""
    from grading.outputs.results import read_written_scores

    if not path.exists():
        return []
    try:
        found = read_written_scores(path, None, assignment)
    except (ValueError, OSError) as error:
        return [f"({str(error)[:80]})"]
    given_for = given_for or {}
    typed = []
    for name, fields in sorted(found.items()):
        for field, value in sorted(fields.items()):
            row = fields.get(f"{field}{ANSWER_HASH}")
            kept = given_for.get(name, {}).get(field, row)  # a score kept without its answer's hash: by value alone
            if not field.endswith(ANSWER_HASH) and (written.get(name, {}).get(field) != value or (row and kept != row)):
                typed.append(f"{name}'s {field}")
    return typed


def template_path(out, written, assignment, given_for=None):
    """(path, message or None) for the scores template: its own name, unless the file there holds scores the records
    do not (``typed_scores``): then that file is never overwritten, and the fresh one goes beside it
    (``written_scores_template.new.csv``, then ``.new2.csv``, ...), which the message says."""
    names = [TEMPLATE, "written_scores_template.new.csv",
             *(f"written_scores_template.new{k}.csv" for k in range(2, 100))]
    kept = []
    for name in names:
        typed = typed_scores(out / name, written, assignment, given_for)
        if not typed:
            break
        kept.append((name, typed))
    if not kept:
        return out / name, None
    first, typed = kept[0]
    return out / name, (f"{out / first} holds scores not merged yet ({', '.join(typed[:5])}"
                        f"{', ...' if len(typed) > 5 else ''}): left as it is; the fresh template is {out / name} "
                        f"(merge yours with --written-scores {out / first})")


def scores_template(records, written, assignment):
    """The scores template's CSV: per submission its name, its written scores (and comments) so far, each score
    given for an answer since replaced left empty with the old one beside it (``PART_old_score``: rescoring is one
    edit), per part the hash of the answer the row scores (``PART_answer_hash``: a score typed for an answer that
    changes before it is merged shows stale), and ``key`` (``score_key`` of the exact name), by which the scores
    are read back whatever a spreadsheet does to the name."""
    parts = [part.name for part in assignment.written()]
    rows = []
    for record in records:
        own = written.get(record["name"], {})
        stale = stale_scores(record, own)
        answers = record.get("answers") if isinstance(record.get("answers"), dict) else {}
        cells = [record["name"]]
        for name in parts:
            current = number(own[name]) if name in own and name not in stale else ""
            old = number(stale[name]) if name in stale else ""
            cells += [current, own.get(f"{name}_comment", ""), old]
        rows.append([*cells, *(answer_hash(answers.get(name)) for name in parts), score_key(record["name"])])
    header = ["submission", *(f"{name}{kind}" for name in parts for kind in ("", "_comment", OLD_SCORE)),
              *(f"{name}{ANSWER_HASH}" for name in parts), "key"]
    return csv_text(rows, header)


def write_grades(out, rows, assignment):
    names = columns(assignment)
    write_atomically(out / "grades.csv", csv_text([[row[c] for c in names] for row in rows], names))
