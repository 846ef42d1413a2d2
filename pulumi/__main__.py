"""mailstack's DNS at OVH: every record the inventory describes, one `MailDns` per zone.

Stack config:
  mailstack:inventory   the inventory directory, relative to the repository root
                        (default: inventories/lab).
OVH's endpoint and credentials are the provider's own config or environment variables; see
Pulumi.example.yaml. Nothing is published from a description or plan with errors.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from mailstack.inventory import load
from mailstack.plan import build
from mailstack.problems import DescriptionError
from mailstack.pulumi_dns import MailDns, MailDnsArgs

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_INVENTORY = "inventories/lab"


def main() -> None:
    """Plan the inventory named by the stack config and declare its records."""
    config = pulumi.Config("mailstack")
    inventory = load(REPOSITORY / (config.get("inventory") or DEFAULT_INVENTORY))
    plan = build(inventory)
    if plan.problems.errors:
        raise DescriptionError(plan.problems)
    for warning in plan.problems.warnings:
        pulumi.log.warn(str(warning))
    counts: dict[str, int] = {}
    for zone in plan.zones:
        records = [r for r in plan.records if r.zone == zone]
        MailDns(
            f"mail-dns-{zone}",
            MailDnsArgs(zone=zone, records=records, dnssec=zone in plan.dnssec),
        )
        counts[zone] = len(records)
    pulumi.export("records", counts)


# Pulumi runs this file with run_name "__main__"; importing it (in tests) declares nothing.
if __name__ == "__main__":
    main()
