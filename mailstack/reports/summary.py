"""The figures of a set of reports, and each failure explained in one sentence.

DMARC pass (fully compliant) is the receiver's verdict: DKIM or SPF aligned and passing, as
`policy_evaluated` says. "Aligned" percentages count those verdicts; "passed" percentages
count messages with a DKIM signature, or an SPF check, that passed for any domain
(`auth_results`). A failure is a record where DKIM or SPF is not aligned, even if DMARC
passed on the other one. Days are UTC days, and each report's messages count on the day its
range begins: reports cover a day, so a report is never split across two bars.

A signature is "for your domain" when its d= is the From domain, a subdomain of it, or a
parent of it: relaxed alignment, without the public suffix list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from mailstack.reports.intake import Intake
from mailstack.reports.model import AggregateReport, AuthResult, Record, TlsReport

DISPOSITIONS = ("none", "quarantine", "reject")

FORWARDED = "forwarded (SPF breaks on forwarding, DKIM survived)"
ESP_DKIM = (
    "a sending service with its own envelope domain: SPF passed for {spf}, not {domain};"
    " DMARC passes on DKIM"
)
BAD_SIGNATURE = "a bad DKIM key or a modified message (check the selector's published key)"
DKIM_TEMPERROR = "DKIM could not be checked (the receiver's DNS failed for the key): transient"
SPF_ONLY = (
    "SPF aligned but not signing: sign this source's mail with DKIM"
    " (SPF alone breaks on forwarding)"
)
UNLISTED_SENDER = "a sender not in your SPF or not signing: add it to SPF and sign with DKIM"
NOT_IN_SPF = "a source not in SPF, not signing: a missing SPF sender, or spoofing"
SIGNED_ELSEWHERE = (
    "signed only by {dkim}, not {domain}: if it sends for you, have it sign with your domain"
)
UNEXPLAINED = "neither DKIM nor SPF aligned with {domain}"


def aligned(domain: str, header_from: str) -> bool:
    """Relaxed alignment, approximated without the public suffix list."""
    return (
        domain == header_from
        or domain.endswith("." + header_from)
        or header_from.endswith("." + domain)
    )


def share(count: int, total: int) -> float | None:
    """`count` as a percentage of `total`, to one decimal; None when `total` is 0."""
    return round(100 * count / total, 1) if total else None


def _domains(results: Iterable[AuthResult]) -> str:
    return ", ".join(sorted({r.domain or "?" for r in results}))


def _explain_signed(record: Record) -> str:
    own = [s for s in record.signatures if aligned(s.domain, record.header_from)]
    results = {s.result for s in own}
    if results & {"fail", "permerror", "neutral", "policy"}:
        return BAD_SIGNATURE
    if "temperror" in results:
        return DKIM_TEMPERROR
    if not own:
        return SIGNED_ELSEWHERE.format(dkim=_domains(record.signatures), domain=record.header_from)
    return UNEXPLAINED.format(domain=record.header_from)


def explain(record: Record) -> str | None:
    """Why DKIM or SPF is not aligned in this record, in one sentence; None if both are."""
    if record.dkim_aligned and record.spf_aligned:
        return None
    if record.dkim_aligned:
        passed = [r for r in record.spf_results if r.result == "pass"]
        return (
            ESP_DKIM.format(spf=_domains(passed), domain=record.header_from)
            if passed
            else FORWARDED
        )
    if record.signatures:
        return _explain_signed(record)
    if record.spf_aligned:
        return SPF_ONLY
    if record.spf_passed:
        return UNLISTED_SENDER
    return NOT_IN_SPF


def _results(results: Iterable[AuthResult]) -> str:
    return ", ".join(f"{r.domain or '?'} {r.result}" for r in results) or "none"


@dataclass(slots=True)
class Source:
    """One sending address: its messages and the receivers' verdicts on them."""

    ip: str
    name: str | None = None
    messages: int = 0
    dmarc_pass: int = 0
    dkim_aligned: int = 0
    spf_aligned: int = 0
    dispositions: Counter[str] = field(default_factory=Counter)
    header_from: set[str] = field(default_factory=set)

    def add(self, record: Record) -> None:
        self.messages += record.count
        self.dmarc_pass += record.count if record.dmarc_pass else 0
        self.dkim_aligned += record.count if record.dkim_aligned else 0
        self.spf_aligned += record.count if record.spf_aligned else 0
        self.dispositions[record.disposition] += record.count
        self.header_from.add(record.header_from)


@dataclass(frozen=True, slots=True)
class FailureKey:
    source_ip: str
    header_from: str
    dkim: str
    spf: str
    disposition: str
    explanation: str


@dataclass(frozen=True, slots=True)
class Failure:
    """Messages from one source that were not fully aligned, and why."""

    key: FailureKey
    name: str | None
    messages: int


