"""Grade one submission inside its own process: ``python -m grading.sandbox CONFIG_JSON`` (started by grading.grade).

The process is already inside bubblewrap (grading.grade builds the sandbox: a whitelist of read-only mounts, its own
namespaces, a fresh user id and limits; see grading/README.md, "Threat model"). It loads what it needs (torch, the
hidden checks), copies the pristine submission (/pristine, read-only) into its tmpfs, and then:

1. loads the submission's ``hw2_models.py`` (top-level definition by definition when the file does not compile,
   so a syntax error in one class costs that class's points only) and runs the module checks (LeNet-5's layers,
   the Encoder, the Decoder);
2. runs the notebook's code cells that import something or define a name the graded cells need (the training,
   plotting and summary cells are skipped), each under a time limit, with printing capped; right after the cell
   that defines ``transform``, the loaders, ``model``, ``ae_model`` or ``vae_model``, it runs that part's check.

Each check's result is appended to the result file (JSON lines; grading.grade validates every line outside the sandbox) as soon as it is known, so a submission that hangs
later keeps the points it earned before. The checks are otter-grader exception-based test files run by otter's
``ExceptionTestFile``.
"""

import ast
import io
import json
import os
import signal
import time
import shutil
import sys
import traceback
import types
from pathlib import Path

from grading import assignment_format, notebook, parts, settings

GRADING = Path(__file__).resolve().parent
CHECKS = GRADING / "checks"
MODULE_CHECKS = [part.name for part in parts.module_parts()]
CELL_CHECKS = {part.follows: part.name for part in parts.cell_parts()}  # the name whose defining cell a check follows
NEEDED = set(CELL_CHECKS) | {"device", "validation_dataloader", "loader_generator", "batch_size", "mnist_training_set",
                             "mnist_validation_set", "data_root", "SEED", "QUICK"}
STAND_INS = {"model": ["LeNet_5"], "ae_model": ["Encoder", "Decoder"], "vae_model": ["Encoder", "Decoder"]}
OUTPUT_LIMIT = settings.OUTPUT_LIMIT  # characters of a submission's printing kept per cell


class CellTimeout(BaseException):
    """A cell ran past its time limit (a BaseException, so `except Exception` in submitted code does not swallow it)."""


class BoundedWriter(io.TextIOBase):
    """A stdout that keeps the first OUTPUT_LIMIT characters and counts the rest."""

    def __init__(self):
        self.kept, self.total = [], 0

    def write(self, text):
        text = str(text)
        room = OUTPUT_LIMIT - sum(map(len, self.kept))
        if room > 0:
            self.kept.append(text[:room])
        self.total += len(text)
        return len(text)

    def flush(self):
        pass


def _alarm(signum, frame):
    raise CellTimeout()


class _Shell:
    """Enough of get_ipython() for magics and shell escapes in a cell to do nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _split_top_level(source):
    """Top-level chunks (a statement with its decorators and body) of a file that does not compile as a whole."""
    lines = source.splitlines(keepends=True)
    chunks, start = [], 0
    for i, line in enumerate(lines):
        starts_statement = line[:1] not in ("", " ", "\t", "\n", "\r", "#", ")", "]", "}")
        if i > start and starts_statement:
            previous = [l for l in lines[start:i] if l.strip() and not l.startswith("#")]
            if previous and not all(l.startswith("@") for l in previous):
                chunks.append((start, "".join(lines[start:i])))
                start = i
    chunks.append((start, "".join(lines[start:])))
    return chunks


def load_student_module(path, problems, limit):
    """Import the submission's hw2_models.py as module ``hw2_models``, keeping every definition that works."""
    module = types.ModuleType("hw2_models")
    module.__file__ = str(path)
    sys.modules["hw2_models"] = module
    if not path.is_file():
        problems.append("no hw2_models.py")
        return module
    source = path.read_text(errors="replace")
    try:
        codes = [compile(source, str(path), "exec")]
    except SyntaxError as error:
        problems.append(f"hw2_models.py does not compile (line {error.lineno}: {error.msg}); "
                        "its other top-level definitions are graded")
        codes = []
        for first_line, chunk in _split_top_level(source):
            try:
                codes.append(compile("\n" * first_line + chunk, str(path), "exec"))
            except SyntaxError:
                pass
    writer, saved = BoundedWriter(), (sys.stdout, sys.stderr)
    sys.stdout = sys.stderr = writer
    try:
        _run_chunks(codes, module, problems, limit)
    finally:
        sys.stdout, sys.stderr = saved
    if writer.total > OUTPUT_LIMIT:
        problems.append(f"hw2_models.py printed {writer.total:,} characters at import (kept the first 64 KiB)")
    return module


