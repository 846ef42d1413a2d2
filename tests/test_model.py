"""Validation of the description: every rule, each error with its path."""

from __future__ import annotations

from typing import Any

import pytest

from mailstack.fields import is_address
from mailstack.model import Description, parse
from mailstack.problems import DescriptionError
from tests.conftest import PASSWORD_HASH, domain, hosts


def errors(domains: Any, host_vars: dict[str, dict[str, Any]] | None = None) -> list[str]:
    with pytest.raises(DescriptionError) as exc:
        parse(domains, hosts("mx1.example.test") if host_vars is None else host_vars)
    return [f"{p.path}: {p.message}" for p in exc.value.problems.errors]


def test_a_minimal_domain_is_valid() -> None:
    d = parse([domain()], hosts("mx1.example.test"))
    assert isinstance(d, Description)
    assert d.zones == ("example.test",)
    assert d.domains[0].dmarc.p == "reject"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "Not A Name"}, "mailstack_domains[0].name: 'Not A Name' is not a domain name"),
        ({"ttl": 30}, "mailstack_domains[0].ttl: must be between 60 and 604800, not 30"),
        ({"mx": []}, "mailstack_domains[0].mx: is required"),
        (
            {"mx": [{"host": "mx1.example.test", "priority": 70000}]},
            "mailstack_domains[0].mx[0].priority: must be between 0 and 65535",
        ),
        (
            {"dmarc": {"p": "block"}},
            "mailstack_domains[0].dmarc.p: must be one of none, quarantine, reject",
        ),
        (
            {"dmarc": {"rua": ["dmarc@example.test"]}},
            "mailstack_domains[0].dmarc.rua[0]: 'dmarc@example.test' is not a mailto:address",
        ),
        ({"dmarc": {"pct": 150}}, "mailstack_domains[0].dmarc.pct: must be between 0 and 100"),
        (
            {"spf": {"all": "pass"}},
            "mailstack_domains[0].spf.all: must be one of fail, softfail, neutral",
        ),
        (
            {"spf": {"senders": [{"include": "_spf.vendor.test"}]}},
            "mailstack_domains[0].spf.senders[0].who: is required for an include",
        ),
        (
            {"spf": {"senders": [{"ip4": "192.0.2.1/24"}]}},
            "mailstack_domains[0].spf.senders[0].ip4: '192.0.2.1/24' is not an IPv4",
        ),
        (
            {"spf": {"senders": [{"ip6": "192.0.2.1"}]}},
            "mailstack_domains[0].spf.senders[0].ip6: '192.0.2.1' is an IPv4 value, not IPv6",
        ),
        (
            {"spf": {"senders": [{"mx": True, "a": True}]}},
            "mailstack_domains[0].spf.senders[0]: needs exactly one of a, mx, ip4, ip6, include",
        ),
        (
            {"dkim": [{"selector": "s1", "algorithm": "dsa"}]},
            "mailstack_domains[0].dkim[0].algorithm: must be one of rsa, ed25519",
        ),
        (
            {"dkim": [{"selector": "s1"}, {"selector": "s2"}]},
            "mailstack_domains[0].dkim: s1 and s2 are both active rsa selectors: one signs at a"
            " time (a rotation makes the new one active and the old one retiring)",
        ),
        (
            {"dkim": [{"selector": "s1", "algorithm": "ed25519"}]},
            "mailstack_domains[0].dkim: the ed25519 selector s1 is active but no rsa selector is:"
            " receivers that know only RSA would see the mail as unsigned (RFC 8463)",
        ),
        (
            {"dkim": [{"selector": "s1"}, {"selector": "s1"}]},
            "mailstack_domains[0].dkim[1].selector: s1 is listed twice"
            " (first at mailstack_domains[0].dkim[0].selector)",
        ),
        (
            {"mta_sts": {"mode": "enforce", "mx": ["mail.example.test"]}},
            "mailstack_domains[0].mta_sts.mx: no pattern covers the MX mx1.example.test",
        ),
        (
            {"mta_sts": {"mx": ["mx1.*.test"]}},
            "mailstack_domains[0].mta_sts.mx[0]: 'mx1.*.test': a wildcard may only be the leftmost",
        ),
        (
            {"mta_sts": {"max_age": 40000000}},
            "mailstack_domains[0].mta_sts.max_age: must be between 1",
        ),
        ({"tls_rpt": {"rua": []}}, "mailstack_domains[0].tls_rpt.rua: needs at least one"),
        (
            {"bimi": {"logo": "https://example.test/logo.svg"}, "dmarc": {"p": "none"}},
            "mailstack_domains[0].bimi: BIMI needs DMARC enforcement",
        ),
        (
            {
                "bimi": {"logo": "https://example.test/logo.svg"},
                "dmarc": {"p": "reject", "sp": "none"},
            },
            "mailstack_domains[0].bimi: BIMI needs DMARC enforcement",
        ),
        ({"bimi": {"logo": "http://example.test/logo.png"}}, "mailstack_domains[0].bimi.logo:"),
        (
            {"caa": {"iodef": ["ftp://x"]}},
            "mailstack_domains[0].caa.iodef[0]: 'ftp://x' must be a mailto:",
        ),
        (
            {"autoconfig": {"host": "mx1.example.test", "services": ["smtp"]}},
            "mailstack_domains[0].autoconfig.services[0]: 'smtp' is not one of submission",
        ),
        ({"dmarcc": {}}, "mailstack_domains[0].dmarcc: is not a known field (did you mean dmarc?)"),
        (
            {"zone": "other.test"},
            "mailstack_domains[0].zone: example.test is not in the zone other.test",
        ),
        (
            {"mx": [{"host": "mx9.example.test", "priority": 10}]},
            "mailstack_domains[0].mx[0].host: mx9.example.test is in our zones but is not a host",
        ),
        ({"parked": True}, "mailstack_domains[0].mx: a parked domain sends and receives no mail"),
    ],
)
def test_each_rule_names_the_field(fields: dict[str, Any], expected: str) -> None:
    found = errors([domain(**fields)])
    assert any(e.startswith(expected) for e in found), found


