"""DNSSEC: the domain's records and its MX hosts' addresses are signed, validated link by link
from a trust anchor (the root's, or the ones given), not taken on a resolver's word.

When the resolver cannot even give the trust anchor's keys (a resolver that cannot see the
root, or a wrong --trust-anchor), nothing can be validated: that is the audit not running
(exit 2), not the domain's fault. Names the resolver answered SERVFAIL for (it validates, and
the data did not) are listed, the chain findings saying which link is broken.
"""

from __future__ import annotations

from mailstack.check.context import Context, CouldNotRun
from mailstack.check.facts import chain, chain_finding, is_null_mx, mx_hosts, reaches_anchor
from mailstack.check.report import Finding, info

CATEGORY = "DNSSEC"


class AnchorUnreachable(CouldNotRun):
    """The trust anchor's own keys could not be had: no chain can be validated."""


def audit(ctx: Context) -> list[Finding]:
    domain = chain(ctx, ctx.domain, "MX")
    if not reaches_anchor(domain):
        raise AnchorUnreachable(
            f"cannot validate anything: {domain.problem} (the resolver must answer for the"
            " trust anchor's zone: give one that sees the root, or --trust-anchor)"
        )
    out = [chain_finding(CATEGORY, "dnssec.domain", ctx.domain, "MX", domain)]
    if not is_null_mx(ctx):
        for _, host in mx_hosts(ctx):
            out.append(chain_finding(CATEGORY, "dnssec.mx", host, "A", chain(ctx, host, "A")))
    servfail = ctx.unvalidated()
    if servfail:
        out.append(
            info(
                CATEGORY,
                "dnssec.servfail",
                "the resolver validates and answered SERVFAIL for "
                + ", ".join(servfail)
                + ": validating senders cannot see these records (read again without"
                " validation for the other checks)",
            )
        )
    return out
