"""`mailstack dmarc report` given inputs built to break it: each one refused by name, and
the good reports beside it still read and summarised. A message nested a thousand deep, a
count of 5,000 digits or of 10^309, an mbox saved as `.eml`, a FIFO, an `--html` path into
a missing folder, a message of the sort in an IMAP mailbox (a real server on 127.0.0.1)."""

from __future__ import annotations

import imaplib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailstack.reports.imap import read_mailbox
from mailstack.reports.intake import Intake
from mailstack.reports.sources import Limits, Payload
from tests.conftest import ROOT, mailstack
from tests.imapserver import ImapServer
from tests.test_reports_samples import aggregate_xml, aligned_row, day, message

GOOD = aggregate_xml("good", "1", day(1), [aligned_row("192.0.2.1", 7)])
EXE = str(Path(sys.executable).parent / "mailstack")


def nested(depth: int) -> bytes:
    """A message of `depth` multiparts, each inside the last: some 64 KB for 1,000."""
    body = b"Content-Type: text/plain\r\n\r\nhello\r\n"
    for level in range(depth):
        boundary = b"b%d" % level
        body = (
            b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--" + boundary
            + b"\r\n" + body + b"--" + boundary + b"--\r\n"
        )  # fmt: skip
    return b"From: a@example.test\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + body


def good_message(report_id: str) -> bytes:
    xml = aggregate_xml("good", report_id, day(1), [aligned_row("192.0.2.1", 7)])
    return message(("r.xml", "text/xml", xml))


def report(folder: Path, files: dict[str, bytes], *args: str) -> subprocess.CompletedProcess[str]:
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return mailstack("dmarc", "report", "--no-resolve", *args, str(folder))


def refused(result: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(line for line in result.stderr.splitlines() if line.startswith("refused: "))


def test_a_message_nested_a_thousand_deep_is_refused_and_the_rest_read(tmp_path: Path) -> None:
    deep = nested(1000)
    assert len(deep) < 70_000
    result = report(tmp_path / "in", {"deep.eml": deep, "good.xml": GOOD})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert refused(result) == [
        f"refused: {tmp_path}/in/deep.eml: its MIME parts nest more than 20 deep"
    ]
    assert "Messages: 7\n" in result.stdout


def test_a_message_nested_too_deep_in_a_mailbox_does_not_stop_the_others() -> None:
    messages = [good_message("1"), nested(1000), good_message("2")]
    with ImapServer(messages) as server:
        conn = imaplib.IMAP4("127.0.0.1", server.port, timeout=10)
        conn.login("dmarc", "secret")
        intake = Intake()
        intake.extend(read_mailbox(conn, "INBOX", Limits()))
        conn.logout()
    assert [str(r) for r in intake.refused] == [
        "INBOX/UID 2: its MIME parts nest more than 20 deep"
    ]
    assert sorted(r.report_id for r in intake.dmarc) == ["1", "2"]


@pytest.mark.parametrize(
    ("count", "problem"),
    [
        ("9" * 5000, "is longer than 1000 characters"),
        (
            "1" + "0" * 309,
            "'1000000000000000000000000000000000000000...' is more than 1000000000000",
        ),
        ("1000000000001", "'1000000000001' is more than 1000000000000"),
    ],
)
def test_a_huge_count_is_refused_by_name_and_the_page_is_written(
    tmp_path: Path, count: str, problem: str
) -> None:
    bad = aggregate_xml("bad", "2", day(1), [aligned_row("192.0.2.2", 1)])
    bad = bad.replace(b"<count>1</count>", f"<count>{count}</count>".encode())
    page = tmp_path / "page.html"
    result = report(tmp_path / "in", {"bad.xml": bad, "good.xml": GOOD}, "--html", str(page))
    assert result.returncode == 1, result.stderr
    assert refused(result) == [f"refused: {tmp_path}/in/bad.xml: record 1: count {problem}"]
    assert "Messages: 7\n" in result.stdout
    assert "<html" in page.read_text()


def test_a_huge_tls_session_count_is_refused() -> None:
    tls = {
        "organization-name": "big",
        "report-id": "1",
        "date-range": {
            "start-datetime": "2025-03-01T00:00:00Z",
            "end-datetime": "2025-03-01T23:59:59Z",
        },
        "policies": [
            {
                "policy": {"policy-type": "sts", "policy-domain": "example.test"},
                "summary": {
                    "total-successful-session-count": 10**309,
                    "total-failure-session-count": 0,
                },
            }
        ],
    }
    intake = Intake()
    intake.add(Payload("t.json", json.dumps(tls).encode()))
    [refusal] = [str(r) for r in intake.refused]
    assert refusal.startswith(
        "t.json: policy 1: summary.total-successful-session-count is more than 1000000000000: 1000"
    )


def test_every_message_of_an_mbox_saved_as_eml_is_read(tmp_path: Path) -> None:
    mbox = b"".join(
        b"From dmarc@reporter.example Sat Mar  1 00:00:00 2025\n"
        + good_message(str(n)).replace(b"\r\n", b"\n")
        + b"\n"
        for n in range(1, 4)
    )
    result = report(tmp_path / "in", {"saved.eml": mbox}, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["dmarc"]["reports"] == 3


def test_an_mbox_with_messages_without_reports_names_them_in_one_warning(tmp_path: Path) -> None:
    notes = message(("notes.txt", "text/plain", b"hello"))
    mbox = b"".join(
        b"From x@example.test Sat Mar  1 00:00:00 2025\n" + data.replace(b"\r\n", b"\n") + b"\n"
        for data in (good_message("1"), notes, notes)
    )
    result = report(tmp_path / "in", {"box.mbox": mbox})
    assert result.returncode == 0, result.stderr
    assert f"warning: {tmp_path}/in/box.mbox: 2 of 3 messages have no report attached" in (
        result.stderr
    )
    assert "Messages: 7\n" in result.stdout


def test_a_fifo_is_refused_by_name_without_waiting(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.xml").write_bytes(GOOD)
    os.mkfifo(folder / "pipe.xml")
    for target in (folder, folder / "pipe.xml"):
        start = time.monotonic()
        result = subprocess.run(
            [EXE, "dmarc", "report", "--no-resolve", str(folder / "good.xml"), str(target)],
            capture_output=True, text=True, check=False, cwd=ROOT, timeout=30,
        )  # fmt: skip
        assert time.monotonic() - start < 20
        assert result.returncode == 1, result.stderr
        assert refused(result) == [
            f"refused: {folder}/pipe.xml: is not a regular file or a directory"
        ]


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("missing/page.html", "the folder {tmp}/missing does not exist"),
        ("in", "is a directory"),
    ],
)
def test_an_html_path_that_cannot_be_written_is_refused_before_reading(
    tmp_path: Path, target: str, problem: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.xml")  # would be refused if read: it must not be
    path = tmp_path / target
    result = mailstack("dmarc", "report", "--no-resolve", "--html", str(path), str(folder))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"mailstack dmarc report: error: --html {path}: {problem.format(tmp=tmp_path)}"
    ]
