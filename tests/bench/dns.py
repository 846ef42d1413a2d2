"""Benchmark: the Pulumi program for 500 mail domains against Pulumi's SDK alone.

Two commands, each run in a fresh process of its own (tests/bench/pulumi_child.py), under
Pulumi's mocks (no Pulumi CLI, no engine, no provider):
  A. the program, pulumi/__main__.py, on an inventory of DOMAINS domains: it loads and checks
     the description, plans the records and registers them, as `pulumi up` runs it;
  B. Pulumi's SDK alone registering the same resources (same count and types, names,
     parents and inputs, read from a dump of A's registrations), with no mailstack code.
A and B run in turn, A B A B ..., RUNS times each after one untimed run of each; the time
is the whole process's wall time, start-up and imports included, the memory its peak RSS
(the kernel's high-water mark of that one child, from wait4). The ratios A/B are taken pair
by pair (the machine's speed drifts) and their median is compared with the targets: time
within TIME_TARGET, memory within MEMORY_TARGET. Prints PASS or MISS; fails nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.bench.speed import spread, stamp

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = 500
RUNS = 5
TIME_TARGET = 1.3
MEMORY_TARGET = 1.2


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_inventory(root: Path, count: int) -> None:
    """`count` domains, each with its own MX host, DKIM and TLS keys, MTA-STS, TLS-RPT, SRV."""
    (root / "group_vars" / "all").mkdir(parents=True)
    dkim = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    tls = _pem(ec.generate_private_key(ec.SECP256R1()))
    tls_next = _pem(ec.generate_private_key(ec.SECP256R1()))
    hosts: dict[str, Any] = {}
    domains = []
    for i in range(count):
        name = f"d{i}.test"
        mx = f"mx1.{name}"
        hosts[mx] = {
            "mailstack_ipv4": f"10.{i // 250}.{i % 250}.10",
            "mailstack_ipv6": f"fd00::{i:x}",
        }
        domains.append(
            {
                "name": name,
                "mx": [{"host": mx, "priority": 10}],
                "spf": {"senders": [{"mx": True}, {"ip4": "192.0.2.0/24", "who": "office"}]},
                "dkim": [{"selector": "s1"}],
                "dmarc": {"p": "reject", "rua": [f"mailto:dmarc@{name}"]},
                "mta_sts": {"mode": "enforce"},
                "tls_rpt": {"rua": [f"mailto:tls@{name}"]},
                "caa": {"issue": ["letsencrypt.org"]},
                "autoconfig": {"host": mx, "services": ["submissions", "imaps"]},
            }
        )
        for rel, data in (
            (f"dkim/{name}/s1.pem", dkim),
            (f"tls/{mx}/current.pem", tls),
            (f"tls/{mx}/next.pem", tls_next),
        ):
            path = root / "published" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    (root / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"mail": {"hosts": hosts}}}})
    )
    (root / "group_vars" / "all" / "mailstack.yml").write_text(
        yaml.safe_dump({"mailstack_domains": domains})
    )


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu: float
    peak_mb: float
    counts: dict[str, int]


def child(*args: str, module: str = "tests.bench.pulumi_child") -> Run:
    """One run of `module` (tests/bench/pulumi_child.py by default) in a fresh process: its
    wall time and peak RSS, and the counts it prints as its last line (JSON)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        # wait4, not Popen.wait: the resource usage of this one child, its peak RSS among it.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{module} {args[0]} failed: {err.read().decode()[-2000:]}")
        counts = json.loads(out.read().decode().strip().splitlines()[-1])
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, cpu, usage.ru_maxrss / 1024, counts)  # ru_maxrss is in KiB on Linux


@dataclass(frozen=True)
class Figures:
    program: list[Run]
    sdk: list[Run]
    counts: dict[str, int]

    @property
    def time_ratios(self) -> list[float]:
        return [a.seconds / b.seconds for a, b in zip(self.program, self.sdk, strict=True)]

    @property
    def cpu_ratios(self) -> list[float]:
        return [a.cpu / b.cpu for a, b in zip(self.program, self.sdk, strict=True)]

    @property
    def memory_ratios(self) -> list[float]:
        return [a.peak_mb / b.peak_mb for a, b in zip(self.program, self.sdk, strict=True)]


def run(runs: int = RUNS, domains: int = DOMAINS) -> Figures:
    tmp = Path(tempfile.mkdtemp(prefix="mailstack-bench-"))
    try:
        write_inventory(tmp / "inventory", domains)
        dump = str(tmp / "registered.pickle")
        # The untimed first runs: A writes what it registered, which B then registers.
        first = child("program", str(tmp / "inventory"), dump)
        alone = child("sdk", dump)
        if alone.counts != first.counts:
            raise RuntimeError(f"the SDK alone registered {alone.counts}, not {first.counts}")
        program, sdk = [], []
        for _ in range(runs):
            program.append(child("program", str(tmp / "inventory")))
            sdk.append(child("sdk", dump))
        for measured in (*program, *sdk):
            if measured.counts != first.counts:
                raise RuntimeError(f"a run registered {measured.counts}, not {first.counts}")
        return Figures(program, sdk, first.counts)
    finally:
        shutil.rmtree(tmp)


def _list(ratios: list[float]) -> str:
    return " ".join(f"{r:.2f}" for r in ratios)


def _verdict(ratio: float, target: float) -> str:
    # The verdict of the printed figure: 1.304 prints 1.30, which is within 1.3.
    return f"target <= {target}  {'PASS' if round(ratio, 2) <= target else 'MISS'}"


def main(loop: float) -> Figures:
    figures = run()
    tag = stamp(loop)
    kinds = ", ".join(f"{n} {typ.rsplit(':', 1)[-1]}" for typ, n in figures.counts.items())
    total = sum(figures.counts.values())
    print(
        f"Pulumi program for {DOMAINS} mail domains vs Pulumi's SDK alone, same {total}"
        f" resources ({kinds}), mocks, {len(figures.program)} runs each, whole processes:"
    )
    for label, runs in (
        ("program (pulumi/__main__.py)", figures.program),
        ("Pulumi's SDK alone", figures.sdk),
    ):
        print(f"  {label:<30} time {spread([r.seconds for r in runs], '6.2f')} s  {tag}")
        print(f"  {label:<30} cpu  {spread([r.cpu for r in runs], '6.2f')} s  {tag}")
        print(f"  {label:<30} peak {spread([r.peak_mb for r in runs], '6.0f')} MB  {tag}")
    time_ratio = statistics.median(figures.time_ratios)
    memory_ratio = statistics.median(figures.memory_ratios)
    cpu_ratio = statistics.median(figures.cpu_ratios)
    print(
        f"  {'time ratio program / SDK':<30} {time_ratio:5.2f}"
        f"  {_verdict(time_ratio, TIME_TARGET)}  (pair by pair: {_list(figures.time_ratios)})"
        f"  {tag}"
    )
    print(
        f"  {'memory ratio program / SDK':<30} {memory_ratio:5.2f}"
        f"  {_verdict(memory_ratio, MEMORY_TARGET)}  (pair by pair: {_list(figures.memory_ratios)})"
        f"  {tag}"
    )
    # CPU seconds hardly move with what else the machine runs: a check on a noisy time ratio.
    print(
        f"  {'cpu time ratio program / SDK':<30} {cpu_ratio:5.2f}"
        f"  (pair by pair: {_list(figures.cpu_ratios)})  {tag}"
    )
    return figures


if __name__ == "__main__":
    from tests.bench.speed import loop_seconds

    main(loop_seconds())
