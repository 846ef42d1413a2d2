"""The opendmarc role's report maker (roles/opendmarc/files/.../dmarc_reports.py): OpenDMARC's
history read, RFC 7489 aggregate reports built and mailed, nothing lost when sending fails.
The history below is in the format OpenDMARC 1.4 writes (the lab exchanges real ones, and its
check 9 reads the reports back from the rua mailbox over IMAPS)."""

from __future__ import annotations

import email
import gzip
import xml.etree.ElementTree as ET
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, load_file

SOURCE = ROOT / "roles/opendmarc/files/usr/local/lib/mailstack/dmarc_reports.py"


reports = load_file(SOURCE, "dmarc_reports")


class Outbox(list[EmailMessage]):
    """A `send` of dmarc_reports that keeps each message, and its envelope recipients."""

    def __init__(self) -> None:
        super().__init__()
        self.recipients: list[list[str]] = []

    def __call__(self, message: EmailMessage, to: list[str]) -> None:
        self.append(message)
        self.recipients.append(to)


def job(
    n: int,
    ip: str,
    domain: str,
    *,
    spf: int = 0,
    align_dkim: int = 4,
    align_spf: int = 4,
    action: int = 2,
    rua: str = "mailto:dmarc@example.test",
    signature: str | None = "s1 0",
) -> str:
    lines = [
        f"job 4B1F02C1A{n}",
        "reporter mx1.example.test",
        f"received {1_700_000_000 + n}",
        f"ipaddr {ip}",
        f"from {domain}",
        f"mfrom {domain}",
        f"spf {spf}",
        f"pdomain {domain}",
        "policy 16",
        f"rua {rua}",
        "pct 100",
        "adkim 114",
        "aspf 115",
        "p 114",
        "sp 113",
        f"align_dkim {align_dkim}",
        f"align_spf {align_spf}",
    ]
    if signature is not None:
        lines.append(f"dkim {domain} {signature}")
    lines.append(f"action {action}")
    return "\n".join(lines) + "\n"


def test_history_read_as_opendmarc_wrote_it() -> None:
    text = job(1, "192.0.2.1", "Peer.Test") + job(2, "192.0.2.2", "peer.test", spf=7, action=0)
    first, second = reports.parse_history(text)
    assert (first.ipaddr, first.header_from, first.spf, first.disposition) == (
        "192.0.2.1",
        "peer.test",
        "pass",
        "none",
    )
    assert first.dkim == [("peer.test", "s1", "pass")]
    assert first.policy == {"adkim": "r", "aspf": "s", "p": "r", "sp": "q", "pct": "100"}
    assert (second.spf, second.disposition) == ("fail", "reject")


def test_a_block_without_policy_domain_or_address_is_not_a_verdict() -> None:
    assert reports.parse_history("job X\nreporter mx\nreceived 1\n") == []


def feedback(xml: bytes) -> ET.Element:
    return ET.fromstring(xml)  # noqa: S314


def test_report_groups_rows_and_follows_the_schema() -> None:
    verdicts = reports.parse_history(
        job(1, "192.0.2.1", "peer.test")
        + job(2, "192.0.2.1", "peer.test")
        + job(
            3,
            "198.51.100.7",
            "peer.test",
            spf=7,
            align_spf=5,
            align_dkim=5,
            action=0,
            signature="s1 7",
        )
    )
    reporter = reports.Reporter("example.test", "postmaster@example.test")
    root = feedback(reports.report_xml(reporter, "peer.test", verdicts, "id-1"))
    assert root.findtext("report_metadata/org_name") == "example.test"
    assert root.findtext("report_metadata/report_id") == "id-1"
    assert root.findtext("report_metadata/date_range/begin") == "1700000001"
    assert root.findtext("report_metadata/date_range/end") == "1700000003"
    published = {e.tag: e.text for e in root.find("policy_published") or []}
    assert published == {
        "domain": "peer.test",
        "adkim": "r",
        "aspf": "s",
        "p": "reject",
        "sp": "quarantine",
        "pct": "100",
    }
    rows = [
        (
            r.findtext("row/source_ip"),
            r.findtext("row/count"),
            r.findtext("row/policy_evaluated/disposition"),
            r.findtext("row/policy_evaluated/dkim"),
            r.findtext("row/policy_evaluated/spf"),
            r.findtext("auth_results/dkim/result"),
            r.findtext("auth_results/spf/result"),
        )
        for r in root.findall("record")
    ]
    assert rows == [
        ("192.0.2.1", "2", "none", "pass", "pass", "pass", "pass"),
        ("198.51.100.7", "1", "reject", "fail", "fail", "fail", "fail"),
    ]


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("mail.example.co.uk", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("a.b.peer.test", "peer.test"),
        ("foo.bar.ck", "foo.bar.ck"),
        ("www.ck", "www.ck"),
    ],
)
def test_organizational_domain_from_the_public_suffix_list(domain: str, expected: str) -> None:
    # Rules as the list writes them: a plain suffix, a wildcard and an exception.
    suffixes = frozenset({"uk", "co.uk", "*.ck", "!www.ck"})
    assert reports.organizational(domain, suffixes) == expected


