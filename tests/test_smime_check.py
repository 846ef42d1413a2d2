"""`mailstack check --smime ADDRESS` against a real DNSSEC-signed zone on 127.0.0.1, made
from the plan as the lab's DNS server makes its zones (`mailstack dns zone`); and the SMIMEA
records through the Pulumi program, which leaves them out at OVH and says so."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.name
import dns.zone
import pulumi
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from dns.dnssectypes import Algorithm
from dns.rdtypes.dnskeybase import Flag

from mailstack.check.audit import smime
from mailstack.check.context import Context, Options
from mailstack.check.report import Finding
from mailstack.dnsquery import Dns
from mailstack.inventory import load
from mailstack.plan import build
from mailstack.pulumi_dns import at_ovh
from mailstack.records import Record
from mailstack.smime import smimea
from mailstack.zonefile import Soa, render
from tests.conftest import MakeInventory
from tests.dnsserver import ZoneServer
from tests.smime_fixtures import session, smime_domain, smime_inventory

ALICE = "alice@example.test"
DAY = 86400


@pytest.fixture
def inventory(make_inventory: MakeInventory) -> Path:
    path = smime_inventory(make_inventory, smime_domain(key="ecdsa-p256"))
    session(path).issue(ALICE)
    return path


def zone_of(inventory: Path, *, signed: bool = True) -> tuple[dns.zone.Zone, dict[Any, Any]]:
    """The plan's example.test zone, signed with a new key, and the trust anchor for it."""
    records = [r for r in build(load(inventory)).records if r.zone == "example.test"]
    text = render(
        "example.test",
        records,
        soa=Soa("ns.example.test", "hostmaster.example.test", 1, ("ns.example.test",)),
    )
    zone = dns.zone.from_text(text, origin="example.test.", relativize=False)
    key = ed25519.Ed25519PrivateKey.generate()
    dnskey = dns.dnssec.make_dnskey(key.public_key(), Algorithm.ED25519, Flag.ZONE | Flag.SEP)
    if signed:
        now = time.time()
        dns.dnssec.sign_zone(
            zone, keys=[(key, dnskey)], inception=now - DAY, expiration=now + 30 * DAY
        )
    anchors = {
        dns.name.from_text("example.test."): [dns.dnssec.make_ds("example.test.", dnskey, "SHA256")]
    }
    return zone, anchors


@contextmanager
def audited_context(
    zone: dns.zone.Zone, anchors: dict[Any, Any], inventory: Path | None, **options: Any
) -> Iterator[Context]:
    with ZoneServer.multi({"example.test.": zone}) as server:
        ctx = Context(
            "example.test", Dns("127.0.0.1", server.port, 2.0), anchors, Options(**options)
        )
        if inventory is not None:
            ctx.plan = build(load(inventory))
        yield ctx


def by_check(findings: list[Finding]) -> dict[str, str]:
    return {f.check: f.status for f in findings}


def test_a_published_certificate_passes_every_check(inventory: Path) -> None:
    zone, anchors = zone_of(inventory)
    with audited_context(zone, anchors, inventory, smime=(ALICE,)) as ctx:
        found = smime.audit(ctx)
    assert by_check(found) == {
        "smime.dnssec": "pass",
        "smime.match": "pass",
        "smime.expiry": "pass",
    }
    assert all(f.category == "S/MIME" for f in found)
    assert "validated from the trust anchor" in found[0].message


def test_a_given_certificate_file_is_matched(inventory: Path, tmp_path: Path) -> None:
    zone, anchors = zone_of(inventory)
    mine = inventory / "published/smime/example.test/mailboxes/alice.pem"
    with audited_context(zone, anchors, None, smime=(ALICE,), smime_certs=(str(mine),)) as ctx:
        assert by_check(smime.audit(ctx))["smime.match"] == "pass"
    with audited_context(zone, anchors, None, smime=(ALICE,)) as ctx:
        assert by_check(smime.audit(ctx))["smime.match"] == "info"


