"""A domain's mail client set-up (mailstack/autoconfig.py): the servers its documents name,
the names they are served at, the DNS and certificate names that follow, all from the
description's `autoconfig` section."""

from __future__ import annotations

from typing import Any

from mailstack import share
from mailstack.model import parse
from tests.conftest import MakeInventory, domain
from tests.test_plan import plan_of, values

HOSTS = {"mx1.example.test": {"mailstack_ipv4": "192.0.2.10", "mailstack_ipv6": "2001:db8::10"}}


def _share(autoconfig: dict[str, Any]) -> dict[str, Any]:
    described = [
        {"name": "example.test", "mx": [{"host": "mx1.example.test"}], "autoconfig": autoconfig}
    ]
    return share.of(parse(described, HOSTS), "mx1.example.test")


def test_only_the_offered_services_appear_implicit_tls_first() -> None:
    got = _share({"host": "mx1.example.test", "services": ["submission", "imap", "imaps"]})
    setup = got["autoconfig"]["example.test"]
    assert [(s["type"], s["port"], s["socket"]) for s in setup["incoming"]] == [
        ("imap", 993, "SSL"),
        ("imap", 143, "STARTTLS"),
    ]
    assert [(s["type"], s["port"], s["socket"]) for s in setup["outgoing"]] == [
        ("smtp", 587, "STARTTLS")
    ]
    assert {s["host"] for s in setup["incoming"] + setup["outgoing"]} == {"mx1.example.test"}


def test_the_certificate_names_the_sites_and_the_domain_only_when_well_known() -> None:
    plain = _share({"host": "mx1.example.test", "services": ["imaps"]})
    assert plain["autoconfig_names"] == {
        "example.test": ["autoconfig.example.test", "autodiscover.example.test"]
    }
    assert "example.test" not in plain["tls_names"]
    assert {"autoconfig.example.test", "autodiscover.example.test"} <= set(plain["tls_names"])
    apex = _share({"host": "mx1.example.test", "services": ["imaps"], "well_known": True})
    assert apex["autoconfig_names"]["example.test"][-1] == "example.test"
    assert "example.test" in apex["tls_names"]


def test_a_host_that_serves_no_set_up_gets_none() -> None:
    described = [{"name": "example.test", "mx": [{"host": "mx1.example.test"}]}]
    got = share.of(parse(described, HOSTS), "mx1.example.test")
    assert got["autoconfig"] == {} and got["autoconfig_names"] == {}


def test_the_dns_points_every_site_name_at_the_host(make_inventory: MakeInventory) -> None:
    inv = make_inventory(
        [
            domain(
                autoconfig={
                    "host": "mx1.example.test",
                    "services": ["submissions", "imaps"],
                    "well_known": True,
                }
            )
        ]
    )
    plan = plan_of(inv)
    assert values(plan, "_autodiscover._tcp.example.test", "SRV") == [
        "0 1 443 autodiscover.example.test."
    ]
    for name in ("autoconfig.example.test", "autodiscover.example.test", "example.test"):
        assert values(plan, name, "A") == ["192.0.2.10"], name


def test_without_well_known_the_domain_name_is_left_to_its_web_site(
    make_inventory: MakeInventory,
) -> None:
    inv = make_inventory([domain(autoconfig={"host": "mx1.example.test", "services": ["imaps"]})])
    plan = plan_of(inv)
    assert values(plan, "example.test", "A") == []
    assert values(plan, "autodiscover.example.test", "A") == ["192.0.2.10"]
