"""RFC 1035 zone files: write the planned records of one zone, and read a zone file back.

`render` writes a deterministic zone file (same records, same text) that an authoritative
server such as Knot can load when given a `Soa`, and that is also a readable record of what
mailstack publishes. `parse` and `canonical` reduce a zone file and a `Record` to the same
comparable tuples, using dnspython's presentation format so that quoting, escapes and the
case of domain names do not matter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.zone

from mailstack.records import Record, in_zone

DEFAULT_TTL = 3600
MAX_SERIAL = 2**32 - 1
# A name of the SOA and NS records: printable, no space, quote, `;` or parenthesis, which would
# change the zone file's lines (the command line checks each name fully).
_SOA_NAME = re.compile(r"[A-Za-z0-9._@+\\-]{1,254}")

# (owner name, type, TTL, rdata): owner name lower case without the final dot, rdata in
# dnspython's presentation format with domain names in lower case.
Canonical = tuple[str, str, int, str]


@dataclass(frozen=True, slots=True)
class Soa:
    """What a zone file needs to be served: its SOA record and the apex NS records.

    Names may be given with or without the final dot; `hostmaster` may be a mail address
    (`hostmaster@example.test`) or already in SOA form (`hostmaster.example.test`).
    """

    primary_ns: str
    hostmaster: str
    serial: int
    nameservers: tuple[str, ...]
    refresh: int = 3600
    retry: int = 900
    expire: int = 1209600
    minimum: int = 300

    def __post_init__(self) -> None:
        for name in (self.primary_ns, self.hostmaster, *self.nameservers):
            if not _SOA_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a name an SOA or NS record can hold")
        if not 0 <= self.serial <= MAX_SERIAL:
            raise ValueError(f"SOA serial must be between 0 and {MAX_SERIAL}: {self.serial}")
        if not self.nameservers:
            raise ValueError("a served zone needs at least one NS record")
        for field in ("refresh", "retry", "expire", "minimum"):
            value = getattr(self, field)
            if not 0 <= value <= MAX_SERIAL:
                raise ValueError(f"SOA {field} must be between 0 and {MAX_SERIAL}: {value}")

    def rdata(self) -> str:
        """The SOA rdata in presentation format."""
        return (
            f"{_absolute(self.primary_ns)} {_mailbox(self.hostmaster)} {self.serial} "
            f"{self.refresh} {self.retry} {self.expire} {self.minimum}"
        )


def render(zone: str, records: Sequence[Record], *, soa: Soa | None = None) -> str:
    """The zone file of `zone` holding `records`.

    Owner names are absolute. Records are sorted by owner name in DNS order (the apex first,
    then each subtree together), then type, then rdata. Raises ValueError, naming the record,
    for a record of another zone, an owner name outside the zone, or rdata that dnspython
    cannot read.
    """
    zone = zone.rstrip(".")
    for record in records:
        if record.zone.rstrip(".").lower() != zone.lower():
            raise ValueError(
                f"record {_describe(record)} belongs to zone {record.zone}, not {zone}"
            )
        if not in_zone(record.name.lower(), zone.lower()):
            raise ValueError(f"record {_describe(record)} is outside zone {zone}")
        if "\n" in record.rdata or "\r" in record.rdata:
            raise ValueError(f"record {_describe(record)}: rdata spans several lines")
        try:
            canonical(record)
        except (dns.exception.DNSException, ValueError) as error:
            raise ValueError(f"record {_describe(record)}: invalid rdata: {error}") from error

    default_ttl = min((record.ttl for record in records), default=DEFAULT_TTL)
    lines = [
        f"; Zone {zone}, written by mailstack: regenerate it rather than editing it.",
        f"; {len(records)} record(s).",
        f"$ORIGIN {zone}.",
        f"$TTL {default_ttl}",
    ]
    if soa is not None:
        lines.append(f"{zone}.\t{default_ttl}\tIN\tSOA\t{soa.rdata()}")
        lines.extend(f"{zone}.\t{default_ttl}\tIN\tNS\t{_absolute(ns)}" for ns in soa.nameservers)
    ordered = sorted(records, key=lambda r: (_name_key(r.name), r.rtype.upper(), r.rdata))
    lines.extend(record.zone_line() for record in ordered)
    return "\n".join(lines) + "\n"


def parse(text: str, zone: str) -> set[Canonical]:
    """The records of a zone file, except the SOA and NS records at the apex."""
    origin = dns.name.from_text(zone)
    loaded = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)
    found: set[Canonical] = set()
    for name, ttl, rdata in loaded.iterate_rdatas():
        if name == origin and rdata.rdtype in (dns.rdatatype.SOA, dns.rdatatype.NS):
            continue
        found.add((_name_text(name), dns.rdatatype.to_text(rdata.rdtype), ttl, rdata_text(rdata)))
    return found


def canonical(record: Record) -> Canonical:
    """The record as `parse` gives it.

    Raises a dnspython error for unreadable rdata, and ValueError for rdata holding an
    unquoted `;`, which would start a comment and silently cut the value short.
    """
    if _has_comment(record.rdata):
        raise ValueError(f"unquoted ';' starts a comment in rdata: {record.rdata!r}")
    origin = dns.name.from_text(record.zone)
    rdtype = dns.rdatatype.from_text(record.rtype)
    rdata = dns.rdata.from_text(
        dns.rdataclass.IN, rdtype, record.rdata, origin=origin, relativize=False
    )
    name = dns.name.from_text(record.name)
    return (_name_text(name), dns.rdatatype.to_text(rdtype), record.ttl, rdata_text(rdata))


def rdata_text(rdata: dns.rdata.Rdata) -> str:
    """Rdata in presentation format, with the domain names it holds in lower case.

    The rdata goes through its DNSSEC canonical wire form (RFC 4034, section 6.2), which
    lowers the case of embedded names (MX, SRV, CNAME targets); text such as TXT strings
    keeps its case.
    """
    wire = rdata.to_digestable(dns.name.root)
    return dns.rdata.from_wire(rdata.rdclass, rdata.rdtype, wire, 0, len(wire)).to_text()


def _has_comment(rdata: str) -> bool:
    tokens = dns.tokenizer.Tokenizer(rdata)
    while True:
        token = tokens.get(want_comment=True)
        if token.is_comment():
            return True
        if token.is_eol_or_eof():
            return False


def _name_text(name: dns.name.Name) -> str:
    return name.canonicalize().to_text(omit_final_dot=True)


def _name_key(name: str) -> tuple[str, ...]:
    """Sort key putting a zone's apex first and each subtree together."""
    return tuple(reversed(name.rstrip(".").lower().split(".")))


def _absolute(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _mailbox(address: str) -> str:
    """A mail address as an SOA RNAME: the local part's dots escaped, `@` becoming a dot."""
    if "@" not in address:
        return _absolute(address)
    local, _, domain = address.rpartition("@")
    return _absolute(local.replace(".", "\\.") + "." + domain)


def _describe(record: Record) -> str:
    return f"{record.key!r} ({record.name} {record.rtype} {record.rdata})"
