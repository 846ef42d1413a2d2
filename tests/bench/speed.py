"""The machine-speed loop: seconds this machine takes for a fixed piece of Python.

A loop of ten million additions, timed. This VM's speed changes from hour to hour, so every
benchmark figure is printed with the loop's time of its run (and the date), and a time can be
read as a multiple of the loop. `make bench` and the lab (molecule/lab/run.sh) both use this
file, so their figures compare. Standard library only: `python3 tests/bench/speed.py` prints
the seconds with any Python.
"""

from __future__ import annotations

import datetime
import statistics
import time
from collections.abc import Sequence

ITERATIONS = 10_000_000


def loop_seconds() -> float:
    """Wall seconds of the fixed loop, once."""
    start, total = time.perf_counter(), 0
    for i in range(ITERATIONS):
        total += i
    return time.perf_counter() - start


def today() -> str:
    """The date of a run, in UTC: YYYY-MM-DD."""
    return datetime.datetime.now(datetime.UTC).date().isoformat()


def stamp(loop: float) -> str:
    """What every printed figure line carries: the date and the machine-speed loop."""
    return f"[{today()}, loop {loop:.2f} s]"


def spread(values: Sequence[float], fmt: str, unit: str = "") -> str:
    """The median of several runs' figures, then their minimum and maximum, each formatted
    with `fmt` (a format spec: `6.2f`) and followed by `unit`."""
    low, mid, high = min(values), statistics.median(values), max(values)
    u = f" {unit}" if unit else ""
    return f"median {mid:{fmt}}{u}  (min {low:{fmt}}{u}, max {high:{fmt}}{u})"


def multiple(seconds: float, loop: float) -> str:
    """`seconds` as a multiple of the loop: `123 x loop`."""
    return f"{seconds / loop:.0f} x loop"


if __name__ == "__main__":
    print(f"{loop_seconds():.2f}")
