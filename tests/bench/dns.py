"""Benchmark: 500 mail domains through validation, planning and the Pulumi program (mocks)."""

from __future__ import annotations

import gc
import resource
import runpy
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pulumi
import pulumi_ovh as ovh
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mailstack.inventory import load
from mailstack.plan import build
from tests.pulumi_mocks import pulumi_test, start_engine

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = 500
TARGET_SECONDS = 10.0


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


class GcClock:
    """Wall time spent in CPython's cyclic garbage collector while installed in gc.callbacks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start


def sdk_alone(count: int) -> float:
    """Seconds Pulumi's SDK takes, under the same mocks, to register `count` ZoneRecords with
    constant inputs and no mailstack code around them: the floor under the program's time."""
    start_engine("bench-sdk")

    @pulumi_test
    def program() -> pulumi.Output[None]:
        for i in range(count):
            ovh.domain.ZoneRecord(
                f"r{i}", zone="d.test", subdomain=f"r{i}", fieldtype="TXT", target='"x"', ttl=3600
            )
        return pulumi.Output.from_input(None)

    start = time.perf_counter()
    program()
    seconds = time.perf_counter() - start
    pulumi.runtime.reset_options()
    return seconds


def run() -> list[tuple[str, float]]:
    """The phases and their wall times in seconds; a detail line's label starts with "of which".

    The Pulumi program validates and plans the inventory itself, as `pulumi up` runs it: its
    time is the total. Validation and planning are also timed alone, for their share.
    """
    tmp = Path(tempfile.mkdtemp(prefix="mailstack-bench-"))
    try:
        write_inventory(tmp, DOMAINS)
        figures = []
        start = time.perf_counter()
        inventory = load(tmp)
        validated = time.perf_counter() - start
        start = time.perf_counter()
        plan = build(inventory)
        planned = time.perf_counter() - start
        if plan.problems:
            first = plan.problems.items[:3]
            raise RuntimeError(f"the benchmark's description has problems: {first}")

        main = cast(
            Callable[[], None],
            runpy.run_path(str(ROOT / "pulumi" / "__main__.py"), run_name="bench")["main"],
        )
        engine = start_engine("bench")
        pulumi.runtime.set_all_config({"mailstack:inventory": str(tmp)})

        @pulumi_test
        def program() -> pulumi.Output[None]:
            main()
            return pulumi.Output.from_input(None)

        # A measure, not a tuning: the program itself sets the collector as a real `pulumi up`
        # has it (off, see pulumi/__main__.py), and this only reports the share it took; the
        # SDK alone runs with the same setting.
        clock = GcClock()
        gc.callbacks.append(clock)
        try:
            start = time.perf_counter()
            program()
            seconds = time.perf_counter() - start
            alone = sdk_alone(len(engine.mocks.registered))
        finally:
            gc.callbacks.remove(clock)
            gc.enable()
        registered = len(engine.mocks.registered)
        pulumi.runtime.reset_options()
        figures.append(
            (f"Pulumi program under mocks: validate, plan, {registered} resources", seconds)
        )
        figures.append(("of which validate (load the inventory, check it)", validated))
        figures.append((f"of which plan ({len(plan.records)} records)", planned))
        figures.append(("of which Python's garbage collector", clock.seconds))
        figures.append((f"for comparison: Pulumi's SDK alone, {registered} resources", alone))
        return figures
    finally:
        shutil.rmtree(tmp)


def main() -> None:
    figures = run()
    print(f"{DOMAINS} mail domains, DNS side:")
    for label, seconds in figures:
        indent = "    " if label.startswith("of which") else "  "
        print(f"{indent}{label:<{62 - len(indent)}} {seconds:7.2f} s")
    total = figures[0][1]
    print(f"  {'total (target under ' + str(int(TARGET_SECONDS)) + ' s)':<60} {total:7.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  {'peak memory of the process':<60} {peak:7.0f} MB")


if __name__ == "__main__":
    main()
