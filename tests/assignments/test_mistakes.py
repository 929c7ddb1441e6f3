"""One judge of a student: the mistakes students make, each graded by the grader (in its sandbox) and checked by the
public checks (in a kernel that ran the same cells), case by case.

For every mistake the table names the parts it must cost; the grader must take those and no other (a mistake costs
its own part only), and every public case must have the same verdict in both places (the cases are written once)."""

import re

import pytest

from grading.assignment import load as load_assignment
from hw2_submissions import CORRECT, MISTAKES

HW = load_assignment()


@pytest.fixture(scope="module")
def judged(hw2_batch):
    """(rows, records, the public checks' verdicts) by submission: the mistakes' table is graded in the session's one
    batch (conftest's hw2_batch), its control ("correct") the solution filled back in."""
    def named(table):
        return {name: table[CORRECT if name == "correct" else name] for name in ["correct", *MISTAKES]}

    records = {r["name"]: r for r in hw2_batch["records"]}
    return named(hw2_batch["rows"]), named(records), named(hw2_batch["public"])


@pytest.mark.parametrize("mistake", ["correct", *MISTAKES])
def test_a_mistake_costs_its_own_parts_and_both_judges_agree(judged, mistake):
    rows, records, public = judged
    row = rows[mistake]
    cost = set() if mistake == "correct" else MISTAKES[mistake][2]
    lost = {p.name for p in HW.automatic() if float(row[p.name]) < p.points}
    assert lost == cost, (mistake, lost, row["status"])
    grader = {(r["part"], r["case"]): r for r in records[mistake]["results"]}
    for part, cases in public[mistake].items():
        for status, title, message in cases:
            assert status != "not finished" or cost, (mistake, part, title, message)  # a class that did not load
            verdict = grader[(part, title)]
            assert verdict["public"] is True
            assert verdict["passed"] == (status == "passed"), (mistake, part, title, message, verdict["message"])


def test_the_table_names_the_mistakes_the_brief_lists():
    assert len(MISTAKES) >= 15
    assert {"no_resize", "no_totensor", "no_shuffle", "no_flatten", "lenet_padding", "encoder_width_fixed",
            "decoder_upsampling_identity", "decoder_upsampling_deleted", "vae_encoder_width_2", "v2_transform",
            "pad_instead_of_resize", "totensor_before_resize", "syntax_error_in_encoder"} <= set(MISTAKES)


def test_a_module_that_does_not_compile_is_named_so_with_its_line(judged):
    rows, _, _ = judged
    status = rows["syntax_error_in_encoder"]["status"]
    assert re.search(r"hw2_models\.py does not compile \(line \d+: [^)]*\): Encoder could not be loaded", status), status
    assert "defines no class Encoder" not in status  # guard: the runner names the compiler's line, not a missing class
