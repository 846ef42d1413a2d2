"""Runs the audits of `mailstack check` concurrently and gathers their findings.

A DNS failure, a connection that cannot be made, an HTTPS fetch that fails inside an audit,
or an audit that cannot judge (`CouldNotRun`: its deadline passed, no trust anchor can be
reached) becomes an error of the report (exit 2: could not run), named after the audit; the
other audits still run and report.

The whole run is bounded: the context's clock gives every network operation at most what is
left of DEADLINE_FACTOR x --timeout, and the runner waits that long (and a second more for the
work in hand to return) before it reports every audit not done as not finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from mailstack.check.audit import AUDITS, Audit
from mailstack.check.context import Context, CouldNotRun
from mailstack.check.https import FetchError
from mailstack.check.report import Finding, Report
from mailstack.check.tlsprobe import ProbeError
from mailstack.dnsquery import DnsError

Progress = Callable[[int, int, str], None]
WORKERS = 16
GRACE = 1.0  # seconds past the deadline for operations under way to return


def run(
    ctx: Context,
    audits: tuple[tuple[str, Audit], ...] = AUDITS,
    progress: Progress | None = None,
) -> Report:
    """Every audit against `ctx`; `progress(done, total, name)` after each one."""
    report = Report(ctx.domain)
    start = time.monotonic()
    bound = ctx.start() if ctx.deadline == float("inf") else ctx.deadline - start
    end = start + bound + GRACE
    results: dict[str, list[Finding]] = {}
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    try:
        futures: dict[Future[list[Finding]], str] = {
            pool.submit(audit, ctx): name for name, audit in audits
        }
        pending = set(futures)
        done_count = 0
        while pending and (left := end - time.monotonic()) > 0:
            done, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
            for future in done:
                name = futures[future]
                done_count += 1
                try:
                    results[name] = future.result()
                except (DnsError, FetchError, ProbeError, CouldNotRun) as error:
                    report.errors.append(f"{name}: could not run: {error}")
                if progress is not None:
                    progress(done_count, len(audits), name)
        for future in pending:
            report.errors.append(
                f"{futures[future]}: could not run: not finished within {bound:g} s"
                f" (the audit's bound: {bound / ctx.options.timeout:g} x --timeout)"
            )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    order = {name: index for index, (name, _) in enumerate(audits)}
    report.errors.sort(key=lambda error: order.get(error.split(":", 1)[0], len(order)))
    for name, _ in audits:
        report.add(results.get(name, []))
    report.seconds = time.monotonic() - start
    return report
