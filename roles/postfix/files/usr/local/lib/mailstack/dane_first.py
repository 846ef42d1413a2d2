#!/usr/bin/python3
"""mailstack's DANE-first TLS policy table for Postfix (role postfix).

Postfix takes a destination's TLS policy from the first table of smtp_tls_policy_maps that
knows it, and an MTA-STS answer ("secure match=...") would replace DANE altogether. RFC 8461
(section 2) says the opposite: MTA-STS must not override DANE. This socketmap table comes
first and answers "dane" for a destination whose MX records are DNSSEC-validated and whose
every MX host has a DNSSEC-validated TLSA record; for any other destination (one MX host
without TLSA is enough) it answers NOTFOUND, so that Postfix asks the next table
(postfix-mta-sts-resolver). A DNS failure is a temporary error: the mail waits rather than
leave with less protection than the receiver asked for.

Usage: dane_first.py [--listen HOST:PORT] [--resolver IP]   (Debian's python3-dnspython)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

LOG = logging.getLogger("mailstack-dane-first")
MAX_REQUEST = 1024
NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+\.?")
# TLSA usages that authenticate a server: DANE-TA(2) and DANE-EE(3) (RFC 7672, section 3.1).
USABLE = (2, 3)


class TempFail(Exception):
    """The DNS could not answer; the message waits."""


@dataclass(frozen=True)
class Answer:
    """What the validating resolver said: the records (empty: none) and whether it vouched
    for them with DNSSEC (the AD flag), NXDOMAIN included."""

    secure: bool
    records: tuple[str, ...] = ()
    nxdomain: bool = False


Lookup = Callable[[str, str], Answer]


def decide(domain: str, lookup: Lookup) -> tuple[str | None, str]:
    """The policy for a next-hop domain ("dane" or None for the next table) and why."""
    name = domain.lower().rstrip(".")
    if not NAME.fullmatch(name):
        # [host]:port next hops and other forms are not ours to judge.
        return None, "not a domain name"
    mx = lookup(name, "MX")
    if mx.nxdomain:
        return None, "no such domain"
    if not mx.secure:
        return None, "its MX records are not DNSSEC-signed"
    hosts = _hosts(name, mx.records)
    if not hosts:
        return None, "it has a null MX"
    # Every host, not any: Postfix applies the one policy of the domain to all its MX hosts,
    # and a host without TLSA under "dane" would be reached with opportunistic TLS only,
    # losing the receiver's MTA-STS policy, which the next table would have enforced.
    for host in hosts:
        tlsa = lookup(f"_25._tcp.{host}", "TLSA")
        if not (tlsa.secure and any(_usable(record) for record in tlsa.records)):
            return None, f"no DNSSEC-validated TLSA at _25._tcp.{host}"
    return "dane", f"DNSSEC-validated TLSA on every MX host ({', '.join(hosts)})"


def _hosts(domain: str, records: tuple[str, ...]) -> list[str]:
    """MX hosts in preference order; the domain itself when it has no MX (RFC 5321, 5.1)."""
    if not records:
        return [domain]
    parsed = sorted((int(pref), host.lower().rstrip(".")) for pref, host in map(str.split, records))
    return [host for _, host in parsed if host]


def _usable(record: str) -> bool:
    usage = record.split(maxsplit=1)[0]
    return usage.isdigit() and int(usage) in USABLE


def dns_lookup(resolver_address: str) -> Lookup:
    """A lookup through the host's validating resolver (dnspython)."""
    import dns.exception  # noqa: PLC0415
    import dns.flags  # noqa: PLC0415
    import dns.resolver  # noqa: PLC0415

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [resolver_address]
    resolver.use_edns(0, dns.flags.DO, 1232)
    resolver.flags = dns.flags.RD | dns.flags.AD
    resolver.lifetime = 10

    def lookup(name: str, rtype: str) -> Answer:
        try:
            answer = resolver.resolve(name, rtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            # Mail to it bounces anyway: no policy is needed.
            return Answer(secure=False, nxdomain=True)
        except dns.exception.DNSException as exc:
            raise TempFail(f"{rtype} {name}: {exc}") from exc
        secure = bool(answer.response.flags & dns.flags.AD)
        records = tuple(r.to_text() for r in answer.rrset) if answer.rrset else ()
        return Answer(secure, records)

    return lookup


def netstring(data: bytes) -> bytes:
    return str(len(data)).encode() + b":" + data + b","


async def read_netstring(reader: asyncio.StreamReader) -> bytes | None:
    """One netstring, or None at the end of the connection."""
    try:
        length = await reader.readuntil(b":")
    except asyncio.IncompleteReadError:
        return None
    size = int(length[:-1])
    if size > MAX_REQUEST:
        raise ValueError(f"request of {size} bytes")
    data = await reader.readexactly(size + 1)
    if data[-1:] != b",":
        raise ValueError("netstring without its comma")
    return data[:-1]


def answer(request: bytes, lookup: Lookup) -> bytes:
    """The socketmap reply to one request ("NAME KEY")."""
    try:
        _, key = request.decode("ascii").split(" ", 1)
    except (UnicodeDecodeError, ValueError):
        return b"PERM malformed request"
    try:
        policy, why = decide(key, lookup)
    except TempFail as exc:
        LOG.warning("%s: DNS failed, the mail waits: %s", key, exc)
        return b"TEMP DNS lookup failed"
    if policy is None:
        LOG.info("%s: %s: asking the next table", key, why)
        return b"NOTFOUND "
    LOG.info("%s: %s: %s", key, why, policy)
    return f"OK {policy}".encode()


async def serve_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lookup: Lookup
) -> None:
    loop = asyncio.get_running_loop()
    try:
        while (request := await read_netstring(reader)) is not None:
            reply = await loop.run_in_executor(None, answer, request, lookup)
            writer.write(netstring(reply))
            await writer.drain()
    except (ValueError, ConnectionError) as exc:
        LOG.warning("dropping a client: %s", exc)
    finally:
        writer.close()


async def serve(host: str, port: int, lookup: Lookup) -> None:
    server = await asyncio.start_server(
        lambda r, w: serve_client(r, w, lookup), host=host, port=port
    )
    LOG.info("answering on %s:%d", host, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8462", metavar="HOST:PORT")
    parser.add_argument("--resolver", default="127.0.0.1", metavar="IP")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    host, _, port = args.listen.rpartition(":")
    asyncio.run(serve(host, int(port), dns_lookup(args.resolver)))


if __name__ == "__main__":
    main()
