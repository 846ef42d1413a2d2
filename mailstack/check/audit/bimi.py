"""BIMI (optional) and CAA (optional): the brand logo record, and who may issue certificates."""

from __future__ import annotations

from mailstack.check.audit.dmarc import record as dmarc_record
from mailstack.check.context import Context
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
    dmarc = dmarc_record(ctx) or {}
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
    """CAA applies from the closest name up the tree that has one (RFC 8659, section 3)."""
    category = "CAA"
    labels = ctx.domain.split(".")
    for i in range(len(labels) - 1):
        name = ".".join(labels[i:])
        found = ctx.texts(name, "CAA")
        if found:
            issuers = sorted(
                {
                    t.split(None, 2)[2].strip('"')
                    for t in found
                    if t.split()[1] in ("issue", "issuewild")
                }
            )
            where = "" if name == ctx.domain else f" (from {name})"
            return [
                passed(
                    category,
                    "caa.record",
                    f"CAA{where}: certificates only from {', '.join(issuers) or 'nobody'}",
                    mandatory=False,
                )
            ]
    return [
        warned(
            category,
            "caa.record",
            f"no CAA record: any certificate authority may issue certificates for {ctx.domain}",
            "add caa entries to the domain in the description (the CA of your ACME client)",
            mandatory=False,
        )
    ]
