"""A graded function that misbehaves costs its own part only, in the real sandbox: the tiny example's
``count_parameters`` made to return a huge tensor, a tensor subclass whose every operation hangs or an int that equals
anything and hangs when read as a number, or to hang past the question's deadline (swallowing the child's own alarm).
Each submission keeps the points of its class and its notebook variable, and its row says what the function did,
naming it; one batch, each submission bounded by its per-question deadline. (What every other answer gives, raising
or an object included, is proven without the sandbox in tests/engine/test_calls.py.)"""

import shutil
from pathlib import Path

import pytest

from grading import grade as grading
from grading.sandbox import isolation
from grading.settings import Limits

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "tiny"
HONEST = "    count = sum([p.numel() for p in model.parameters()])  # blank: args\n    return count\n"
CELL_LIMIT = 10
FUNCTIONS = {  # submission: (the function's body, what its row says)
    "huge": ("    return torch.zeros(5 * 2**20)\n", "count_parameters(nn.Linear(4, 3)) returns a tensor of shape (5242880,), "
                                                   "larger than the grader reads"),
    "hangs": ("    while True:\n        try:\n            while True:\n                pass\n"
              "        except BaseException:\n            pass\n", f"count_parameters(nn.Linear(4, 3)) ran past {CELL_LIMIT} s"),
    "subclass": ("    class Hijack(torch.Tensor):\n        @classmethod\n"
                 "        def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                 "            while True:\n                pass\n"
                 "    return torch.tensor(20.0).as_subclass(Hijack)\n",
                 "count_parameters(nn.Linear(4, 3)) returns a tensor, not a whole number"),
    "sly": ("    class Sly(int):\n        def __eq__(self, other):\n            return True\n"
            "        def __float__(self):\n            while True:\n                pass\n"
            "        __int__ = __index__ = __float__\n    return Sly(20)\n",
            "count_parameters(nn.Linear(4, 3)) returns Sly, not a tensor, a tuple of tensors or a number"),
}


@pytest.fixture(scope="module")
def hostile_calls(tmp_path_factory):
    if isolation.problem() is not None:
        pytest.skip(f"no sandbox here: {isolation.problem()}")
    base = tmp_path_factory.mktemp("hostile_calls")
    solved = (TINY / "tiny_models.py").read_text()
    assert solved.count(HONEST) == 1
    for name, (body, _) in FUNCTIONS.items():
        folder = base / "in" / name
        folder.mkdir(parents=True)
        shutil.copyfile(TINY / "tiny.ipynb", folder / "tiny.ipynb")
        (folder / "tiny_models.py").write_text(solved.replace(HONEST, body))
    rows, records = grading.grade(base / "in", base / "results", assignment_folder=str(TINY), jobs=2, quiet=True,
                                  limits=Limits(timeout=120, cell_timeout=CELL_LIMIT))
    return {r["submission"]: r for r in rows}, {r["name"]: r for r in records}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_a_misbehaving_function_costs_its_own_part_only(hostile_calls, name):
    rows, records = hostile_calls
    row, record = rows[name], records[name]
    assert (row["doubler"], row["net"], row["count_parameters"]) == ("2", "1", "0"), row
    (result,) = [r for r in record["results"] if r["part"] == "count_parameters"]
    assert not result["passed"] and result["message"].startswith(FUNCTIONS[name][1]), result["message"]
    assert not record["timed_out"] and not record["rejected"]
