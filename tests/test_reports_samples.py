"""Reports built the way the big receivers send them, shared by the tests of
`mailstack dmarc report`, and the tests that they parse back to what was built.

Google sends a zip file (`google.com!<domain>!<begin>!<end>.zip`) holding the XML, without a
namespace; Microsoft (Outlook.com) a gzip-compressed XML (`.xml.gz`) attached to a message as
application/gzip, without a default namespace but with the xsd and xsi prefixes declared;
Yahoo a `.xml.gz` too; reporters of RFC 9990 use the `dmarc-2.0` namespace and may report the
disposition `pass`. TLS reports (RFC 8460) are gzip-compressed JSON, application/tlsrpt+gzip.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import pytest

from mailstack.reports import aggregate, tlsrpt
from mailstack.reports.model import AuthResult, Record

DOMAIN = "example.test"
RFC7489_NS = "http://dmarc.org/dmarc-xml/0.1"
DMARC2_NS = "urn:ietf:params:xml:ns:dmarc-2.0"


def day(n: int) -> datetime:
    """Midnight UTC of 2025-03-0n."""
    return datetime(2025, 3, n, tzinfo=UTC)


@dataclass
class Row:
    """One record of a report to build: `dkim_auth` (domain, selector, result), `spf_auth`
    (domain, scope, result)."""

    ip: str
    count: int
    disposition: str = "none"
    dkim: str = "pass"
    spf: str = "pass"
    header_from: str = DOMAIN
    envelope_from: str | None = DOMAIN
    dkim_auth: list[tuple[str, str, str]] = field(default_factory=list)
    spf_auth: list[tuple[str, str, str]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def aligned_row(ip: str, count: int) -> Row:
    """Mail from our own server: signed, in SPF, both aligned."""
    return Row(ip, count, dkim_auth=[(DOMAIN, "s1", "pass")], spf_auth=[(DOMAIN, "mfrom", "pass")])


def _text(parent: Element, tag: str, value: object) -> Element:
    element = SubElement(parent, tag)
    element.text = str(value)
    return element


def _record(feedback: Element, row: Row) -> None:
    record = SubElement(feedback, "record")
    xml_row = SubElement(record, "row")
    _text(xml_row, "source_ip", row.ip)
    _text(xml_row, "count", row.count)
    evaluated = SubElement(xml_row, "policy_evaluated")
    _text(evaluated, "disposition", row.disposition)
    _text(evaluated, "dkim", row.dkim)
    _text(evaluated, "spf", row.spf)
    for reason in row.reasons:
        _text(SubElement(evaluated, "reason"), "type", reason)
    identifiers = SubElement(record, "identifiers")
    if row.envelope_from is not None:
        _text(identifiers, "envelope_from", row.envelope_from)
    _text(identifiers, "header_from", row.header_from)
    auth = SubElement(record, "auth_results")
    for domain, selector, result in row.dkim_auth:
        dkim = SubElement(auth, "dkim")
        _text(dkim, "domain", domain)
        _text(dkim, "selector", selector)
        _text(dkim, "result", result)
    for domain, scope, result in row.spf_auth:
        spf = SubElement(auth, "spf")
        _text(spf, "domain", domain)
        _text(spf, "scope", scope)
        _text(spf, "result", result)


def aggregate_xml(
    org: str,
    report_id: str,
    begin: datetime,
    rows: list[Row],
    *,
    end: datetime | None = None,
    domain: str = DOMAIN,
    p: str = "reject",
    namespace: str | None = None,
    attributes: dict[str, str] | None = None,
) -> bytes:
    """A valid RFC 7489 aggregate report (RFC 9990 with the `dmarc-2.0` namespace)."""
    end = end or begin + timedelta(days=1, seconds=-1)
    feedback = Element("feedback", attributes or {})
    if namespace:
        feedback.set("xmlns", namespace)
    _text(feedback, "version", "1.0")
    meta = SubElement(feedback, "report_metadata")
    _text(meta, "org_name", org)
    _text(meta, "email", f"noreply-dmarc@{org.lower().replace(' ', '-')}")
    _text(meta, "report_id", report_id)
    dates = SubElement(meta, "date_range")
    _text(dates, "begin", int(begin.timestamp()))
    _text(dates, "end", int(end.timestamp()))
    published = SubElement(feedback, "policy_published")
    _text(published, "domain", domain)
    for tag, value in (("adkim", "r"), ("aspf", "r"), ("p", p), ("sp", p), ("pct", "100")):
        _text(published, tag, value)
    for row in rows:
        _record(feedback, row)
    return b'<?xml version="1.0" encoding="UTF-8" ?>\n' + tostring(feedback)


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def report_name(org_domain: str, begin: datetime, suffix: str) -> str:
    end = begin + timedelta(days=1, seconds=-1)
    return f"{org_domain}!{DOMAIN}!{int(begin.timestamp())}!{int(end.timestamp())}{suffix}"


def message(*attachments: tuple[str, str, bytes], subject: str = "Report domain") -> bytes:
    """A report message as the receivers send it: a short text and the attachments
    (file name, content type, content)."""
    msg = EmailMessage()
    msg["From"] = "noreply-dmarc-support@reporter.example"
    msg["To"] = f"dmarc@{DOMAIN}"
    msg["Subject"] = f"{subject}: {DOMAIN}"
    msg.set_content("This is an aggregate report.\n")
    for name, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


# A week-end of mail for example.test, from four receivers.
GOOGLE_ROWS = [
    aligned_row("192.0.2.10", 120),
    # Forwarded through a mailing of a university: SPF fails, the signature survives.
    Row(
        "198.51.100.20",
        8,
        spf="fail",
        dkim_auth=[(DOMAIN, "s1", "pass")],
        spf_auth=[(DOMAIN, "mfrom", "fail")],
        reasons=["forwarded"],
    ),
    # Someone else's server, unsigned: spoofing, rejected.
    Row(
        "203.0.113.30",
        5,
        disposition="reject",
        dkim="fail",
        spf="fail",
        spf_auth=[(DOMAIN, "mfrom", "fail")],
    ),
]
MICROSOFT_ROWS = [
    aligned_row("192.0.2.10", 60),
    # A newsletter service with its own bounce domain, not signing: quarantined.
    Row(
        "198.51.100.40",
        12,
        disposition="quarantine",
        dkim="fail",
        spf="fail",
        envelope_from="bounces.esp.example",
        spf_auth=[("bounces.esp.example", "mfrom", "pass")],
    ),
    # A service that signs with its own domain but sends from an address in our SPF.
    Row(
        "203.0.113.50",
        4,
        dkim="fail",
        dkim_auth=[("esp.example", "k1", "pass")],
        spf_auth=[(DOMAIN, "mfrom", "pass")],
    ),
]
YAHOO_ROWS = [
    aligned_row("192.0.2.10", 30),
    # Our signature broken (a modified message or a wrong key), SPF saves it.
    Row(
        "192.0.2.10",
        2,
        dkim="fail",
        dkim_auth=[(DOMAIN, "s1", "fail")],
        spf_auth=[(DOMAIN, "mfrom", "pass")],
    ),
]
BIS_ROWS = [
    Row(
        "2001:db8::25",
        10,
        disposition="pass",
        dkim_auth=[(DOMAIN, "s1", "pass")],
        spf_auth=[(DOMAIN, "mfrom", "pass")],
    )
]
# What the four reports add up to, worked out by hand.
TOTAL = 120 + 8 + 5 + 60 + 12 + 4 + 30 + 2 + 10  # 251
DMARC_PASS = 120 + 8 + 60 + 4 + 30 + 2 + 10  # 234: 93.2 %
DKIM_ALIGNED = 120 + 8 + 60 + 30 + 10  # 228: 90.8 %
DKIM_PASSED = DKIM_ALIGNED + 4  # 232: 92.4 % (esp.example's signature)
SPF_ALIGNED = 120 + 60 + 4 + 30 + 2 + 10  # 226: 90.0 %
SPF_PASSED = SPF_ALIGNED + 12  # 238: 94.8 % (bounces.esp.example)


def google_zip() -> tuple[str, bytes]:
    xml = aggregate_xml("google.com", "11223344556677889900", day(1), GOOGLE_ROWS)
    return report_name("google.com", day(1), ".zip"), zipped(
        report_name("google.com", day(1), ".xml"), xml
    )


def microsoft_eml() -> bytes:
    xml = aggregate_xml(
        "Enterprise Outlook",
        "6b1e0a0f2c6f4e2a9d0c1b2a3f4e5d6c",
        day(2),
        MICROSOFT_ROWS,
        attributes={
            "xmlns:xsd": "http://www.w3.org/2001/XMLSchema",
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
        },
    )
    name = report_name("enterprise.protection.outlook.com", day(2), ".xml.gz")
    return message((name, "application/gzip", gzip.compress(xml)))


def yahoo_gz() -> tuple[str, bytes]:
    xml = aggregate_xml("Yahoo", "1741046400.617846", day(2), YAHOO_ROWS, namespace=RFC7489_NS)
    return report_name("yahoo.com", day(2), ".xml.gz"), gzip.compress(xml)


def bis_xml() -> bytes:
    return aggregate_xml(
        "Sample Reporter", "3v98abbp8ya9n3va8yr8oa3ya", day(3), BIS_ROWS, namespace=DMARC2_NS
    )


def tls_report(
    org: str = "Google Inc.",
    report_id: str = "2025-03-01T00:00:00Z_example.test",
    failures: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A TLS report in the form of RFC 8460's example: one STS policy, some failures."""
    details = (
        failures
        if failures is not None
        else [
            {
                "result-type": "certificate-expired",
                "sending-mta-ip": "203.0.113.7",
                "receiving-mx-hostname": f"mx1.{DOMAIN}",
                "receiving-ip": "192.0.2.25",
                "failed-session-count": 3,
            },
            {
                "result-type": "starttls-not-supported",
                "sending-mta-ip": "203.0.113.8",
                "receiving-mx-hostname": f"mx2.{DOMAIN}",
                "failed-session-count": 1,
                "failure-reason-code": "no STARTTLS in EHLO",
            },
        ]
    )
    return {
        "organization-name": org,
        "date-range": {
            "start-datetime": "2025-03-01T00:00:00Z",
            "end-datetime": "2025-03-01T23:59:59Z",
        },
        "contact-info": "smtp-tls-reporting@google.example",
        "report-id": report_id,
        "policies": [
            {
                "policy": {
                    "policy-type": "sts",
                    "policy-string": ["version: STSv1", "mode: enforce", f"mx: mx1.{DOMAIN}"],
                    "policy-domain": DOMAIN,
                    "mx-host": [f"mx1.{DOMAIN}"],
                },
                "summary": {
                    "total-successful-session-count": 5326,
                    "total-failure-session-count": 4,
                },
                "failure-details": details,
            }
        ],
    }


