"""Hostile and broken input: each refused with a message naming the input and what is wrong,
while the valid reports read alongside still count."""

from __future__ import annotations

import gzip
import io
import json
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailstack.reports import render
from mailstack.reports.files import from_paths
from mailstack.reports.intake import Intake
from mailstack.reports.sources import MIB, Limits, Payload, unpack
from mailstack.reports.summary import summarise
from tests.conftest import mailstack
from tests.test_reports_samples import (
    Row,
    aggregate_xml,
    aligned_row,
    day,
    google_zip,
    message,
    tls_report,
    zipped,
)

VALID = aggregate_xml("r", "1", day(1), [aligned_row("192.0.2.1", 3)])

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<feedback><report_metadata><org_name>&lol9;</org_name></report_metadata></feedback>
"""


def refusals(data: bytes, limits: Limits | None = None, label: str = "input") -> list[str]:
    """What reading `data` refused (the report, if any, is dropped)."""
    intake = Intake()
    intake.extend(unpack(data, label, limits or Limits()))
    return [str(r) for r in intake.refused]


def with_record(record_xml: str, position: int = 3) -> bytes:
    """A valid report whose record number `position` is replaced by `record_xml`."""
    rows = [aligned_row(f"192.0.2.{i}", 1) for i in range(1, 5)]
    xml = aggregate_xml("r", "1", day(1), rows).decode()
    parts = xml.split("<record>")
    parts[position] = record_xml + "</record>".join(parts[position].split("</record>")[1:])
    return "<record>".join(parts).encode()


BAD_DISPOSITION = (
    "<row><source_ip>192.0.2.3</source_ip><count>1</count><policy_evaluated>"
    "<disposition>blah</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>"
    "<identifiers><header_from>example.test</header_from></identifiers></record>"
)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port on 127.0.0.1 that records whether anything connects to it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        sock.setblocking(False)
        yield sock


def connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


# -- XML ----------------------------------------------------------------------------------


def test_malformed_xml_is_refused() -> None:
    assert refusals(b"<feedback><report_metadata>") == [
        "input: not well-formed XML: no element found: line 1, column 27"
    ]


def test_an_entity_expansion_bomb_is_refused() -> None:
    assert refusals(BILLION_LAUGHS) == [
        "input: the entity declaration 'lol' is refused: a report never needs one,"
        " and entity expansion can blow up (billion laughs)"
    ]


def test_an_external_entity_is_refused_and_never_fetched(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    for target in ("file:///etc/passwd", f"http://127.0.0.1:{port}/secret"):
        xxe = (
            f'<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY xxe SYSTEM "{target}">]>'
            "<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>"
        ).encode()
        assert refusals(xxe) == [
            f"input: the external entity 'xxe' ({target}) is refused:"
            " a report never needs one, and it could read files or fetch URLs"
        ]
    assert not connected(listener)


def test_an_external_dtd_is_never_fetched(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    doctype = f'<!DOCTYPE feedback SYSTEM "http://127.0.0.1:{port}/report.dtd">'
    data = VALID.replace(b"<feedback>", doctype.encode() + b"<feedback>", 1)
    assert refusals(data) == []
    assert not connected(listener)


def test_a_document_that_is_not_a_report_is_refused() -> None:
    assert refusals(b"<html><body>hello</body></html>") == [
        "input: the root element is <html>, not <feedback>: not a DMARC aggregate report"
    ]
    assert refusals(b'<feedback xmlns="urn:example:other"/>') == [
        "input: the namespace 'urn:example:other' is not DMARC's"
        " (http://dmarc.org/dmarc-xml/0.1, urn:ietf:params:xml:ns:dmarc-2.0, or none)"
    ]


def test_a_bad_disposition_is_refused_naming_its_record() -> None:
    assert refusals(with_record(BAD_DISPOSITION)) == [
        "input: record 3: policy_evaluated.disposition 'blah' is not none, quarantine or reject"
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("<count>3</count>", "<count>-3</count>"), "record 1: count '-3' is not a whole number"),
        (
            ("<source_ip>192.0.2.1</source_ip>", "<source_ip>mx.example</source_ip>"),
            "record 1: source_ip 'mx.example' is not an IP address",
        ),
        (
            ("<header_from>example.test</header_from>", ""),
            "record 1: identifiers.header_from is missing",
        ),
        (("<dkim>pass</dkim>", "<dkim>maybe</dkim>"), "record 1: policy_evaluated.dkim 'maybe'"),
        (
            ("<report_id>1</report_id>", "<report_id> </report_id>"),
            "report_metadata.report_id is empty",
        ),
        (("<p>reject</p>", ""), "policy_published.p is missing"),
        (
            ("<org_name>r</org_name>", "<org_name>r</org_name><org_name>s</org_name>"),
            "report_metadata.org_name appears 2 times, once at most",
        ),
        (
            ("<begin>1740787200</begin>", "<begin>1740887200</begin>"),
            "report_metadata.date_range begin is after its end",
        ),
    ],
)
def test_a_schema_error_is_refused_with_its_path(change: tuple[str, str], message: str) -> None:
    old, new = change
    data = VALID.decode().replace(old, new, 1).encode()
    [refusal] = refusals(data)
    assert refusal.startswith(f"input: {message}")


def test_a_report_without_records_is_refused() -> None:
    assert refusals(aggregate_xml("r", "1", day(1), [])) == ["input: the report has no <record>"]


def test_bytes_that_are_neither_xml_nor_json_are_refused() -> None:
    assert refusals(b"\x89PNG\r\n\x1a\n\x00\x00") == [
        "input: neither a DMARC report (XML) nor a TLS report (JSON):"
        " starts b'\\x89PNG\\r\\n\\x1a\\n\\x00\\x00'"
    ]


# -- archives -----------------------------------------------------------------------------


def test_a_gzip_bomb_beyond_the_limit_is_refused() -> None:
    bomb = gzip.compress(b"<" + b" " * (50 * MIB), compresslevel=9)
    assert len(bomb) < 100_000
    assert refusals(bomb, label="bomb.xml.gz") == [
        "bomb.xml.gz: decompresses to more than 50 MiB (--max-size)"
    ]


def test_a_four_gib_gzip_stream_is_stopped_at_the_limit() -> None:
    # 64 members of 64 MiB each: a reader that did not stop would need 4 GiB.
    member = gzip.compress(bytes(64 * MIB), compresslevel=9)
    bomb = member * 64
    assert refusals(bomb, Limits(max_size=MIB), "huge.gz") == [
        "huge.gz: decompresses to more than 1 MiB (--max-size)"
    ]


def test_a_truncated_gzip_file_is_refused() -> None:
    data = gzip.compress(VALID)[:-12]
    [refusal] = refusals(data, label="cut.xml.gz")
    assert refusal.startswith("cut.xml.gz: not a valid gzip file: ")


def test_a_zip_with_too_many_members_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(11):
            archive.writestr(f"r{i}.xml", VALID)
    assert refusals(buffer.getvalue(), label="many.zip") == [
        "many.zip: has 11 members, more than 10 (--max-members)"
    ]


def test_a_zip_bomb_is_refused_member_by_member_and_in_total() -> None:
    big = zipped("big.xml", b"<" + b" " * (50 * MIB))
    assert refusals(big, label="big.zip") == [
        "big.zip member big.xml: decompresses to more than 50 MiB (--max-size)"
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.xml", VALID + b" " * (700 * 1024))
        archive.writestr("b.xml", VALID + b" " * (700 * 1024))
    intake = Intake()
    intake.extend(unpack(buffer.getvalue(), "two.zip", Limits(max_size=MIB)))
    assert [str(r) for r in intake.refused] == [
        "two.zip member b.xml: decompresses, with the members before it, to more than 1 MiB"
        " (--max-size)"
    ]
    assert len(intake.dmarc) == 1


def test_an_archive_inside_an_archive_is_refused() -> None:
    inner = zipped("r.xml", VALID)
    assert refusals(zipped("inner.zip", inner), label="outer.zip") == [
        "outer.zip member inner.zip: a zip inside a zip is refused"
    ]
    assert refusals(gzip.compress(gzip.compress(VALID)), label="twice.gz") == [
        "twice.gz: an archive inside a gzip file is refused"
    ]


def test_a_file_larger_than_the_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(VALID + b" " * MIB)
    items = list(from_paths([path], Limits(max_size=MIB)))
    assert [str(i) for i in items] == [f"{path}: is larger than 1 MiB (--max-size)"]


def test_a_message_without_a_report_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hello.eml"
    path.write_bytes(message(("notes.txt", "text/plain", b"hello")))
    assert [str(i) for i in from_paths([path], Limits())] == [
        f"{path}: no DMARC or TLS report attached"
    ]


# -- TLS-RPT ------------------------------------------------------------------------------


def test_a_tls_report_with_a_wrong_type_is_refused_with_its_path() -> None:
    report = tls_report()
    report["policies"][0]["summary"]["total-failure-session-count"] = "4"
    assert refusals(json.dumps(report).encode()) == [
        'input: policy 1: summary.total-failure-session-count is not a whole number: "4"'
    ]
    report = tls_report()
    del report["policies"][0]["failure-details"][1]["result-type"]
    assert refusals(json.dumps(report).encode()) == [
        "input: policy 1: failure 2: result-type is missing"
    ]
    report = tls_report()
    report["policies"][0]["policy"]["policy-type"] = "dane"
    assert refusals(json.dumps(report).encode()) == [
        "input: policy 1: policy.policy-type 'dane' is not sts, tlsa or no-policy-found"
    ]


def test_deeply_nested_json_is_refused() -> None:
    [refusal] = refusals(b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    assert refusal.startswith("input: not valid JSON: ")


# -- all together -------------------------------------------------------------------------


def test_the_valid_reports_count_alongside_the_refused_ones(tmp_path: Path) -> None:
    name, google = google_zip()
    files = {
        name: google,
        "broken.xml": b"<feedback><report_metadata>",
        "laughs.xml": BILLION_LAUGHS,
        "bomb.xml.gz": gzip.compress(b"<" + b" " * (50 * MIB)),
        "page.xml": b"<html/>",
        "bad-disposition.xml": with_record(BAD_DISPOSITION),
    }
    for file, data in files.items():
        (tmp_path / file).write_bytes(data)
    result = mailstack("dmarc", "report", "--no-resolve", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "Messages: 133\n" in result.stdout
    refused = sorted(line for line in result.stderr.splitlines() if line.startswith("refused: "))
    assert refused == [
        f"refused: {tmp_path}/bad-disposition.xml: record 3: policy_evaluated.disposition"
        " 'blah' is not none, quarantine or reject",
        f"refused: {tmp_path}/bomb.xml.gz: decompresses to more than 50 MiB (--max-size)",
        f"refused: {tmp_path}/broken.xml: not well-formed XML: no element found: line 1, column 27",
        f"refused: {tmp_path}/laughs.xml: the entity declaration 'lol' is refused:"
        " a report never needs one, and entity expansion can blow up (billion laughs)",
        f"refused: {tmp_path}/page.xml: the root element is <html>, not <feedback>:"
        " not a DMARC aggregate report",
    ]


def test_a_terminal_escape_in_a_report_is_not_printed() -> None:
    # XML 1.0 forbids C0 controls but allows C1 ones: U+009B is CSI on some terminals.
    xml = aggregate_xml("evil\u009b2J", "1", day(1), [Row("192.0.2.1", 1)])
    tls = json.dumps(tls_report(org="bad\x1b]0;owned\x07")).encode()
    intake = Intake()
    intake.extend([Payload("x", xml), Payload("y", tls)])
    assert intake.dmarc[0].org_name == "evil\u009b2J"
    assert intake.tls[0].org_name == "bad\x1b]0;owned\x07"
    out = render.text(summarise(intake))
    assert not {"\x1b", "\x07", "\u009b"} & set(out)
    assert "evil\ufffd2J" in out
    assert "bad\ufffd]0;owned\ufffd" in out


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_are_read_or_refused_never_crash(data: bytes) -> None:
    intake = Intake()
    intake.extend(unpack(data, "fuzz", Limits(max_size=MIB)))
    assert len(intake.refused) + len(intake.dmarc) + len(intake.tls) >= 1
