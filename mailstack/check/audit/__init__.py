"""The audits of `mailstack check`, one module per subject, each `audit(ctx) -> findings`."""

from __future__ import annotations

from collections.abc import Callable

from mailstack.check.audit import (
    bimi,
    clientsetup,
    dane,
    dkim,
    dmarc,
    dnssec,
    drift,
    mtasts,
    mx,
    relay,
    spf,
)
from mailstack.check.context import Context
from mailstack.check.report import Finding

Audit = Callable[[Context], list[Finding]]

# (name, audit), in the order the report shows their categories.
AUDITS: tuple[tuple[str, Audit], ...] = (
    ("MX", mx.audit),
    ("SPF", spf.audit),
    ("DKIM", dkim.audit),
    ("DMARC", dmarc.audit),
    ("MTA-STS", mtasts.audit),
    ("TLS-RPT", mtasts.audit_tlsrpt),
    ("DNSSEC", dnssec.audit),
    ("DANE and TLS", dane.audit),
    ("Client TLS", dane.audit_clients),
    ("Client setup", clientsetup.audit),
    ("BIMI", bimi.audit),
    ("CAA", bimi.audit_caa),
    ("Relay", relay.audit),
    ("Drift", drift.audit),
)
