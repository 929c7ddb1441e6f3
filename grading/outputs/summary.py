"""``summary.html``: the class at a glance: per part the mean and how many scored 0, a histogram of the totals (a
matplotlib figure embedded as a PNG), and the submissions that could not be graded, with why."""

import base64
import html
import io

from grading import parts
from grading.outputs.report import write_atomically

TOTAL = parts.AUTOMATIC_POINTS + parts.WRITTEN_POINTS
UNGRADED = ("no hw2.ipynb", "the grader failed", "stopped at the time limit", "the grading process ended early",
            "could not be read", "is neither a folder", "symbolic link", "encrypted", "larger than")


def part_table(rows):
    """[(part, points, mean, zeros, scored)] over the rows that have the part scored."""
    table = []
    for part in parts.PARTS:
        values = [float(row[part.name]) for row in rows if row.get(part.name) not in (None, "")]
        mean = sum(values) / len(values) if values else None
        table.append((part.name, part.points, mean, sum(1 for v in values if v == 0), len(values)))
    return table


def ungraded(rows):
    """[(name, status)] of the submissions whose code could not be graded (nothing to run, a crash, a time-out)."""
    return [(row["submission"], row["status"]) for row in rows if any(word in row["status"] for word in UNGRADED)]


def histogram(rows):
    """The totals' histogram as PNG bytes (one bar per point)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # no pyplot: no global state shared with anything else

    figure = Figure(figsize=(6, 3), dpi=100)
    axes = figure.subplots()
    axes.hist([float(row["total"]) for row in rows], bins=range(0, TOTAL + 2), align="left", rwidth=0.85,
              color="#4a7ab5")
    axes.set_xlabel(f"total (of {TOTAL})")
    axes.set_ylabel("submissions")
    axes.set_xticks(range(0, TOTAL + 1))
    figure.tight_layout()
    handle = io.BytesIO()
    figure.savefig(handle, format="png", metadata={"Software": None})  # the same bytes for the same rows
    return handle.getvalue()


def text(rows, ignored=()):
    table = "".join(f"<tr><td>{name}</td><td>{points:g}</td><td>{'-' if mean is None else f'{mean:.2f}'}</td>"
                    f"<td>{zeros}</td><td>{scored}</td></tr>" for name, points, mean, zeros, scored in part_table(rows))
    failed = "".join(f"<li><strong>{html.escape(name)}</strong>: {html.escape(status)}</li>"
                     for name, status in ungraded(rows)) or "<li>none</li>"
    skipped = "".join(f"<li>{html.escape(name)}</li>" for name in ignored)
    skipped = f"<h2>Entries not graded (not named as Canvas names them)</h2><ul>{skipped}</ul>" if skipped else ""
    totals = [float(row["total"]) for row in rows]
    mean = f"{sum(totals) / len(totals):.2f}" if totals else "-"
    image = base64.b64encode(histogram(rows)).decode() if rows else ""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>HW2: the class at a glance</title><style>
body {{ font-family: sans-serif; margin: 1.5em; }} td, th {{ border-top: 1px solid #ccc; padding: 0.3em 0.8em; }}
table {{ border-collapse: collapse; }}</style></head><body>
<h1>HW2: the class at a glance</h1>
<p>{len(rows)} submissions; mean total {mean} of {TOTAL}; {sum(1 for r in rows if r.get('late'))} late.</p>
<table><tr><th>part</th><th>points</th><th>mean</th><th>scored 0</th><th>scored</th></tr>{table}</table>
<h2>Totals</h2>{f'<img alt="histogram of the totals" src="data:image/png;base64,{image}">' if image else ''}
<h2>Could not be graded</h2><ul>{failed}</ul>{skipped}
</body></html>
"""


def write(out, rows, ignored=()):
    write_atomically(out / "summary.html", text(rows, ignored))
