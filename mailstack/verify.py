"""Check that a zone's own name server serves the planned records.

OVH can fail a zone refresh silently: the API accepts the records and reports success, yet
the name servers keep serving the old zone. So after publishing, mailstack asks the zone's
own (authoritative) name server directly, not a recursive resolver whose cache would hide
the change, and compares what it serves with the plan.

Each distinct (name, type) of the plan is asked once, over UDP with a fall back to TCP when
the answer is truncated, with recursion not desired. The set of rdata is compared in
dnspython's presentation format, so quoting and the case of domain names do not matter but
the split of a TXT value into strings does; then the TTL is compared. A server that does not
answer, refuses, fails or is not authoritative raises `VerifyError`.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import dns.flags
import dns.inet
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from mailstack.dnsquery import DnsError, Server
from mailstack.records import Record
from mailstack.zonefile import canonical, rdata_text

Kind = Literal["missing", "different", "ttl"]


class VerifyError(Exception):
    """The name server could not be asked, or did not give an authoritative answer."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One planned (name, type) that the name server does not serve as planned.

    `expected` and `actual` are rdata in presentation format (sorted); `actual` is empty when
    the name server has no such record. For kind "ttl" the rdata match and `detail` gives
    both TTLs.
    """

    name: str
    rtype: str
    kind: Kind
    expected: tuple[str, ...]
    actual: tuple[str, ...]
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:<9} {self.name} {self.rtype}: {self.detail}"


@dataclass(slots=True)
class _Planned:
    rdata: set[str]
    ttl: int


def verify(
    records: Sequence[Record], nameserver: str, *, port: int = 53, timeout: float = 3.0
) -> list[Finding]:
    """Ask `nameserver` (an IP address or a host name) for every planned (name, type).

    Returns the findings in the order of the plan, empty when everything is served as
    planned. When planned records of one (name, type) disagree on the TTL, the smallest is
    expected, as name servers load them. `timeout` applies to each query.
    """
    address = _address(nameserver, port)
    label = nameserver if address == nameserver else f"{nameserver} ({address})"
    server = _NameServer(Server(address, port, timeout, f"name server {label} port {port}"))
    planned: dict[tuple[str, str], _Planned] = {}
    for record in records:
        name, rtype, ttl, rdata = canonical(record)
        entry = planned.setdefault((name, rtype), _Planned(set(), ttl))
        entry.rdata.add(rdata)
        entry.ttl = min(entry.ttl, ttl)

    findings: list[Finding] = []
    for (name, rtype), plan in planned.items():
        actual, actual_ttl = server.ask(name, rtype)
        expected = tuple(sorted(plan.rdata))
        found = tuple(sorted(actual))
        if not actual:
            findings.append(
                Finding(name, rtype, "missing", expected, (), f"expected {_join(expected)}")
            )
        elif actual != plan.rdata:
            detail = f"expected {_join(expected)}; served {_join(found)}"
            if actual_ttl != plan.ttl:
                detail += f" (TTL {actual_ttl}, expected {plan.ttl})"
            findings.append(Finding(name, rtype, "different", expected, found, detail))
        elif actual_ttl != plan.ttl:
            detail = f"TTL {actual_ttl}, expected {plan.ttl} ({_join(expected)})"
            findings.append(Finding(name, rtype, "ttl", expected, found, detail))
    return findings


def _address(nameserver: str, port: int) -> str:
    """The IP address of the name server, resolving a host name with the system resolver."""
    if dns.inet.is_address(nameserver):
        return nameserver
    try:
        infos = socket.getaddrinfo(nameserver, port, type=socket.SOCK_DGRAM)
    except OSError as error:
        raise VerifyError(f"cannot resolve name server {nameserver}: {error}") from error
    if not infos:
        raise VerifyError(f"name server {nameserver} has no address")
    return str(infos[0][4][0])


@dataclass(frozen=True, slots=True)
class _NameServer:
    """The zone's name server, asked without recursion; it must answer authoritatively."""

    server: Server

    def ask(self, name: str, rtype: str) -> tuple[set[str], int]:
        """The rdata (presentation format) and TTL served for (name, rtype); empty if none."""
        try:
            response = self.server.exchange(name, rtype, recursion=False)
        except DnsError as error:
            raise VerifyError(str(error)) from error
        qname = dns.name.from_text(name)
        rdtype = dns.rdatatype.from_text(rtype)
        label = self.server.label
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise VerifyError(f"{name} {rtype}: {label} answered {dns.rcode.to_text(rcode)}")
        if not response.flags & dns.flags.AA:
            raise VerifyError(f"{name} {rtype}: {label} is not authoritative (no AA flag)")
        if rcode == dns.rcode.NXDOMAIN:
            return set(), 0
        rrset = response.get_rrset(response.answer, qname, dns.rdataclass.IN, rdtype)
        if rrset is None:
            return set(), 0
        return {rdata_text(rdata) for rdata in rrset}, rrset.ttl


def _join(values: tuple[str, ...]) -> str:
    return ", ".join(values) if values else "nothing"
