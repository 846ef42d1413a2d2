"""What `mailstack check` found: findings grouped by category, a score, text and JSON forms.

Each finding is pass, warn, fail or info, says what was seen in one sentence and, when it is
not a pass, how to fix it. Mandatory findings make the score, in the manner of internet.nl:
each category scores the share of its mandatory findings that pass (a warning counts half),
and the total is the plain mean of the categories, each weighted equally. Optional findings
(BIMI, CAA, ...) are shown and never lower the score.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "warn", "fail", "info"]

# The categories in the order they are shown.
# The fix of a probe the server refused for now (a 4xx greeting: a rate limit, a full
# queue): not a fault of its TLS, so a warning that does not count.
RETRY = (
    "run the check again later: the server turned the connection away for now (a rate limit"
    " per client address counts the checker's probes too)"
)
CATEGORIES = (
    "MX",
    "Name servers",
    "SPF",
    "DKIM",
    "DMARC",
    "MTA-STS",
    "TLS-RPT",
    "DNSSEC",
    "DANE and TLS",
    "TLS quality",
    "Client TLS",
    "Client setup",
    "BIMI",
    "CAA",
    "Relay",
    "Drift",
    "S/MIME",
)
_WEIGHT: dict[Status, float] = {"pass": 1.0, "warn": 0.5, "fail": 0.0}


@dataclass(frozen=True, slots=True)
class Finding:
    """One result: `check` is a short stable id (`spf.lookups`), `message` what was seen."""

    category: str
    check: str
    status: Status
    message: str
    fix: str | None = None
    mandatory: bool = True


def passed(category: str, check: str, message: str, *, mandatory: bool = True) -> Finding:
    return Finding(category, check, "pass", message, None, mandatory)


def failed(category: str, check: str, message: str, fix: str, *, mandatory: bool = True) -> Finding:
    return Finding(category, check, "fail", message, fix, mandatory)


def warned(category: str, check: str, message: str, fix: str, *, mandatory: bool = True) -> Finding:
    return Finding(category, check, "warn", message, fix, mandatory)


def info(category: str, check: str, message: str) -> Finding:
    return Finding(category, check, "info", message, None, False)


@dataclass
class Report:
    """Every finding for one domain, and the errors that kept checks from running."""

    domain: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    def by_category(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        order = {c: i for i, c in enumerate(CATEGORIES)}
        for f in sorted(self.findings, key=lambda f: order.get(f.category, len(order))):
            out.setdefault(f.category, []).append(f)
        return out

    def category_scores(self) -> dict[str, int]:
        """Per category with mandatory findings: 0 to 100."""
        scores: dict[str, int] = {}
        for category, findings in self.by_category().items():
            weights = [_WEIGHT[f.status] for f in findings if f.mandatory and f.status in _WEIGHT]
            if weights:
                scores[category] = round(100 * sum(weights) / len(weights))
        return scores

    @property
    def score(self) -> int:
        scores = self.category_scores()
        return round(sum(scores.values()) / len(scores)) if scores else 0

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 when a check failed, 2 when a check could not run."""
        if self.errors:
            return 2
        return 1 if any(f.status == "fail" for f in self.findings) else 0

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "warn": 0, "fail": 0, "info": 0}
        for f in self.findings:
            out[f.status] += 1
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "score": self.score,
            "categories": self.category_scores(),
            "counts": self.counts(),
            "seconds": round(self.seconds, 3),
            "findings": [asdict(f) for f in self.by_category_flat()],
            "errors": list(self.errors),
            "exit_code": self.exit_code,
        }

    def by_category_flat(self) -> list[Finding]:
        return [f for group in self.by_category().values() for f in group]

    def text(self, paint: Any = None) -> str:
        """The report for a person: categories, each finding with its fix, the score."""

        def color(text: str, code: str) -> str:
            return str(paint(text, code)) if paint is not None else text

        marks = {
            "pass": ("pass", "32"),
            "warn": ("WARN", "33"),
            "fail": ("FAIL", "31"),
            "info": ("info", "36"),
        }
        scores = self.category_scores()
        lines = [f"mailstack check {self.domain}"]
        for category, findings in self.by_category().items():
            score = f" ({scores[category]}%)" if category in scores else ""
            lines.append("")
            lines.append(f"{category}{score}")
            for f in findings:
                mark, code = marks[f.status]
                optional = "" if f.mandatory or f.status == "info" else " [optional]"
                lines.append(f"  {color(mark, code)}  {f.message}{optional}")
                if f.fix:
                    lines.append(f"        fix: {f.fix}")
        for error in self.errors:
            lines.append(f"  {color('ERROR', '31')} {error}")
        c = self.counts()
        lines.append("")
        lines.append(
            f"score {self.score}/100: {c['pass']} passed, {c['warn']} warnings,"
            f" {c['fail']} failed, {c['info']} notes ({self.seconds:.2f} s)"
        )
        return "\n".join(lines)
