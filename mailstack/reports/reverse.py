"""Names through the resolver `--resolver` names: the reverse names (PTR) of the reports'
source addresses, and the address of the IMAP server.

Reverse names are asked concurrently, `WORKERS` at a time, each given up after `timeout`
seconds, and all of them together after `DEADLINE_FACTOR` times `timeout`: whatever the number
of addresses and whether the resolver answers or not, the lookups end within that bound. A
name that did not come is not shown; `Names.late` counts the addresses given up that way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import dns.asyncresolver
import dns.exception

from mailstack.dnsquery import DnsError, resolver

WORKERS = 64
DEADLINE_FACTOR = 5


@dataclass
class Names:
    """Each address's PTR name, or None; `late`: the addresses not answered by the deadline
    (not asked, or given up), whose name is None too."""

    names: dict[str, str | None] = field(default_factory=dict)
    late: int = 0


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


def _stub(nameserver: str | None, port: int, timeout: float) -> dns.asyncresolver.Resolver:
    """The resolver `dnsquery.resolver` sets up (the system's, or `nameserver` alone), to be
    asked concurrently; DnsError without configuration."""
    setup = resolver(nameserver, port=port, lifetime=timeout)
    stub = dns.asyncresolver.Resolver(configure=False)
    stub.nameservers = setup.nameservers
    stub.port = setup.port
    stub.timeout = setup.timeout
    stub.lifetime = setup.lifetime
    return stub


async def _name(stub: dns.asyncresolver.Resolver, ip: str) -> str | None:
    try:
        answer = await stub.resolve_address(ip)
    except (dns.exception.DNSException, ValueError):
        return None
    names = sorted(r.to_text().removesuffix(".") for r in answer)
    return names[0] if names else None


async def _lookups(
    stub: dns.asyncresolver.Resolver, addresses: list[str], deadline: float
) -> Names:
    result = Names(dict.fromkeys(addresses))
    answered: set[str] = set()
    todo: Iterator[str] = iter(addresses)  # shared: each address taken by one worker

    async def worker() -> None:
        for ip in todo:
            result.names[ip] = await _name(stub, ip)
            answered.add(ip)

    tasks = [asyncio.create_task(worker()) for _ in range(min(WORKERS, len(addresses)))]
    _, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    result.late = len(addresses) - len(answered)
    return result


def reverse_names(
    ips: Iterable[str], *, nameserver: str | None = None, port: int = 53, timeout: float = 2.0
) -> Names:
    """Each address's PTR name, or None; through `nameserver`, else the system's resolver;
    within `DEADLINE_FACTOR` times `timeout` seconds in all."""
    addresses = sorted(set(ips))
    if not addresses:
        return Names()
    try:
        stub = _stub(nameserver, port, timeout)
    except DnsError:
        return Names(dict.fromkeys(addresses))
    return asyncio.run(_lookups(stub, addresses, DEADLINE_FACTOR * timeout))
