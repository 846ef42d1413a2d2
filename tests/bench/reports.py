"""Benchmark: the memory of `mailstack dmarc report` at its limits.

The largest report the limits allow: one DMARC aggregate report of --max-size (50 MiB of
XML), its records each from its own address with DKIM and SPF results, as many as fit (some
108,000, under --max-records); then ten such reports (different report IDs and addresses),
of which the run reads as many records as --max-records allows and refuses the rest by name.
Each run is the real command in a fresh process, `--no-resolve --json`, output discarded;
the figures are its wall time and its peak RSS (the kernel's high-water mark of that one
child, from wait4). Prints figures, passes or fails nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mailstack.reports.model import MAX_RECORDS
from mailstack.reports.sources import MIB, Limits
from tests.bench.speed import spread, stamp
from tests.test_reports_samples import aggregate_xml, aligned_row, day

RUNS = 2
MAX_SIZE = Limits().max_size
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    exit_code: int


def largest_report(report_id: str, first: int) -> tuple[bytes, int]:
    """A report of at most MAX_SIZE octets, records from consecutive addresses from `first`
    on: its XML and its number of records."""
    head = aggregate_xml("bench", report_id, day(1), [aligned_row("192.0.2.1", 1)]).decode()
    start, _, rest = head.partition("<record>")
    record = "<record>" + rest.removesuffix("</feedback>")
    end = "</feedback>"
    parts, size, n = [start], len(start) + len(end), 0
    while True:
        address = first + n
        text = record.replace(
            "192.0.2.1", f"10.{address >> 16 & 255}.{address >> 8 & 255}.{address & 255}"
        )
        if size + len(text) > MAX_SIZE:
            break
        parts.append(text)
        size += len(text)
        n += 1
    parts.append(end)
    return "".join(parts).encode(), n


def measure(paths: list[Path]) -> Run:
    """One run of the command in a fresh process: its wall time and peak RSS."""
    command = [str(BIN / "mailstack"), "dmarc", "report", "--no-resolve", "--json"]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*command, *map(str, paths)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # wait4, not Popen.wait: the resource usage of this one child, its peak RSS among it.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(time.perf_counter() - start, usage.ru_maxrss / 1024, proc.returncode)


def main(loop: float) -> None:
    tag = stamp(loop)
    print(
        f"dmarc report at its limits (--max-size {MAX_SIZE // MIB} MiB, --max-records"
        f" {MAX_RECORDS:,}), whole processes, {RUNS} runs each:"
    )
    with tempfile.TemporaryDirectory(prefix="mailstack-bench-reports-") as folder:
        paths: list[Path] = []
        counts: list[int] = []
        for n in range(10):
            data, count = largest_report(str(n), sum(counts))
            paths.append(Path(folder) / f"report{n}.xml")
            paths[-1].write_bytes(data)
            counts.append(count)
        for label, inputs in (
            (f"one report of 50 MiB ({counts[0]:,} records)", paths[:1]),
            (f"ten of them ({sum(counts):,} records in all)", paths),
        ):
            runs = [measure(inputs) for _ in range(RUNS)]
            codes = sorted({r.exit_code for r in runs})
            print(
                f"  {label:<46} peak {spread([r.peak_mb for r in runs], '5.0f')} MB"
                f"  time {spread([r.seconds for r in runs], '5.1f')} s"
                f"  exit {', '.join(map(str, codes))}  {tag}"
            )
