"""The audits of `mailstack check`, each run against a real DNS server on 127.0.0.1 serving a
zone with one deliberate mistake, and expected to find it and explain it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cryptography.hazmat.primitives import serialization

from mailstack import txt
from mailstack.check.audit import dkim, dmarc, mtasts, mx, spf
from mailstack.check.context import Context, Options
from mailstack.check.report import Finding
from mailstack.dnsquery import Dns
from tests.conftest import public_pem, rsa_key
from tests.dnsserver import ZoneServer

ZONE = "example.test"
BASE = """
$ORIGIN example.test.
$TTL 300
@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 900 1209600 300
@ IN NS ns.example.test.
ns IN A 127.0.0.1
"""
GOOD = """
@ IN MX 10 mx1.example.test.
mx1 IN A 127.0.0.1
@ IN TXT "v=spf1 mx -all"
_dmarc IN TXT "v=DMARC1; p=reject; np=reject; adkim=r; aspf=r; rua=mailto:dmarc@example.test"
"""


@contextmanager
def context(zone: str, **options: object) -> Iterator[Context]:
    with ZoneServer(BASE + zone, ZONE) as server:
        resolver = Dns("127.0.0.1", server.port, timeout=2.0)
        yield Context(ZONE, resolver, {}, Options(**options))  # type: ignore[arg-type]


def only(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check]


def statuses(findings: list[Finding]) -> set[str]:
    return {f.status for f in findings}


def test_a_good_spf_record_passes_with_its_lookup_count() -> None:
    with context(GOOD) as ctx:
        found = spf.audit(ctx)
    assert statuses(found) == {"pass"}
    assert "1 DNS lookup(s) of the 10 allowed" in only(found, "spf.lookups")[0].message


def test_eleven_lookups_fail_and_show_the_chain_of_includes() -> None:
    includes = " ".join(f"include:s{i}.example.test" for i in range(1, 12))
    zone = GOOD.replace('"v=spf1 mx -all"', txt.presentation(f"v=spf1 {includes} -all")) + "".join(
        f's{i} IN TXT "v=spf1 ip4:192.0.2.{i} -all"\n' for i in range(1, 12)
    )
    with context(zone) as ctx:
        found = spf.audit(ctx)
    failures = [f for f in found if f.status == "fail"]
    assert len(failures) == 1
    assert failures[0].message.startswith("11 DNS lookups, over the limit of 10")
    assert "include:s11.example.test costs 1 lookup(s)" in failures[0].message
    assert failures[0].fix is not None and "flatten" in failures[0].fix
    assert not only(found, "spf.lookups")


def test_two_spf_records_and_a_permissive_all_fail() -> None:
    with context(GOOD + '@ IN TXT "v=spf1 a -all"\n') as ctx:
        assert [f.check for f in spf.audit(ctx)] == ["spf.single"]
    with context(GOOD.replace("mx -all", "mx ?all")) as ctx:
        (qualifier,) = only(spf.audit(ctx), "spf.all")
    assert qualifier.status == "fail"
    assert "anyone may send" in qualifier.message


def test_dmarc_p_none_fails_with_the_way_to_enforcement() -> None:
    with context(GOOD.replace("p=reject;", "p=none;")) as ctx:
        found = dmarc.audit(ctx)
    (policy,) = only(found, "dmarc.policy")
    assert policy.status == "fail"
    assert "not protected against spoofing" in policy.message
    assert policy.fix is not None and "p=quarantine" in policy.fix


REPORTS = """
$ORIGIN reports.test.
$TTL 300
@ IN SOA ns.example.test. hostmaster.reports.test. 1 3600 900 1209600 300
@ IN NS ns.example.test.
"""


@contextmanager
def with_reports_zone(zone: str, reports: str) -> Iterator[Context]:
    with ZoneServer.multi({ZONE: BASE + zone, "reports.test": REPORTS + reports}) as server:
        yield Context(ZONE, Dns("127.0.0.1", server.port, timeout=2.0), {})


EXTERNAL = GOOD.replace("rua=mailto:dmarc@example.test", "rua=mailto:agg@reports.test")


def test_an_external_rua_without_authorization_fails_and_names_the_record_to_add() -> None:
    with with_reports_zone(EXTERNAL, "") as ctx:
        (external,) = only(dmarc.audit(ctx), "dmarc.external")
    assert external.status == "fail"
    assert "reports.test has not authorized reports for example.test" in external.message
    assert external.fix is not None
    assert 'example.test._report._dmarc.reports.test TXT "v=DMARC1"' in external.fix


def test_an_authorized_external_rua_passes() -> None:
    authorization = 'example.test._report._dmarc IN TXT "v=DMARC1"\n'
    with with_reports_zone(EXTERNAL, authorization) as ctx:
        (external,) = only(dmarc.audit(ctx), "dmarc.external")
    assert external.status == "pass"


def test_a_report_destination_under_the_domain_needs_no_authorization() -> None:
    zone = GOOD.replace("dmarc@example.test", "dmarc@reports.example.test")
    zone += "reports IN MX 10 mx1.example.test.\n"
    with context(zone) as ctx:
        found = dmarc.audit(ctx)
    assert only(found, "dmarc.external") == []
    assert statuses(found) <= {"pass", "info"}


def dkim_record(key: bytes) -> str:
    der = serialization.load_pem_public_key(key).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return txt.presentation(f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}")


def test_a_dkim_key_differing_from_the_published_one_fails() -> None:
    served, published = public_pem(rsa_key()), public_pem(rsa_key())
    zone = GOOD + f"mail._domainkey IN TXT {dkim_record(served)}\n"
    with context(zone, selectors=("mail",)) as ctx:
        ctx.published_dkim["mail"] = published
        found = dkim.audit(ctx)
        ctx.published_dkim["mail"] = served
        same = dkim.audit(ctx)
    (key,) = only(found, "dkim.key")
    assert key.status == "pass"
    assert "2048 bits" in key.message
    (inventory,) = only(found, "dkim.inventory")
    assert inventory.status == "fail"
    assert "differs from the one the servers sign with" in inventory.message
    assert only(same, "dkim.inventory")[0].status == "pass"


def test_a_weak_or_missing_dkim_key_is_reported() -> None:
    zone = GOOD + f"old._domainkey IN TXT {dkim_record(public_pem(rsa_key(1024)))}\n"
    with context(zone, selectors=("old", "absent")) as ctx:
        found = dkim.audit(ctx)
    assert [(f.status, f.message.split(":")[0]) for f in found] == [
        ("warn", "selector old"),
        ("fail", "no DKIM key at absent._domainkey.example.test"),
    ]


def test_without_selectors_dkim_says_how_to_give_them() -> None:
    with context(GOOD) as ctx:
        (note,) = dkim.audit(ctx)
    assert note.status == "info"
    assert "--selector" in note.message


def test_the_mx_audit_finds_hosts_addresses_and_a_missing_ptr() -> None:
    with ZoneServer.multi(
        {
            ZONE: BASE + GOOD,
            "127.in-addr.arpa": "$ORIGIN 127.in-addr.arpa.\n$TTL 300\n"
            "@ IN SOA ns.example.test. h.example.test. 1 3600 900 1209600 300\n"
            "@ IN NS ns.example.test.\n1.0.0 IN PTR ns.example.test.\n",
        }
    ) as server:
        ctx = Context(ZONE, Dns("127.0.0.1", server.port, timeout=2.0), {})
        found = mx.audit(ctx)
    assert [f.check for f in found] == ["mx.present", "mx.address", "mx.ipv6", "mx.fcrdns"]
    (fcrdns,) = only(found, "mx.fcrdns")
    # 127.0.0.1 points at ns.example.test, which has 127.0.0.1: forward-confirmed, though
    # not named after the MX.
    assert fcrdns.status == "pass"


def test_a_null_mx_needs_no_mta_sts() -> None:
    with context('@ IN MX 0 .\n@ IN TXT "v=spf1 -all"\n') as ctx:
        assert [f.check for f in mx.audit(ctx)] == ["mx.null"]
        assert [f.check for f in mtasts.audit(ctx)] == ["mtasts.null"]


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("mx1.example.test", "mx1.example.test", True),
        ("MX1.example.test.", "mx1.example.test", True),
        ("*.example.test", "mx1.example.test", True),
        ("*.example.test", "a.mx1.example.test", False),
        ("*.example.test", "example.test", False),
        ("mx2.example.test", "mx1.example.test", False),
    ],
)
def test_mta_sts_patterns_cover_one_label(pattern: str, host: str, expected: bool) -> None:
    assert mtasts.matches(pattern, host) is expected


def test_a_policy_line_without_a_colon_is_named() -> None:
    assert mtasts.parse_policy("version: STSv1\r\nmx: a\r\nmx: b\r\n") == {
        "version": ["STSv1"],
        "mx": ["a", "b"],
    }
    with pytest.raises(ValueError, match="'mode enforce'"):
        mtasts.parse_policy("version: STSv1\nmode enforce\n")


def test_a_reverse_zone_that_refuses_leaves_the_rest_of_the_mx_audit_to_run() -> None:
    # The server answers REFUSED for 127.in-addr.arpa, a zone it does not serve.
    with context(GOOD) as ctx:
        found = mx.audit(ctx)
    assert [f.check for f in found] == ["mx.present", "mx.address", "mx.ipv6", "mx.ptr"]
    (ptr,) = only(found, "mx.ptr")
    assert ptr.status == "warn"
    assert ptr.message.startswith("the reverse DNS of 127.0.0.1 (mx1.example.test) could not")
    assert "REFUSED" in ptr.message
