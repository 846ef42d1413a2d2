"""Zone files written by `mailstack.zonefile`, read back by dnspython."""

from __future__ import annotations

import base64

import dns.name
import dns.rdatatype
import dns.zone
import pytest

from mailstack import txt
from mailstack.records import Record
from mailstack.zonefile import Soa, canonical, parse, render

ZONE = "example.test"
TLSA_DIGEST = "0123456789abcdef" * 4
DKIM_KEY = base64.b64encode(bytes((i * 37 + 11) % 256 for i in range(294))).decode()
SOA = Soa(
    primary_ns="ns1.example.test",
    hostmaster="hostmaster@example.test",
    serial=2024060101,
    nameservers=("ns1.example.test", "ns2.example.test."),
)


def record(name: str, rtype: str, rdata: str, ttl: int = 3600, key: str = "") -> Record:
    full = f"{name}.{ZONE}" if name else ZONE
    return Record(ZONE, full, rtype, rdata, ttl, key or f"{name}/{rtype}/{rdata[:20]}")


def example_records() -> list[Record]:
    """The records of a small mail domain, as mailstack plans them."""
    return [
        record("", "MX", "10 mx1.example.test."),
        record("", "TXT", txt.presentation("v=spf1 mx -all")),
        record("", "CAA", '0 issue "letsencrypt.org"'),
        record("mx1", "A", "192.0.2.25", ttl=300),
        record("mx1", "AAAA", "2001:db8::25", ttl=300),
        record("mail._domainkey", "TXT", txt.presentation(f"v=DKIM1; k=rsa; p={DKIM_KEY}")),
        record("_dmarc", "TXT", txt.presentation("v=DMARC1; p=reject")),
        record("_mta-sts", "TXT", txt.presentation("v=STSv1; id=20240601T000000")),
        record("_25._tcp.mx1", "TLSA", f"3 1 1 {TLSA_DIGEST}"),
        record("_submission._tcp", "SRV", "0 1 587 mx1.example.test."),
        record("_imaps._tcp", "SRV", "0 1 993 mx1.example.test."),
        record("_pop3._tcp", "SRV", "0 0 0 ."),
    ]


def test_the_dkim_value_is_long_enough_to_be_split() -> None:
    dkim = next(r for r in example_records() if r.name.startswith("mail._domainkey"))
    assert len(txt.joined(dkim.rdata)) > 255
    assert len(txt.parse(dkim.rdata)) == 2


def test_zone_file_read_back_by_dnspython_equals_the_records() -> None:
    records = example_records()
    assert parse(render(ZONE, records), ZONE) == {canonical(r) for r in records}


def test_long_txt_keeps_its_two_strings() -> None:
    records = example_records()
    found = parse(render(ZONE, records), ZONE)
    (dkim,) = [f for f in found if f[0] == f"mail._domainkey.{ZONE}"]
    assert dkim[3] == txt.presentation(f"v=DKIM1; k=rsa; p={DKIM_KEY}")
    assert dkim[3].count('" "') == 1


def test_zone_file_with_soa_loads_as_a_servable_zone() -> None:
    records = example_records()
    text = render(ZONE, records, soa=SOA)
    zone = dns.zone.from_text(text, origin=ZONE, relativize=False, check_origin=True)
    origin = dns.name.from_text(ZONE)
    soa = zone.get_rdataset(origin, dns.rdatatype.SOA)
    assert soa is not None
    assert soa[0].to_text() == (
        "ns1.example.test. hostmaster.example.test. 2024060101 3600 900 1209600 300"
    )
    ns = zone.get_rdataset(origin, dns.rdatatype.NS)
    assert ns is not None
    assert {rdata.to_text() for rdata in ns} == {"ns1.example.test.", "ns2.example.test."}
    assert parse(text, ZONE) == {canonical(r) for r in records}


def test_soa_hostmaster_address_escapes_dots_in_the_local_part() -> None:
    soa = Soa("ns1.example.test.", "host.master@example.test", 1, ("ns1.example.test.",))
    assert soa.rdata().split()[1] == "host\\.master.example.test."


@pytest.mark.parametrize(
    "kwargs",
    [{"serial": -1}, {"serial": 2**32}, {"nameservers": ()}, {"retry": -5}],
)
def test_soa_rejects_impossible_values(kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {
        "primary_ns": "ns1.example.test",
        "hostmaster": "hostmaster.example.test",
        "serial": 1,
        "nameservers": ("ns1.example.test",),
    }
    values.update(kwargs)
    with pytest.raises(ValueError, match=r"SOA|NS"):
        Soa(**values)  # type: ignore[arg-type]


def test_header_origin_and_default_ttl() -> None:
    lines = render(ZONE, example_records()).splitlines()
    assert lines[0].startswith(";")
    assert "$ORIGIN example.test." in lines
    assert "$TTL 300" in lines
    assert render(ZONE, []).splitlines()[2:] == ["$ORIGIN example.test.", "$TTL 3600"]


def test_empty_zone_is_fine() -> None:
    assert parse(render(ZONE, []), ZONE) == set()
    text = render(ZONE, [], soa=SOA)
    dns.zone.from_text(text, origin=ZONE, relativize=False, check_origin=True)


def test_records_are_sorted_apex_first_whatever_the_input_order() -> None:
    records = example_records()
    text = render(ZONE, records)
    assert render(ZONE, list(reversed(records))) == text
    owners = [line.split("\t")[0] for line in text.splitlines() if not line.startswith((";", "$"))]
    assert owners[:3] == ["example.test."] * 3
    assert all(owner.endswith(".") for owner in owners)
    rtypes = [line.split("\t")[3] for line in text.splitlines()[4:7]]
    assert rtypes == ["CAA", "MX", "TXT"]


def test_a_record_of_another_zone_is_refused_by_name() -> None:
    stray = Record("other.test", "www.other.test", "A", "192.0.2.1", 300, "www")
    with pytest.raises(ValueError, match=r"'www'.*other\.test"):
        render(ZONE, [*example_records(), stray])


def test_a_name_outside_the_zone_is_refused() -> None:
    stray = Record(ZONE, "www.other.test", "A", "192.0.2.1", 300, "www")
    with pytest.raises(ValueError, match="outside zone"):
        render(ZONE, [stray])


def test_unreadable_rdata_is_refused() -> None:
    bad = record("mx1", "A", "not-an-address", key="bad")
    with pytest.raises(ValueError, match=r"'bad'.*invalid rdata"):
        render(ZONE, [bad])


def test_an_unquoted_semicolon_is_refused_rather_than_cut_short() -> None:
    bad = record("_dmarc", "TXT", "v=DMARC1; p=reject", key="dmarc")
    with pytest.raises(ValueError, match=r"'dmarc'.*comment"):
        render(ZONE, [bad])
    with pytest.raises(ValueError, match="comment"):
        canonical(bad)
    assert canonical(record("_dmarc", "TXT", '"v=DMARC1; p=reject"'))[3] == '"v=DMARC1; p=reject"'


def test_canonical_ignores_case_of_names_and_quoting_but_not_txt_text() -> None:
    upper = Record(ZONE, "Example.TEST", "MX", "10 MX1.Example.Test.", 3600, "mx")
    assert canonical(upper) == (ZONE, "MX", 3600, "10 mx1.example.test.")
    bare = record("", "TXT", "v=spf1")
    assert canonical(bare)[3] == '"v=spf1"'
    assert canonical(record("", "TXT", '"V=spf1"'))[3] != canonical(bare)[3]
