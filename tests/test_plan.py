"""The records derived from a description and the keys the servers published."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from mailstack import mtasts, txt
from mailstack.dnssource import CacheSource
from mailstack.inventory import load
from mailstack.plan import Plan, build
from mailstack.records import Record
from tests.conftest import MakeInventory, domain, ec_key, ed25519_key, hosts, public_pem, rsa_key


def plan_of(path: Path, answers: dict[str, list[str] | None] | None = None) -> Plan:
    inventory = load(path)
    return build(inventory, CacheSource(path / "spf-cache.json", dict(answers or {})))


def values(plan: Plan, name: str, rtype: str) -> list[str]:
    return [r.rdata for r in plan.records if r.name == name and r.rtype == rtype]


def texts(plan: Plan, name: str) -> list[str]:
    return [txt.joined(v) for v in values(plan, name, "TXT")]


def publish(path: Path, relative: str, data: bytes) -> None:
    target = path / "published" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def test_a_full_domain(make_inventory: MakeInventory) -> None:
    inv = make_inventory(
        [
            domain(
                mx=[
                    # A backup that sends too: `mx` names exactly the senders.
                    {"host": "mx2.example.test", "priority": 20, "role": "backup", "sends": True},
                    {"host": "mx1.example.test", "priority": 10},
                ],
                spf={
                    "senders": [{"mx": True}, {"ip4": "198.51.100.0/24", "who": "office"}],
                    "all": "softfail",
                },
                dmarc={
                    "p": "quarantine",
                    "sp": "reject",
                    "np": "reject",
                    "pct": 50,
                    "t": True,
                    "rua": ["mailto:d@example.test"],
                    "ruf": ["mailto:f@example.test"],
                },
                mta_sts={"mode": "enforce", "max_age": 604800},
                tls_rpt={"rua": ["mailto:tls@example.test", "https://reports.example.test/tls"]},
                caa={"issue": ["letsencrypt.org"], "iodef": ["mailto:sec@example.test"]},
                autoconfig={"host": "mx1.example.test", "services": ["submissions", "imaps"]},
            )
        ],
        hosts("mx1.example.test", "mx2.example.test"),
    )
    plan = plan_of(inv)
    assert plan.problems.errors == []
    assert plan.zones == ("example.test",)
    assert values(plan, "example.test", "MX") == ["10 mx1.example.test.", "20 mx2.example.test."]
    assert texts(plan, "example.test") == ["v=spf1 mx ip4:198.51.100.0/24 ~all"]
    assert texts(plan, "_dmarc.example.test") == [
        "v=DMARC1; p=quarantine; sp=reject; np=reject; adkim=r; aspf=r; pct=50; t=y;"
        " rua=mailto:d@example.test; ruf=mailto:f@example.test; fo=1"
    ]
    policy = mtasts.policy("enforce", ["mx1.example.test", "mx2.example.test"], 604800)
    assert plan.policies["example.test"] == policy
    assert policy == (
        "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: mx2.example.test\r\n"
        "max_age: 604800\r\n"
    )
    assert texts(plan, "_mta-sts.example.test") == [f"v=STSv1; id={mtasts.policy_id(policy)}"]
    assert values(plan, "mta-sts.example.test", "A") == ["192.0.2.10"]
    assert texts(plan, "_smtp._tls.example.test") == [
        "v=TLSRPTv1; rua=mailto:tls@example.test,https://reports.example.test/tls"
    ]
    assert sorted(values(plan, "example.test", "CAA")) == [
        '0 iodef "mailto:sec@example.test"',
        '0 issue "letsencrypt.org"',
    ]
    assert values(plan, "_submissions._tcp.example.test", "SRV") == ["0 1 465 mx1.example.test."]
    assert values(plan, "_imaps._tcp.example.test", "SRV") == ["0 1 993 mx1.example.test."]
    assert values(plan, "_pop3._tcp.example.test", "SRV") == ["0 0 0 ."]
    assert values(plan, "_submission._tcp.example.test", "SRV") == ["0 0 0 ."]
    assert values(plan, "autoconfig.example.test", "AAAA") == ["2001:db8::a"]
    assert values(plan, "mx2.example.test", "A") == ["192.0.2.11"]
    assert texts(plan, "mx2.example.test") == ["v=spf1 a -all"]
    assert all(r.ttl == 3600 for r in plan.records)


def test_mta_sts_id_follows_the_policy(make_inventory: MakeInventory) -> None:
    one = plan_of(make_inventory([domain(mta_sts={"mode": "testing"})], name="one"))
    two = plan_of(make_inventory([domain(mta_sts={"mode": "enforce"})], name="two"))
    same = plan_of(make_inventory([domain(mta_sts={"mode": "testing"})], name="same"))
    ids = [texts(p, "_mta-sts.example.test")[0] for p in (one, two, same)]
    assert ids[0] != ids[1]
    assert ids[0] == ids[2]
    assert 1 <= len(ids[0].split("id=")[1]) <= 32
    assert ids[0].split("id=")[1].isalnum()


def test_dkim_keys_from_the_published_files(make_inventory: MakeInventory) -> None:
    inv = make_inventory(
        [
            domain(
                dkim=[
                    {"selector": "r1", "algorithm": "rsa"},
                    {"selector": "e1", "algorithm": "ed25519"},
                ]
            )
        ]
    )
    rsa = rsa_key(2048)
    ed = ed25519_key()
    publish(inv, "dkim/example.test/r1.pem", public_pem(rsa))
    publish(inv, "dkim/example.test/e1.pem", public_pem(ed))
    plan = plan_of(inv)
    assert plan.problems.errors == []
    (rsa_rdata,) = values(plan, "r1._domainkey.example.test", "TXT")
    assert len(txt.parse(rsa_rdata)) == 2  # a 2048-bit key needs two strings
    der = rsa.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert txt.joined(rsa_rdata) == f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    raw = ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert texts(plan, "e1._domainkey.example.test") == [
        f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
    ]


def test_dkim_key_problems(make_inventory: MakeInventory) -> None:
    inv = make_inventory(
        [
            domain(
                dkim=[
                    {"selector": "a"},
                    *({"selector": s, "state": "staged"} for s in "bcd"),
                ]
            )
        ]
    )
    publish(inv, "dkim/example.test/a.pem", public_pem(ed25519_key()))  # declared rsa
    publish(inv, "dkim/example.test/b.pem", public_pem(rsa_key(1024)))
    publish(inv, "dkim/example.test/c.pem", b"not a key")
    plan = plan_of(inv)
    messages = [str(p) for p in plan.problems.items]
    assert any(
        "dkim[0]" in m and "the selector is rsa but the key is an Ed25519 key" in m
        for m in messages
    )
    assert any(
        "dkim[1]" in m and "1024-bit RSA key is weak" in m and m.startswith("warning")
        for m in messages
    )
    assert any(
        "dkim[2]" in m and "not a PEM public key" in m and m.startswith("error") for m in messages
    )
    assert any(
        "dkim[3]" in m and "no public key at" in m and m.startswith("warning") for m in messages
    )
    assert values(plan, "a._domainkey.example.test", "TXT") == []


def test_tlsa_for_the_current_and_next_key(make_inventory: MakeInventory) -> None:
    inv = make_inventory([domain()])
    current, nxt = ec_key(), ec_key()
    publish(inv, "tls/mx1.example.test/current.pem", public_pem(current))
    publish(inv, "tls/mx1.example.test/next.pem", public_pem(nxt))
    plan = plan_of(inv)
    expected = sorted(
        "3 1 1 "
        + hashlib.sha256(
            k.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).hexdigest()
        for k in (current, nxt)
    )
    assert sorted(values(plan, "_25._tcp.mx1.example.test", "TLSA")) == expected
    assert not [p for p in plan.problems.items if "TLS" in p.message]


def test_one_tls_key_only_warns(make_inventory: MakeInventory) -> None:
    inv = make_inventory([domain()])
    publish(inv, "tls/mx1.example.test/current.pem", public_pem(ec_key()))
    plan = plan_of(inv)
    assert len(values(plan, "_25._tcp.mx1.example.test", "TLSA")) == 1
    assert any("publish the next key" in w.message for w in plan.problems.warnings)


def test_parked_domain(make_inventory: MakeInventory) -> None:
    plan = plan_of(
        make_inventory(
            [domain(), {"name": "old.example.test", "zone": "example.test", "parked": True}]
        )
    )
    assert values(plan, "old.example.test", "MX") == ["0 ."]
    assert texts(plan, "old.example.test") == ["v=spf1 -all"]
    assert texts(plan, "_dmarc.old.example.test") == [
        "v=DMARC1; p=reject; sp=reject; adkim=s; aspf=s"
    ]
    assert {r.zone for r in plan.records} == {"example.test"}


def test_report_authorization_between_our_domains(make_inventory: MakeInventory) -> None:
    inv = make_inventory(
        [
            domain(),
            domain(
                "peer.test", dmarc={"rua": ["mailto:dmarc@example.test", "mailto:x@elsewhere.test"]}
            ),
        ],
        hosts("mx1.example.test", "mx1.peer.test"),
    )
    plan = plan_of(inv)
    assert texts(plan, "peer.test._report._dmarc.example.test") == ["v=DMARC1"]
    assert [r.zone for r in plan.records if r.name == "peer.test._report._dmarc.example.test"] == [
        "example.test"
    ]
    (warning,) = [w for w in plan.problems.warnings if "elsewhere.test" in w.message]
    assert warning.path == "mailstack_domains[1].dmarc.rua"
    assert "peer.test._report._dmarc.elsewhere.test" in warning.message


def test_bimi_record(make_inventory: MakeInventory) -> None:
    plan = plan_of(
        make_inventory(
            [
                domain(
                    bimi={
                        "logo": "https://example.test/logo.svg",
                        "authority": "https://example.test/vmc.pem",
                    }
                )
            ]
        )
    )
    assert texts(plan, "default._bimi.example.test") == [
        "v=BIMI1; l=https://example.test/logo.svg; a=https://example.test/vmc.pem;"
    ]


def test_spf_includes_are_checked_through_the_cache(make_inventory: MakeInventory) -> None:
    senders: list[dict[str, Any]] = [{"mx": True}] + [
        {"include": f"s{i}.vendor.test", "who": f"vendor {i}"} for i in range(10)
    ]
    inv = make_inventory([domain(spf={"senders": senders})])
    answers: dict[str, list[str] | None] = {
        f"s{i}.vendor.test TXT": [f"v=spf1 ip4:192.0.2.{i} -all"] for i in range(10)
    }
    plan = plan_of(inv, answers)
    (error,) = plan.problems.errors
    assert error.path == "mailstack_domains[0].spf"
    assert "11 DNS lookups, over the limit of 10" in error.message


def test_spf_flattening_brings_a_domain_under_the_limit(make_inventory: MakeInventory) -> None:
    senders: list[dict[str, Any]] = [{"mx": True}] + [
        {"include": f"s{i}.vendor.test", "who": f"vendor {i}"} for i in range(10)
    ]
    inv = make_inventory([domain(spf={"senders": senders, "flatten": True})])
    answers: dict[str, list[str] | None] = {
        f"s{i}.vendor.test TXT": [f"v=spf1 ip4:192.0.{i}.0/24 -all"] for i in range(10)
    }
    plan = plan_of(inv, answers)
    assert plan.problems.errors == []
    assert texts(plan, "example.test") == ["v=spf1 mx include:_spf1.example.test -all"]
    (continuation,) = texts(plan, "_spf1.example.test")
    assert continuation == "v=spf1 ip4:192.0.0.0/21 ip4:192.0.8.0/23"


def test_keys_are_stable_when_the_description_is_reordered(make_inventory: MakeInventory) -> None:
    a = domain(
        mx=[
            {"host": "mx1.example.test", "priority": 10},
            {"host": "mx2.example.test", "priority": 20, "role": "backup"},
        ]
    )
    b = domain("peer.test", mx=[{"host": "mx1.example.test", "priority": 10}])
    host_vars = hosts("mx1.example.test", "mx2.example.test")
    one = plan_of(make_inventory([a, b], host_vars, name="one"))
    b2 = dict(a, mx=list(reversed(a["mx"])))
    two = plan_of(make_inventory([b, b2], dict(reversed(host_vars.items())), name="two"))
    assert one.records == two.records

    def keyed(p: Plan) -> dict[tuple[str, str], Record]:
        return {(r.zone, r.key): r for r in p.records}

    assert keyed(one) == keyed(two)
    assert len(keyed(one)) == len(one.records)


def test_lab_inventory_is_valid() -> None:
    root = Path(__file__).resolve().parent.parent
    plan = build(load(root / "inventories" / "lab"))
    assert plan.problems.errors == []
    assert plan.zones == ("example.test", "peer.test")
    assert texts(plan, "peer.test._report._dmarc.example.test") == ["v=DMARC1"]


def test_example_inventory_is_valid() -> None:
    root = Path(__file__).resolve().parent.parent
    plan = build(load(root / "inventories" / "example"))
    assert plan.problems.errors == []
    assert values(plan, "example.net", "MX") == ["0 ."]
    assert values(plan, "example.org", "MX") == ["10 mx1.example.org.", "20 mx2.example.org."]
