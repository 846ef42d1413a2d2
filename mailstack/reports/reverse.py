"""Names through the resolver `--resolver` names: the reverse names (PTR) of the reports'
source addresses, asked concurrently, each within a short time (a name that does not come is
simply not shown), and the address of the IMAP server."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import dns.exception
import dns.resolver

from mailstack.dnsquery import DnsError, resolver

WORKERS = 16


def address_of(host: str, *, nameserver: str, port: int = 53, timeout: float = 5.0) -> str:
    """`host`'s first IPv4 address, else its first IPv6 one, from `nameserver`; OSError if none."""
    stub = resolver(nameserver, port=port, lifetime=timeout)
    for rdtype in ("A", "AAAA"):
        try:
            answer = stub.resolve(host, rdtype)
        except dns.exception.DNSException:
            continue
        return str(sorted(r.to_text() for r in answer)[0])
    raise OSError(f"{host}: no address from the resolver {nameserver}")


def _name(stub: dns.resolver.Resolver, ip: str) -> str | None:
    try:
        answer = stub.resolve_address(ip)
    except (dns.exception.DNSException, ValueError):
        return None
    names = sorted(r.to_text().removesuffix(".") for r in answer)
    return names[0] if names else None


def reverse_names(
    ips: Iterable[str], *, nameserver: str | None = None, port: int = 53, timeout: float = 2.0
) -> dict[str, str | None]:
    """Each address's PTR name, or None; through `nameserver`, else the system's resolver."""
    addresses = sorted(set(ips))
    try:
        stub = resolver(nameserver, port=port, lifetime=timeout)
    except DnsError:
        return dict.fromkeys(addresses)
    if not addresses:
        return {}
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(addresses))) as pool:
        names = pool.map(lambda ip: _name(stub, ip), addresses)
        return dict(zip(addresses, names, strict=True))
