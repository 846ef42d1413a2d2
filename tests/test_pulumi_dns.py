"""MailDns against the published contract of pulumi-ovh, through Pulumi's mocks.

Neither OVH's API nor the Pulumi CLI can run here. These tests run the component under
`pulumi.runtime.set_mocks` and check what it would send to the engine: the type tokens and
input names of `ovh.domain.ZoneRecord` (`zone`, `subdomain`, `fieldtype`, `target`, `ttl`)
and `ovh.domain.ZoneDNSSec` (`zoneName`) as pulumi-ovh publishes them, the resource names
and the parent of every resource. Whether OVH then stores the values as sent is not tested
here; it is checked after apply by asking the zone's name servers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from urllib.parse import unquote

import pulumi
import pytest

from mailstack.pulumi_dns import MailDns, MailDnsArgs, resource_name
from mailstack.records import Record
from tests.pulumi_mocks import ZONE_DNSSEC, ZONE_RECORD, Engine, engine, pulumi_test

__all__ = ["engine"]  # the fixture, used by name

COMPONENT = "mailstack:dns:MailDns"

ZONE = "example.org"
DKIM_HEAD = "v=DKIM1; k=rsa; p=" + "M" * 237  # 255 octets: one full character-string
DKIM_TAIL = "IDAQAB"
TLSA_DATA = "3 1 1 " + "0123456789abcdef" * 4

RECORDS = (
    Record(ZONE, ZONE, "MX", "10 mx1.example.org.", 3600, "MX:example.org:mx1.example.org"),
    Record(
        ZONE,
        "s1._domainkey.example.org",
        "TXT",
        f'"{DKIM_HEAD}" "{DKIM_TAIL}"',
        3600,
        "TXT:s1._domainkey.example.org:dkim",
    ),
    Record(ZONE, "_25._tcp.mx1.example.org", "TLSA", TLSA_DATA, 300, "TLSA:_25._tcp.mx1:current"),
    Record(
        ZONE,
        "_submissions._tcp.example.org",
        "SRV",
        "0 1 465 mx1.example.org.",
        3600,
        "SRV:_submissions._tcp.example.org:submissions",
    ),
    Record(ZONE, "mx1.example.org", "A", "192.0.2.25", 60, "A:mx1.example.org:address"),
)

# What pulumi-ovh must receive for RECORDS, by resource name, whatever their order.
EXPECTED = {
    "example.org/MX:example.org:mx1.example.org": {
        "zone": ZONE,
        "subdomain": "",
        "fieldtype": "MX",
        "target": "10 mx1.example.org.",
        "ttl": 3600,
    },
    "example.org/TXT:s1._domainkey.example.org:dkim": {
        "zone": ZONE,
        "subdomain": "s1._domainkey",
        "fieldtype": "TXT",
        "target": f'"{DKIM_HEAD}" "{DKIM_TAIL}"',
        "ttl": 3600,
    },
    "example.org/TLSA:_25._tcp.mx1:current": {
        "zone": ZONE,
        "subdomain": "_25._tcp.mx1",
        "fieldtype": "TLSA",
        "target": TLSA_DATA,
        "ttl": 300,
    },
    "example.org/SRV:_submissions._tcp.example.org:submissions": {
        "zone": ZONE,
        "subdomain": "_submissions._tcp",
        "fieldtype": "SRV",
        "target": "0 1 465 mx1.example.org.",
        "ttl": 3600,
    },
    "example.org/A:mx1.example.org:address": {
        "zone": ZONE,
        "subdomain": "mx1",
        "fieldtype": "A",
        "target": "192.0.2.25",
        "ttl": 60,
    },
}


def when_registered(dns: MailDns, check: Callable[[str], None]) -> pulumi.Output[None]:
    """Run `check(component URN)` once every resource of `dns` is registered."""
    children = [r.id for r in dns.records.values()]
    if dns.dnssec is not None:
        children.append(dns.dnssec.id)
    return pulumi.Output.all(dns.urn, *children).apply(lambda values: check(values[0]))


# -- resource names --------------------------------------------------------------------------
def test_resource_name_is_zone_and_key() -> None:
    assert resource_name(ZONE, "TXT:_dmarc.example.org:dmarc") == (
        "example.org/TXT:_dmarc.example.org:dmarc"
    )


@pytest.mark.parametrize(
    "key", ["A::x", "a:::b", "::", "x:", "per%cent", "two words", "a/b", "a:%3Ab", "é"]
)
def test_resource_name_never_holds_a_urn_separator_and_keeps_keys_apart(key: str) -> None:
    name = resource_name(ZONE, key)
    assert "::" not in name
    assert unquote(name) == f"{ZONE}/{key}"  # decodable, so two keys never share a name


# -- ZoneRecord inputs -----------------------------------------------------------------------
@pytest.mark.parametrize("order", ["given", "reversed"])
@pulumi_test
def test_zone_record_inputs_follow_pulumi_ovh_contract(
    engine: Engine, order: str
) -> pulumi.Output[None]:
    records = RECORDS if order == "given" else tuple(reversed(RECORDS))
    dns = MailDns("mail-dns-example.org", MailDnsArgs(zone=ZONE, records=records))

    def check(_: str) -> None:
        assert len(DKIM_HEAD.encode()) == 255  # the TXT really is split at 255 octets
        # Same names and inputs in either order: reordering never recreates a record.
        assert engine.inputs(ZONE_RECORD) == EXPECTED
        assert engine.inputs(ZONE_DNSSEC) == {}
        assert set(dns.records) == {r.key for r in RECORDS}

    return when_registered(dns, check)


@pulumi_test
def test_changed_values_keep_resource_names(engine: Engine) -> pulumi.Output[None]:
    changed = [replace(r, rdata=r.rdata.replace("mx1", "mx2"), ttl=r.ttl * 2) for r in RECORDS]
    dns = MailDns("mail-dns-example.org", MailDnsArgs(zone=ZONE, records=changed))

    def check(_: str) -> None:
        assert set(engine.inputs(ZONE_RECORD)) == set(EXPECTED)

    return when_registered(dns, check)


@pulumi_test
def test_every_resource_is_a_child_of_the_component(engine: Engine) -> pulumi.Output[None]:
    dns = MailDns("mail-dns-example.org", MailDnsArgs(zone=ZONE, records=RECORDS, dnssec=True))

    def check(component: str) -> None:
        # The mock monitor prefixes the stack's type; the real engine does not.
        assert component.startswith("urn:pulumi:test::mailstack-dns::")
        assert component.endswith(f"{COMPONENT}::mail-dns-example.org")
        children = engine.children_of(component)
        assert sorted(children.values()) == sorted(
            [f"{COMPONENT}${ZONE_RECORD}"] * len(RECORDS) + [f"{COMPONENT}${ZONE_DNSSEC}"]
        )

    return when_registered(dns, check)


# -- DNSSEC ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dnssec", [True, False])
@pulumi_test
def test_zone_dnssec_only_when_asked(engine: Engine, dnssec: bool) -> pulumi.Output[None]:
    dns = MailDns("mail-dns-example.org", MailDnsArgs(ZONE, RECORDS, dnssec=dnssec))

    def check(_: str) -> None:
        expected = {"example.org/dnssec": {"zoneName": ZONE}} if dnssec else {}
        assert engine.inputs(ZONE_DNSSEC) == expected
        assert (dns.dnssec is not None) is dnssec
        assert len(engine.inputs(ZONE_RECORD)) == len(RECORDS)

    return when_registered(dns, check)


# -- validation ------------------------------------------------------------------------------
MX = RECORDS[0]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        pytest.param(
            [replace(MX, zone="example.net", name="example.net")],
            "belongs to zone 'example.net', not 'example.org'",
            id="wrong-zone",
        ),
        pytest.param(
            [replace(MX, name="example.net")],
            "'example.net' is not in zone 'example.org'",
            id="name-outside-zone",
        ),
        pytest.param(
            [MX, replace(MX, rdata="20 mx2.example.org.")],
            "another record of 'example.org' has the same key",
            id="duplicate-key",
        ),
        pytest.param([replace(MX, ttl=30)], "ttl 30 is under 60", id="ttl-30"),
        pytest.param(
            [replace(MX, rtype="SPF", rdata='"v=spf1 -all"', key="SPF:example.org:spf")],
            "field type 'SPF'",
            id="ovh-spf-type",
        ),
    ],
)
def test_invalid_records_are_refused_naming_the_record(
    engine: Engine, records: list[Record], message: str
) -> None:
    with pytest.raises(ValueError, match=r"record '[^']+' \(") as raised:
        MailDns("mail-dns-example.org", MailDnsArgs(zone=ZONE, records=records))
    assert f"record {records[-1].key!r} ({records[-1].name} {records[-1].rtype})" in str(
        raised.value
    )
    assert message in str(raised.value)
    assert engine.mocks.registered == []
