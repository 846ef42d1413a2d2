"""The audits of `mailstack check`, one module per subject, each `audit(ctx) -> findings`.

To add one: write its module, and add one `(name, module.audit)` line to AUDITS (and its
category to `report.CATEGORIES`, for its place in the report). Audits share facts through
`mailstack.check.facts`, never by importing each other.
"""

from __future__ import annotations

from collections.abc import Callable

from mailstack.check.audit import (
    bimi,
    dane,
    dkim,
    dmarc,
    dnssec,
    drift,
    mtasts,
    mx,
    nameservers,
    relay,
    spf,
    tlsquality,
)
from mailstack.check.context import Context
from mailstack.check.report import Finding

Audit = Callable[[Context], list[Finding]]

# (name, audit), in the order the report shows their categories.
AUDITS: tuple[tuple[str, Audit], ...] = (
    ("MX", mx.audit),
    ("Name servers", nameservers.audit),
    ("SPF", spf.audit),
    ("DKIM", dkim.audit),
    ("DMARC", dmarc.audit),
    ("MTA-STS", mtasts.audit),
    ("TLS-RPT", mtasts.audit_tlsrpt),
    ("DNSSEC", dnssec.audit),
    ("DANE and TLS", dane.audit),
    ("TLS quality", tlsquality.audit),
    ("Client TLS", dane.audit_clients),
    ("Client TLS quality", tlsquality.audit_clients),
    ("BIMI", bimi.audit),
    ("CAA", bimi.audit_caa),
    ("Relay", relay.audit),
    ("Drift", drift.audit),
)
