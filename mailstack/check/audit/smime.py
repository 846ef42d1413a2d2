"""S/MIME of the addresses asked for (`--smime ADDRESS`): the SMIMEA record (RFC 8162) that
lets a sender find the address's certificate, validated by DNSSEC from the trust anchor, the
certificate it carries matching the one known (`--smime-cert FILE`, or the inventory's plan
with -i), for the address, and not about to expire."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509

from mailstack.check.facts import chain, chain_finding
from mailstack.check.context import Context
from mailstack.check.report import Finding, failed, info, passed, warned
from mailstack.smime.mailbox import addresses
from mailstack.smime.smimea import certificate_of, owner, rdata

CATEGORY = "S/MIME"
EXPIRY_WARNING = datetime.timedelta(days=30)


def audit(ctx: Context) -> list[Finding]:
    known = _given(ctx)
    out: list[Finding] = []
    for address in ctx.options.smime:
        out += _address(ctx, address, known)
    return out


def _given(ctx: Context) -> dict[str, list[str]]:
    """The SMIMEA data of the certificates given with --smime-cert, by address."""
    out: dict[str, list[str]] = {}
    for path in ctx.options.smime_certs:
        try:
            certificate = x509.load_pem_x509_certificate(Path(path).read_bytes())
        except (OSError, ValueError):
            continue
        for address in addresses(certificate):
            out.setdefault(address, []).append(rdata(certificate).lower())
    return out


def _expected(ctx: Context, address: str, known: dict[str, list[str]]) -> list[str]:
    name = owner(address)
    planned = [
        r.rdata.lower()
        for r in (ctx.plan.records if ctx.plan is not None else [])
        if r.name == name and r.rtype == "SMIMEA"
    ]
    return known.get(address, []) + planned


def _address(ctx: Context, address: str, known: dict[str, list[str]]) -> list[Finding]:
    name = owner(address)
    served = ctx.texts(name, "SMIMEA")
    if not served:
        return [
            failed(
                CATEGORY,
                "smime.smimea",
                f"{address}: no SMIMEA record at {name}: senders cannot find its certificate",
                "issue or import the certificate (mailstack smime issue|import), then publish"
                " the zone again",
            )
        ]
    out = [chain_finding(CATEGORY, "smime.dnssec", name, "SMIMEA", chain(ctx, name, "SMIMEA"))]
    normal = [" ".join(t.split()[:3]) + " " + "".join(t.split()[3:]).lower() for t in served]
    expected = _expected(ctx, address, known)
    if not expected:
        out.append(
            info(
                CATEGORY,
                "smime.match",
                f"{address}: no certificate to compare with (give --smime-cert FILE, or -i)",
            )
        )
    elif set(expected) & set(normal):
        out.append(passed(CATEGORY, "smime.match", f"{address}: SMIMEA is the known certificate"))
    else:
        out.append(
            failed(
                CATEGORY,
                "smime.match",
                f"{address}: the SMIMEA record is not the known certificate: senders would"
                " encrypt to another key",
                "publish the zone again (mailstack dns plan shows the record it should have)",
            )
        )
    for text in served:
        certificate = certificate_of(text)
        if certificate is None:
            out.append(
                warned(
                    CATEGORY,
                    "smime.certificate",
                    f"{address}: SMIMEA {' '.join(text.split()[:3])} holds no whole"
                    " certificate: a sender cannot encrypt with it",
                    "publish 3 0 0 records (mailstack's plan does)",
                )
            )
            continue
        out += _certificate(address, certificate)
    return out


def _certificate(address: str, certificate: x509.Certificate) -> list[Finding]:
    out = []
    if address not in addresses(certificate):
        out.append(
            failed(
                CATEGORY,
                "smime.address",
                f"{address}: the published certificate is for"
                f" {', '.join(addresses(certificate)) or 'no address'}",
                "publish the address's own certificate",
            )
        )
    until = certificate.not_valid_after_utc
    left = until - datetime.datetime.now(datetime.UTC)
    day = until.date().isoformat()
    if left <= datetime.timedelta(0):
        out.append(
            failed(
                CATEGORY,
                "smime.expiry",
                f"{address}: the certificate expired on {day}",
                "mailstack smime renew, then publish the zone",
            )
        )
    elif left < EXPIRY_WARNING:
        out.append(
            warned(
                CATEGORY,
                "smime.expiry",
                f"{address}: the certificate expires on {day}",
                "mailstack smime renew, then publish the zone",
            )
        )
    else:
        out.append(
            passed(CATEGORY, "smime.expiry", f"{address}: the certificate is valid until {day}")
        )
    return out
