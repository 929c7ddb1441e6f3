"""``summary.html``: the class at a glance: per part the mean and how many scored 0, a histogram of the totals (a
matplotlib figure embedded as a PNG), the submissions that could not be graded, with why, and the written scores
given for an answer since replaced (to give again)."""

import base64
import html
import io
import math

from grading.text import number, write_atomically


def part_table(outcomes, assignment):
    """[(part, points, mean, zeros, scored)] over the outcomes that have the part scored."""
    table = []
    for part in assignment.parts:
        values = [o["parts"][part.name]["points"] for o in outcomes if o["parts"][part.name]["points"] is not None]
        mean = sum(values) / len(values) if values else None
        table.append((part.name, part.points, mean, sum(1 for v in values if v == 0), len(values)))
    return table


def figure(outcomes, assignment):
    """The totals' histogram as a matplotlib Figure: one bar per point of the total, each submission counted once,
    whole submissions on the count axis (integer ticks only: a class of three is never 0.5 submissions)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # no pyplot: no global state shared with anything else
    from matplotlib.ticker import MaxNLocator

    total = math.ceil(assignment.total)
    drawn = Figure(figsize=(6, 3), dpi=100)
    axes = drawn.subplots()
    totals = [min(max(o["total"], 0), total) for o in outcomes]  # a bar for every submission, within the axis
    axes.hist(totals, bins=range(0, total + 2), align="left", rwidth=0.85, color="#4a7ab5")
    axes.set_xlabel(f"total (of {number(assignment.total)})")
    axes.set_ylabel("submissions")
    axes.set_xticks(range(0, total + 1))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    drawn.tight_layout()
    return drawn


def histogram(outcomes, assignment):
    """The totals' histogram as PNG bytes (``figure``)."""
    handle = io.BytesIO()
    figure(outcomes, assignment).savefig(handle, format="png", metadata={"Software": None})  # same rows, same bytes
    return handle.getvalue()


def _student(who):
    """A student of the gradebook export without a submission: (name, Canvas user id), or a name."""
    if isinstance(who, (tuple, list)) and len(who) == 2:
        return f"{who[0] or '(no name)'} (Canvas user id {who[1]})"
    return str(who)


def text(outcomes, assignment, ignored=(), absent=()):
    table = "".join(f"<tr><td>{html.escape(name)}</td><td>{points:g}</td>"
                    f"<td>{'-' if mean is None else f'{mean:.2f}'}</td><td>{zeros}</td><td>{scored}</td></tr>"
                    for name, points, mean, zeros, scored in part_table(outcomes, assignment))
    failed = "".join(f"<li><strong>{html.escape(o['name'])}</strong>: "
                     f"{html.escape('; '.join(i['text'] for i in o['issues']))}</li>"
                     for o in outcomes if not o["graded"]) or "<li>none</li>"
    skipped = "".join(f"<li>{html.escape(name)}</li>" for name in ignored)
    skipped = f"<h2>Entries not graded (not named as Canvas names them)</h2><ul>{skipped}</ul>" if skipped else ""
    missing = "".join(f"<li>{html.escape(_student(who))}</li>" for who in absent)
    missing = (f"<h2>No submission ({len(absent)} of the gradebook export's students)</h2><ul>{missing}</ul>"
               if missing else "")
    stale = "".join(f"<li><strong>{html.escape(o['name'])}</strong>: "
                    f"{html.escape(', '.join(f'{part} (was {number(points)})' for part, points in o['stale'].items()))}"
                    "</li>" for o in outcomes if o.get("stale"))
    stale = (f"<h2>Written scores to give again (the answer changed since it was scored; not counted)</h2>"
             f"<p>Each old score is beside its part in written_scores_template.csv.</p><ul>{stale}</ul>"
             if stale else "")
    totals = [o["total"] for o in outcomes]
    mean = f"{sum(totals) / len(totals):.2f}" if totals else "-"
    image = base64.b64encode(histogram(outcomes, assignment)).decode() if outcomes else ""
    title = f"{html.escape(assignment.name.upper())}: the class at a glance"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title><style>
body {{ font-family: sans-serif; margin: 1.5em; overflow-wrap: anywhere; }} img {{ max-width: 100%; height: auto; }}
td, th {{ border-top: 1px solid #ccc; padding: 0.3em 0.8em; }} table {{ border-collapse: collapse; }}
</style></head><body>
<h1>{title}</h1>
<p>{len(outcomes)} submissions; mean total {mean} of {number(assignment.total)}; {sum(1 for o in outcomes if o['late'])} late.</p>
<table><tr><th>part</th><th>points</th><th>mean</th><th>scored 0</th><th>scored</th></tr>{table}</table>
<h2>Totals</h2>{f'<img alt="histogram of the totals" src="data:image/png;base64,{image}">' if image else ''}
<h2>Could not be graded</h2><ul>{failed}</ul>{stale}{missing}{skipped}
</body></html>
"""


def write(out, outcomes, assignment, ignored=(), absent=()):
    write_atomically(out / "summary.html", text(outcomes, assignment, ignored, absent))
