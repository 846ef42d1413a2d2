"""SPF: one record, its DNS lookups counted through every include, its final qualifier."""

from __future__ import annotations

from mailstack import spf
from mailstack.check.context import Context
from mailstack.check.report import Finding, failed, passed, warned
from mailstack.dnsquery import DnsError
from mailstack.dnssource import Answer, SourceError

CATEGORY = "SPF"
FIX_LOOKUPS = (
    "remove includes of services that no longer send for you, replace a/mx by ip4/ip6, or"
    " flatten the record (flatten: true in the description)"
)


class ResolverSource:
    """The SPF walker's DNS source, answered by the check's resolver."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def query(self, name: str, rdtype: str) -> Answer:
        try:
            texts = self.ctx.texts(name, rdtype)
        except DnsError as error:
            raise SourceError(str(error)) from error
        return tuple(sorted(texts)) if texts else None


def audit(ctx: Context) -> list[Finding]:
    texts = ctx.texts(ctx.domain, "TXT")
    old = [warned(CATEGORY, "spf.senderid", s, spf.FIX_SENDER_ID) for s in spf.sender_id(texts)]
    records = spf.spf_records(texts)
    if not records:
        return [
            *old,
            failed(
                CATEGORY,
                "spf.present",
                f"{ctx.domain} has no SPF record: receivers cannot tell who may send for it",
                "publish the SPF record of the plan (`v=spf1 mx -all` at least; `v=spf1 -all`"
                " for a domain that sends no mail)",
            ),
        ]
    if len(records) > 1:
        return [
            *old,
            failed(
                CATEGORY,
                "spf.single",
                f"{ctx.domain} has {len(records)} SPF records: receivers answer permerror",
                "merge them into one record",
            ),
        ]
    record = records[0]
    out = [passed(CATEGORY, "spf.present", f"SPF: {record}"), *old]
    result = spf.check(ctx.domain, record, ResolverSource(ctx))
    out += [
        failed(CATEGORY, "spf.record", e, result.fixes.get(e) or _fix(e)) for e in result.errors
    ]
    out += [warned(CATEGORY, "spf.record", w, result.fixes.get(w, "")) for w in result.warnings]
    if result.lookups <= spf.LOOKUP_LIMIT:
        out.append(
            passed(
                CATEGORY,
                "spf.lookups",
                f"{result.lookups} DNS lookup(s) of the {spf.LOOKUP_LIMIT} allowed,"
                f" {len(result.voids)} void",
            )
        )
    out.append(_qualifier(record))
    return out


def _fix(error: str) -> str:
    if "lookups" in error:
        return FIX_LOOKUPS
    if "bytes" in error:
        return "shorten the record, or flatten it (flatten: true splits it)"
    return (
        "correct the include or mechanism named: each include must name a domain with one"
        " SPF record"
    )


def _qualifier(record: str) -> Finding:
    terms = spf.split_terms(record)
    for term in terms:
        qualifier, name, _ = spf.mechanism(term)
        if name == "all":
            if qualifier == "-":
                return passed(CATEGORY, "spf.all", "ends with -all: other senders fail")
            if qualifier == "~":
                return passed(
                    CATEGORY,
                    "spf.all",
                    "ends with ~all: other senders soft-fail, and DMARC decides",
                )
            return failed(
                CATEGORY,
                "spf.all",
                f"ends with {term}: anyone may send as the domain",
                "end the record with -all (or ~all when DMARC enforces)",
            )
    if any(spf.mechanism(t)[1] == "redirect" for t in terms):
        return passed(CATEGORY, "spf.all", "ends with a redirect: its record decides")
    return failed(
        CATEGORY,
        "spf.all",
        "has no all mechanism: other senders get neutral",
        "end the record with -all",
    )
