"""The reports as read: DMARC aggregate reports and TLS-RPT reports, checked and typed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

MAX_COUNT = 10**12  # messages or sessions in one record or failure detail
MAX_TEXT = 1000  # characters of one value kept from a report
MAX_RECORDS = 200_000  # DMARC records, TLS policies and failure details read in a run


class ReportError(ValueError):
    """A report refused: the message says what is wrong, and where in the report."""


class RecordLimit(ReportError):
    """A report with more records (DMARC records, or TLS policies and failure details) than
    the run may still read."""


@dataclass(frozen=True, slots=True)
class AuthResult:
    """One DKIM signature's or SPF check's raw result (`auth_results`), uninterpreted by DMARC.

    `detail` is the DKIM selector, or the SPF scope (`mfrom`, `helo`), when given.
    """

    domain: str
    result: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Record:
    """One `record` of an aggregate report: `count` messages from one source, one outcome.

    `dkim` and `spf` are the `policy_evaluated` results: pass only when aligned with the
    From domain. `dkim_results` and `spf_results` are the raw `auth_results`.
    """

    source_ip: str
    count: int
    disposition: str
    dkim: str
    spf: str
    header_from: str
    envelope_from: str = ""
    dkim_results: tuple[AuthResult, ...] = ()
    spf_results: tuple[AuthResult, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def dmarc_pass(self) -> bool:
        return self.dkim_aligned or self.spf_aligned

    @property
    def dkim_aligned(self) -> bool:
        return self.dkim == "pass"

    @property
    def spf_aligned(self) -> bool:
        return self.spf == "pass"

    @property
    def dkim_passed(self) -> bool:
        """A DKIM signature verified, for any domain."""
        return any(r.result == "pass" for r in self.dkim_results)

    @property
    def spf_passed(self) -> bool:
        """SPF passed, for any domain."""
        return any(r.result == "pass" for r in self.spf_results)

    @property
    def signatures(self) -> tuple[AuthResult, ...]:
        """The DKIM signatures present (a result `none` means there was none)."""
        return tuple(r for r in self.dkim_results if r.result != "none")


@dataclass(frozen=True, slots=True)
class AggregateReport:
    """A DMARC aggregate report; `label` says where it was read (a file, a mailbox UID...)."""

    label: str
    org_name: str
    email: str
    report_id: str
    begin: datetime
    end: datetime
    domain: str
    policy: str
    records: tuple[Record, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return ("dmarc", self.org_name, self.report_id)

    @property
    def messages(self) -> int:
        return sum(r.count for r in self.records)

    @property
    def entries(self) -> int:
        """What counts against --max-records: the records."""
        return len(self.records)


@dataclass(frozen=True, slots=True)
class TlsFailure:
    """One `failure-details` entry of a TLS-RPT policy."""

    result_type: str
    count: int
    sending_mta_ip: str = ""
    receiving_mx_hostname: str = ""
    receiving_ip: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    """One policy of a TLS-RPT report and its session counts."""

    policy_type: str
    policy_domain: str
    successful: int
    failed: int
    mx_hosts: tuple[str, ...] = ()
    failures: tuple[TlsFailure, ...] = ()


@dataclass(frozen=True, slots=True)
class TlsReport:
    """An SMTP TLS report (RFC 8460)."""

    label: str
    org_name: str
    report_id: str
    begin: datetime
    end: datetime
    policies: tuple[TlsPolicy, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return ("tlsrpt", self.org_name, self.report_id)

    @property
    def entries(self) -> int:
        """What counts against --max-records: the policies and their failure details."""
        return sum(1 + len(p.failures) for p in self.policies)


Report = AggregateReport | TlsReport