def test_every_error_is_reported_in_one_pass() -> None:
    found = errors(
        [
            domain(ttl=10, dmarc={"p": "block"}),
            domain("peer.test", mx=[{"host": "mx1.peer.test", "priority": -1}]),
        ],
        hosts("mx1.example.test", "mx1.peer.test"),
    )
    assert len(found) == 3
    assert found[0].startswith("mailstack_domains[0].ttl")
    assert found[1].startswith("mailstack_domains[0].dmarc.p")
    assert found[2].startswith("mailstack_domains[1].mx[0].priority")


def test_duplicate_domain() -> None:
    expected = (
        "mailstack_domains[1].name: example.test is listed twice"
        " (first at mailstack_domains[0].name)"
    )
    assert expected in errors([domain(), domain()])


def test_host_addresses_are_checked() -> None:
    found = errors([domain()], {"mx1.example.test": {"mailstack_ipv4": "2001:db8::1"}})
    assert found[0] == "hosts.mx1.example.test.mailstack_ipv4: '2001:db8::1' is not an IPv4 address"


def test_an_mx_host_needs_an_address() -> None:
    found = errors([domain()], {"mx1.example.test": {}})
    assert found == [
        "hosts.mx1.example.test: serves as MX for example.test but has no address"
        " (mailstack_ipv4, mailstack_ipv6)"
    ]


def test_an_external_backup_mx_is_allowed() -> None:
    d = parse(
        [
            domain(
                mx=[
                    {"host": "mx1.example.test", "priority": 10},
                    {"host": "backup.provider.test", "priority": 20},
                ]
            )
        ],
        hosts("mx1.example.test"),
    )
    assert [m.host for m in d.domains[0].mx] == ["mx1.example.test", "backup.provider.test"]


def test_parked_domain_gets_strict_dmarc() -> None:
    d = parse([{"name": "parked.test", "parked": True}], hosts("mx1.example.test"))
    dmarc = d.domains[0].dmarc
    assert (dmarc.p, dmarc.sp, dmarc.adkim, dmarc.aspf) == ("reject", "reject", "s", "s")


def test_mta_sts_wildcard_covers_one_label() -> None:
    d = parse(
        [domain(mta_sts={"mx": ["*.example.test"]})],
        hosts("mx1.example.test"),
    )
    assert d.domains[0].mta_sts is not None
    found = errors(
        [
            domain(
                mx=[{"host": "a.mx1.example.test", "priority": 10}],
                mta_sts={"mx": ["*.example.test"]},
            )
        ],
        hosts("a.mx1.example.test"),
    )
    assert any("no pattern covers the MX a.mx1.example.test" in e for e in found)


HASH = PASSWORD_HASH


def test_a_quota_is_read() -> None:
    mailbox = {"name": "dmarc", "password_hash": HASH, "quota": "500M"}
    d = parse([domain(mailboxes=[mailbox])], hosts("mx1.example.test"))
    assert d.domains[0].accounts.mailboxes[0].quota == "500M"


