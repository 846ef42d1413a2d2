"""The records of one DNS zone at OVH, as a Pulumi component.

`MailDns` turns the `Record`s mailstack plans into `ovh.domain.ZoneRecord` resources, one
each, and optionally turns DNSSEC on for the zone. It checks the records first, because OVH
accepts some mistakes and then shows a diff on every run (TTL under 60 is silently raised to
60; its own SPF/DKIM/DMARC field types cannot be updated in place).

Each record's resource name comes from the zone and the record's `key` only (see
`resource_name`), never from its position in the list: reordering the description, or
changing a value, updates the record in place instead of recreating it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import pulumi
import pulumi_ovh as ovh

from mailstack.records import TYPES, Record, in_zone

COMPONENT_TYPE = "mailstack:dns:MailDns"
MIN_TTL = 60
# The record types of mailstack that OVH's API takes (its zone.NamedResolutionFieldTypeEnum
# has no SMIMEA): the others are served only where the zone file is (mailstack dns zone).
OVH_TYPES = tuple(t for t in TYPES if t != "SMIMEA")


def at_ovh(records: Sequence[Record]) -> tuple[list[Record], list[Record]]:
    """(the records OVH can publish, those of a type its API lacks)."""
    ok = [r for r in records if r.rtype in OVH_TYPES]
    return ok, [r for r in records if r.rtype not in OVH_TYPES]


@dataclass(frozen=True)
class MailDnsArgs:
    """What `MailDns` publishes: every record of `zone`, and whether DNSSEC is on."""

    zone: str
    records: Sequence[Record]
    dnssec: bool = False


def resource_name(zone: str, key: str) -> str:
    """The Pulumi resource name of the record `key` of `zone`: `<zone>/<key>`, escaped.

    The escaping is percent-encoding (so distinct keys always give distinct names), and a
    colon right after another colon is encoded too, because "::" separates the parts of a
    Pulumi URN. `TXT:_dmarc.example.org:dmarc` in `example.org` gives
    `example.org/TXT:_dmarc.example.org:dmarc`.
    """
    quoted = quote(f"{zone}/{key}", safe="/:@=+,")
    return re.sub(r"(?<=:):", "%3A", quoted)


def _describe(record: Record) -> str:
    return f"record {record.key!r} ({record.name} {record.rtype})"


def validate(args: MailDnsArgs) -> None:
    """Raise ValueError naming the first record OVH would store other than described."""
    seen: set[str] = set()
    for record in args.records:
        what = _describe(record)
        if record.zone != args.zone:
            raise ValueError(f"{what} belongs to zone {record.zone!r}, not {args.zone!r}")
        if not in_zone(record.name, args.zone):
            raise ValueError(f"{what}: {record.name!r} is not in zone {args.zone!r}")
        if record.key in seen:
            raise ValueError(f"{what}: another record of {args.zone!r} has the same key")
        seen.add(record.key)
        if record.ttl < MIN_TTL:
            raise ValueError(
                f"{what}: ttl {record.ttl} is under {MIN_TTL}; OVH would raise it silently"
                " and show a diff on every run"
            )
        if record.rtype not in OVH_TYPES:
            raise ValueError(
                f"{what}: field type {record.rtype!r} is not one of {', '.join(OVH_TYPES)}"
                " (OVH's own SPF/DKIM/DMARC types cannot be updated in place: use TXT)"
            )


class MailDns(pulumi.ComponentResource):
    """Every record of one zone at OVH, and its DNSSEC when asked.

    `records` maps each record's key to its `ZoneRecord`; `dnssec` is the zone's
    `ZoneDNSSec`, or None.
    """

    records: dict[str, ovh.domain.ZoneRecord]
    dnssec: ovh.domain.ZoneDNSSec | None

    def __init__(
        self, name: str, args: MailDnsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        validate(args)
        super().__init__(COMPONENT_TYPE, name, None, opts)
        # One options object for every child: each resource's constructor works on its own
        # copy (pulumi's Resource copies, pulumi-ovh merges), so none of them changes it.
        child = pulumi.ResourceOptions(parent=self)
        # A plain loop, not a comprehension: Pulumi records the caller's stack with every
        # resource it registers, and a comprehension is one more frame for each of them.
        self.records = {}
        for record in args.records:
            self.records[record.key] = ovh.domain.ZoneRecord(
                resource_name(args.zone, record.key),
                zone=args.zone,
                subdomain=record.subdomain,
                fieldtype=record.rtype,
                # Already in OVH's form: TXT quoted and split at 255 octets.
                target=record.rdata,
                ttl=record.ttl,
                opts=child,
            )
        self.dnssec = None
        if args.dnssec:
            self.dnssec = ovh.domain.ZoneDNSSec(
                resource_name(args.zone, "dnssec"), zone_name=args.zone, opts=child
            )
        self.register_outputs(
            {
                "zone": args.zone,
                "records": {key: record.id for key, record in self.records.items()},
                "dnssec": self.dnssec.status if self.dnssec is not None else None,
            }
        )
