"""DNS questions for `mailstack check`, asked of one resolver and answered with DNSSEC data.

Every query asks for recursion (RD) and DNSSEC records (EDNS0 with the DO bit, a 1232-octet
buffer), over UDP with a retry over TCP when the answer is truncated. `cd=True` also sets the
CD bit, so that a validating resolver hands over data it finds bogus: the chain validator
(`dnssec.py`) needs it to say what is wrong rather than only that something is.

The resolver is the one given by address, or the system's first name server.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset

EDNS_PAYLOAD = 1232


class DnsError(Exception):
    """The resolver did not answer, or answered with a failure (SERVFAIL, REFUSED, ...)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What the resolver said about (name, type): the records, and whether it validated them."""

    name: str
    rtype: str
    rrset: dns.rrset.RRset | None
    nxdomain: bool
    authenticated: bool

    @property
    def texts(self) -> list[str]:
        """The records in presentation format; TXT as their strings joined, decoded."""
        if self.rrset is None:
            return []
        if self.rrset.rdtype == dns.rdatatype.TXT:
            return [b"".join(r.strings).decode("utf-8", "replace") for r in self.rrset]
        return [r.to_text() for r in self.rrset]


class Dns:
    """One resolver, asked over UDP then TCP."""

    def __init__(self, nameserver: str | None = None, port: int = 53, timeout: float = 3.0) -> None:
        if nameserver is None:
            system = dns.resolver.Resolver(configure=True)
            if not system.nameservers:
                raise DnsError("the system has no name server (/etc/resolv.conf): give --resolver")
            nameserver = str(system.nameservers[0])
        self.nameserver = nameserver
        self.port = port
        self.timeout = timeout

    def message(self, name: str, rtype: str, *, cd: bool = False) -> dns.message.Message:
        """The resolver's whole response; DnsError when it does not answer."""
        query = dns.message.make_query(
            dns.name.from_text(name),
            dns.rdatatype.from_text(rtype),
            want_dnssec=True,
            payload=EDNS_PAYLOAD,
        )
        if cd:
            query.flags |= dns.flags.CD
        try:
            response, _ = dns.query.udp_with_fallback(
                query, self.nameserver, timeout=self.timeout, port=self.port
            )
        except dns.exception.Timeout as error:
            raise DnsError(
                f"{name} {rtype}: the resolver {self.nameserver} did not answer"
                f" within {self.timeout} s"
            ) from error
        except (dns.exception.DNSException, OSError) as error:
            raise DnsError(f"{name} {rtype}: cannot ask {self.nameserver}: {error}") from error
        return response

    def ask(self, name: str, rtype: str) -> Answer:
        """The records of (name, type), following no CNAME; DnsError on a failure rcode."""
        response = self.message(name, rtype)
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DnsError(
                f"{name} {rtype}: the resolver {self.nameserver} answered"
                f" {dns.rcode.to_text(rcode)}"
            )
        qname = dns.name.from_text(name)
        rdtype = dns.rdatatype.from_text(rtype)
        rrset = response.get_rrset(response.answer, qname, dns.rdataclass.IN, rdtype)
        return Answer(
            name=name,
            rtype=rtype,
            rrset=rrset,
            nxdomain=rcode == dns.rcode.NXDOMAIN,
            authenticated=bool(response.flags & dns.flags.AD),
        )
