"""SMTP TLS reports (RFC 8460): JSON to the model, each field's type checked.

A report is refused with the path of the first field that is wrong:
`policy 2: summary.total-failure-session-count is missing`. Policies and failure details are
numbered from 1. A date-time without a time zone is taken as UTC.

JSON is parsed whole, and small objects take some 25 times their text in memory, so a TLS
report larger than `MAX_SIZE` is refused (reports are a few kilobytes); so are a count above
`MAX_COUNT` and a string longer than `MAX_TEXT` characters.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mailstack.reports.model import (
    MAX_COUNT,
    MAX_TEXT,
    RecordLimit,
    ReportError,
    TlsFailure,
    TlsPolicy,
    TlsReport,
)

POLICY_TYPES = ("sts", "tlsa", "no-policy-found")
MAX_SIZE = 2 * 1024 * 1024


class _Object:
    """A JSON object and its path in the report, for error messages."""

    def __init__(self, data: dict[str, Any], where: str = "") -> None:
        self.data = data
        self.where = where

    def fail(self, key: str, message: str) -> ReportError:
        return ReportError(f"{self.where}{key} {message}")

    def _get(self, key: str, kind: type, what: str, *, required: bool) -> Any:
        if key not in self.data:
            if required:
                raise self.fail(key, "is missing")
            return None
        value = self.data[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise self.fail(key, f"is not {what}: {json.dumps(value)[:60]}")
        return value

    def text(self, key: str, *, required: bool = True) -> str:
        value: str | None = self._get(key, str, "a string", required=required)
        text = (value or "").strip()
        if len(text) > MAX_TEXT:
            raise self.fail(key, f"is longer than {MAX_TEXT} characters")
        if required and not text:
            raise self.fail(key, "is empty")
        return text

    def count(self, key: str) -> int:
        value: int = self._get(key, int, "a whole number", required=True)
        if value < 0:
            raise self.fail(key, f"is negative: {str(value)[:60]}")
        if value > MAX_COUNT:
            raise self.fail(key, f"is more than {MAX_COUNT}: {str(value)[:60]}")
        return value

    def obj(self, key: str) -> _Object:
        value: dict[str, Any] = self._get(key, dict, "an object", required=True)
        return _Object(value, f"{self.where}{key}.")

    def objects(self, key: str, each: str, *, required: bool) -> list[_Object]:
        values: list[Any] = self._get(key, list, "a list", required=required) or []
        out = []
        for i, value in enumerate(values, 1):
            if not isinstance(value, dict):
                raise self.fail(key, f"item {i} is not an object")
            out.append(_Object(value, f"{each} {i}: "))
        return out

    def strings(self, key: str) -> tuple[str, ...]:
        values: list[Any] = self._get(key, list, "a list", required=False) or []
        if not all(isinstance(v, str) for v in values):
            raise self.fail(key, "is not a list of strings")
        return tuple(values)

    def time(self, key: str) -> datetime:
        text = self.text(key)
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(key, f"{text!r} is not an RFC 3339 date-time") from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def _failure(item: _Object) -> TlsFailure:
    return TlsFailure(
        result_type=item.text("result-type"),
        count=item.count("failed-session-count"),
        sending_mta_ip=item.text("sending-mta-ip", required=False),
        receiving_mx_hostname=item.text("receiving-mx-hostname", required=False),
        receiving_ip=item.text("receiving-ip", required=False),
        reason=item.text("failure-reason-code", required=False),
    )


def _policy(item: _Object) -> TlsPolicy:
    policy = item.obj("policy")
    kind = policy.text("policy-type")
    if kind not in POLICY_TYPES:
        raise policy.fail("policy-type", f"{kind!r} is not sts, tlsa or no-policy-found")
    summary = item.obj("summary")
    failures = [
        _Object(f.data, f"{item.where}{f.where}")
        for f in item.objects("failure-details", "failure", required=False)
    ]
    return TlsPolicy(
        policy_type=kind,
        policy_domain=policy.text("policy-domain").lower(),
        successful=summary.count("total-successful-session-count"),
        failed=summary.count("total-failure-session-count"),
        mx_hosts=policy.strings("mx-host"),
        failures=tuple(_failure(f) for f in failures),
    )


def parse(data: bytes, label: str, max_records: int | None = None) -> TlsReport:
    """The TLS report in `data`; ReportError says what is wrong with it, RecordLimit that it
    has more than `max_records` policies and failure details."""
    if len(data) > MAX_SIZE:
        raise ReportError(
            f"a TLS report larger than {MAX_SIZE // 1024 // 1024} MiB is refused"
            " (its JSON is read whole)"
        )
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ReportError(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ReportError("not a TLS report: the JSON is not an object")
    report = _Object(document)
    dates = report.obj("date-range")
    begin, end = dates.time("start-datetime"), dates.time("end-datetime")
    if begin > end:
        raise ReportError("date-range: start-datetime is after end-datetime")
    policies = report.objects("policies", "policy", required=True)
    if not policies:
        raise ReportError("policies is empty")
    parsed = TlsReport(
        label=label,
        org_name=report.text("organization-name"),
        report_id=report.text("report-id"),
        begin=begin,
        end=end,
        policies=tuple(_policy(p) for p in policies),
    )
    if max_records is not None and parsed.entries > max_records:
        raise RecordLimit(f"{parsed.entries} policies and failure details")
    return parsed
