"""Benchmark: S/MIME for 1,000 mailboxes.

1. `mailstack smime issue` for 1,000 mailboxes (ECDSA P-256), then `export` of each in both
   encodings (2,000 .p12 files), in a fresh process: the time of each phase and the peak
   memory (RSS, from wait4). RSA 3072 for RSA_COUNT mailboxes, whose key generation dominates.
2. Their SMIMEA records through the Pulumi program (pulumi/__main__.py) under Pulumi's mocks,
   as `pulumi up` runs it: the inventory with the 1,000 certificates against the same
   inventory without them, each in a fresh process (tests/bench/pulumi_child.py). OVH's API
   has no SMIMEA type, so the program plans the records, then leaves them out with a warning.
3. The zone file that does carry them (`mailstack dns zone`, what the lab's Knot serves):
   plan and render, in this process.

Prints figures, never a verdict on time.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from mailstack.inventory import load
from mailstack.plan import build
from mailstack.zonefile import render
from tests.bench.dns import Run, child
from tests.bench.speed import stamp

COUNT = 1000
RSA_COUNT = 100
RUNS = 3
HASH = "{SHA512-CRYPT}$6$bench$hash"


def write_inventory(root: Path, count: int, key: str) -> Path:
    """One domain, d.test, with `count` mailboxes and S/MIME from mailstack's CA."""
    (root / "group_vars" / "all").mkdir(parents=True)
    domain: dict[str, Any] = {
        "name": "d.test",
        "mx": [{"host": "mx1.d.test"}],
        "spf": {"senders": [{"mx": True}]},
        "dmarc": {"p": "reject", "rua": ["mailto:u0@d.test"]},
        "smime": {"key": key},
        "mailboxes": [{"name": f"u{i}", "password_hash": HASH} for i in range(count)],
    }
    hosts = {"mx1.d.test": {"mailstack_ipv4": "192.0.2.10", "mailstack_ipv6": "2001:db8::10"}}
    (root / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"mail": {"hosts": hosts}}}})
    )
    (root / "group_vars" / "all" / "mailstack.yml").write_text(
        yaml.safe_dump({"mailstack_domains": [domain]})
    )
    return root


def issue(tmp: Path, count: int, key: str) -> Run:
    inventory = write_inventory(tmp / f"{key}-inv", count, key)
    return child(
        str(inventory), str(count), str(tmp / f"{key}-out"), module="tests.bench.smime_child"
    )


def main(loop: float) -> None:
    tag = stamp(loop)
    tmp = Path(tempfile.mkdtemp(prefix="mailstack-bench-smime-"))
    try:
        print("S/MIME: issue, then export in both encodings (fresh process each):")
        for key, count in (("ecdsa-p256", COUNT), ("rsa-3072", RSA_COUNT)):
            run = issue(tmp, count, key)
            c = run.counts
            print(
                f"  {count:>5} mailboxes {key:<10} issue {c['issue_s']:7.2f} s"
                f" ({1000 * c['issue_s'] / count:6.1f} ms each), export {c['export_s']:7.2f} s"
                f" ({c['p12']} .p12), whole process {run.seconds:7.2f} s"
                f" (CPU {run.cpu:7.2f} s), peak {run.peak_mb:5.0f} MB  {tag}"
            )
        inventory = tmp / "ecdsa-p256-inv"
        bare = tmp / "bare-inv"
        shutil.copytree(inventory, bare, ignore=shutil.ignore_patterns("published"))
        print(f"Pulumi program under mocks, {RUNS} runs each (SMIMEA planned, left out at OVH):")
        for label, path in ((f"{COUNT} certificates", inventory), ("no certificate", bare)):
            runs = [child("program", str(path)) for _ in range(RUNS)]
            seconds = statistics.median(r.seconds for r in runs)
            peak = statistics.median(r.peak_mb for r in runs)
            cpu = statistics.median(r.cpu for r in runs)
            resources = sum(runs[0].counts.values())
            print(
                f"  {label:<18} median {seconds:6.2f} s (CPU {cpu:6.2f} s), peak {peak:5.0f} MB,"
                f" {resources} resources  {tag}"
            )
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            plan = build(load(inventory))
            text = render("d.test", plan.zone_records("d.test"))
            times.append(time.perf_counter() - start)
        smimea = sum(1 for r in plan.records if r.rtype == "SMIMEA")
        print(
            f"  zone file (plan + render), {smimea} SMIMEA records, {len(text) // 1024} KiB:"
            f" median {statistics.median(times):6.2f} s  {tag}"
        )
    finally:
        shutil.rmtree(tmp)
        shutil.rmtree(tmp.with_name(tmp.name + ".smime"), ignore_errors=True)


if __name__ == "__main__":
    from tests.bench.speed import loop_seconds

    main(loop_seconds())
