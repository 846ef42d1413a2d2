"""Every DNS question mailstack asks goes through here.

Two ways to ask, one way to set each up:

- `resolver(nameserver, port, timeout, lifetime)`: dnspython's stub resolver, the system's
  (/etc/resolv.conf) or the one server given by address, for plain lookups that follow
  CNAMEs and retry (SPF includes, reverse names, an IMAP server's address);
- `Server(address, port, timeout, label)`: one message to one server, over UDP with a retry
  over TCP when the answer is truncated, for questions whose flags matter: `Dns` asks a
  resolver with DNSSEC records and optionally the CD bit (`mailstack check`), and
  `mailstack.verify` asks a zone's own name server without recursion (`query` makes them).

Failures to get an answer raise `DnsError`, whose message names the question and the server.
"""

from __future__ import annotations

import socket
import struct
import time
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

# EDNS buffer size advertised (DNS Flag Day 2020); larger answers come over TCP.
EDNS_PAYLOAD = 1232


class DnsError(Exception):
    """The server did not answer, or answered with a failure (SERVFAIL, REFUSED, ...)."""


class RcodeError(DnsError):
    """The server answered, with a failure rcode (`rcode`: SERVFAIL, REFUSED, ...)."""

    def __init__(self, message: str, rcode: dns.rcode.Rcode) -> None:
        super().__init__(message)
        self.rcode = rcode


def resolver(
    nameserver: str | None = None,
    *,
    port: int = 53,
    timeout: float | None = None,
    lifetime: float | None = None,
) -> dns.resolver.Resolver:
    """A stub resolver: the system's when `nameserver` is None, else that address alone.

    `timeout` bounds each attempt at a server, `lifetime` a whole lookup (dnspython's
    defaults when None). DnsError when the system has no resolver configuration.
    """
    try:
        stub = dns.resolver.Resolver(configure=nameserver is None)
    except dns.exception.DNSException as error:
        raise DnsError(f"the system has no usable resolver configuration: {error}") from error
    if nameserver is not None:
        stub.nameservers = [nameserver]
        stub.port = port
    if timeout is not None:
        stub.timeout = timeout
    if lifetime is not None:
        stub.lifetime = lifetime
    return stub


def system_nameserver() -> str:
    """The system's first name server (/etc/resolv.conf)."""
    try:
        nameservers = resolver().nameservers
    except DnsError:
        nameservers = []
    if not nameservers:
        raise DnsError("the system has no name server (/etc/resolv.conf): give --resolver")
    return str(nameservers[0])


def query(
    name: str, rtype: str, *, dnssec: bool = False, recursion: bool = True, cd: bool = False
) -> dns.message.QueryMessage:
    """A question with EDNS0 (a 1232-octet buffer); with `dnssec`, the DO bit; RD when
    `recursion`; CD when `cd` (a validating resolver then hands over bogus data too)."""
    message = dns.message.make_query(
        dns.name.from_text(name),
        dns.rdatatype.from_text(rtype),
        use_edns=0,
        want_dnssec=dnssec,
        payload=EDNS_PAYLOAD,
        flags=dns.flags.RD if recursion else 0,
    )
    if cd:
        message.flags |= dns.flags.CD
    return message


