"""The Jinja filters of mailstack's playbooks (ansible/filter_plugins)."""

from __future__ import annotations

import pytest

from tests.conftest import load_file

filters = (
    load_file("ansible/filter_plugins/mailstack_hosts.py", "mailstack_hosts")
    .FilterModule()
    .filters()
)

DOMAINS = [
    {"name": "example.test", "mx": [{"host": "mx1.example.test"}, {"host": "mx2.example.test"}]},
    {"name": "peer.test", "mx": [{"host": "mx1.peer.test"}]},
    {"name": "noreply.example.test", "parked": True},
    {"name": "old.example.test", "mx": None},
]


def test_a_host_serves_the_domains_that_name_it_as_mx() -> None:
    served = filters["served_by"](DOMAINS, "mx2.example.test")
    assert [d["name"] for d in served] == ["example.test"]
    assert [d["name"] for d in filters["served_by"](DOMAINS, "mx1.peer.test")] == ["peer.test"]


def test_a_backend_serves_the_domains_behind_its_gateways() -> None:
    domains = [
        *DOMAINS,
        {"name": "edge.test", "mx": [{"host": "pmg1.edge.test"}], "backend": "mx1.peer.test"},
    ]
    served = filters["served_by"](domains, "mx1.peer.test")
    assert [d["name"] for d in served] == ["peer.test", "edge.test"]
    assert [d["name"] for d in filters["served_by"](domains, "pmg1.edge.test")] == ["edge.test"]


def test_a_backend_takes_mail_from_its_gateways_alone() -> None:
    domains = [
        {"name": "edge.test", "mx": [{"host": "pmg1.edge.test"}], "backend": "mx1.edge.test"},
        {"name": "peer.test", "mx": [{"host": "mx1.peer.test"}]},
    ]
    hostvars = {"pmg1.edge.test": {"mailstack_ipv4": "192.0.2.1", "mailstack_ipv6": "2001:db8::1"}}
    gateways_of = filters["gateways_of"]
    assert gateways_of(domains, "mx1.edge.test", hostvars) == ["192.0.2.1", "2001:db8::1"]
    # A host that is also a public MX must take mail from anyone.
    both = [*domains, {"name": "own.test", "mx": [{"host": "mx1.edge.test"}]}]
    assert gateways_of(both, "mx1.edge.test", hostvars) == []
    assert gateways_of(domains, "mx1.peer.test", hostvars) == []


def test_a_host_named_by_no_domain_serves_none() -> None:
    assert filters["served_by"](DOMAINS, "dns.lab.test") == []


def test_reverse_zones_of_the_lab_networks_end_where_the_prefix_does() -> None:
    assert filters["reverse_zone"]("10.231.0.0/24") == "0.231.10.in-addr.arpa"
    assert (
        filters["reverse_zone"]("fd00:6d61:696c::/64") == "0.0.0.0.c.6.9.6.1.6.d.6.0.0.d.f.ip6.arpa"
    )
    with pytest.raises(ValueError, match="multiple of 8"):
        filters["reverse_zone"]("10.231.0.0/20")


def test_a_pointer_name_lies_in_its_network_reverse_zone() -> None:
    pointer = filters["reverse_pointer"]("fd00:6d61:696c::10")
    assert pointer.startswith("0.1.0.0.")
    assert pointer.endswith("." + filters["reverse_zone"]("fd00:6d61:696c::/64"))
    assert filters["reverse_pointer"]("10.231.0.10") == "10.0.231.10.in-addr.arpa"
    assert filters["in_network"]("10.231.0.10", "10.231.0.0/24")
    assert not filters["in_network"]("fd00:6d61:696c::10", "10.231.0.0/24")
