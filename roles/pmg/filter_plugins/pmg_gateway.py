"""The `pmg` role's share of the mail description: what one gateway relays, and where to."""

from __future__ import annotations

import ipaddress
from typing import Any


def pmg_gateway(
    domains: list[dict[str, Any]], host: str, hostvars: Any, selector: str = "mailgw"
) -> dict[str, list[dict[str, Any]]]:
    """For the gateway `host`: its relay domains (those whose MX names it), a transport for
    each to the domain's backend mail host (`backend`, no MX lookup), the backends' addresses
    as trusted networks (they relay their outbound mail through the gateway), and the DKIM
    signing domains (those that list the gateway's selector in `dkim`)."""
    served = [d for d in domains or [] if any(m.get("host") == host for m in d.get("mx") or [])]
    relay, transports, dkim = [], [], []
    backends: list[str] = []
    for d in served:
        relay.append({"domain": d["name"], "comment": "mailstack"})
        backend = d.get("backend")
        if backend:
            transports.append(
                {
                    "domain": d["name"],
                    "host": backend,
                    "port": 25,
                    "use_mx": False,
                    "protocol": "smtp",
                    "comment": "mailstack",
                }
            )
            if backend not in backends:
                backends.append(backend)
        if any(s.get("selector") == selector for s in d.get("dkim") or []):
            dkim.append({"domain": d["name"], "comment": "mailstack"})
    networks = []
    for backend in backends:
        hv = hostvars.get(backend, {})
        for key in ("mailstack_ipv4", "mailstack_ipv6"):
            if hv.get(key):
                address = ipaddress.ip_address(hv[key])
                networks.append({"cidr": f"{address}/{address.max_prefixlen}", "comment": backend})
    return {
        "relay_domains": relay,
        "transports": transports,
        "networks": networks,
        "dkim_domains": dkim,
    }


class FilterModule:
    """`mailstack_domains | pmg_gateway(inventory_hostname, hostvars, selector)`."""

    def filters(self) -> dict[str, Any]:
        return {"pmg_gateway": pmg_gateway}