def _run_chunks(codes, module, problems, limit):
    for code in codes:
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            exec(code, module.__dict__)
        except CellTimeout:
            problems.append(f"hw2_models.py ran past {limit:g} s at import")
        except Exception as error:
            problems.append(f"hw2_models.py raised {type(error).__name__} at import: {_first_line(error)}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _execute(code, module, problems, limit, where):
    """Run ``code`` in ``module`` under the time limit; what goes wrong becomes a problem naming ``where``."""
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        exec(code, module.__dict__)
    except CellTimeout:
        problems.append(f"{where} ran past {limit:g} s")
    except Exception as error:
        problems.append(f"{where} raised {type(error).__name__}: {_first_line(error)}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0][:160] if text else ""


def _assigned(tree):
    """Names a cell assigns at its top level (functions' and classes' bodies left out)."""
    names, stack = set(), list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            if not isinstance(node, ast.Lambda):
                names.add(node.name)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return names


def _imports(tree):
    return any(isinstance(node, (ast.Import, ast.ImportFrom)) for node in tree.body)


def _stand_in(name):
    import torch
    import torch.nn as nn

    class StandIn(nn.Module):
        _grading_stand_in = name

        def __init__(self, latent_dimensionality=2, *args, **kwargs):
            super().__init__()
            self.latent_dimensionality = latent_dimensionality
            self.placeholder = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            raise RuntimeError(f"the grader's stand-in for {name} does not compute")

    StandIn.__name__ = StandIn.__qualname__ = name
    return StandIn


def _builds(cls, limit):
    """Whether the class builds within ``limit`` seconds (a hang in __init__ costs its own parts, not the batch's)."""
    writer, saved = BoundedWriter(), (sys.stdout, sys.stderr)
    sys.stdout = sys.stderr = writer
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        cls() if cls.__name__ == "LeNet_5" else cls(2)
        return True
    except (Exception, CellTimeout):
        return False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stdout, sys.stderr = saved


class Grader:
    def __init__(self, config):
        self.config = config
        self.result = open(config["result"], "a", buffering=1)
        self.tests = {}
        self.done = set()
        self.ran = set()  # cells already run into the module (the assignment's format): the notebook's run skips them

    def record(self, **entry):
        self.result.write(json.dumps(entry, sort_keys=True) + "\n")

    def load_checks(self):
        from otter.test_files import ExceptionTestFile

        for part in parts.automatic():
            path = CHECKS / f"{part.name}.py"
            test = ExceptionTestFile.from_file(str(path))
            points = sum(case.points for case in test.test_cases)
            if points != part.points:  # never grade with a check that disagrees with the table of parts
                raise RuntimeError(f"{path} awards {points:g} points; grading/parts.py gives {part.name} {part.points:g}")
            self.tests[part.name] = test

    def check(self, name, env):
        if name in self.done:
            return
        self.done.add(name)
        test = self.tests[name]
        writer, saved = BoundedWriter(), (sys.stdout, sys.stderr)
        sys.stdout = sys.stderr = writer  # the submission's printing during a check is capped like a cell's
        signal.setitimer(signal.ITIMER_REAL, self.config["cell_limit"])
        started = time.perf_counter()
        try:
            test.run(env)
        except CellTimeout:
            for case in test.test_cases:
                self.record(part=name, case=case.name, points=case.points, passed=False,
                            message=f"the check ran past {self.config['cell_limit']:g} s")
            return
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout, sys.stderr = saved
            print(f"check {name}: {time.perf_counter() - started:.2f} s", file=sys.stderr, flush=True)
        for outcome in test.test_case_results:
            message = "" if outcome.passed else outcome.message.strip().splitlines()[-1][:300]
            self.record(part=name, case=outcome.test_case.name, points=outcome.test_case.points,
                        passed=bool(outcome.passed), message=message)

    def run_cell(self, index, source, namespace):
        from IPython.core.inputtransformer2 import TransformerManager

        try:
            code = compile(TransformerManager().transform_cell(source), f"<cell {index}>", "exec")
        except SyntaxError as error:
            return f"SyntaxError: {error.msg}"
        writer, saved = BoundedWriter(), (sys.stdout, sys.stderr)
        sys.stdout = sys.stderr = writer
        signal.setitimer(signal.ITIMER_REAL, self.config["cell_limit"])
        try:
            exec(code, namespace)
            return None
        except CellTimeout:
            return f"ran past {self.config['cell_limit']:g} s"
        except Exception as error:
            return f"{type(error).__name__}: {_first_line(error)}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout, sys.stderr = saved
            if writer.total > OUTPUT_LIMIT:
                self.record(event="output", cell=index, characters=writer.total)
            try:
                import matplotlib.pyplot as plt

                plt.close("all")
            except Exception:
                pass

    def run_notebook(self, module):
        import torch

        nb, problem = notebook.load(Path(self.config["workdir"]) / "hw2.ipynb")
        if nb is None:
            self.record(event="problem", message=f"hw2.ipynb could not be read ({problem})")
            return {}
        import matplotlib.pyplot as plt
        import numpy as np
        import torch.nn as nn
        import torch.nn.functional as F
        import torchvision
        import torchvision.transforms as transforms
        from IPython.display import display

        namespace = {"__name__": "__main__", "get_ipython": _Shell, "display": display, "np": np, "torch": torch,
                     "nn": nn, "F": F, "torchvision": torchvision, "transforms": transforms, "plt": plt}
        if self.config.get("format") == assignment_format.ASSIGNMENT:
            namespace.update(assignment_format.classes_of(module))
        cells = []
        for index, cell in enumerate(notebook.cells(nb)):
            if cell.get("cell_type") != "code":
                continue
            source = notebook.source(cell)
            try:
                from IPython.core.inputtransformer2 import TransformerManager

                tree = ast.parse(TransformerManager().transform_cell(source))
            except SyntaxError:
                tree = None
            names = _assigned(tree) if tree is not None else notebook.assigns_by_text(source, CELL_CHECKS)
            cells.append((index, source, tree, names))
        last = max([i for i, (_, _, _, names) in enumerate(cells) if "vae_model" in names], default=len(cells) - 1)
        for position, (index, source, tree, names) in enumerate(cells[:last + 1]):
            if index in self.ran or not (names & NEEDED or (tree is not None and _imports(tree))):
                continue
            if "training_dataloader" in names:
                self._fill_datasets(namespace)
            restore = self._stand_ins(namespace, names)
            started = time.perf_counter()
            error = self.run_cell(index, source, namespace)
            print(f"cell {index}: {time.perf_counter() - started:.2f} s", file=sys.stderr, flush=True)
            for name, original in restore.items():
                if original is None:
                    namespace.pop(name, None)
                else:
                    namespace[name] = original
            graded = sorted(name for name in names & set(CELL_CHECKS) if CELL_CHECKS[name] not in self.done)
            if error:
                self.record(event="cell", cell=index, message=error, graded=graded)
            for name in sorted(names & set(CELL_CHECKS)):
                self.check(CELL_CHECKS[name], dict(namespace, hw2_models=module))
        return namespace

    def _fill_datasets(self, namespace):
        """If the transform's cell failed, give the loaders' cell reference datasets, so only the transform's point is lost."""
        import torch

        from grading import checkhelpers as H

        namespace.setdefault("loader_generator", torch.Generator().manual_seed(0))
        for name, train in [("mnist_training_set", True), ("mnist_validation_set", False)]:
            if name not in namespace:
                images = H.real_batch(2048 if train else 512, train)
                labels = H.mnist(train).targets[:len(images)]
                namespace[name] = torch.utils.data.TensorDataset((images - H.MEAN) / H.STD, labels)
                self.record(event="note", message=f"{name} was not defined; the loaders' cell got the grader's")

    def _stand_ins(self, namespace, names):
        restore = {}
        for target, classes in STAND_INS.items():
            if target not in names:
                continue
            for class_name in classes:
                cls = namespace.get(class_name)
                if not isinstance(cls, type) or not _builds(cls, self.config["cell_limit"]):
                    restore[class_name] = cls
                    namespace[class_name] = _stand_in(class_name)
                    self.record(event="note", message=f"{class_name} could not be built; the cell defining {target} "
                                                      "was run with the grader's stand-in for it")
        return restore


STARTED = time.perf_counter()


def main():
    config = json.loads(sys.argv[1])
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the size limit fails instead of killing us
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (config["output_limit"], config["output_limit"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import torch
    import torchvision  # noqa: F401
    from IPython.core.inputtransformer2 import TransformerManager  # noqa: F401
    from IPython.display import display  # noqa: F401

    import grading.checkhelpers  # noqa: F401

    torch.set_num_threads(config["threads"])
    print(f"imports: {time.perf_counter() - STARTED:.2f} s", file=sys.stderr, flush=True)
    grader = Grader(config)
    grader.load_checks()
    workdir = config["workdir"]
    for name in os.listdir(config["pristine"]):  # the code runs on a copy; the grader reads the pristine files
        source, target = os.path.join(config["pristine"], name), os.path.join(workdir, name)
        if os.path.isdir(source) and not os.path.islink(source):  # the provided helpers, a package
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    os.makedirs(os.path.join(workdir, "home"), exist_ok=True)
    os.symlink(config["data"], os.path.join(workdir, "data"))
    os.chdir(workdir)
    sys.path.insert(0, workdir)
    os.environ["HOME"] = str(Path(workdir) / "home")
    problems = []
    if config.get("format") == assignment_format.ASSIGNMENT:
        module, grader.ran = assignment_format.load_module(
            Path(workdir) / "hw2.ipynb", problems,
            lambda code, module, where: _execute(code, module, problems, config["cell_limit"], where))
    else:
        module = load_student_module(Path(workdir) / "hw2_models.py", problems, config["cell_limit"])
    for message in problems:
        grader.record(event="problem", message=message)
    for name in MODULE_CHECKS:
        grader.check(name, {"hw2_models": module})
    namespace = grader.run_notebook(module)
    for name in sorted(set(grader.tests) - grader.done):
        grader.check(name, dict(namespace, hw2_models=module))
    grader.record(event="finished")
    sys.stdout.flush()
    os._exit(0)  # no interpreter teardown: a submission's atexit hooks and finalizers do not run


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(3)
