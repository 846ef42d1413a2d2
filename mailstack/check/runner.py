"""Runs the audits of `mailstack check` concurrently and gathers their findings.

A DNS failure, a connection that cannot be made or an HTTPS fetch that fails inside an audit
becomes an error of the report (exit 2: could not run), named after the audit; the other
audits still run and report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from mailstack.check.audit import AUDITS, Audit
from mailstack.check.context import Context
from mailstack.check.https import FetchError
from mailstack.check.report import Finding, Report
from mailstack.check.tlsprobe import ProbeError
from mailstack.dnsquery import DnsError

Progress = Callable[[int, int, str], None]
WORKERS = 8


def run(
    ctx: Context,
    audits: tuple[tuple[str, Audit], ...] = AUDITS,
    progress: Progress | None = None,
) -> Report:
    """Every audit against `ctx`; `progress(done, total, name)` after each one."""
    report = Report(ctx.domain)
    start = time.monotonic()
    results: dict[str, list[Finding]] = {}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {pool.submit(audit, ctx): name for name, audit in audits}
        for done, future in enumerate(as_completed(futures), 1):
            name = futures[future]
            try:
                results[name] = future.result()
            except (DnsError, FetchError, ProbeError) as error:
                report.errors.append(f"{name}: could not run: {error}")
            if progress is not None:
                progress(done, len(audits), name)
    for name, _ in audits:
        report.add(results.get(name, []))
    report.seconds = time.monotonic() - start
    return report