def test_report_addresses_of_our_domains_must_be_delivered() -> None:
    alice = [{"name": "alice", "password_hash": HASH}]
    problems = errors(
        [
            domain(
                mailboxes=alice,
                dmarc={
                    "rua": ["mailto:dmarc@example.test!10m"],
                    "ruf": ["mailto:alice@example.test"],
                },
                tls_rpt={"rua": ["mailto:tls@peer.test", "https://example.test/tlsrpt"]},
            ),
            domain("peer.test", aliases=[{"name": "dmarc", "to": ["alice@example.test"]}]),
            # Its accounts are elsewhere: mailstack does not deliver its mail.
            domain("elsewhere.test", dmarc={"rua": ["mailto:nobody@elsewhere.test"]}),
        ],
        hosts("mx1.example.test", "mx1.peer.test", "mx1.elsewhere.test"),
    )
    assert problems == [
        "mailstack_domains[0].dmarc.rua[0]: dmarc@example.test is neither a mailbox nor an alias"
        " of example.test: add one, or the reports sent there bounce",
        "mailstack_domains[0].tls_rpt.rua[0]: tls@peer.test is neither a mailbox nor an alias"
        " of peer.test: add one, or the reports sent there bounce",
    ]


def test_a_catch_all_receives_reports() -> None:
    d = parse([domain(catch_all="x@example.org")], hosts("mx1.example.test"))
    assert d.domains[0].accounts.catch_all == "x@example.org"


def test_accounts_are_read() -> None:
    d = parse(
        [
            domain(
                mailboxes=[{"name": "alice", "password_hash": HASH}],
                aliases=[{"name": "postmaster", "to": ["alice@example.test"]}],
                catch_all="alice@example.test",
            )
        ],
        hosts("mx1.example.test"),
    )
    accounts = d.domains[0].accounts
    assert [m.name for m in accounts.mailboxes] == ["alice"]
    assert accounts.aliases[0].to == ("alice@example.test",)
    assert accounts.catch_all == "alice@example.test"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"mailboxes": [{"name": "alice", "password_hash": "secret"}]},
            "mailstack_domains[0].mailboxes[0].password_hash: must be a {SCHEME}hash",
        ),
        (
            {"mailboxes": [{"name": "alice", "password_hash": "{PLAIN}secret"}]},
            "mailstack_domains[0].mailboxes[0].password_hash: the scheme PLAIN is not one of",
        ),
        (
            {"mailboxes": [{"name": "Alice", "password_hash": HASH}]},
            "mailstack_domains[0].mailboxes[0].name: 'Alice' is not a lower-case local part",
        ),
        (
            {
                "mailboxes": [{"name": "alice", "password_hash": HASH}],
                "aliases": [{"name": "alice", "to": ["bob@example.test"]}],
            },
            "mailstack_domains[0].aliases[0].name: alice is listed twice"
            " (first at mailstack_domains[0].mailboxes[0].name)",
        ),
        (
            {"aliases": [{"name": "info", "to": ["not an address"]}]},
            "mailstack_domains[0].aliases[0].to[0]: 'not an address' is not a mail address",
        ),
        ({"aliases": [{"name": "info"}]}, "mailstack_domains[0].aliases[0].to: needs at least one"),
        ({"catch_all": "nobody"}, "mailstack_domains[0].catch_all: 'nobody' is not a mail address"),
        (
            {"mailboxes": [{"name": "alice", "password": "secret"}]},
            "mailstack_domains[0].mailboxes[0].password: must be encrypted with ansible-vault",
        ),
        (
            {"mailboxes": [{"name": "alice"}]},
            "mailstack_domains[0].mailboxes[0].password_hash: is required (or a vaulted password)",
        ),
        (
            {"mailboxes": [{"name": "alice", "password_hash": HASH, "quota": "2 GB"}]},
            "mailstack_domains[0].mailboxes[0].quota: '2 GB' is not a size such as 500M or 2G",
        ),
        (
            {"mailboxes": [{"name": "alice", "password_hash": HASH, "quota": "0G"}]},
            "mailstack_domains[0].mailboxes[0].quota: '0G' is not a size",
        ),
    ],
)
def test_account_rules(fields: dict[str, Any], expected: str) -> None:
    found = errors([domain(**fields)])
    assert any(e.startswith(expected) for e in found), found


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("alice@example.test", True),
        ("a.b+c@mx1.example.test", True),
        ("Alice@example.test", False),
        ("alice@example.t", False),
        ("alice@_x.example.test", False),
        ("alice@localhost", False),
        ("alice", False),
        (".alice@example.test", False),
    ],
)
def test_addresses(address: str, valid: bool) -> None:
    assert is_address(address) is valid


def test_an_mx_host_listed_twice() -> None:
    mx = [
        {"host": "mx1.example.test", "priority": 10},
        {"host": "mx1.example.test", "priority": 20},
    ]
    assert errors([domain(mx=mx)]) == [
        "mailstack_domains[0].mx[1].host: mx1.example.test is listed twice"
        " (first at mailstack_domains[0].mx[0].host)"
    ]
