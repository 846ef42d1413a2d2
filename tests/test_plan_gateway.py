"""The gateway topology: Proxmox Mail Gateways (group `pmg`) as the MX edge of the domains,
relaying to a backend mail host. The plan points MX, TLSA and MTA-STS at the gateways and
publishes the DKIM key PMG signs with (selector `mailgw`, written back by the `pmg` role)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from mailstack import share, txt
from mailstack.dnssource import CacheSource
from mailstack.inventory import load
from mailstack.model import parse
from mailstack.plan import Plan, build
from mailstack.problems import DescriptionError
from tests.conftest import domain, ec_key, hosts, public_pem, rsa_key

GATEWAY = "pmg1.example.test"
BACKEND = "mx1.example.test"


def gateway_domain(**fields: Any) -> dict[str, Any]:
    base = domain(
        mx=[{"host": GATEWAY, "priority": 10}],
        backend=BACKEND,
        dkim=[{"selector": "mailgw"}],
        mta_sts={"mode": "enforce"},
    )
    base.update(fields)
    return base


def inventory(tmp_path: Path, domains: list[dict[str, Any]]) -> Path:
    root = tmp_path / "inv"
    (root / "group_vars" / "all").mkdir(parents=True)
    tree = {
        "all": {
            "children": {
                "mail": {"hosts": hosts(BACKEND)},
                "pmg": {
                    "hosts": {
                        GATEWAY: {"mailstack_ipv4": "192.0.2.25", "mailstack_ipv6": "2001:db8::25"}
                    }
                },
            }
        }
    }
    (root / "hosts.yml").write_text(yaml.safe_dump(tree))
    (root / "group_vars" / "all" / "mailstack.yml").write_text(
        yaml.safe_dump({"mailstack_domains": domains})
    )
    return root


def publish(root: Path, relative: str, data: bytes) -> None:
    target = root / "published" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def plan_of(root: Path) -> Plan:
    return build(load(root), CacheSource(root / "spf-cache.json", {}))


def values(plan: Plan, name: str, rtype: str) -> list[str]:
    return [r.rdata for r in plan.records if r.name == name and r.rtype == rtype]


def test_mx_tlsa_and_mta_sts_point_at_the_gateway_and_pmg_dkim_key_is_published(
    tmp_path: Path,
) -> None:
    root = inventory(tmp_path, [gateway_domain()])
    dkim = rsa_key()
    smtp = ec_key()
    # What the pmg role writes back: PMG's DKIM key, and its SMTP certificate's key.
    publish(root, "dkim/example.test/mailgw.pem", public_pem(dkim))
    publish(root, f"tls/{GATEWAY}/current.pem", public_pem(smtp))
    plan = plan_of(root)

    assert values(plan, "example.test", "MX") == [f"10 {GATEWAY}."]
    spki = smtp.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert values(plan, f"_25._tcp.{GATEWAY}", "TLSA") == [
        f"3 1 1 {hashlib.sha256(spki).hexdigest()}"
    ]
    assert values(plan, GATEWAY, "A") == ["192.0.2.25"]
    assert values(plan, GATEWAY, "AAAA") == ["2001:db8::25"]
    # The MTA-STS policy names the gateway; the backend serves it (PMG serves no HTTPS).
    assert "mx: pmg1.example.test\r\n" in plan.policies["example.test"]
    served = share.served_policies(load(root).description)
    assert [(p["domain"], p["host"]) for p in served] == [("example.test", BACKEND)]
    assert values(plan, "mta-sts.example.test", "A") == ["192.0.2.10"]
    # The backend is no MX: no TLSA of its own.
    assert values(plan, f"_25._tcp.{BACKEND}", "TLSA") == []
    der = dkim.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    [record] = values(plan, "mailgw._domainkey.example.test", "TXT")
    assert txt.joined(record) == f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    assert not plan.problems.errors


def test_the_same_gateway_key_signs_for_every_domain(tmp_path: Path) -> None:
    root = inventory(
        tmp_path, [gateway_domain(), gateway_domain(name="example.org", backend=BACKEND)]
    )
    key = public_pem(rsa_key())
    for name in ("example.test", "example.org"):
        publish(root, f"dkim/{name}/mailgw.pem", key)
    plan = plan_of(root)
    records = {
        name: values(plan, f"mailgw._domainkey.{name}", "TXT")
        for name in ("example.test", "example.org")
    }
    assert records["example.test"] == records["example.org"] != []
    assert values(plan, "example.org", "MX") == [f"10 {GATEWAY}."]


def test_before_the_role_ran_the_key_is_awaited(tmp_path: Path) -> None:
    plan = plan_of(inventory(tmp_path, [gateway_domain()]))
    assert values(plan, "mailgw._domainkey.example.test", "TXT") == []
    assert any("mailgw" in w.path or "mailgw" in w.message for w in plan.problems.warnings)


GATEWAY_HOSTS = {**hosts(BACKEND), GATEWAY: {"mailstack_ipv4": "192.0.2.25"}}


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"backend": None}, "mailstack_domains[0].backend", "is required"),
        ({"backend": GATEWAY}, "mailstack_domains[0].backend", "not a host of the mail group"),
        (
            {"mx": [{"host": BACKEND}], "backend": BACKEND},
            "mailstack_domains[0].backend",
            "only for a domain whose MX are gateways",
        ),
        (
            {"mta_sts": {"host": GATEWAY}},
            "mailstack_domains[0].mta_sts.host",
            "not a host of the mail group",
        ),
    ],
)
def test_the_gateway_topology_is_checked(fields: dict[str, Any], path: str, message: str) -> None:
    description = gateway_domain(**fields)
    description = {k: v for k, v in description.items() if v is not None}
    with pytest.raises(DescriptionError) as caught:
        parse([description], GATEWAY_HOSTS, gateways={GATEWAY})
    found = [(p.path, p.message) for p in caught.value.problems.errors]
    assert any(p == path and message in m for p, m in found), found


def test_a_gateway_is_a_host_of_the_description() -> None:
    d = parse([gateway_domain()], GATEWAY_HOSTS, gateways={GATEWAY})
    host = d.host(GATEWAY)
    assert host is not None and host.gateway
    assert d.domains[0].backend == BACKEND
