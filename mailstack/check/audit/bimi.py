"""BIMI (optional) and CAA (optional): the brand logo record, and who may issue certificates for
the domain and for its MX hosts."""

from __future__ import annotations

from mailstack.check.context import Context
from mailstack.check.facts import dmarc_policy, is_null_mx, mx_hosts
from mailstack.check.https import FetchError, fetch
from mailstack.check.report import Finding, failed, info, passed, warned

ENFORCING = ("quarantine", "reject")


def audit(ctx: Context) -> list[Finding]:
    category = "BIMI"
    name = f"default._bimi.{ctx.domain}"
    records = [t for t in ctx.texts(name, "TXT") if t.startswith("v=BIMI1")]
    if not records:
        return [info(category, "bimi.record", f"no BIMI record at {name} (optional)")]
    tags = {
        k.strip().lower(): v.strip()
        for k, _, v in (p.partition("=") for p in records[0].split(";"))
        if k.strip()
    }
    out: list[Finding] = []
    policy = dmarc_policy(ctx)
    dmarc = policy.tags if policy is not None else {}
    p, sp = dmarc.get("p"), dmarc.get("sp", dmarc.get("p"))
    if p in ENFORCING and sp in ENFORCING and dmarc.get("pct", "100") == "100":
        out.append(
            passed(category, "bimi.dmarc", f"DMARC enforces (p={p}, sp={sp})", mandatory=False)
        )
    else:
        out.append(
            failed(
                category,
                "bimi.dmarc",
                f"BIMI is published but DMARC does not enforce (p={p}, sp={sp}): mail clients"
                " show no logo",
                "set DMARC p and sp to quarantine or reject, without pct below 100",
                mandatory=False,
            )
        )
    logo = tags.get("l", "")
    if not logo:
        out.append(info(category, "bimi.logo", "the BIMI record has no logo (l=)"))
        return out
    try:
        got = fetch(ctx, logo)
    except FetchError as error:
        out.append(
            failed(
                category,
                "bimi.logo",
                f"the logo cannot be fetched: {error}",
                f"serve {logo} over HTTPS with a valid certificate",
                mandatory=False,
            )
        )
        return out
    if got.status == 200 and b"<svg" in got.body[:4096]:
        out.append(
            passed(category, "bimi.logo", f"logo fetched from {logo} (SVG)", mandatory=False)
        )
    else:
        out.append(
            failed(
                category,
                "bimi.logo",
                f"{logo} answered {got.status} without an SVG document",
                "serve the logo as SVG Tiny PS",
                mandatory=False,
            )
        )
    return out


def audit_caa(ctx: Context) -> list[Finding]:
    """CAA of the domain and of each MX host (whose certificates senders check): each name's
    applies from the closest name up the tree that has one (RFC 8659, section 3)."""
    names = [ctx.domain]
    if not is_null_mx(ctx):
        names += [host for _, host in mx_hosts(ctx) if host and host not in names]
    return [_caa(ctx, name) for name in names]


def _caa(ctx: Context, target: str) -> Finding:
    category = "CAA"
    check = "caa.record" if target == ctx.domain else "caa.mx"
    labels = target.split(".")
    for i in range(len(labels) - 1):
        name = ".".join(labels[i:])
        found = ctx.texts(name, "CAA")
        if found:
            issuers = sorted(
                {
                    t.split(None, 2)[2].strip('"')
                    for t in found
                    if len(t.split(None, 2)) == 3 and t.split()[1] in ("issue", "issuewild")
                }
            )
            where = "" if name == target else f" (from {name})"
            return passed(
                category,
                check,
                f"CAA of {target}{where}: certificates only from {', '.join(issuers) or 'nobody'}",
                mandatory=False,
            )
    return warned(
        category,
        check,
        f"no CAA record for {target}: any certificate authority may issue certificates for it",
        "add caa entries to the domain in the description (the CA of your ACME client)",
        mandatory=False,
    )
