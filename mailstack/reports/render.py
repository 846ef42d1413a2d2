"""The summary as text for a terminal, and as JSON with the same content.

Every string from a report is the sender's: in text, characters that are not printable
(terminal escape sequences among them) are shown as U+FFFD.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from mailstack.reports.summary import DISPOSITIONS, Failure, Source, Summary, TlsPolicySummary


def clean(text: str) -> str:
    """`text` with every character that is not printable replaced by U+FFFD."""
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def percent_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def dispositions(summary: Summary) -> dict[str, int]:
    """The disposition counts: none, quarantine and reject always, others when seen."""
    out = {d: summary.dispositions.get(d, 0) for d in DISPOSITIONS}
    out.update({d: n for d, n in sorted(summary.dispositions.items()) if d not in out})
    return out


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{clean(k)} {n}" for k, n in counts.items() if n) or "-"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _names(names: Iterable[str]) -> str:
    return ", ".join(clean(n) for n in names)


def _source_line(s: Source, width: int, name_width: int) -> str:
    name = clean(s.name) if s.name else "-"
    return (
        f"  {s.ip:<{width}}  {s.messages:>8}  {name:<{name_width}}  DMARC pass {s.dmarc_pass},"
        f" DKIM aligned {s.dkim_aligned}, SPF aligned {s.spf_aligned};"
        f" {_counts(dict(sorted(s.dispositions.items())))}"
    )


def _failure_lines(f: Failure) -> list[str]:
    k = f.key
    name = f" ({clean(f.name)})" if f.name else ""
    return [
        f"  {k.source_ip}{name}: {plural(f.messages, 'message')} From {clean(k.header_from)},"
        f" DKIM {clean(k.dkim)}, SPF {clean(k.spf)}, {clean(k.disposition)}",
        f"    {clean(k.explanation)}",
    ]


def _tls_line(p: TlsPolicySummary) -> str:
    failures = f" ({_counts(dict(p.failures.most_common()))})" if p.failures else ""
    return (
        f"  {clean(p.domain)} ({clean(p.policy_type)}): {p.successful} successful,"
        f" {p.failed} failed sessions{failures}"
    )


def _dmarc_text(s: Summary) -> list[str]:
    lines = [
        f"DMARC: {plural(s.reports, 'report')} from {plural(len(s.reporters), 'reporter')}"
        f" ({_names(s.reporters)}) for {_names(s.domains)}",
        f"Messages: {s.messages}",
        f"Fully compliant (DMARC pass): {percent_text(s.percent(s.dmarc_pass))}"
        f" ({s.dmarc_pass} of {s.messages})",
        f"Dispositions: {', '.join(f'{d} {n}' for d, n in dispositions(s).items())}",
        f"DKIM: aligned {percent_text(s.percent(s.dkim_aligned))},"
        f" passed {percent_text(s.percent(s.dkim_passed))}",
        f"SPF: aligned {percent_text(s.percent(s.spf_aligned))},"
        f" passed {percent_text(s.percent(s.spf_passed))}",
        "",
        "Sources (address, messages, reverse name, verdicts):",
    ]
    width = max((len(src.ip) for src in s.sources), default=0)
    name_width = max((len(clean(src.name or "-")) for src in s.sources), default=0)
    lines += [_source_line(src, width, name_width) for src in s.sources]
    lines += ["", "Failures:" if s.failures else "Failures: none"]
    for f in s.failures:
        lines += _failure_lines(f)
    return lines


def text(summary: Summary) -> str:
    """The summary for a terminal."""
    lines = [f"Period: {_time(summary.begin)} to {_time(summary.end)}"]
    if summary.reports:
        lines += _dmarc_text(summary)
    if summary.tls_reports:
        lines += [
            *([""] if summary.reports else []),
            f"TLS-RPT: {plural(summary.tls_reports, 'report')} from"
            f" {plural(len(summary.tls_reporters), 'reporter')}"
            f" ({_names(summary.tls_reporters)})",
            *(_tls_line(p) for p in summary.tls),
        ]
    return "\n".join(lines)


def _source_json(s: Source) -> dict[str, Any]:
    return {
        "ip": s.ip,
        "name": s.name,
        "messages": s.messages,
        "dmarc_pass": s.dmarc_pass,
        "dkim_aligned": s.dkim_aligned,
        "spf_aligned": s.spf_aligned,
        "dispositions": dict(sorted(s.dispositions.items())),
        "header_from": sorted(s.header_from),
    }


def _failure_json(f: Failure) -> dict[str, Any]:
    k = f.key
    return {
        "source_ip": k.source_ip,
        "name": f.name,
        "header_from": k.header_from,
        "messages": f.messages,
        "dkim": k.dkim,
        "spf": k.spf,
        "disposition": k.disposition,
        "explanation": k.explanation,
    }


def _auth_json(s: Summary, aligned: int, passed: int) -> dict[str, Any]:
    return {
        "aligned": aligned,
        "aligned_percent": s.percent(aligned),
        "passed": passed,
        "passed_percent": s.percent(passed),
    }


def as_json(s: Summary) -> dict[str, Any]:
    """The summary as JSON-ready data: the same content as the text."""
    return {
        "period": {
            "begin": s.begin.isoformat() if s.begin else None,
            "end": s.end.isoformat() if s.end else None,
        },
        "dmarc": {
            "reports": s.reports,
            "reporters": list(s.reporters),
            "domains": list(s.domains),
            "messages": s.messages,
            "dmarc_pass": s.dmarc_pass,
            "compliant_percent": s.percent(s.dmarc_pass),
            "dispositions": dispositions(s),
            "dkim": _auth_json(s, s.dkim_aligned, s.dkim_passed),
            "spf": _auth_json(s, s.spf_aligned, s.spf_passed),
            "sources": [_source_json(src) for src in s.sources],
            "failures": [_failure_json(f) for f in s.failures],
            "days": [
                {
                    "day": d.day.isoformat(),
                    "messages": d.messages,
                    "dmarc_pass": d.dmarc_pass,
                    "compliant_percent": d.compliant_percent,
                }
                for d in s.days
            ],
        },
        "tls": {
            "reports": s.tls_reports,
            "reporters": list(s.tls_reporters),
            "policies": [
                {
                    "domain": p.domain,
                    "type": p.policy_type,
                    "reports": p.reports,
                    "successful": p.successful,
                    "failed": p.failed,
                    "failures": dict(p.failures.most_common()),
                }
                for p in s.tls
            ],
        },
        "refused": s.refused,
        "warnings": s.warnings,
    }