@dataclass(frozen=True, slots=True)
class Server:
    """One server, asked directly; `label` names it in errors ("the resolver 192.0.2.53")."""

    address: str
    port: int = 53
    timeout: float = 3.0
    label: str = ""

    def exchange(  # noqa: PLR0913 (the question's flags, keyword-only)
        self,
        name: str,
        rtype: str,
        *,
        dnssec: bool = False,
        recursion: bool = True,
        cd: bool = False,
        timeout: float | None = None,
    ) -> dns.message.Message:
        """The server's whole response to the question `query` makes of these arguments;
        DnsError when it does not answer. `timeout` (default: the server's) bounds the whole
        exchange, the retry over TCP of a truncated answer included."""
        message = query(name, rtype, dnssec=dnssec, recursion=recursion, cd=cd)
        label = self.label or f"{self.address} port {self.port}"
        seconds = self.timeout if timeout is None else timeout
        end = time.monotonic() + seconds
        try:
            response = dns.query.udp(message, self.address, timeout=seconds, port=self.port)
            if response.flags & dns.flags.TC:
                left = end - time.monotonic()
                if left <= 0:
                    raise dns.exception.Timeout
                response = dns.query.tcp(message, self.address, timeout=left, port=self.port)
        except dns.exception.Timeout as error:
            raise DnsError(
                f"{name} {rtype}: {label} did not answer within {seconds:g} s"
            ) from error
        except (dns.message.ShortHeader, dns.message.TrailingJunk, OSError) as error:
            raise DnsError(f"{name} {rtype}: cannot ask {label}: {error}") from error
        except dns.exception.DNSException:
            # A record dnspython refuses (a TLSA digest of the wrong length...): read the
            # answer again keeping the rest, the bad records listed in `response.errors`.
            response = self._lenient(message, end, f"{name} {rtype}: {label}")
        return response

    def _lenient(self, message: dns.message.Message, end: float, what: str) -> dns.message.Message:
        """The exchange over TCP, parsed with continue_on_error; DnsError when it fails."""
        wire = message.to_wire()
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        data = b""
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(max(end - time.monotonic(), 0.001))
                sock.connect((self.address, self.port))
                sock.sendall(struct.pack("!H", len(wire)) + wire)
                for _ in range(65537):  # octets arrive in at least one-octet reads
                    size = struct.unpack("!H", data[:2])[0] + 2 if len(data) >= 2 else 2
                    if len(data) >= size:
                        break
                    sock.settimeout(max(end - time.monotonic(), 0.001))
                    chunk = sock.recv(65537)
                    if not chunk:
                        raise DnsError(f"{what} closed the connection mid-answer")
                    data += chunk
            response = dns.message.from_wire(data[2:], continue_on_error=True)
        except TimeoutError as error:
            raise DnsError(f"{what} did not answer in time") from error
        except (OSError, dns.exception.DNSException) as error:
            raise DnsError(f"{what}: the answer does not parse: {error}") from error
        if response.id != message.id:
            raise DnsError(f"{what}: the answer is not to the question asked")
        return response


@dataclass(frozen=True, slots=True)
class Answer:
    """What the resolver said about (name, type): the records, and whether it validated them."""

    name: str
    rtype: str
    rrset: dns.rrset.RRset | None
    nxdomain: bool
    authenticated: bool
    unvalidated: bool = False
    """Had only with the CD bit: the resolver answered SERVFAIL when it validated."""
    malformed: tuple[str, ...] = ()
    """Why records of the answer could not be read (they are not in `rrset`)."""

    @property
    def texts(self) -> list[str]:
        """The records in presentation format; TXT as their strings joined, decoded."""
        if self.rrset is None:
            return []
        if self.rrset.rdtype == dns.rdatatype.TXT:
            return [b"".join(r.strings).decode("utf-8", "replace") for r in self.rrset]
        return [r.to_text() for r in self.rrset]


class Dns:
    """One recursive resolver (the system's first by default), asked for DNSSEC data: every
    question has RD and the DO bit, so the answers carry their signatures (`mailstack check`
    validates the chain itself, see `check/dnssec.py`)."""

    def __init__(self, nameserver: str | None = None, port: int = 53, timeout: float = 3.0) -> None:
        self.nameserver = nameserver if nameserver is not None else system_nameserver()
        self.port = port
        self.timeout = timeout
        self.server = Server(self.nameserver, port, timeout, f"the resolver {self.nameserver}")

    def message(
        self, name: str, rtype: str, *, cd: bool = False, timeout: float | None = None
    ) -> dns.message.Message:
        """The resolver's whole response; DnsError when it does not answer."""
        return self.server.exchange(name, rtype, dnssec=True, cd=cd, timeout=timeout)

    def ask(
        self, name: str, rtype: str, *, cd: bool = False, timeout: float | None = None
    ) -> Answer:
        """The records of (name, type), following no CNAME; RcodeError on a failure rcode.
        With `cd`, the resolver does not validate (and the answer is marked unvalidated)."""
        response = self.message(name, rtype, cd=cd, timeout=timeout)
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise RcodeError(
                f"{name} {rtype}: the resolver {self.nameserver} answered"
                f" {dns.rcode.to_text(rcode)}",
                rcode,
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
            unvalidated=cd,
            malformed=tuple(str(e.exception) for e in getattr(response, "errors", ())),
        )
