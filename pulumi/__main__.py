"""mailstack's DNS at OVH: every record the inventory describes, one `MailDns` per zone.

Stack config:
  mailstack:inventory   the inventory directory, relative to the repository root; without
                        it, the environment variable MAILSTACK_INVENTORY. There is no
                        default: with neither, the program stops before declaring anything.
OVH's endpoint and credentials are the provider's own config or environment variables; see
Pulumi.example.yaml. Nothing is published from a description or plan with errors.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pulumi

from mailstack.inventory import load
from mailstack.plan import build
from mailstack.problems import DescriptionError
from mailstack.pulumi_dns import MailDns, MailDnsArgs, at_ovh
from mailstack.records import Record

REPOSITORY = Path(__file__).resolve().parent.parent
INVENTORY_ENV = "MAILSTACK_INVENTORY"


def inventory_path() -> Path:
    """The inventory the stack publishes: its config `mailstack:inventory`, else
    $MAILSTACK_INVENTORY, relative to the repository root. Never a default: a stack that
    names none stops here (pulumi exits non-zero, with this message and no traceback)."""
    named = pulumi.Config("mailstack").get("inventory") or os.environ.get(INVENTORY_ENV)
    if not named:
        raise pulumi.RunError(
            "no inventory to publish: set the stack's config `mailstack:inventory`"
            " (pulumi config set mailstack:inventory inventories/<env>) or the environment"
            f" variable {INVENTORY_ENV}; nothing defaults to the lab"
        )
    return REPOSITORY / named


def main() -> None:
    """Plan the inventory named by the stack config and declare its records."""
    _spare_the_collector()
    inventory = load(inventory_path())
    plan = build(inventory)
    if plan.problems.errors:
        raise DescriptionError(plan.problems)
    for warning in plan.problems.warnings:
        pulumi.log.warn(str(warning))
    # Once, now: what reading the description left in cycles (Ansible's inventory objects),
    # freed before the registrations need the memory.
    gc.collect()
    by_zone: dict[str, list[Record]] = {zone: [] for zone in plan.zones}
    for record in plan.records:
        by_zone[record.zone].append(record)
    counts: dict[str, int] = {}
    for zone, planned in by_zone.items():
        records, elsewhere = at_ovh(planned)
        if elsewhere:
            pulumi.log.warn(
                f"{zone}: {len(elsewhere)} {elsewhere[0].rtype} record(s) not published: OVH's"
                " API has no such record type; serve them from the zone file"
                " (mailstack dns zone, docs/smime.md#smimea-at-ovh)"
            )
        MailDns(
            f"mail-dns-{zone}",
            MailDnsArgs(zone=zone, records=records, dnssec=zone in plan.dnssec),
        )
        counts[zone] = len(records)
    pulumi.export("records", counts)


def _spare_the_collector() -> None:
    """Turn the cyclic garbage collector off for the rest of the program.

    Pulumi's SDK keeps about 200 live objects per resource until the program ends, and each
    collection walks them all again: with 12,000 resources the collector took more than half
    of the program's time (`make bench`). Reference counting still frees what is not in a
    cycle; the cycles the SDK makes are small (30 MB more at its peak for 12,000 resources,
    measured) and go when the program ends. The registrations run after main() returns, in
    the SDK's event loop, so the collector stays off until then. It is off from the start:
    reading the description through Ansible's inventory makes many objects, and for 500
    domains loading and planning took 1.4 s of CPU with the collector on, 1.0 s with it off;
    main() then collects once (0.1 s) what that left in cycles, about 30 MB (measured).
    """
    gc.disable()


# Pulumi runs this file with run_name "__main__"; importing it (in tests) declares nothing.
if __name__ == "__main__":
    main()
