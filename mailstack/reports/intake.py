"""Payloads to reports: each one parsed as what its content is, refused with the reason, and
a report already read (the same organisation and report ID) counted once, with a warning.

The reports read are kept for the summary, so their total is bounded: `max_records` DMARC
records, TLS policies and failure details in all (--max-records). A report that would pass
it is refused by name, and reading it stops there; the smaller reports after it may still
fit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mailstack.reports import aggregate, tlsrpt
from mailstack.reports.model import (
    MAX_RECORDS,
    AggregateReport,
    RecordLimit,
    Report,
    ReportError,
    TlsReport,
)
from mailstack.reports.sources import Item, Payload, Refusal, Skipped

_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def _first_character(data: bytes) -> str:
    """The first character that is not white space, whatever the Unicode encoding."""
    head = data[:256]
    encoding = "utf-16" if head.startswith(_BOMS[1:]) else "utf-8-sig"
    return head.decode(encoding, "replace").lstrip()[:1]


def parse(payload: Payload, max_records: int | None = None) -> Report:
    """The report in a payload: XML is DMARC aggregate, JSON is TLS-RPT; RecordLimit when it
    holds more than `max_records` records."""
    first = _first_character(payload.data)
    if first == "<":
        return aggregate.parse(payload.data, payload.label, max_records)
    if first == "{":
        return tlsrpt.parse(payload.data, payload.label, max_records)
    head = payload.data[:16]
    raise ReportError(f"neither a DMARC report (XML) nor a TLS report (JSON): starts {head!r}")


@dataclass
class Intake:
    """What was read: the reports, each once, what was refused, and the warnings."""

    max_records: int = MAX_RECORDS
    records: int = 0
    dmarc: list[AggregateReport] = field(default_factory=list)
    tls: list[TlsReport] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _seen: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        if isinstance(item, Refusal):
            self.refused.append(item)
        elif isinstance(item, Skipped):
            self.warnings.append(str(item))
        else:
            try:
                self._report(parse(item, self.max_records - self.records))
            except RecordLimit:
                self.refused.append(
                    Refusal(
                        item.label,
                        f"its records would take the run past {self.max_records} records in all"
                        f" (--max-records); {self.records} read before it",
                    )
                )
            except ReportError as exc:
                self.refused.append(Refusal(item.label, str(exc)))

    def extend(self, items: Iterable[Item]) -> None:
        for item in items:
            self.add(item)

    def _report(self, report: Report) -> None:
        first = self._seen.get(report.key)
        if first is not None:
            self.warnings.append(
                f"{report.label}: report {report.report_id!r} from {report.org_name!r}"
                f" was already read from {first}: counted once"
            )
            return
        self._seen[report.key] = report.label
        self.records += report.entries
        if isinstance(report, AggregateReport):
            self.dmarc.append(report)
        else:
            self.tls.append(report)

    @property
    def exit_code(self) -> int:
        """0 every input read, 1 some refused (the rest summarised), 2 nothing read."""
        if not self.dmarc and not self.tls:
            return 2
        return 1 if self.refused else 0
