"""Each host's share of the description (mailstack/share.py) is what its roles receive.

The model is the only reader of the description: the topology (which host keeps which
domain's mail, behind which gateways, who serves which MTA-STS policy), the defaults and the
checks are worked out there, once. The playbooks pass the share on, the roles use it as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from mailstack import share
from mailstack.inventory import load
from mailstack.model import parse
from tests.conftest import ROOT, mailstack


def _share(domains: list[dict[str, Any]], hosts: dict[str, Any], host: str, gw: Any = ()) -> Any:
    return share.of(parse(domains, hosts, gateways=set(gw)), host)


HOSTS = {
    "mx1.example.test": {"mailstack_ipv4": "192.0.2.10"},
    "mx2.example.test": {"mailstack_ipv4": "192.0.2.11"},
    "mx1.peer.test": {"mailstack_ipv4": "192.0.2.20"},
    "pmg1.edge.test": {"mailstack_ipv4": "192.0.2.1", "mailstack_ipv6": "2001:db8::1"},
}
EDGE: dict[str, Any] = {
    "name": "edge.test",
    "mx": [{"host": "pmg1.edge.test"}],
    "backend": "mx1.peer.test",
    "dkim": [{"selector": "mailgw"}],
}
DOMAINS: list[dict[str, Any]] = [
    {
        "name": "example.test",
        "mx": [
            {"host": "mx1.example.test"},
            {"host": "mx2.example.test", "priority": 20, "role": "backup"},
        ],
    },
    {"name": "peer.test", "mx": [{"host": "mx1.peer.test"}], "dkim": [{"selector": "s1"}]},
    {"name": "noreply.example.test", "zone": "example.test", "parked": True},
]


def test_a_host_keeps_the_domains_that_name_it_as_mx_and_parked_ones_never() -> None:
    assert [d["name"] for d in _share(DOMAINS, HOSTS, "mx1.example.test")["domains"]] == [
        "example.test"
    ]
    # A backup MX keeps none: it relays (tests/test_backup_mx.py).
    assert _share(DOMAINS, HOSTS, "mx2.example.test")["domains"] == []
    peer = _share(DOMAINS, HOSTS, "mx1.peer.test")
    assert [d["name"] for d in peer["domains"]] == ["peer.test"]
    # Every default filled in: the selector's algorithm and state.
    assert peer["dkim"] == [
        {"domain": "peer.test", "selector": "s1", "algorithm": "rsa", "state": "active"}
    ]


def test_a_backend_keeps_the_domains_behind_its_gateways_and_takes_mail_from_them_alone() -> None:
    backend = _share([*DOMAINS, EDGE], HOSTS, "mx1.peer.test", ["pmg1.edge.test"])
    assert [d["name"] for d in backend["domains"]] == ["peer.test", "edge.test"]
    assert backend["domains"][1]["gateways"] == ["pmg1.edge.test"]
    # It is also the public MX of peer.test: anyone may deliver on its port 25.
    assert backend["inbound_clients"] == []
    only = _share([EDGE], HOSTS, "mx1.peer.test", ["pmg1.edge.test"])
    assert only["inbound_clients"] == ["192.0.2.1", "2001:db8::1"]


def test_a_host_takes_its_published_addresses_as_its_own() -> None:
    # Behind NAT they are on no interface of the host: Postfix must know them all the same.
    assert _share(DOMAINS, HOSTS, "mx2.example.test")["addresses"] == ["192.0.2.11"]
    assert _share([*DOMAINS, EDGE], HOSTS, "mx1.peer.test", ["pmg1.edge.test"])["addresses"] == [
        "192.0.2.20"
    ]


def test_a_gateway_relays_its_domains_to_their_backend() -> None:
    gateway = _share([*DOMAINS, EDGE], HOSTS, "pmg1.edge.test", ["pmg1.edge.test"])["gateway"]
    assert gateway["relay_domains"] == [{"domain": "edge.test", "comment": "mailstack"}]
    assert [(t["domain"], t["host"], t["use_mx"]) for t in gateway["transports"]] == [
        ("edge.test", "mx1.peer.test", False)
    ]
    assert gateway["networks"] == [{"cidr": "192.0.2.20/32", "comment": "mx1.peer.test"}]
    assert gateway["dkim_domains"]["mailgw"] == [{"domain": "edge.test", "comment": "mailstack"}]
    # A mail host relays nothing.
    assert _share(DOMAINS, HOSTS, "mx1.peer.test")["gateway"]["relay_domains"] == []


def test_the_policy_host_gets_the_policy_and_its_name_in_the_certificate() -> None:
    domains = [{**DOMAINS[0], "mta_sts": {"mode": "testing"}}]
    first = _share(domains, HOSTS, "mx1.example.test")
    assert first["tls_names"] == ["mx1.example.test", "mta-sts.example.test"]
    assert (
        "mode: testing\r\nmx: mx1.example.test\r\nmx: mx2.example.test\r\n"
        in (first["mta_sts"][0]["policy"])
    )
    assert _share(domains, HOSTS, "mx2.example.test")["mta_sts"] == []


BLF_HASH = "{BLF-CRYPT}$2y$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui"


def test_only_the_dovecot_input_carries_passwords() -> None:
    domains = [{**DOMAINS[0], "mailboxes": [{"name": "alice", "password_hash": BLF_HASH}]}]
    description = parse(domains, HOSTS)
    assert "password" not in json.dumps(share.of(description, "mx1.example.test"))
    assert share.mailboxes(description, "mx1.example.test") == [
        {"address": "alice@example.test", "quota": None, "password_hash": BLF_HASH}
    ]


# -- what the roles receive, worked out by Ansible from ansible/site.yml ----------------------
def probe(inventory: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg")}
    vault = inventory / "vault-password"
    extra = ["--vault-password-file", str(vault)] if vault.exists() else []
    result = subprocess.run(
        [sys.executable, "-m", "tests.role_inputs_probe", str(inventory), *extra, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _without_descriptions(spec: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, given in spec.items():
        option = {k: v for k, v in given.items() if k != "description"}
        if "options" in option:
            option["options"] = _without_descriptions(option["options"])
        out[name] = option
    return out


def _role_spec(role: str) -> dict[str, Any]:
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return _without_descriptions(specs["argument_specs"]["main"]["options"])


@pytest.mark.parametrize("name", ["lab", "example"])
def test_each_role_receives_the_models_share(name: str) -> None:
    inventory = ROOT / "inventories" / name
    got = probe(inventory)
    description = load(inventory).description
    mail_hosts = [h.name for h in description.hosts if not h.gateway]
    assert sorted(got) == sorted(mail_hosts)
    for host, seen in got.items():
        expected = share.of(description, host, inventory)
        assert seen["share"] == expected
        mailboxes = [
            {**m, "password": "<vaulted>"} if "password" in m else m
            for m in share.mailboxes(description, host)
        ]
        roles = seen["roles"]
        assert roles["opendkim"] == {"opendkim__keys": expected["dkim"]}
        assert roles["postfix"] == {
            "postfix__domains": expected["domains"],
            "postfix__relay_domains": expected["relay_domains"],
            "postfix__list_domains": expected["list_domains"],
            "postfix__delay_notice_recipient": expected["postmaster"],
            "postfix__inbound_clients": expected["inbound_clients"],
            "postfix__proxy_interfaces": expected["addresses"],
        }
        assert roles["opendmarc"] == {
            "opendmarc__ignore_hosts": ["127.0.0.1", "::1", *expected["backup_relays"]]
        }
        assert roles["spamassassin"] == {
            "spamassassin__trusted_networks": expected["backup_relays"]
        }
        assert roles["dovecot"] == {
            "dovecot__mailboxes": mailboxes,
            "dovecot__postmaster_address": expected["postmaster"],
        }
        assert roles["tls"] == {"tls__names": expected["tls_names"]}
        assert roles["mta_sts"] == {"mta_sts__policies": expected["mta_sts"]}
        assert roles["pki"] == {"pki__sites": expected["pki"]}
        assert roles["mailman"] == {
            "mailman__domains": expected["mailman"]["domains"],
            "mailman__arc": expected["mailman"]["arc"],
            "mailman__site_owner": expected["postmaster"],
        }
        # And each is what the role's argument spec says it takes.
        for role, received in roles.items():
            if received:
                result = ArgumentSpecValidator(_role_spec(role)).validate(received)
                assert result.error_messages == [], role


def test_a_default_changed_in_the_model_alone_reaches_the_rendered_configuration() -> None:
    lab = ROOT / "inventories" / "lab"
    table = "opendkim:etc/opendkim/key.table.j2"
    before = probe(lab, "--render", table)["mx1.example.test"]["rendered"][table]
    assert "s2025r._domainkey.example.test example.test:s2025r:" in before
    # A selector that names no state is now staged: published, not signing. Nothing but the
    # model changed, and OpenDKIM's key table no longer signs with it.
    after = probe(lab, "--set", 'mailstack.model:DKIM_DEFAULT_STATE="staged"', "--render", table)
    assert "s2025r._domainkey" not in after["mx1.example.test"]["rendered"][table]
    # example.test's two selectors and lists.example.test's one.
    assert [k["state"] for k in after["mx1.example.test"]["share"]["dkim"]] == ["staged"] * 3


def test_mailstack_spec_share_prints_what_the_roles_receive() -> None:
    lab = ROOT / "inventories" / "lab"
    result = mailstack("spec", "share", "-i", str(lab))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert {host: seen["share"] for host, seen in probe(lab).items()} == printed
    assert "password" not in result.stdout
    wrong = mailstack("spec", "share", "-i", str(lab), "mx9.example.test")
    assert wrong.returncode == 1
    assert "mx9.example.test: not a host of the mail or pmg group" in wrong.stderr
