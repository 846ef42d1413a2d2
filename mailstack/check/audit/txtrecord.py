"""The one TXT record of a kind that a name must hold (DMARC, MTA-STS, TLS-RPT): none and more
than one are both failures, each explained."""

from __future__ import annotations

from dataclasses import dataclass

from mailstack.check.context import Context
from mailstack.check.report import Finding, failed


@dataclass(frozen=True, slots=True)
class Expected:
    """What the record is: its finding's category and check, the prefix that marks it, what
    its absence means for the domain and how to fix that."""

    category: str
    check: str
    prefix: str
    absent: str
    fix: str
    mandatory: bool = True


def one(ctx: Context, name: str, expected: Expected) -> str | Finding:
    """The record's text, or the failure that says why there is no single one."""
    found = [t for t in ctx.texts(name, "TXT") if t.startswith(expected.prefix)]
    if len(found) == 1:
        return found[0]
    if not found:
        message = f"no {expected.prefix} record at {name}: {expected.absent}"
        fix = expected.fix
    else:
        message = (
            f"{name} has {len(found)} {expected.prefix} records: receivers cannot choose, and"
            " ignore them all"
        )
        fix = "keep one"
    return failed(expected.category, expected.check, message, fix, mandatory=expected.mandatory)
