"""Timing helpers shared by the benchmark scripts (run them from the repository root)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence


def best_of(repeat: int, work: Callable[[], object]) -> float:
    """Seconds of the fastest of ``repeat`` runs of ``work``: the least disturbed by other load."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    ``VmHWM`` (the resident high-water mark) on Linux: it counts every allocation (DuckDB's,
    Arrow's, numpy's), unlike ``tracemalloc``. Not ``resource.getrusage``: on Linux a child's
    ``ru_maxrss`` starts from its parent's resident size at ``fork`` (carried over ``exec``), so
    a child of a large parent would report the parent's memory. ``ru_maxrss`` off Linux.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(script: str, arguments: Sequence[str]) -> dict:
    """Run ``script`` with ``arguments`` in a fresh interpreter; return the JSON object it
    prints last (a measurement: seconds, and the child's own :func:`peak_rss_mb`)."""
    out = subprocess.run([sys.executable, script, *arguments], capture_output=True, text=True,
                         env=os.environ.copy())
    if out.returncode:
        raise RuntimeError(f"{script} {' '.join(arguments)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]
