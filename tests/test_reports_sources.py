"""Where reports are read from: files, archives, directories, messages with each content type
receivers use, and the IMAP URL."""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailstack.reports.files import from_paths
from mailstack.reports.imap import ImapUrl, parse_url, quote
from mailstack.reports.intake import Intake
from mailstack.reports.messages import from_message
from mailstack.reports.sources import Item, Limits, Payload, Refusal, Skipped
from tests.test_reports_samples import (
    DOMAIN,
    aggregate_xml,
    aligned_row,
    day,
    message,
    tls_json,
    zipped,
)

XML = aggregate_xml("r", "1", day(1), [aligned_row("192.0.2.1", 3)])


def labels(items: Iterable[Item]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        kind = "payload" if isinstance(item, Payload) else type(item).__name__.lower()
        out.append((kind, item.label))
    return out


@pytest.mark.parametrize(
    ("content_type", "name", "data"),
    [
        ("application/gzip", "r.xml.gz", gzip.compress(XML)),
        ("application/x-gzip", "r.xml.gz", gzip.compress(XML)),
        ("application/zip", "r.zip", zipped("r.xml", XML)),
        ("application/x-zip-compressed", "r.zip", zipped("r.xml", XML)),
        ("application/xml", "r.xml", XML),
        ("text/xml", "r.xml", XML),
        ("application/octet-stream", "r.xml.gz", gzip.compress(XML)),
        ("application/octet-stream", "r.zip", zipped("r.xml", XML)),
        ("application/tlsrpt+gzip", "t.json.gz", gzip.compress(tls_json())),
        ("application/tlsrpt+json", "t.json", tls_json()),
        ("application/octet-stream", "t.json", tls_json()),
    ],
)
def test_a_report_attached_with_each_content_type_is_read(
    content_type: str, name: str, data: bytes
) -> None:
    intake = Intake()
    intake.extend(from_message(message((name, content_type, data)), "m.eml", Limits()))
    assert intake.refused == []
    assert len(intake.dmarc) + len(intake.tls) == 1


def test_an_octet_stream_is_read_only_when_its_name_says_report() -> None:
    data = message(("logo.png", "application/octet-stream", b"\x89PNG"))
    assert labels(from_message(data, "m", Limits(), strict=False)) == [("skipped", "m")]


def test_every_attachment_of_a_message_is_labelled_with_its_name() -> None:
    data = message(
        ("a.xml.gz", "application/gzip", gzip.compress(XML)),
        ("b.zip", "application/zip", zipped("inner.xml", XML)),
        ("notes.txt", "text/plain", b"not a report"),
    )
    assert labels(from_message(data, "INBOX/UID 7", Limits())) == [
        ("payload", "INBOX/UID 7 attachment a.xml.gz"),
        ("payload", "INBOX/UID 7 attachment b.zip member inner.xml"),
    ]


def test_a_report_sent_as_the_message_body_itself_is_read() -> None:
    msg = EmailMessage()
    msg["Subject"] = f"Report domain: {DOMAIN}"
    msg.set_content(gzip.compress(XML), maintype="application", subtype="gzip", filename="r.gz")
    assert labels(from_message(msg.as_bytes(), "m", Limits())) == [("payload", "m attachment r.gz")]


def test_a_message_with_too_many_report_attachments_is_refused() -> None:
    data = message(*((f"r{i}.xml", "text/xml", XML) for i in range(3)))
    assert [str(i) for i in from_message(data, "m", Limits(max_members=2))] == [
        "m: has 3 report attachments, more than 2 (--max-members)"
    ]


def test_a_report_in_utf_16_is_read() -> None:
    xml = XML.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    intake = Intake()
    intake.add(Payload("utf16.xml", xml))
    assert (intake.refused, len(intake.dmarc)) == ([], 1)


def test_a_directory_is_read_file_by_file_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.xml").write_bytes(XML)
    (tmp_path / "sub" / "a.xml.gz").write_bytes(gzip.compress(XML))
    (tmp_path / "c.eml").write_bytes(message(("r.zip", "application/zip", zipped("r.xml", XML))))
    assert labels(from_paths([tmp_path], Limits())) == [
        ("payload", f"{tmp_path}/b.xml"),
        ("payload", f"{tmp_path}/c.eml attachment r.zip member r.xml"),
        ("payload", f"{tmp_path}/sub/a.xml.gz"),
    ]


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    assert list(from_paths([tmp_path / "nope.xml"], Limits())) == [
        Refusal(f"{tmp_path}/nope.xml", "cannot be read: No such file or directory")
    ]


def test_a_message_without_a_report_is_skipped_in_a_mailbox() -> None:
    data = message(("notes.txt", "text/plain", b"hello"))
    assert list(from_message(data, "INBOX/UID 3", Limits(), strict=False)) == [
        Skipped("INBOX/UID 3", "no DMARC or TLS report attached")
    ]


# -- IMAP URLs ----------------------------------------------------------------------------


def test_an_imaps_url() -> None:
    assert parse_url("imaps://dmarc%40example.test:s%3Acret@mx1.example.test/Reports/DMARC") == (
        ImapUrl(
            starttls=False,
            host="mx1.example.test",
            port=993,
            user="dmarc@example.test",
            password="s:cret",  # noqa: S106 (a test's)
            mailbox="Reports/DMARC",
        )
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://dmarc:s3cret@mx1.example.test/INBOX",
        "dmarc:s3cret@mx1.example.test",
        "imaps://dmarc:s3cret@mx1.example.test:99999/INBOX",
        "imaps://dmarc:s3cret@mx1.example.test:port/INBOX",
        "imaps://:s3cret@mx1.example.test/INBOX",
        "imaps://dmarc:s3cret@[::1/INBOX",
        "imaps://dmarc:s3cret@mx1.example.test/Ber%C3%A9nice",
    ],
)
def test_a_refused_url_is_never_repeated_with_its_password(url: str) -> None:
    with pytest.raises(ValueError, match=r"\S") as exc:
        parse_url(url)
    assert "s3cret" not in str(exc.value)


def test_a_parsed_url_shows_no_password() -> None:
    url = parse_url("imaps://dmarc:s3cret@mx1.example.test/INBOX")
    assert "s3cret" not in repr(url)
    assert "s3cret" not in url.label


def test_an_imap_url_means_starttls_and_the_password_may_be_left_out() -> None:
    url = parse_url("imap://dmarc@127.0.0.1:1143")
    assert (url.starttls, url.port, url.password, url.mailbox) == (True, 1143, None, "INBOX")
    assert url.label == "imap://dmarc@127.0.0.1:1143"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pop3s://u@host/", "the URL must start with imaps:// or imap://"),
        ("imaps://host/INBOX", "the URL needs a user and a host"),
        ("imaps://u@host/Rapports%20re%C3%A7us", "the mailbox name must be ASCII"),
    ],
)
def test_a_bad_imap_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_url(url)


def test_a_mailbox_name_is_quoted() -> None:
    assert quote('DMARC "rua" \\ reports') == '"DMARC \\"rua\\" \\\\ reports"'
