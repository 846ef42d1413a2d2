"""Jinja filters of mailstack's playbooks: which part of the mail description a host serves,
and the reverse DNS names of the lab's addresses."""

from __future__ import annotations

import ipaddress
from typing import Any


def served_by(domains: list[dict[str, Any]], host: str) -> list[dict[str, Any]]:
    """The domains whose mail `host` receives: those that name it among their MX hosts, or
    as the backend behind their gateways (Proxmox Mail Gateway)."""
    return [
        d
        for d in domains
        if d.get("backend") == host or any(m.get("host") == host for m in d.get("mx") or [])
    ]


def gateways_of(domains: list[dict[str, Any]], host: str, hostvars: dict[str, Any]) -> list[str]:
    """The addresses of the gateways in front of `host`, when every domain it serves is behind
    gateways (`backend: host`), so that its port 25 may take mail from them alone; else []."""
    served = served_by(domains, host)
    if not served or any(d.get("backend") != host for d in served):
        return []
    gateways = sorted({m["host"] for d in served for m in d.get("mx") or [] if m.get("host")})
    addresses = []
    for gateway in gateways:
        found = hostvars.get(gateway, {})
        addresses += [found[k] for k in ("mailstack_ipv4", "mailstack_ipv6") if found.get(k)]
    return addresses


def reverse_zone(network: str) -> str:
    """The reverse zone of a network split at a label: `10.231.0.0/24` gives
    `0.231.10.in-addr.arpa`, `fd00:6d61:696c::/64` its 16 nibbles under ip6.arpa."""
    net = ipaddress.ip_network(network)
    bits = 8 if net.version == 4 else 4
    if net.prefixlen % bits:
        raise ValueError(f"{network}: the prefix length is not a multiple of {bits}")
    labels = net.network_address.reverse_pointer.split(".")
    return ".".join(labels[(net.max_prefixlen - net.prefixlen) // bits :])


def reverse_pointer(address: str) -> str:
    """The PTR owner name of an address: `10.231.0.10` gives `10.0.231.10.in-addr.arpa`."""
    return ipaddress.ip_address(address).reverse_pointer


def in_network(address: str, network: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(network)


class FilterModule:
    """mailstack's filters: `mailstack_domains | served_by(inventory_hostname)`, and
    `reverse_zone`, `reverse_pointer` and `in_network` for the lab's reverse zones."""

    def filters(self) -> dict[str, Any]:
        return {
            "served_by": served_by,
            "gateways_of": gateways_of,
            "reverse_zone": reverse_zone,
            "reverse_pointer": reverse_pointer,
            "in_network": in_network,
        }
