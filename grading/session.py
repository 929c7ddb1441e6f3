"""One submission's run in its sandbox: ``grade_submission(name, pristine, fmt, options, workdir) -> record``.

The sandboxed child (``python -m grading.sandbox``) writes its results into a result file, the one file it may write
outside its tmpfs; every line is validated here, outside the sandbox (``read_results``)."""

import json
import os
import shutil
import sys
from pathlib import Path

from grading import isolation, settings

EVENTS = {"problem": {"message": str}, "output": {"cell": int, "characters": int},
          "cell": {"cell": int, "message": str, "graded": list}, "note": {"message": str}, "finished": {}}


def copy_helpers(workdir):
    """The provided helpers (a module file or a package folder) into the copy, read-only for everyone; its path."""
    package = settings.REPO / "hw2_helpers"
    if package.is_dir():
        target = workdir / "hw2_helpers"
        shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for path in [*target.rglob("*"), target]:
            os.chmod(path, 0o555 if path.is_dir() else 0o444)
        return target
    target = workdir / "hw2_helpers.py"
    shutil.copyfile(settings.REPO / "hw2_helpers.py", target)
    os.chmod(target, 0o444)
    return target


def grade_submission(name, pristine, fmt, options, workdir):
    """Run the checks on the extracted copy ``pristine`` (format ``fmt``) in a sandbox; returns the record's run part:
    name, format, results, events, rejected, timed_out, returncode, seconds, log, printed (bytes in all), peak_memory
    (bytes, where a cgroup says)."""
    pristine, workdir = Path(pristine), Path(workdir)
    helpers = copy_helpers(pristine)
    for path in [workdir, pristine]:
        os.chmod(path, 0o755)
    for path in pristine.iterdir():
        if path != helpers:
            os.chmod(path, 0o444)
    result = workdir / "result.jsonl"
    result.touch()
    sub = isolation.SUB
    config = {"workdir": sub, "pristine": "/pristine", "result": "/result.jsonl", "data": "/data",
              "cell_limit": options["cell_limit"], "threads": options["threads"],
              "output_limit": settings.DISK_LIMIT, "format": fmt}
    env = {"PATH": "/usr/bin:/bin", "HOME": f"{sub}/home", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
           "HW2_QUICK": "1", "HW2_DEVICE": "cpu", "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg",
           "HW2_GRADING_DATA": "/data", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": "/grader",
           "OMP_NUM_THREADS": str(options["threads"]), "MKL_NUM_THREADS": str(options["threads"]),
           "TQDM_DISABLE": "1", "PYTHONHASHSEED": "0", "MPLCONFIGDIR": "/tmp/mpl"}
    mounts = [(pristine, "/pristine", False), (Path(options["data"]), "/data", False),
              (settings.GRADING, "/grader/grading", False), (result, "/result.jsonl", True)]
    for path in sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}):
        mounts.append((path, str(path), False))
    command = [sys.executable, "-m", "grading.sandbox", json.dumps(config)]
    returncode, timed_out, seconds, log, printed, peak = isolation.run(command, mounts, env, workdir, options["timeout"])
    results, events, rejected = read_results(result)
    return {"name": name, "format": fmt, "results": results, "events": events, "rejected": rejected,
            "timed_out": timed_out, "returncode": returncode, "seconds": seconds, "log": log, "printed": printed,
            "peak_memory": peak}


def check_cases():
    """{part: {case: points}} from the hidden checks themselves: what a result line may name and earn at most."""
    from otter.test_files import ExceptionTestFile

    from grading import parts

    cases = {}
    for part in parts.automatic():
        test = ExceptionTestFile.from_file(str(settings.GRADING / "checks" / f"{part.name}.py"))
        cases[part.name] = {case.name: float(case.points) for case in test.test_cases}
    return cases


def _short(error):
    return str(error).splitlines()[0][:80] if str(error) else type(error).__name__


def read_results(path):
    """(results, events, rejected) from a child's result file, every line validated here, outside the sandbox.

    A result names a part of the table and one of that check's cases, and its points are that case's own (whatever
    the line says); a case reported twice counts as failed. Anything else is rejected, with the reason kept."""
    from grading.notebook import read_regular

    limit = settings.RESULT_LIMIT
    cases = check_cases()
    results, events, rejected, seen = {}, [], [], set()
    lines = read_regular(path, limit + 1)
    if len(lines) > limit:
        rejected.append(f"the result file is larger than {limit // 1024} KiB; read its first part only")
    for number, line in enumerate(lines[:limit].decode(errors="replace").splitlines(), 1):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
        except (ValueError, RecursionError) as error:
            rejected.append(f"line {number}: not a JSON object ({_short(error)})")
            continue
        if "part" in entry:
            part, case = entry.get("part"), entry.get("case")
            if not isinstance(part, str) or part not in cases:
                rejected.append(f"line {number}: {str(part)[:40]!r} is not a part of the table")
            elif not isinstance(case, str) or case not in cases[part]:
                rejected.append(f"line {number}: {str(case)[:40]!r} is not a case of {part}")
            elif not isinstance(entry.get("passed"), bool) or not isinstance(entry.get("message", ""), str):
                rejected.append(f"line {number}: {part}/{case} has no true/false 'passed' or a non-text message")
            elif (part, case) in seen:
                rejected.append(f"line {number}: {part}/{case} reported twice; the case counts as failed")
                results[(part, case)]["passed"] = False
            else:
                seen.add((part, case))
                results[(part, case)] = {"part": part, "case": case, "points": cases[part][case],
                                         "passed": entry["passed"], "message": entry.get("message", "")[:300]}
        else:
            kind = entry.get("event")
            fields = EVENTS.get(kind) if isinstance(kind, str) else None
            if fields is None:
                rejected.append(f"line {number}: unknown event {str(kind)[:40]!r}")
            elif not all(isinstance(entry.get(f), t) and not isinstance(entry.get(f), bool) for f, t in fields.items()) \
                    or (kind == "cell" and not all(isinstance(g, str) for g in entry["graded"])):
                rejected.append(f"line {number}: a {kind} event without {', '.join(fields)} of the right kinds")
            else:
                events.append({"event": kind, **{f: entry[f] for f in fields}})
    return list(results.values()), events, rejected
