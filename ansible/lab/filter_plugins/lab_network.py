"""Jinja filters of the lab's playbooks: the reverse DNS names of the lab's addresses."""

from __future__ import annotations

import ipaddress
from typing import Any


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
    """`reverse_zone`, `reverse_pointer` and `in_network`, for the lab's reverse zones."""

    def filters(self) -> dict[str, Any]:
        return {
            "reverse_zone": reverse_zone,
            "reverse_pointer": reverse_pointer,
            "in_network": in_network,
        }
