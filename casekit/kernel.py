"""The public checks in the student's kernel: the same case functions the grader runs, asked of the kernel's own
objects. It is part of the case toolkit's package (``casekit``) and imports nothing of the grader, so a student version
ships the package as it is, and the assignment's ``assignment.json`` and ``public_cases.py`` in a folder of their own.

``results(folder, part, namespace)`` runs the public cases of ``part`` and returns [(status, case title, message)];
``check(folder, part, namespace)`` prints them. A case that cannot run yet (a variable not defined, a class with a
blank) says what is unfinished instead of failing. The grader's hidden cases, not these, are the rest of the points.
"""

import json
import sys
from pathlib import Path

import torch

import casekit

PASSED, FAILED, UNFINISHED = "passed", "FAILED", "not finished"


class Unfinished(AssertionError):
    """The case cannot run yet: a variable is not defined, or a class still has a blank."""


def _first_line(error):
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__


def _refuse_stand_in(found):
    """Unfinished when ``found`` is a provided import hook's stand-in for a class or function whose blanks are open."""
    unfinished = next((getattr(found, key) for key in dir(found) if key.endswith("_unfinished__")), None)
    if isinstance(unfinished, str):
        raise Unfinished(unfinished)


class LocalAsk:
    """What a case may ask, answered on the kernel's variables (``namespace``) and the module the notebook imports;
    inputs are drawn from a fixed seed, so a check says the same thing every time it runs."""

    trusted = False
    reference = None

    def __init__(self, spec, namespace, folder=None):
        self.spec, self.namespace, self.folder = spec, namespace, folder  # folder: where the dataset's files are
        self.generator = torch.Generator().manual_seed(0)
        self._built = {}
        self.kit = casekit

    def _module(self):
        return sys.modules.get(Path(self.spec["files"]["module"]).stem) if self.spec["files"].get("module") else None

    def _classes(self):
        module = self._module()
        found = {name: getattr(module, name) for name in self.spec["classes"]
                 if module is not None and isinstance(getattr(module, name, None), type)}
        found.update({name: self.namespace[name] for name in self.spec["classes"]
                      if isinstance(self.namespace.get(name), type)})
        return found

    def _class(self, name):
        cls = self._classes().get(name)
        if cls is None:
            module = self.spec["files"].get("module") or "the notebook"
            raise Unfinished(f"{module} defines no class {name} that this kernel has imported")
        _refuse_stand_in(cls)
        return cls

    def target(self, spec):
        if "layer" in spec:
            try:
                found = casekit.resolve_layer(spec)
            except LookupError as error:
                raise AssertionError(str(error)) from None
        elif "class" in spec:
            key = (spec["class"], tuple(spec.get("args", [])))
            if key not in self._built:
                cls = self._class(spec["class"])
                call = f"{spec['class']}({', '.join(map(str, key[1]))})"
                try:
                    with torch.random.fork_rng(devices=[]):
                        self._built[key] = cls(*key[1])
                except NameError as error:
                    if getattr(error, "name", None) == "_" or "'_'" in str(error):
                        self._built[key] = Unfinished(f"{spec['class']} still has a blank `_`: replace each `_`, then "
                                                      "restart the kernel")
                    else:
                        self._built[key] = AssertionError(f"{call} raised {_first_line(error)}")
                except Exception as error:
                    kind = Unfinished if type(error).__name__ == "UnfinishedError" else AssertionError
                    self._built[key] = kind(str(error) if kind is Unfinished else f"{call} raised {_first_line(error)}")
            found = self._built[key]
            if isinstance(found, AssertionError):
                raise found
        else:
            if spec["var"] not in self.namespace:
                raise Unfinished(f"`{spec['var']}` is not defined yet: fill in its `### YOUR CODE HERE ###` and run "
                                 "its cell (if you did, it stopped with an error: see its output)")
            found = self.namespace[spec["var"]]
        for attribute in filter(None, spec.get("sub", "").split(".")):
            found = getattr(found, attribute)
        return found

    @staticmethod
    def label(target):
        return casekit.target_label(target)

    def describe(self, target):
        try:
            found = self.target(target)
        except AttributeError as error:
            raise AssertionError(f"{self.label(target)}: {_first_line(error)}") from None
        classes = self._classes()
        info, tensors = self.kit.describe(found, classes)
        kind = type(found).__name__
        if info["stand_in"] is None and kind in self.spec["classes"] and kind not in classes:
            info["stand_in"] = kind  # an object of a graded class the module does not define: a loader's stand-in
        return info, info.get("params", []), tensors

    def forward(self, target, *inputs, seed=None, params=None):
        found = self.target(target)
        params = params or {}
        try:
            with torch.random.fork_rng(devices=[]):
                return self.kit.forward(found, [*params.values(), *inputs], list(params), seed)
        except Exception as error:
            raise AssertionError(f"{self.label(target)} on input {tuple(inputs[0].shape)} raised "
                                 f"{_first_line(error)}") from None

    def call(self, function, *args):
        """What the graded ``function`` (the module's, or the kernel's own) returns on ``args`` (tensors, targets or
        plain values), as the grader reads it: a number or a list of float tensors (``casekit.answer``)."""
        names = [f"tensor{tuple(a.shape)}" if isinstance(a, torch.Tensor) else self.label(a) if isinstance(a, dict)
                 else repr(a)[:40] for a in args]
        label = f"{function}({', '.join(names)})"
        if function not in self.spec.get("functions", []):
            raise AssertionError(f"{label}: {function} is not a function the assignment grades")
        module = self._module()
        found = next((f for f in (self.namespace.get(function), getattr(module, function, None)) if callable(f)), None)
        if found is None:
            where = self.spec["files"].get("module") or "the notebook"
            raise Unfinished(f"{where} defines no function {function} that this kernel has imported")
        _refuse_stand_in(found)
        try:
            resolved = [self.target(a) if isinstance(a, dict) else a for a in args]
        except Unfinished:
            raise
        except (AssertionError, AttributeError) as error:
            text = str(error) if isinstance(error, AssertionError) else _first_line(error)
            raise AssertionError(f"{label}: {text}") from None
        try:
            with torch.random.fork_rng(devices=[]):
                result = found(*resolved)
        except NameError as error:
            if getattr(error, "name", None) == "_" or "'_'" in str(error):
                raise Unfinished(f"{function} still has a blank `_`: replace each `_`, then restart the kernel") \
                    from None
            raise AssertionError(f"{label} raised {_first_line(error)}") from None
        except Exception as error:
            if type(error).__name__ == "UnfinishedError":
                raise Unfinished(str(error)) from None
            raise AssertionError(f"{label} raised {_first_line(error)}") from None
        try:
            return self.kit.answer(result)
        except TypeError as error:
            raise AssertionError(f"{label} {error}") from None
        except Exception as error:  # what it returned failed to be read: as the grader's child says it
            raise AssertionError(f"{label} raised {_first_line(error)}") from None

    def works(self, target, x, shape):
        return self.kit.works(self, target, x, shape)

    def dataset(self, train=False):
        return self.kit.dataset(self.spec["dataset"], self.folder, train)

    def images(self, n, raw=False):
        return self.kit.images(self, n, raw)

    def apply(self, variable, raw):
        from PIL import Image

        function = self.target({"var": variable})
        out = []
        for image in raw:
            try:
                result = function(Image.fromarray(image.numpy()))  # 2-D uint8: a greyscale ("L") image
            except Exception as error:
                raise AssertionError(f"{variable}(image) raised {_first_line(error)}") from None
            if not isinstance(result, torch.Tensor):
                raise AssertionError(f"{variable} returns a {type(result).__name__}, not a tensor")
            out.append(result.float())
        return out

    def batches(self, variable, passes):
        loader = self.target({"var": variable})
        if not isinstance(loader, torch.utils.data.DataLoader):
            raise AssertionError(f"{variable} is a {type(loader).__name__}, not a DataLoader")
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                return [tuple(torch.as_tensor(t) for t in next(iter(loader))[:2]) for _ in range(passes)]
        except Exception as error:
            raise AssertionError(f"{variable} raised {_first_line(error)}") from None


