"""mailstack's DNS at OVH: every record the inventory describes, one `MailDns` per zone.

Stack config:
  mailstack:inventory   the inventory directory, relative to the repository root
                        (default: inventories/lab).
OVH's endpoint and credentials are the provider's own config or environment variables; see
Pulumi.example.yaml. Nothing is published from a description or plan with errors.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pulumi

from mailstack.inventory import load
from mailstack.plan import build
from mailstack.problems import DescriptionError
from mailstack.pulumi_dns import MailDns, MailDnsArgs
from mailstack.records import Record

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_INVENTORY = "inventories/lab"
# The collector's first-generation threshold while resources register (CPython's is 700).
# Pulumi's SDK keeps about 200 live objects per resource until the program ends, so at the
# default every few resources trigger a collection that walks them all again: for 500 domains
# that was half of the program's time. Nothing the program makes is garbage before it ends.
REGISTRATION_GC_THRESHOLD = 100_000


def main() -> None:
    """Plan the inventory named by the stack config and declare its records."""
    config = pulumi.Config("mailstack")
    inventory = load(REPOSITORY / (config.get("inventory") or DEFAULT_INVENTORY))
    plan = build(inventory)
    if plan.problems.errors:
        raise DescriptionError(plan.problems)
    for warning in plan.problems.warnings:
        pulumi.log.warn(str(warning))
    _spare_the_collector()
    by_zone: dict[str, list[Record]] = {zone: [] for zone in plan.zones}
    for record in plan.records:
        by_zone[record.zone].append(record)
    counts: dict[str, int] = {}
    for zone, records in by_zone.items():
        MailDns(
            f"mail-dns-{zone}",
            MailDnsArgs(zone=zone, records=records, dnssec=zone in plan.dnssec),
        )
        counts[zone] = len(records)
    pulumi.export("records", counts)


def _spare_the_collector() -> None:
    """Keep the cyclic collector off what lives until the end (see REGISTRATION_GC_THRESHOLD).

    Everything alive now (the SDK, the inventory, the plan) moves to the permanent generation,
    which no collection walks; later collections come less often. Cycles are still collected.
    """
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(REGISTRATION_GC_THRESHOLD, second, third)


# Pulumi runs this file with run_name "__main__"; importing it (in tests) declares nothing.
if __name__ == "__main__":
    main()
