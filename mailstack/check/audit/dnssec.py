"""DNSSEC: the domain's records and its MX hosts' addresses are signed, validated link by link
from a trust anchor (the root's, or the ones given), not taken on a resolver's word."""

from __future__ import annotations

from mailstack.check import dnssec
from mailstack.check.audit.mx import is_null_mx, mx_hosts
from mailstack.check.context import Context
from mailstack.check.report import Finding, failed, passed

CATEGORY = "DNSSEC"


def chain(ctx: Context, name: str, rtype: str) -> dnssec.Chain:
    """The validated chain for (name, type), computed once per run."""

    def make() -> dnssec.Chain:
        return dnssec.validate(
            name, rtype, lambda n, t: ctx.dns.message(n, t, cd=True), ctx.anchors
        )

    found: dnssec.Chain = ctx.once(f"chain {name} {rtype}", make)
    return found


def finding(category: str, check: str, name: str, rtype: str, result: dnssec.Chain) -> Finding:
    """A pass for a secure chain; else a failure that says where the chain breaks."""
    if result.status == "secure":
        return passed(category, check, f"{name} {rtype}: validated from the trust anchor")
    fixes = {
        "insecure": "sign the zone and publish its DS record at the parent (at OVH: DNSSEC"
        " on the zone)",
        "bogus": "re-sign the zone (expired or wrong signatures), or correct the DS record at"
        " the parent to match the zone's key",
        "indeterminate": "check that the zone's name servers answer, and give --trust-anchor"
        " for a zone outside the public tree",
    }
    return failed(
        category,
        check,
        f"{name} {rtype}: {result.status}: {result.problem or 'no reason given'}",
        fixes[result.status],
    )


def audit(ctx: Context) -> list[Finding]:
    out = [finding(CATEGORY, "dnssec.domain", ctx.domain, "MX", chain(ctx, ctx.domain, "MX"))]
    if is_null_mx(ctx):
        return out
    for _, host in mx_hosts(ctx):
        out.append(finding(CATEGORY, "dnssec.mx", host, "A", chain(ctx, host, "A")))
    return out