def tls_json(**kwargs: Any) -> bytes:
    return json.dumps(tls_report(**kwargs), indent=2).encode()


# -- the builders produce what the parsers read ------------------------------------------


def test_a_google_report_parses_back_to_its_rows() -> None:
    _, data = google_zip()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read(archive.namelist()[0])
    report = aggregate.parse(xml, "google")
    assert (report.org_name, report.report_id, report.domain, report.policy) == (
        "google.com",
        "11223344556677889900",
        DOMAIN,
        "reject",
    )
    assert report.begin == day(1)
    assert report.end == day(2) - timedelta(seconds=1)
    assert report.records[1] == Record(
        source_ip="198.51.100.20",
        count=8,
        disposition="none",
        dkim="pass",
        spf="fail",
        header_from=DOMAIN,
        envelope_from=DOMAIN,
        dkim_results=(AuthResult(DOMAIN, "pass", "s1"),),
        spf_results=(AuthResult(DOMAIN, "fail", "mfrom"),),
        reasons=("forwarded",),
    )
    assert report.messages == 133


@pytest.mark.parametrize(
    ("namespace", "disposition"), [(None, "none"), (RFC7489_NS, "none"), (DMARC2_NS, "pass")]
)
def test_each_namespace_is_read(namespace: str | None, disposition: str) -> None:
    xml = aggregate_xml(
        "r", "1", day(1), [Row("192.0.2.1", 1, disposition=disposition)], namespace=namespace
    )
    assert aggregate.parse(xml, "x").records[0].disposition == disposition


def test_the_rfc_9990_disposition_pass_is_refused_in_an_rfc_7489_report() -> None:
    xml = aggregate_xml("r", "1", day(1), [Row("192.0.2.1", 1, disposition="pass")])
    with pytest.raises(ValueError, match="disposition 'pass' is not none, quarantine or reject"):
        aggregate.parse(xml, "x")


def test_the_tls_report_parses_back() -> None:
    report = tlsrpt.parse(tls_json(), "tls")
    assert report.org_name == "Google Inc."
    assert report.begin == day(1)
    [policy] = report.policies
    assert (policy.policy_type, policy.policy_domain, policy.successful, policy.failed) == (
        "sts",
        DOMAIN,
        5326,
        4,
    )
    assert [(f.result_type, f.count) for f in policy.failures] == [
        ("certificate-expired", 3),
        ("starttls-not-supported", 1),
    ]
    assert policy.failures[1].reason == "no STARTTLS in EHLO"
