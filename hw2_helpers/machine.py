"""How busy the machine was while something was timed, so that a time measured alone can be told from one
measured beside other work (the notebook's run-time lines and ``bench/benchmark.py`` print it).

A ``Reading`` is taken before and after; ``load_report(start, end)`` says what happened in between: the 1-minute
load average at both ends (this process's own threads count in it too), and, where the kernel offers
``/proc/stat`` (Linux), the cores' worth of CPU time that *other* processes used and that the hypervisor stole.
"""

import os
import resource
import time
from collections import namedtuple

# wall: seconds (monotonic); load: 1-minute load average; busy, steal: the machine's busy and stolen CPU seconds,
# all cores together (None without /proc/stat); own: this process's CPU seconds, its threads and reaped children.
Reading = namedtuple("Reading", "wall load busy steal own")
PROC_STAT = "/proc/stat"
CONTENDED = 0.25  # cores' worth of other work above which a timing is called contended


def _cpu_seconds():
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat's first line; (None, None) elsewhere."""
    try:
        with open(PROC_STAT) as handle:
            fields = handle.readline().split()
        ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None, None
    if fields[:1] != ["cpu"] or len(ticks) < 8:
        return None, None
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, _, _, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq) / hz, steal / hz


def load_reading():
    """A ``Reading`` of now."""
    busy, steal = _cpu_seconds()
    own = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return Reading(time.monotonic(), load, busy, steal, own)


def other_work(start, end):
    """(cores used by other processes, cores stolen by the hypervisor), averaged from ``start`` to ``end``;
    (None, None) where the kernel does not say."""
    seconds = end.wall - start.wall
    if start.busy is None or end.busy is None or seconds <= 0:
        return None, None
    others = (end.busy - start.busy) - (end.own - start.own)
    return max(0.0, others / seconds), max(0.0, (end.steal - start.steal) / seconds)


def load_report(start, end=None):
    """One line on how busy the machine was from ``start`` to ``end`` (default: now), and a warning line when other
    work used more than a quarter of a core meanwhile, since then the times beside it are slower than the machine's."""
    end = end or load_reading()
    load = ("load average (1 min) " + " at the start, ".join(f"{r.load:.2f}" for r in (start, end)) + " at the end"
            if start.load is not None and end.load is not None else "no load average on this system")
    others, stolen = other_work(start, end)
    if others is None:
        return f"Machine: {load}."
    line = (f"Machine: {load}; other processes used {others:.2f} cores on average and the hypervisor stole "
            f"{stolen:.2f} (over {end.wall - start.wall:.0f} s).")
    if others + stolen > CONTENDED:
        line += (f"\nWARNING: other work took {others + stolen:.2f} cores meanwhile: the times above are slower than "
                 "this machine alone gives.")
    return line
