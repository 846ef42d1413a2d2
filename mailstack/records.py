"""The DNS records mailstack publishes, in one shape for zone files, OVH and checks."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass

# Record types mailstack builds. OVH's own SPF/DKIM/DMARC types are never used: they cannot
# be updated in place; those records are plain TXT.
TYPES = ("A", "AAAA", "MX", "TXT", "TLSA", "CAA", "SRV", "CNAME", "SMIMEA")


@dataclass(frozen=True, slots=True, order=True)
class Record:
    """One DNS record.

    `name` is the absolute owner name without the final dot; `rdata` is in RFC 1035
    presentation format, with absolute targets ending in a dot and TXT quoted and split at
    255 octets. `key` identifies the record within its zone across runs: reordering the
    description or changing a value keeps it, so the DNS provider updates in place.
    """

    zone: str
    name: str
    rtype: str
    rdata: str
    ttl: int
    key: str

    @property
    def subdomain(self) -> str:
        """The owner name relative to the zone ("" at the apex)."""
        if self.name == self.zone:
            return ""
        return self.name[: -len(self.zone) - 1]

    def zone_line(self) -> str:
        """The record as a line of an RFC 1035 zone file."""
        return f"{self.name}.\t{self.ttl}\tIN\t{self.rtype}\t{self.rdata}"


def in_zone(name: str, zone: str) -> bool:
    """Whether `name` is `zone` or below it."""
    return name == zone or name.endswith("." + zone)


def zone_of(name: str, zones: AbstractSet[str]) -> str | None:
    """The deepest of `zones` that holds `name`, or None: the longest suffix of whole labels
    of `name` that is a zone (one set look-up per label, whatever the number of zones)."""
    labels = name.split(".")
    for i in range(len(labels)):
        suffix = ".".join(labels[i:])
        if suffix in zones:
            return suffix
    return None