def test_mailto_size_limit() -> None:
    assert reports.mailto("mailto:d@example.test!10m") == ("d@example.test", 10 << 20)
    assert reports.mailto("mailto:d@example.test") == ("d@example.test", None)
    assert reports.mailto("https://example.test/r") is None


def test_recipients_outside_the_organization_need_authorization() -> None:
    asked: list[tuple[str, str]] = []

    def authorized(policy: str, destination: str) -> bool:
        asked.append((policy, destination))
        return destination == "reports.example.test"

    uris = [
        "mailto:a@peer.test",
        "mailto:b@sub.peer.test",
        "mailto:c@reports.example.test",
        "mailto:d@elsewhere.test",
        "mailto:e@peer.test!1k",
        "https://peer.test/reports",
    ]
    to, skipped = reports.recipients("peer.test", uris, 2000, frozenset(), authorized)
    assert to == ["a@peer.test", "b@sub.peer.test", "c@reports.example.test"]
    assert asked == [("peer.test", "reports.example.test"), ("peer.test", "elsewhere.test")]
    assert skipped == [
        "mailto:d@elsewhere.test: peer.test._report._dmarc.elsewhere.test does not authorize it",
        "mailto:e@peer.test!1k: the report (2000 bytes) is over its size limit",
        "https://peer.test/reports: only mailto: is supported",
    ]


@pytest.mark.parametrize(
    "uri",
    [
        # sendmail -t reads this To: as victim@target.example and a comment.
        "mailto:victim@target.example(@peer.test",
        "mailto:victim@target.example,@peer.test",
        'mailto:"victim@target.example"@peer.test',
        "mailto:<victim@target.example>@peer.test",
        "mailto:victim@target.example @peer.test",
        "mailto:victim%target.example@peer.test",
        "mailto:@target.example:victim@peer.test",
        "mailto:-oQ/tmp@peer.test",
        "mailto:dmarc@peer.test\n",
        "mailto:dmarc@peer.test!10x",
    ],
)
def test_a_rua_that_is_not_one_plain_address_is_refused(uri: str) -> None:
    to, skipped = reports.recipients("peer.test", [uri], 100, frozenset(), lambda p, d: True)
    assert to == []
    assert skipped == [f"{uri!r}: not one plain address (local-part@domain)"]


def test_the_recipients_are_sendmail_arguments_not_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(reports.subprocess, "run", lambda command, **kwargs: ran.append(command))
    message = EmailMessage()
    message["To"] = "victim@target.example(@peer.test"
    reports.sendmail("postmaster@example.test")(message, ["dmarc@peer.test"])
    assert ran == [
        ["/usr/sbin/sendmail", "-oi", "-f", "postmaster@example.test", "dmarc@peer.test"]
    ]


def settings(tmp_path: Path) -> Any:
    return reports.Settings(
        reporter=reports.Reporter("example.test", "postmaster@example.test"),
        spool=tmp_path / "spool",
        history=tmp_path / "opendmarc.dat",
        suffixes=frozenset(),
    )


def attachment(message: EmailMessage) -> tuple[str, bytes]:
    parts = list(message.iter_attachments())
    assert len(parts) == 1
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return str(parts[0].get_filename()), gzip.decompress(payload)


def test_a_run_mails_one_report_per_domain_and_keeps_the_history(tmp_path: Path) -> None:
    s = settings(tmp_path)
    s.history.write_text(
        job(1, "192.0.2.1", "peer.test", rua="mailto:dmarc@peer.test")
        + job(2, "192.0.2.9", "other.test", rua="-")
    )
    sent = Outbox()
    said = reports.run(s, sent, lambda policy, destination: False)
    assert said == [
        "other.test: 1 messages, no rua: no report",
        "peer.test: 1 messages reported to dmarc@peer.test",
    ]
    (message,) = sent
    assert message["To"] == "dmarc@peer.test"
    assert message["Subject"].startswith("Report Domain: peer.test Submitter: example.test ")
    name, xml = attachment(message)
    assert name == "example.test!peer.test!1700000001!1700000001.xml.gz"
    assert feedback(xml).findtext("record/row/source_ip") == "192.0.2.1"
    assert not s.history.exists()
    assert [p.parent.name for p in s.spool.rglob("*.dat")] == ["sent"]
    # Nothing new: nothing sent again.
    assert reports.run(s, sent) == ["no verdicts since the last run"]
    assert len(sent) == 1


