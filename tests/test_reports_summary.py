"""The figures of `mailstack dmarc report`, worked out by hand for reports from four
receivers, and the failures explained."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mailstack.reports import aggregate, render
from mailstack.reports.files import from_paths
from mailstack.reports.intake import Intake
from mailstack.reports.model import AuthResult, Record
from mailstack.reports.sources import Limits
from mailstack.reports.summary import (
    BAD_SIGNATURE,
    DKIM_TEMPERROR,
    FORWARDED,
    NOT_IN_SPF,
    SPF_ONLY,
    UNLISTED_SENDER,
    Summary,
    explain,
    summarise,
)
from tests.test_reports_samples import (
    DKIM_ALIGNED,
    DKIM_PASSED,
    DMARC_PASS,
    DOMAIN,
    SPF_ALIGNED,
    SPF_PASSED,
    TOTAL,
    Row,
    aggregate_xml,
    bis_xml,
    day,
    google_zip,
    microsoft_eml,
    yahoo_gz,
)


def write_reports(folder: Path) -> list[Path]:
    """The four receivers' reports as files, the way they arrive."""
    google_name, google = google_zip()
    yahoo_name, yahoo = yahoo_gz()
    files = {
        google_name: google,
        "outlook-report.eml": microsoft_eml(),
        yahoo_name: yahoo,
        "bis.xml": bis_xml(),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in files]


def read(paths: list[Path]) -> Intake:
    intake = Intake()
    intake.extend(from_paths(paths, Limits()))
    return intake


def week_end(tmp_path: Path) -> Summary:
    intake = read(write_reports(tmp_path / "reports"))
    assert intake.refused == []
    assert intake.warnings == []
    return summarise(intake)


def test_the_headline_figures(tmp_path: Path) -> None:
    s = week_end(tmp_path)
    assert (s.reports, s.reporters, s.domains) == (
        4,
        ("Enterprise Outlook", "Sample Reporter", "Yahoo", "google.com"),
        (DOMAIN,),
    )
    assert (s.begin, s.end) == (day(1), day(4) - timedelta(seconds=1))
    assert s.messages == TOTAL == 251
    assert s.dmarc_pass == DMARC_PASS == 234
    assert s.percent(s.dmarc_pass) == 93.2
    assert dict(s.dispositions) == {"none": 224, "quarantine": 12, "reject": 5, "pass": 10}
    assert (s.dkim_aligned, s.dkim_passed, s.spf_aligned, s.spf_passed) == (
        DKIM_ALIGNED,
        DKIM_PASSED,
        SPF_ALIGNED,
        SPF_PASSED,
    )
    assert [s.percent(n) for n in (228, 232, 226, 238)] == [90.8, 92.4, 90.0, 94.8]


def test_each_source_with_its_verdicts(tmp_path: Path) -> None:
    s = week_end(tmp_path)
    table = [
        (src.ip, src.messages, src.dmarc_pass, src.dkim_aligned, src.spf_aligned)
        for src in s.sources
    ]
    assert table == [
        ("192.0.2.10", 212, 212, 210, 212),
        ("198.51.100.40", 12, 0, 0, 0),
        ("2001:db8::25", 10, 10, 10, 10),
        ("198.51.100.20", 8, 8, 8, 0),
        ("203.0.113.30", 5, 0, 0, 0),
        ("203.0.113.50", 4, 4, 0, 4),
    ]
    assert dict(s.sources[1].dispositions) == {"quarantine": 12}


def test_each_failure_is_explained_in_one_sentence(tmp_path: Path) -> None:
    s = week_end(tmp_path)
    failures = [(f.key.source_ip, f.messages, f.key.explanation) for f in s.failures]
    assert failures == [
        ("198.51.100.40", 12, UNLISTED_SENDER),
        ("198.51.100.20", 8, FORWARDED),
        ("203.0.113.30", 5, NOT_IN_SPF),
        (
            "203.0.113.50",
            4,
            "signed only by esp.example, not example.test:"
            " if it sends for you, have it sign with your domain",
        ),
        ("192.0.2.10", 2, BAD_SIGNATURE),
    ]
    spoof = s.failures[2].key
    assert (spoof.dkim, spoof.spf, spoof.disposition) == ("none", "example.test fail", "reject")


def test_messages_count_on_the_day_their_report_begins(tmp_path: Path) -> None:
    s = week_end(tmp_path)
    assert [(d.day, d.messages, d.dmarc_pass, d.compliant_percent) for d in s.days] == [
        (date(2025, 3, 1), 133, 128, 96.2),
        (date(2025, 3, 2), 108, 96, 88.9),
        (date(2025, 3, 3), 10, 10, 100.0),
    ]


def test_the_text_summary(tmp_path: Path) -> None:
    out = render.text(week_end(tmp_path))
    lines = out.splitlines()
    assert lines[:8] == [
        "Period: 2025-03-01 00:00 UTC to 2025-03-03 23:59 UTC",
        "DMARC: 4 reports from 4 reporters (Enterprise Outlook, Sample Reporter, Yahoo,"
        " google.com) for example.test",
        "Messages: 251",
        "Fully compliant (DMARC pass): 93.2% (234 of 251)",
        "Dispositions: none 224, quarantine 12, reject 5, pass 10",
        "DKIM: aligned 90.8%, passed 92.4%",
        "SPF: aligned 90.0%, passed 94.8%",
        "",
    ]
    assert (
        "  198.51.100.20: 8 messages From example.test, DKIM example.test pass,"
        " SPF example.test fail, none"
    ) in lines
    assert f"    {FORWARDED}" in lines