def test_an_unsigned_zone_never_passes_dnssec(inventory: Path) -> None:
    """The anchor expects a key the zone does not have: the chain cannot be judged from here
    (the DNSSEC audit says why, and the command then cannot pass); S/MIME never passes it."""
    zone, anchors = zone_of(inventory, signed=False)
    with audited_context(zone, anchors, inventory, smime=(ALICE,)) as ctx:
        found = by_check(smime.audit(ctx))
    assert found["smime.dnssec"] in ("fail", "info")


def test_a_stale_record_after_a_renewal_fails_the_match(inventory: Path) -> None:
    zone, anchors = zone_of(inventory)  # the zone still has the first certificate
    session(inventory).issue(ALICE, renew=True)
    with audited_context(zone, anchors, inventory, smime=(ALICE,)) as ctx:
        found = smime.audit(ctx)
    (match,) = [f for f in found if f.check == "smime.match"]
    assert match.status == "fail"
    assert "not the known certificate" in match.message


def test_a_revoked_certificate_has_no_record_any_more(inventory: Path) -> None:
    session(inventory).revoke(ALICE)
    zone, anchors = zone_of(inventory)
    with audited_context(zone, anchors, inventory, smime=(ALICE,)) as ctx:
        found = smime.audit(ctx)
    assert [(f.check, f.status) for f in found] == [("smime.smimea", "fail")]
    assert smimea.owner(ALICE) in found[0].message


def test_a_certificate_near_its_end_warns(make_inventory: MakeInventory) -> None:
    path = smime_inventory(make_inventory, smime_domain(key="ecdsa-p256", validity=10))
    session(path).issue(ALICE)
    zone, anchors = zone_of(path)
    with audited_context(zone, anchors, path, smime=(ALICE,)) as ctx:
        assert by_check(smime.audit(ctx))["smime.expiry"] == "warn"


def test_an_expired_certificate_is_not_published(make_inventory: MakeInventory) -> None:
    path = smime_inventory(make_inventory, smime_domain(key="ecdsa-p256", validity=1))
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    session(path, past).issue(ALICE)
    plan = build(load(path))
    assert not [r for r in plan.records if r.rtype == "SMIMEA"]
    assert any("expired" in w.message and "renew" in w.message for w in plan.problems.warnings)


def test_nothing_is_asked_without_smime_addresses(inventory: Path) -> None:
    zone, anchors = zone_of(inventory)
    with audited_context(zone, anchors, inventory) as ctx:
        assert smime.audit(ctx) == []


def test_ovh_gets_every_record_but_smimea() -> None:
    records = [
        Record("example.test", "example.test", "MX", "10 mx1.example.test.", 300, "MX:a"),
        Record("example.test", "x._smimecert.example.test", "SMIMEA", "3 0 0 00", 300, "S:b"),
    ]
    ok, elsewhere = at_ovh(records)
    assert [r.rtype for r in ok] == ["MX"]
    assert [r.rtype for r in elsewhere] == ["SMIMEA"]


def test_the_pulumi_program_leaves_smimea_out_at_ovh_and_warns(
    inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runpy  # noqa: PLC0415

    from tests.pulumi_mocks import ZONE_RECORD, pulumi_test, start_engine  # noqa: PLC0415

    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    engine = start_engine()
    pulumi.runtime.set_all_config({"mailstack:inventory": str(inventory)})
    root = Path(__file__).resolve().parent.parent
    main = runpy.run_path(str(root / "pulumi" / "__main__.py"), run_name="smime_program")["main"]
    try:

        @pulumi_test
        def run() -> pulumi.Output[Any]:
            main()
            return pulumi.Output.from_input(None)

        run()
    finally:
        pulumi.runtime.reset_options()
        import gc  # noqa: PLC0415

        gc.enable()
    fieldtypes = {i["fieldtype"] for i in engine.inputs(ZONE_RECORD).values()}
    assert "SMIMEA" not in fieldtypes and "MX" in fieldtypes
    assert any("1 SMIMEA record(s) not published" in w for w in warnings), warnings