def test_nothing_is_lost_when_sending_fails(tmp_path: Path) -> None:
    s = settings(tmp_path)
    s.history.write_text(job(1, "192.0.2.1", "peer.test", rua="mailto:dmarc@peer.test"))

    def refuse(message: EmailMessage, to: list[str]) -> None:
        raise OSError("sendmail: queue file write error")

    with pytest.raises(OSError, match="queue file"):
        reports.run(s, refuse)
    assert [p.name for p in s.spool.glob("*.dat")] != []
    # Verdicts that came in meanwhile join the pending ones; the next run sends both.
    s.history.write_text(job(2, "192.0.2.2", "peer.test", rua="mailto:dmarc@peer.test"))
    sent = Outbox()
    reports.run(s, sent)
    _, xml = attachment(sent[0])
    assert sorted(str(r.findtext("row/source_ip")) for r in feedback(xml).findall("record")) == [
        "192.0.2.1",
        "192.0.2.2",
    ]


def test_a_bad_block_is_left_out_and_said_the_others_reported(tmp_path: Path) -> None:
    s = settings(tmp_path)
    bad = job(2, "192.0.2.2", "peer.test", rua="mailto:dmarc@peer.test")
    s.history.write_text(
        job(1, "192.0.2.1", "peer.test", rua="mailto:dmarc@peer.test")
        + bad.replace("received 1700000002", "received 17e8")
        + job(3, "192.0.2.3", "peer.test", rua="mailto:dmarc@peer.test")
    )
    sent = Outbox()
    said = reports.run(s, sent)
    (name,) = [p.name for p in s.spool.glob("sent/*.dat")]
    assert said == [
        f"{name}: job 4B1F02C1A2: received '17e8' is not a Unix time: left out",
        "peer.test: 2 messages reported to dmarc@peer.test",
    ]
    assert sent.recipients == [["dmarc@peer.test"]]
    _, xml = attachment(sent[0])
    assert sorted(str(r.findtext("row/source_ip")) for r in feedback(xml).findall("record")) == [
        "192.0.2.1",
        "192.0.2.3",
    ]
    # The bad block stops no later run.
    s.history.write_text(job(4, "192.0.2.4", "peer.test", rua="mailto:dmarc@peer.test"))
    assert reports.run(s, sent) == ["peer.test: 1 messages reported to dmarc@peer.test"]


def test_the_same_verdicts_give_the_same_report_id(tmp_path: Path) -> None:
    ids = []
    for attempt in ("a", "b"):
        s = settings(tmp_path / attempt)
        s.history.parent.mkdir(parents=True)
        s.history.write_text(job(1, "192.0.2.1", "peer.test", rua="mailto:dmarc@peer.test"))
        sent = Outbox()
        reports.run(s, sent)
        ids.append(sent[0]["Subject"].rpartition("Report-ID: ")[2])
    assert ids[0] == ids[1]


def test_dry_run_writes_messages(tmp_path: Path) -> None:
    s = settings(tmp_path)
    s.history.write_text(job(1, "192.0.2.1", "peer.test", rua="mailto:dmarc@peer.test"))
    reports.run(s, reports.save_to(tmp_path / "out"))
    (path,) = (tmp_path / "out").glob("*.eml")
    message: EmailMessage = email.message_from_bytes(path.read_bytes(), _class=EmailMessage)
    assert attachment(message)[0].endswith(".xml.gz")


def test_mailstack_reads_what_the_role_sends(tmp_path: Path) -> None:
    """The report maker's output, read by `mailstack dmarc report`'s parser: same figures."""
    from mailstack.reports.aggregate import parse  # noqa: PLC0415

    s = settings(tmp_path)
    s.history.write_text(
        job(1, "192.0.2.1", "peer.test", rua="mailto:dmarc@peer.test")
        + job(2, "192.0.2.1", "peer.test", rua="mailto:dmarc@peer.test")
        + job(3, "198.51.100.7", "peer.test", spf=7, align_spf=5, align_dkim=5, action=0)
    )
    sent = Outbox()
    reports.run(s, sent)
    name, xml = attachment(sent[0])
    report = parse(xml, name)
    assert report.org_name == "example.test"
    assert report.domain == "peer.test"
    counts = {(r.source_ip, r.disposition): r.count for r in report.records}
    assert counts == {("192.0.2.1", "none"): 2, ("198.51.100.7", "reject"): 1}
