"""Drift (with -i): the records the resolver serves for the domain compared with the
inventory's plan (`mailstack dns plan`): missing, extra and different records."""

from __future__ import annotations

from mailstack.check.context import Context
from mailstack.check.report import Finding, failed, passed
from mailstack.records import in_zone
from mailstack.zonefile import canonical, rdata_text

CATEGORY = "Drift"
FIX = "publish the plan (cd pulumi && pulumi up), then `mailstack dns verify`"


def audit(ctx: Context) -> list[Finding]:
    if ctx.plan is None:
        return []
    planned: dict[tuple[str, str], set[str]] = {}
    for record in ctx.plan.records:
        if in_zone(record.name, ctx.domain):
            name, rtype, _, rdata = canonical(record)
            planned.setdefault((name, rtype), set()).add(rdata)
    if not planned:
        return [
            failed(
                CATEGORY,
                "drift.plan",
                f"the inventory plans no record for {ctx.domain}",
                "check the domain's name, or add it to mailstack_domains",
            )
        ]
    out: list[Finding] = []
    for (name, rtype), want in sorted(planned.items()):
        rrset = ctx.ask(name, rtype).rrset
        have = {rdata_text(r) for r in rrset} if rrset is not None else set()
        out += _compare(name, rtype, want, have)
    if not out:
        out.append(
            passed(
                CATEGORY,
                "drift.none",
                f"all {sum(map(len, planned.values()))} planned records are served as planned",
            )
        )
    return out


def _compare(name: str, rtype: str, want: set[str], have: set[str]) -> list[Finding]:
    missing, extra = sorted(want - have), sorted(have - want)
    if missing and extra:
        return [
            failed(
                CATEGORY,
                "drift.different",
                f"different: {name} {rtype} is served as"
                f" {', '.join(extra)}; the plan says {', '.join(missing)}",
                FIX,
            )
        ]
    return [
        *(failed(CATEGORY, "drift.missing", f"missing: {name} {rtype} {m}", FIX) for m in missing),
        *(
            failed(
                CATEGORY,
                "drift.extra",
                f"not in the plan: {name} {rtype} {e}",
                "remove it at the DNS provider, or describe it in the inventory",
            )
            for e in extra
        ),
    ]