def test_the_json_summary_has_the_same_content(tmp_path: Path) -> None:
    data = render.as_json(week_end(tmp_path))
    dmarc = data["dmarc"]
    assert data["period"] == {
        "begin": "2025-03-01T00:00:00+00:00",
        "end": "2025-03-03T23:59:59+00:00",
    }
    assert (dmarc["messages"], dmarc["dmarc_pass"], dmarc["compliant_percent"]) == (251, 234, 93.2)
    assert dmarc["dispositions"] == {"none": 224, "quarantine": 12, "reject": 5, "pass": 10}
    assert dmarc["dkim"] == {
        "aligned": 228,
        "aligned_percent": 90.8,
        "passed": 232,
        "passed_percent": 92.4,
    }
    assert dmarc["sources"][0]["ip"] == "192.0.2.10"
    assert dmarc["failures"][1]["explanation"] == FORWARDED
    assert [d["day"] for d in dmarc["days"]] == ["2025-03-01", "2025-03-02", "2025-03-03"]
    assert data["tls"] == {"reports": 0, "reporters": [], "policies": []}


def test_a_report_read_twice_counts_once_with_a_warning(tmp_path: Path) -> None:
    paths = write_reports(tmp_path / "reports")
    copy = tmp_path / "copy.zip"
    copy.write_bytes(paths[0].read_bytes())
    intake = read([*paths, copy])
    assert intake.warnings == [
        f"{copy} member {google_zip()[0].removesuffix('.zip')}.xml: report"
        f" '11223344556677889900' from 'google.com' was already read from"
        f" {paths[0]} member {google_zip()[0].removesuffix('.zip')}.xml: counted once"
    ]
    assert summarise(intake).messages == TOTAL
    assert intake.exit_code == 0


# -- the explanations, one by one ---------------------------------------------------------


def record(
    dkim: str,
    spf: str,
    dkim_results: tuple[tuple[str, str], ...] = (),
    spf_results: tuple[tuple[str, str], ...] = (),
) -> Record:
    return Record(
        "192.0.2.1",
        1,
        "none",
        dkim,
        spf,
        DOMAIN,
        dkim_results=tuple(AuthResult(d, r, "s") for d, r in dkim_results),
        spf_results=tuple(AuthResult(d, r, "mfrom") for d, r in spf_results),
    )


def test_aligned_on_both_needs_no_explanation() -> None:
    assert explain(record("pass", "pass", ((DOMAIN, "pass"),), ((DOMAIN, "pass"),))) is None


def test_spf_failing_with_an_aligned_signature_is_forwarding() -> None:
    assert explain(record("pass", "fail", ((DOMAIN, "pass"),), ((DOMAIN, "fail"),))) == FORWARDED
    # SPF softfail or no SPF result at all: forwarding too.
    assert (
        explain(record("pass", "fail", ((DOMAIN, "pass"),), ((DOMAIN, "softfail"),))) == FORWARDED
    )
    assert explain(record("pass", "fail", ((DOMAIN, "pass"),))) == FORWARDED


def test_spf_passing_for_a_service_domain_with_our_signature_is_a_sending_service() -> None:
    why = explain(record("pass", "fail", ((DOMAIN, "pass"),), (("bounce.esp.example", "pass"),)))
    assert why == (
        "a sending service with its own envelope domain: SPF passed for bounce.esp.example,"
        " not example.test; DMARC passes on DKIM"
    )


def test_spf_passing_unaligned_without_dkim_is_a_sender_to_add() -> None:
    assert explain(record("fail", "fail", (), (("esp.example", "pass"),))) == UNLISTED_SENDER
    assert explain(record("fail", "fail", ((DOMAIN, "none"),), (("esp.example", "pass"),))) == (
        UNLISTED_SENDER
    )


def test_spf_failing_without_dkim_is_a_missing_sender_or_spoofing() -> None:
    assert explain(record("fail", "fail", (), ((DOMAIN, "fail"),))) == NOT_IN_SPF
    assert explain(record("fail", "fail")) == NOT_IN_SPF


def test_our_signature_failing_is_a_bad_key_or_a_modified_message() -> None:
    assert explain(record("fail", "pass", ((DOMAIN, "fail"),), ((DOMAIN, "pass"),))) == (
        BAD_SIGNATURE
    )
    # A subdomain's signature is ours too (relaxed alignment); permerror: no usable key.
    assert explain(record("fail", "fail", (("mail.example.test", "permerror"),))) == BAD_SIGNATURE
    assert explain(record("fail", "fail", ((DOMAIN, "temperror"),))) == DKIM_TEMPERROR


def test_spf_aligned_without_a_signature_asks_for_dkim() -> None:
    assert explain(record("fail", "pass", (), ((DOMAIN, "pass"),))) == SPF_ONLY


# -- properties ---------------------------------------------------------------------------

results = st.sampled_from(["pass", "fail"])
rows = st.lists(
    st.builds(
        Row,
        ip=st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1"]),
        count=st.integers(min_value=0, max_value=10_000),
        disposition=st.sampled_from(["none", "quarantine", "reject"]),
        dkim=results,
        spf=results,
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_the_figures_add_up_for_any_records(built: list[Row]) -> None:
    intake = Intake()
    intake.dmarc.append(aggregate.parse(aggregate_xml("r", "1", day(1), built), "x"))
    s = summarise(intake)
    assert s.messages == sum(r.count for r in built)
    assert s.dmarc_pass == sum(r.count for r in built if "pass" in (r.dkim, r.spf))
    assert sum(s.dispositions.values()) == s.messages
    assert sum(src.messages for src in s.sources) == s.messages
    failing = sum(r.count for r in built if (r.dkim, r.spf) != ("pass", "pass"))
    assert sum(f.messages for f in s.failures) == failing
    for value in (s.dmarc_pass, s.dkim_aligned, s.spf_aligned):
        percent = s.percent(value)
        assert percent is None or 0 <= percent <= 100
