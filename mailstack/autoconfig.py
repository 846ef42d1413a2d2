"""What a domain's mail client set-up offers: the servers a client is told to use and the
names the set-up documents are served at (role `autoconfig`, docs/clients.md).

Made from the model's `Autoconfig` of a domain, so that the documents, the DNS and the
certificate's names never disagree with the services the description offers.
"""

from __future__ import annotations

from typing import Any

from mailstack.model import SERVICES, Autoconfig

# Each service of the description (model.SERVICES) as a client set-up names it: the
# direction, the protocol and how TLS starts (implicit TLS, `SSL`, or `STARTTLS`); in order
# of preference, IMAP before POP3 and implicit TLS before STARTTLS (RFC 8314).
OFFER = {
    "imaps": ("incoming", "imap", "SSL"),
    "imap": ("incoming", "imap", "STARTTLS"),
    "pop3s": ("incoming", "pop3", "SSL"),
    "pop3": ("incoming", "pop3", "STARTTLS"),
    "submissions": ("outgoing", "smtp", "SSL"),
    "submission": ("outgoing", "smtp", "STARTTLS"),
}


def site_names(domain: str, well_known: bool) -> list[str]:
    """The names the documents are served at, which point at the autoconfig host."""
    names = [f"autoconfig.{domain}", f"autodiscover.{domain}"]
    return [*names, domain] if well_known else names


def settings(domain: str, ac: Autoconfig) -> dict[str, Any]:
    """The domain's entry in the served program's settings: the servers offered, in order of
    preference."""
    out: dict[str, Any] = {"display_name": domain, "incoming": [], "outgoing": []}
    for service, (direction, protocol, socket) in OFFER.items():
        if service in ac.services:
            out[direction].append(
                {"type": protocol, "host": ac.host, "port": SERVICES[service], "socket": socket}
            )
    return out
