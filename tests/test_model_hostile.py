"""Hostile values in every field of the description: each one refused, the field named.

Every value of the description ends up in a config file (Postfix maps, Dovecot's users file,
OpenDKIM's tables) or a DNS record: a newline, a NUL or a `:` could add a line or a field
there, and an oversized value has no use. The fields are those the model reads, as the
reference generator records them (`mailstack.reference.description_schema`), so that a field
added to the model is fed hostile values too, once FULL below holds it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from mailstack.accounts import Vaulted
from mailstack.fields import TEXT_LIMIT, field_pattern
from mailstack.model import parse
from mailstack.problems import DescriptionError
from mailstack.reference import description_schema

# `openssl passwd -6 -salt mailstacksalt secret`
HASH = (
    "{SHA512-CRYPT}$6$mailstacksalt$A/.L55IHOAr3HjJn3sSlMvSC737whB1YeYluBzMTPbbxfqUj2dScO"
    ".7yGP4PoRRW3/zfl6W3rHaA/3sCqN2nb."
)
HOSTS: dict[str, dict[str, Any]] = {
    "mx1.example.test": {"mailstack_ipv4": "192.0.2.10", "mailstack_ipv6": "2001:db8::10"},
    "gw1.example.test": {"mailstack_ipv4": "192.0.2.20", "mailstack_ipv6": "2001:db8::20"},
}
GATEWAYS = ("gw1.example.test",)
# A valid description that holds every field the model reads as a string.
FULL: list[dict[str, Any]] = [
    {
        "name": "example.test",
        "zone": "example.test",
        "mx": [
            {"host": "gw1.example.test", "priority": 10, "role": "primary"},
            # A provider's backup MX, outside the described zones.
            {"host": "mx.backup.test", "priority": 20, "role": "backup", "queue_lifetime": "5d"},
        ],
        "backend": "mx1.example.test",
        "spf": {
            "senders": [
                {"a": "example.test", "who": "our web server"},
                {"mx": "example.test", "who": "our MX"},
                {"ip4": "192.0.2.0/24", "who": "the office"},
                {"ip6": "2001:db8::/32", "who": "the office"},
                {"include": "_spf.vendor.test", "who": "the newsletter service"},
            ],
            "all": "fail",
        },
        "dkim": [
            {"selector": "s1", "algorithm": "rsa", "state": "active"},
            {"selector": "s0", "state": "retiring", "since": "2024-05-01T00:00:00+00:00"},
        ],
        "dmarc": {
            "p": "reject",
            "sp": "reject",
            "np": "reject",
            "adkim": "s",
            "aspf": "s",
            "rua": ["mailto:dmarc@example.test"],
            "ruf": ["mailto:dmarc@example.test"],
        },
        "mta_sts": {
            "mode": "enforce",
            "host": "mx1.example.test",
            "mx": ["gw1.example.test", "mx.backup.test"],
        },
        "tls_rpt": {"rua": ["https://reports.example.test/tls"]},
        "bimi": {
            "logo": "https://example.test/logo.svg",
            "authority": "https://example.test/vmc.pem",
        },
        "caa": {
            "issue": ["letsencrypt.org"],
            "issuewild": ["letsencrypt.org"],
            "iodef": ["mailto:security@example.test"],
            "issuemail": ["letsencrypt.org"],
            "issuevmc": ["digicert.com"],
        },
        "autoconfig": {"host": "mx1.example.test", "services": ["submissions", "imaps"]},
        "mailboxes": [
            {"name": "dmarc", "password_hash": HASH, "quota": "2G"},
            {"name": "bob", "password": Vaulted("bob's secret")},
        ],
        "aliases": [{"name": "postmaster", "to": ["dmarc@example.test"]}],
        "catch_all": "dmarc@example.test",
        "smime": {
            "ca": "mailstack",
            "key": "ecdsa-p256",
            "pki_name": "pki.example.test",
            "host": "mx1.example.test",
        },
    },
    {
        "name": "lists.example.test",
        "zone": "example.test",
        "mx": [{"host": "mx1.example.test", "priority": 10}],
        "mailman": {
            "web_name": "web.lists.example.test",
            "lists": [
                {
                    "name": "team",
                    "description": "Everyone: the team",
                    "owners": ["dmarc@example.test"],
                    "moderators": ["bob@example.test"],
                    "subscription": "confirm",
                    "moderation": {"members": "accept", "nonmembers": "hold"},
                    "archive": "public",
                    "dmarc_mitigation": "munge_from",
                    "members": ["carol@peer.test"],
                    "members_from": {"mailboxes": "example.test"},
                },
                {
                    "name": "admins",
                    "owners": ["dmarc@example.test"],
                    "members_from": {"alias": "postmaster@example.test"},
                },
                {
                    "name": "staff",
                    "owners": ["dmarc@example.test"],
                    "members_from": {"file": "lists/staff.txt"},
                },
                {
                    "name": "board",
                    "owners": ["dmarc@example.test"],
                    "members_from": {"command": ["/usr/local/bin/members", "board"]},
                },
            ],
        },
    },
]
# Where a `:` belongs to the value's own syntax: https:// URLs, CAA parameters such as
# `accounturi=https://...` (RFC 8659), and a note that reaches no file. Every other field
# refuses a `:` (a mailto: URI only before its address).
COLON_ALLOWED = {
    "mailstack_domains[].spf.senders[].who",
    "mailstack_domains[].tls_rpt.rua",
    "mailstack_domains[].bimi.authority",
    *(f"mailstack_domains[].caa.{tag}" for tag in ("issue", "issuewild", "iodef", "issuemail")),
    "mailstack_domains[].caa.issuevmc",
    # Free text and a file's path or a command's arguments: they reach no config file (the
    # description goes to Mailman's REST API as JSON; the path and argv are used as they are).
    "mailstack_domains[].mailman.lists[].description",
    "mailstack_domains[].mailman.lists[].members_from.file",
    "mailstack_domains[].mailman.lists[].members_from.command",
}
# Fields with no string to feed: the vaulted password is never read by the model.
NOT_STRINGS = {"mapping", "integer", "boolean", "list"}
VAULTED = "mailstack_domains[].mailboxes[].password"


def string_leaves(data: Any, path: str) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """The concrete path and the keys of every string in `data`, an item of a list of strings
    at its index."""
    if isinstance(data, str):
        yield path, ()
    elif isinstance(data, dict):
        for key, value in data.items():
            for at, keys in string_leaves(value, f"{path}.{key}" if path else key):
                yield at, (key, *keys)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            for at, keys in string_leaves(value, f"{path}[{i}]"):
                yield at, (i, *keys)


def first_by_pattern(data: Any, path: str) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """For each field pattern (`a[].b`, a list of strings as `a`), its first string in `data`."""
    found: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for at, keys in string_leaves(data, path):
        pattern = field_pattern(at)
        found.setdefault(pattern.removesuffix("[]"), (at, keys))
    return found


STRINGS = first_by_pattern(FULL, "mailstack_domains")


def hostile(pattern: str, valid: str) -> dict[str, str]:
    values = {
        "newline": valid + "\n",
        "inner newline": valid[:1] + "\n" + valid[1:],
        "NUL": valid + "\x00",
        "carriage return": valid + "\r",
        "line separator": valid + "\u2028",
        "oversized": valid + "x" * TEXT_LIMIT,
    }
    if pattern not in COLON_ALLOWED:
        values["colon"] = valid + ":"
    return values


def string_fields() -> list[str]:
    return [
        f.path
        for f in description_schema().values()
        if f.kind not in NOT_STRINGS and not f.path.endswith("[]") and f.path != VAULTED
    ]


def error_paths(domains: Any, hosts: dict[str, dict[str, Any]]) -> list[str]:
    with pytest.raises(DescriptionError) as exc:
        parse(domains, hosts, GATEWAYS)
    return [p.path for p in exc.value.problems.errors]


def test_the_full_description_is_valid() -> None:
    parse(FULL, HOSTS, GATEWAYS)


def test_the_full_description_holds_every_string_field() -> None:
    assert sorted(set(string_fields()) - set(STRINGS)) == []
    assert set(STRINGS) >= COLON_ALLOWED


def with_value(keys: tuple[Any, ...], value: str) -> list[dict[str, Any]]:
    domains = copy.deepcopy(FULL)
    target: Any = domains
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return domains


def _value_at(keys: tuple[Any, ...]) -> str:
    target: Any = FULL
    for key in keys:
        target = target[key]
    assert isinstance(target, str)
    return target


def _cases() -> Iterator[Any]:
    for pattern, (at, keys) in sorted(STRINGS.items()):
        for name, value in hostile(pattern, _value_at(keys)).items():
            yield pytest.param(at, keys, value, id=f"{pattern}-{name}")


@pytest.mark.parametrize(("at", "keys", "value"), list(_cases()))
def test_a_hostile_value_is_refused_with_its_field_named(
    at: str, keys: tuple[Any, ...], value: str
) -> None:
    assert at in error_paths(with_value(keys, value), HOSTS)


def _host_cases() -> Iterator[Any]:
    for key in ("mailstack_ipv4", "mailstack_ipv6"):
        valid = HOSTS["mx1.example.test"][key]
        for name, value in hostile(key, valid).items():
            yield pytest.param(key, value, id=f"{key}-{name}")


@pytest.mark.parametrize(("key", "value"), list(_host_cases()))
def test_a_hostile_host_address_is_refused(key: str, value: str) -> None:
    hosts = copy.deepcopy(HOSTS)
    hosts["mx1.example.test"][key] = value
    assert f"hosts.mx1.example.test.{key}" in error_paths(FULL, hosts)


@pytest.mark.parametrize(
    "value", list(hostile("host", "mx2.example.test").values()), ids=list(hostile("host", "x"))
)
def test_a_hostile_host_name_is_refused(value: str) -> None:
    hosts = {**HOSTS, value: HOSTS["mx1.example.test"]}
    assert f"hosts.{value}" in error_paths(FULL, hosts)


@pytest.mark.parametrize(
    "password_hash",
    [
        "{SHA512-CRYPT}::::::nopassword=y",
        "{SHA512-CRYPT}$6$salt$hash:::::nopassword=y",
        "{BLF-CRYPT}$2y$05$abc def",
        "{ARGON2ID}$argon2i$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA",
        "{SHA256-CRYPT}$6$salt$hash",
        "{PLAIN}secret",
    ],
)
def test_a_hash_outside_its_schemes_form_is_refused(password_hash: str) -> None:
    domains = with_value(STRINGS["mailstack_domains[].mailboxes[].password_hash"][1], password_hash)
    assert "mailstack_domains[0].mailboxes[0].password_hash" in error_paths(domains, HOSTS)


@pytest.mark.parametrize(
    "password_hash",
    [
        HASH,
        "{SHA512-CRYPT}$6$rounds=5000$salt$abc./XYZabc./XYZabc./XYZabc./XYZabc./XYZabc./XYZabc./XYZabc./XYZabc./XYZabc./XYZabc./X",
        "{BLF-CRYPT}$2y$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
        "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaC9oYXNoK2hhc2g",
    ],
)
def test_hashes_of_each_scheme_are_accepted(password_hash: str) -> None:
    parse(
        with_value(STRINGS["mailstack_domains[].mailboxes[].password_hash"][1], password_hash),
        HOSTS,
        GATEWAYS,
    )
