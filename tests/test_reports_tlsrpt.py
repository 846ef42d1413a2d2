"""TLS reports (RFC 8460): read as files, compressed files and messages, and summarised per
policy with the failure types."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from mailstack.reports import render
from mailstack.reports.files import from_paths
from mailstack.reports.intake import Intake
from mailstack.reports.sources import Limits
from mailstack.reports.summary import summarise
from tests.conftest import mailstack
from tests.test_reports_samples import DOMAIN, day, message, tls_json


def two_reports(tmp_path: Path) -> list[Path]:
    google = tmp_path / "google.com!example.test!1740787200!1740873599.json.gz"
    google.write_bytes(gzip.compress(tls_json()))
    microsoft = tmp_path / "microsoft.eml"
    other = tls_json(
        org="Microsoft Corporation",
        report_id="133852032000000000+example.test",
        failures=[
            {
                "result-type": "certificate-expired",
                "sending-mta-ip": "203.0.113.9",
                "failed-session-count": 2,
            }
        ],
    )
    microsoft.write_bytes(
        message(("report.json.gz", "application/tlsrpt+gzip", gzip.compress(other)))
    )
    return [google, microsoft]


def test_tls_reports_are_summarised_per_policy(tmp_path: Path) -> None:
    intake = Intake()
    intake.extend(from_paths(two_reports(tmp_path), Limits()))
    assert intake.refused == []
    s = summarise(intake)
    assert (s.tls_reports, s.tls_reporters) == (2, ("Google Inc.", "Microsoft Corporation"))
    assert (s.begin, s.reports) == (day(1), 0)
    [policy] = s.tls
    assert (policy.domain, policy.policy_type, policy.reports) == (DOMAIN, "sts", 2)
    assert (policy.successful, policy.failed) == (2 * 5326, 2 * 4)
    assert dict(policy.failures) == {"certificate-expired": 5, "starttls-not-supported": 1}
    assert render.text(s).splitlines() == [
        "Period: 2025-03-01 00:00 UTC to 2025-03-01 23:59 UTC",
        "TLS-RPT: 2 reports from 2 reporters (Google Inc., Microsoft Corporation)",
        "  example.test (sts): 10652 successful, 8 failed sessions"
        " (certificate-expired 5, starttls-not-supported 1)",
    ]


def test_tls_reports_only_exit_0_and_print_json(tmp_path: Path) -> None:
    result = mailstack(
        "dmarc", "report", "--json", "--no-resolve", *map(str, two_reports(tmp_path))
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["tls"] == {
        "reports": 2,
        "reporters": ["Google Inc.", "Microsoft Corporation"],
        "policies": [
            {
                "domain": DOMAIN,
                "type": "sts",
                "reports": 2,
                "successful": 10652,
                "failed": 8,
                "failures": {"certificate-expired": 5, "starttls-not-supported": 1},
            }
        ],
    }
    assert data["dmarc"]["messages"] == 0
    assert data["dmarc"]["compliant_percent"] is None


def test_a_tls_report_read_twice_counts_once(tmp_path: Path) -> None:
    paths = two_reports(tmp_path)
    intake = Intake()
    intake.extend(from_paths([paths[0], paths[0]], Limits()))
    assert len(intake.tls) == 1
    assert len(intake.warnings) == 1
    assert "counted once" in intake.warnings[0]