@dataclass
class Day:
    """The messages of the reports that begin on one UTC day."""

    day: date
    messages: int = 0
    dmarc_pass: int = 0

    @property
    def compliant_percent(self) -> float | None:
        return share(self.dmarc_pass, self.messages)


@dataclass
class TlsPolicySummary:
    """One policy (domain and type) over every TLS report."""

    domain: str
    policy_type: str
    reports: int = 0
    successful: int = 0
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)


@dataclass
class Summary:
    """Everything `mailstack dmarc report` shows."""

    begin: datetime | None = None
    end: datetime | None = None
    reports: int = 0
    reporters: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    messages: int = 0
    dmarc_pass: int = 0
    dispositions: Counter[str] = field(default_factory=Counter)
    dkim_aligned: int = 0
    dkim_passed: int = 0
    spf_aligned: int = 0
    spf_passed: int = 0
    sources: list[Source] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    days: list[Day] = field(default_factory=list)
    tls_reports: int = 0
    tls_reporters: tuple[str, ...] = ()
    tls: list[TlsPolicySummary] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def percent(self, count: int) -> float | None:
        """`count` as a percentage of the messages, to one decimal; None without messages."""
        return share(count, self.messages)


def _add_record(summary: Summary, record: Record) -> None:
    n = record.count
    summary.messages += n
    summary.dmarc_pass += n if record.dmarc_pass else 0
    summary.dispositions[record.disposition] += n
    summary.dkim_aligned += n if record.dkim_aligned else 0
    summary.dkim_passed += n if record.dkim_passed else 0
    summary.spf_aligned += n if record.spf_aligned else 0
    summary.spf_passed += n if record.spf_passed else 0


def _failures(records: Iterable[Record], names: Mapping[str, str | None]) -> list[Failure]:
    counts: Counter[FailureKey] = Counter()
    for r in records:
        why = explain(r)
        if why is not None:
            key = FailureKey(
                r.source_ip,
                r.header_from,
                _results(r.dkim_results),
                _results(r.spf_results),
                r.disposition,
                why,
            )
            counts[key] += r.count
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].source_ip, kv[0].explanation))
    return [Failure(key, names.get(key.source_ip), n) for key, n in ranked]


def _days(reports: Iterable[AggregateReport]) -> list[Day]:
    days: dict[date, Day] = {}
    for report in reports:
        day = days.setdefault(report.begin.date(), Day(report.begin.date()))
        day.messages += report.messages
        day.dmarc_pass += sum(r.count for r in report.records if r.dmarc_pass)
    return [days[d] for d in sorted(days)]


def _sources(records: Iterable[Record], names: Mapping[str, str | None]) -> list[Source]:
    sources: dict[str, Source] = {}
    for r in records:
        sources.setdefault(r.source_ip, Source(r.source_ip, names.get(r.source_ip))).add(r)
    return sorted(sources.values(), key=lambda s: (-s.messages, s.ip))


def _tls(reports: Iterable[TlsReport]) -> list[TlsPolicySummary]:
    policies: dict[tuple[str, str], TlsPolicySummary] = {}
    for report in reports:
        for p in report.policies:
            key = (p.policy_domain, p.policy_type)
            row = policies.setdefault(key, TlsPolicySummary(*key))
            row.reports += 1
            row.successful += p.successful
            row.failed += p.failed
            for f in p.failures:
                row.failures[f.result_type] += f.count
    return [policies[k] for k in sorted(policies)]


def source_ips(intake: Intake) -> list[str]:
    """Every source address of the aggregate reports, without repeats."""
    return sorted({r.source_ip for report in intake.dmarc for r in report.records})


def summarise(intake: Intake, names: Mapping[str, str | None] | None = None) -> Summary:
    """The figures of every report read; `names` are the source addresses' reverse names."""
    names = names or {}
    records = [r for report in intake.dmarc for r in report.records]
    every: list[AggregateReport | TlsReport] = [*intake.dmarc, *intake.tls]
    summary = Summary(
        begin=min((r.begin for r in every), default=None),
        end=max((r.end for r in every), default=None),
        reports=len(intake.dmarc),
        reporters=tuple(sorted({r.org_name for r in intake.dmarc})),
        domains=tuple(sorted({r.domain for r in intake.dmarc})),
        sources=_sources(records, names),
        failures=_failures(records, names),
        days=_days(intake.dmarc),
        tls_reports=len(intake.tls),
        tls_reporters=tuple(sorted({r.org_name for r in intake.tls})),
        tls=_tls(intake.tls),
        refused=[str(r) for r in intake.refused],
        warnings=list(intake.warnings),
    )
    for record in records:
        _add_record(summary, record)
    return summary
