"""SPF includes resolved live over real DNS (a server on loopback), and the offline cache."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from mailstack.dnssource import CacheSource, DnsSource, RecordingSource
from tests.conftest import MakeInventory, domain, mailstack
from tests.dnsserver import ZoneServer

VENDOR_ZONE = """
$TTL 300
vendor.test. IN TXT "v=spf1 include:_n.vendor.test -all"
_n.vendor.test. IN TXT "v=spf1 ip4:192.0.2.0/24 a:out.vendor.test -all"
_n.vendor.test. IN TXT "some-verification=1"
out.vendor.test. IN A 192.0.2.77
"""


def live(*command: str, inventory: Path) -> subprocess.CompletedProcess[str]:
    """Run a mailstack command on `inventory` that resolves SPF includes through a real DNS
    server on loopback serving VENDOR_ZONE."""
    with ZoneServer(VENDOR_ZONE, "vendor.test") as server:
        return mailstack(
            *command,
            "-i",
            str(inventory),
            "--resolver",
            server.host,
            "--resolver-port",
            str(server.port),
        )


def test_dns_source_answers_and_voids() -> None:
    with ZoneServer(VENDOR_ZONE, "vendor.test") as server:
        source = DnsSource(server.host, server.port, timeout=2)
        assert source.query("_n.vendor.test", "TXT") == (
            "some-verification=1",
            "v=spf1 ip4:192.0.2.0/24 a:out.vendor.test -all",
        )
        assert source.query("out.vendor.test", "A") == ("192.0.2.77",)
        assert source.query("out.vendor.test", "AAAA") is None  # no data
        assert source.query("gone.vendor.test", "TXT") is None  # NXDOMAIN


def test_recording_source_notes_upstream_changes(tmp_path: Path) -> None:
    cache = CacheSource(tmp_path / "c.json", {"out.vendor.test A": ["192.0.2.1"]})
    with ZoneServer(VENDOR_ZONE, "vendor.test") as server:
        recording = RecordingSource(DnsSource(server.host, server.port, timeout=2), cache)
        recording.query("out.vendor.test", "A")
        recording.query("vendor.test", "TXT")
    assert recording.changes == [
        "out.vendor.test A changed upstream: was ['192.0.2.1'], now ['192.0.2.77']"
    ]
    cache.save()
    assert CacheSource.load(tmp_path / "c.json").answers["out.vendor.test A"] == ["192.0.2.77"]


def test_refresh_then_plan_offline(make_inventory: MakeInventory) -> None:
    inv = make_inventory(
        [domain(spf={"senders": [{"mx": True}, {"include": "vendor.test", "who": "Vendor"}]})]
    )
    offline = mailstack("spec", "validate", "-i", str(inv))
    assert offline.returncode == 1
    assert "vendor.test TXT is not in the offline cache" in offline.stderr
    refresh = live("spf", "refresh", inventory=inv)
    assert refresh.returncode == 0, refresh.stderr
    cache = json.loads((inv / "spf-cache.json").read_text())["answers"]
    assert cache["out.vendor.test A"] == ["192.0.2.77"]
    assert cache["_n.vendor.test TXT"] == [
        "some-verification=1",
        "v=spf1 ip4:192.0.2.0/24 a:out.vendor.test -all",
    ]
    # Now the plan needs no network: the cache answers.
    plan = mailstack("spec", "validate", "-i", str(inv))
    assert plan.returncode == 0, plan.stderr


def test_validate_live_warns_when_upstream_changed(make_inventory: MakeInventory) -> None:
    inv = make_inventory([domain(spf={"senders": [{"include": "vendor.test", "who": "Vendor"}]})])
    CacheSource(
        inv / "spf-cache.json",
        {
            "vendor.test TXT": ["v=spf1 ip4:198.51.100.1 -all"],
        },
    ).save()
    result = live("spec", "validate", inventory=inv)
    assert result.returncode == 0, result.stderr
    assert "warning: " in result.stderr
    assert "vendor.test TXT changed upstream: was ['v=spf1 ip4:198.51.100.1 -all']" in result.stderr