def load(folder):
    """(assignment data, public cases) of an assignment folder as shipped (``assignment.json``, ``public_cases.py``)."""
    folder = Path(folder)
    data = json.loads((folder / "assignment.json").read_text(encoding="utf-8"))
    return data, casekit.load_cases(folder / "public_cases.py", f"public_cases_{data['name']}")


def results(folder, part, namespace, dataset_folder=None):
    """[(status, title, message)] of the public cases of ``part`` on ``namespace``."""
    data, cases = load(folder)
    automatic = [p["name"] for p in data["parts"] if p["kind"] == "automatic"]
    if part not in automatic:
        raise ValueError(f"no automatic part named {part!r}; the automatic parts are {', '.join(automatic)}")
    ask, found = LocalAsk(data, namespace, dataset_folder), []
    for name, title, points, public, function in cases:
        if name != part:
            continue
        try:
            with torch.random.fork_rng(devices=[]):  # the notebook trains the same with check cells as without
                function(ask)
            found.append((PASSED, title, ""))
        except Unfinished as unfinished:
            found.append((UNFINISHED, title, str(unfinished)))
        except AssertionError as error:
            found.append((FAILED, title, str(error).strip() or "failed"))
        except Exception as error:  # whatever a student's objects do, a check reports, never raises
            found.append((FAILED, title, f"could not check it: {_first_line(error)}"))
    return found


def check(folder, part, namespace, dataset_folder=None):
    """Print the public cases of ``part``; returns nothing (so a notebook shows the printout only)."""
    data, _ = load(folder)
    info = next((p for p in data["parts"] if p["name"] == part), None)
    found = results(folder, part, namespace, dataset_folder)
    points = f" ({info['points']:g} {'point' if info['points'] == 1 else 'points'})" if info else ""
    failed = sum(status == FAILED for status, _, _ in found)
    verdict = ("not finished" if any(status == UNFINISHED for status, _, _ in found) else
               f"{failed} of {len(found)} failed" if failed else "all passed")
    lines = [f"Public checks of {part}{points}: {verdict} (the grader runs these and hidden ones)"]
    for status, title, message in found:
        lines.append(f"  {status}: {title}" + (f"\n      {message}" if message else ""))
    print("\n".join(lines))
