"""The load readings printed beside every timing (hw2_helpers.machine): other work is seen, and said."""

import subprocess
import sys
import time

import hw2_helpers
from hw2_helpers import machine
from hw2_helpers.machine import Reading


def test_other_work_is_the_machines_busy_time_less_this_processs_own():
    start, end = Reading(0.0, 0.1, 10.0, 1.0, 5.0), Reading(100.0, 2.0, 210.0, 6.0, 155.0)
    others, stolen = machine.other_work(start, end)
    assert (round(others, 6), round(stolen, 6)) == (0.5, 0.05)
    report = machine.load_report(start, end)
    assert "0.10 at the start, 2.00 at the end" in report and "other processes used 0.50 cores" in report
    assert "stole 0.05" in report and report.splitlines()[-1].startswith("WARNING: other work took 0.55 cores")


def test_a_run_alone_gets_no_warning():
    start, end = Reading(0.0, 1.9, 10.0, 0.0, 5.0), Reading(60.0, 2.0, 130.0, 0.6, 120.0)  # 0.08 + 0.01 cores
    assert "WARNING" not in machine.load_report(start, end)


def test_without_proc_stat_only_the_load_average_is_said(monkeypatch, tmp_path):
    monkeypatch.setattr(machine, "PROC_STAT", str(tmp_path / "missing"))
    start = machine.load_reading()
    assert start.busy is None and start.steal is None
    assert machine.load_report(start).startswith("Machine: load average (1 min) ")
    assert machine.other_work(start, machine.load_reading()) == (None, None)


def test_a_busy_process_beside_us_is_counted_as_other_work():
    # A process spinning on one core while this one sleeps: about one core of other work (its CPU time is not
    # this process's until it is reaped, and it is read before that).
    start = hw2_helpers.load_reading()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.5)
        end = hw2_helpers.load_reading()
    finally:
        spinner.kill()
        spinner.wait()
    others, _ = machine.other_work(start, end)
    assert others > 0.5
    assert "WARNING" in hw2_helpers.load_report(start, end)


def test_the_speed_claims_quote_the_committed_benchmark_run():
    # bench/benchmark_run.txt is the output of the run the READMEs quote, verbatim: ratios, seconds and its load line.
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    run = (repo / "bench" / "benchmark_run.txt").read_text()
    assert "Machine: load average" in run and "WARNING" not in run  # quoted only when measured alone
    readme = (repo / "README.md").read_text()
    speed = readme[readme.index("## Speed"):readme.index("## For instructors")]
    bench = (repo / "bench" / "README.md").read_text()
    bench = bench[bench.index("## The run"):bench.index("## LeNet-5 over seeds")]
    printed = set(re.findall(r"\d+\.\d+", run))
    derived = {"1.12", "1.15", "1.17"}  # channels-last ratios of two printed epochs, worked out in the text
    for text in (speed, bench):
        quoted = set(re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", text)) - derived
        assert quoted and quoted <= printed, sorted(quoted - printed)
