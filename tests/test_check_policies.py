"""DMARC discovery and placement, MTA-STS and TLS-RPT syntax limits, CAA on the MX hosts and
the name servers' answers, each against a real DNS server on 127.0.0.1 serving a zone with one
deliberate mistake (or, for the policy file's syntax, the policy text itself)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mailstack.check import orgdomain
from mailstack.check.audit import bimi, dmarc, mtasts, nameservers
from mailstack.check.context import Context, Options
from mailstack.check.report import Finding
from mailstack.dnsquery import Dns
from tests.dnsserver import ZoneServer

BASE = """
$ORIGIN example.test.
$TTL 300
@ IN SOA ns.example.test. hostmaster.example.test. 7 3600 900 1209600 300
@ IN NS ns.example.test.
ns IN A 127.0.0.1
@ IN MX 10 mx1.example.test.
mx1 IN A 127.0.0.1
"""
TLD = (
    "$ORIGIN test.\n$TTL 300\n@ IN SOA ns.test. h.test. 1 3600 900 1209600 300\n@ IN NS ns.test.\n"
)
DMARC = '_dmarc IN TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.test"\n'


@contextmanager
def context(zone: str, domain: str = "example.test") -> Iterator[Context]:
    with ZoneServer(BASE + zone, "example.test") as server:
        resolver = Dns("127.0.0.1", server.port, timeout=2.0)
        ctx = Context(domain, resolver, {}, Options(timeout=2.0, nameserver_port=server.port))
        ctx.start()
        yield ctx


def only(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check]


# --- DMARC ----------------------------------------------------------------------------------


def test_the_organizational_domain_and_the_tree_walk() -> None:
    psl = orgdomain.Suffixes.parse("// comment\nuk\nco.uk\n*.ck\n!www.ck\n")
    assert psl.organizational("a.b.example.co.uk") == "example.co.uk"
    assert psl.organizational("mail.foo.ck") == "mail.foo.ck"
    assert psl.organizational("a.www.ck") == "www.ck"
    assert psl.organizational("sub.example.test") == "example.test"  # default rule: "*"
    names, method = orgdomain.policy_domains("a.b.example.co.uk", psl)
    assert names == ["a.b.example.co.uk", "example.co.uk"]
    assert method == orgdomain.BY_PSL
    names, method = orgdomain.policy_domains("a.b.example.co.uk", None)
    assert names == ["a.b.example.co.uk", "b.example.co.uk", "example.co.uk", "co.uk", "uk"]
    assert method == orgdomain.WALK
    deep = ".".join(f"l{i}" for i in range(10))
    walk = orgdomain.tree_walk(deep)
    assert walk[1] == ".".join(f"l{i}" for i in range(3, 10))  # jumps to seven labels
    assert len(walk) == orgdomain.MAX_WALK


def test_a_record_only_at_the_organizational_domain_applies_with_its_sp() -> None:
    with context(DMARC + "sub IN MX 10 mx1.example.test.\n", "sub.example.test") as ctx:
        found = dmarc.audit(ctx)
    (present,) = only(found, "dmarc.present")
    assert present.status == "pass"
    assert "the record of _dmarc.example.test applies" in present.message
    assert "sp=quarantine" in present.message
    (policy,) = only(found, "dmarc.policy")
    assert policy.message.startswith("p=quarantine")


def test_an_spf_record_at_dmarc_and_dmarc_at_the_domain_are_misplaced() -> None:
    zone = DMARC + '_dmarc IN TXT "v=spf1 -all"\n@ IN TXT "v=DMARC1; p=none"\n'
    with context(zone) as ctx:
        found = only(dmarc.audit(ctx), "dmarc.misplaced")
    assert sorted(f.status for f in found) == ["fail", "warn"]
    assert any("holds an SPF record" in f.message for f in found)
    assert any("example.test itself holds a DMARC record" in f.message for f in found)


def test_three_rua_addresses_and_a_report_domain_without_mx() -> None:
    rua = "mailto:a@example.test,mailto:b@example.test,mailto:c@nomail.example.test"
    zone = f'_dmarc IN TXT "v=DMARC1; p=reject; rua={rua}"\n'
    with context(zone) as ctx:
        found = dmarc.audit(ctx)
    (count,) = only(found, "dmarc.rua_count")
    assert count.status == "warn" and "3 addresses" in count.message
    deliverable = {
        next(w for w in f.message.split() if w.endswith(".test")): f.status
        for f in only(found, "dmarc.rua_mx")
    }
    assert deliverable == {"example.test": "pass", "nomail.example.test": "fail"}


# --- MTA-STS and TLS-RPT syntax -------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "version", "problem"),
    [
        ("v=STSv1; id=20260101", "STSv1", None),
        ("v=STSv1; id=1; id=2", "STSv1", "the tag id appears more than once"),
        ("id=1; v=STSv1", "STSv1", "it must begin with v=STSv1"),
        ("v=TLSRPTv1; rua=mailto:t@example.test", "TLSRPTv1", None),
        (
            "v=TLSRPTv1; rua=mailto:a@x.test; rua=mailto:b@x.test",
            "TLSRPTv1",
            "appears more than once",
        ),
        ("v=TLSRPTv1; rua", "TLSRPTv1", "'rua' is not key=value"),
    ],
)
def test_record_syntax(record: str, version: str, problem: str | None) -> None:
    found = mtasts.record_problem(record, version)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_policy_syntax_limits() -> None:
    policy = mtasts.parse_policy(
        "version: STSv1\nmode: enforce\nmode: testing\nmx: mx1.example.test\nmx: bad host\n"
        "max_age: 99999999\nextra: 1\n"
    )
    keys = mtasts._keys(policy)
    messages = " | ".join(f"{f.status} {f.message}" for f in keys)
    assert "fail the policy gives mode 2 times" in messages
    assert "fail the policy line `mx: bad host`" in messages
    assert "warn the policy has the unknown key 'extra'" in messages
    (age,) = mtasts._max_age(policy)
    assert age.status == "fail" and "over the 31557600 s" in age.message


def test_an_invalid_mta_sts_id_is_named() -> None:
    with context('_mta-sts IN TXT "v=STSv1; id=not-alnum!"\n') as ctx:
        found = only(mtasts.audit(ctx), "mtasts.record")
    assert found[0].status == "fail"
    assert "is not 1 to 32 letters and digits" in found[0].message


# --- CAA on the MX hosts, name servers -------------------------------------------------------


def test_caa_is_checked_on_the_mx_hosts_too() -> None:
    zone = BASE + '@ IN CAA 0 issue "letsencrypt.org"\n@ IN MX 20 mx.other.test.\n'
    other = (
        "$ORIGIN other.test.\n$TTL 300\n"
        "@ IN SOA ns.other.test. h.other.test. 1 3600 900 1209600 300\n"
        "@ IN NS ns.other.test.\nmx IN A 127.0.0.1\n"
    )
    with ZoneServer.multi({"example.test": zone, "other.test": other, "test": TLD}) as server:
        ctx = Context("example.test", Dns("127.0.0.1", server.port, timeout=2.0), {})
        found = bimi.audit_caa(ctx)
    assert [(f.check, f.status) for f in found] == [
        ("caa.record", "pass"),
        ("caa.mx", "pass"),  # mx1.example.test: from example.test
        ("caa.mx", "warn"),  # mx.other.test: none
    ]
    assert "mx.other.test" in found[2].message
    assert not any(f.mandatory for f in found)


def test_the_name_servers_answer_and_a_lame_one_is_found() -> None:
    zone = "@ IN NS ns2.example.test.\nns2 IN A 127.0.0.2\n"
    with context(zone) as ctx:
        found = nameservers.audit(ctx)
    reachable = {
        f.message.split(":")[0].split(" answers")[0]: f.status for f in only(found, "ns.reachable")
    }
    assert reachable["ns.example.test (127.0.0.1)"] == "pass"
    assert reachable["ns2.example.test (127.0.0.2)"] == "fail"
    (ipv6,) = only(found, "ns.ipv6")
    assert ipv6.status == "warn" and "0 name server(s) with an IPv6 address" in ipv6.message
    (serial,) = only(found, "ns.serial")
    assert serial.status == "pass" and "serial 7" in serial.message
