"""Name servers: the domain's NS records, each name server's IPv4 and IPv6 addresses, each
address answering authoritatively for the domain, and the servers agreeing (the same SOA
serial, the same NS set as the resolver sees).

IPv6 reachability can only be tested from a machine with an IPv6 route: without one, the
check says it could not test rather than pass or fail.
"""

from __future__ import annotations

import errno
import socket
from concurrent.futures import ThreadPoolExecutor

import dns.flags
import dns.rdataclass
import dns.rdatatype

from mailstack.check.context import Context
from mailstack.check.facts import addresses
from mailstack.check.report import Finding, failed, info, passed, warned
from mailstack.dnsquery import DnsError, Server

CATEGORY = "Name servers"
NO_ROUTE = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)


def audit(ctx: Context) -> list[Finding]:
    servers = sorted(n.rstrip(".").lower() for n in ctx.texts(ctx.domain, "NS"))
    if not servers:
        return [
            failed(
                CATEGORY,
                "ns.present",
                f"no NS record for {ctx.domain} (is it a zone apex?)",
                "audit the zone's apex, or publish its NS records",
            )
        ]
    out = [passed(CATEGORY, "ns.present", f"NS: {', '.join(servers)}")]
    if len(servers) < 2:
        out.append(
            warned(
                CATEGORY,
                "ns.count",
                f"one name server only ({servers[0]}): the domain vanishes when it is down",
                "add a second name server on another network (RFC 2182)",
            )
        )
    found = {ns: addresses(ctx, ns) for ns in servers}
    with_v6 = [ns for ns, addrs in found.items() if any(":" in a for a in addrs)]
    if len(with_v6) >= 2 or (with_v6 and len(servers) == 1):
        out.append(passed(CATEGORY, "ns.ipv6", f"name servers with IPv6: {', '.join(with_v6)}"))
    else:
        out.append(
            warned(
                CATEGORY,
                "ns.ipv6",
                f"{len(with_v6)} name server(s) with an IPv6 address (AAAA): IPv6-only"
                " resolvers cannot reach the domain",
                "give at least two name servers IPv6 addresses",
            )
        )
    targets = [(ns, a) for ns, addrs in found.items() for a in addrs]
    for ns, addrs in found.items():
        if not addrs:
            out.append(
                failed(
                    CATEGORY,
                    "ns.address",
                    f"the name server {ns} has no address",
                    f"publish A/AAAA for {ns}",
                )
            )
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        answers = list(pool.map(lambda t: _ask(ctx, *t), targets))
    serials: dict[str, list[str]] = {}
    expected = set(servers)
    for (ns, address), (finding, serial, ns_set) in zip(targets, answers, strict=True):
        out.append(finding)
        if serial is not None:
            serials.setdefault(serial, []).append(f"{ns} ({address})")
        if ns_set is not None and ns_set != expected:
            out.append(
                warned(
                    CATEGORY,
                    "ns.agreement",
                    f"{ns} ({address}) serves the NS set {', '.join(sorted(ns_set)) or 'none'},"
                    f" not the one resolvers see ({', '.join(servers)})",
                    "make the zone's NS records and the parent's delegation list the same servers",
                )
            )
    if len(serials) > 1:
        out.append(
            warned(
                CATEGORY,
                "ns.serial",
                "the name servers serve different SOA serials: "
                + "; ".join(f"{s} at {', '.join(w)}" for s, w in sorted(serials.items())),
                "let the secondaries transfer the zone (NOTIFY, AXFR/IXFR), or check why they"
                " do not",
            )
        )
    elif serials:
        out.append(
            passed(
                CATEGORY, "ns.serial", f"every name server serves SOA serial {next(iter(serials))}"
            )
        )
    return out


def _routable(address: str) -> bool:
    """Whether this machine has a route to `address` (a UDP connect sends nothing)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((address, 53))
    except OSError as error:
        if error.errno in NO_ROUTE:
            return False
        raise
    return True


def _ask(ctx: Context, ns: str, address: str) -> tuple[Finding, str | None, set[str] | None]:
    """The finding on one server address, the SOA serial it serves, and its NS set."""
    where = f"{ns} ({address})"
    try:
        routable = _routable(address)
    except OSError as error:
        routable, reason = False, str(error)
    else:
        reason = "no route to it from this machine"
    if not routable:
        family = "IPv6" if ":" in address else "IPv4"
        return (
            info(CATEGORY, "ns.reachable", f"{where}: not tested over {family}: {reason}"),
            None,
            None,
        )
    server = Server(
        address, ctx.options.nameserver_port, ctx.options.timeout, f"the name server {where}"
    )
    try:
        soa = server.exchange(ctx.domain, "SOA", recursion=False, timeout=ctx.budget())
        ns_answer = server.exchange(ctx.domain, "NS", recursion=False, timeout=ctx.budget())
    except DnsError as error:
        return (
            failed(
                CATEGORY,
                "ns.reachable",
                f"{where}: {error}",
                f"make {ns} answer for {ctx.domain} on {address}",
            ),
            None,
            None,
        )
    rrset = soa.get_rrset(soa.answer, soa.question[0].name, dns.rdataclass.IN, dns.rdatatype.SOA)
    if rrset is None or not soa.flags & dns.flags.AA:
        return (
            failed(
                CATEGORY,
                "ns.reachable",
                f"{where} does not answer authoritatively for {ctx.domain} (lame delegation)",
                f"serve the zone {ctx.domain} on {ns}, or remove it from the NS records",
            ),
            None,
            None,
        )
    serial = str(next(iter(rrset)).serial)
    ns_rrset = ns_answer.get_rrset(
        ns_answer.answer, ns_answer.question[0].name, dns.rdataclass.IN, dns.rdatatype.NS
    )
    ns_set = {r.to_text().rstrip(".").lower() for r in ns_rrset} if ns_rrset else set()
    return (
        passed(CATEGORY, "ns.reachable", f"{where} answers authoritatively (serial {serial})"),
        serial,
        ns_set,
    )
