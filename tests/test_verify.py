"""`mailstack.verify` against a real authoritative DNS server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from mailstack import txt
from mailstack.records import Record
from mailstack.verify import Finding, VerifyError, verify
from mailstack.zonefile import render
from tests.dnsserver import ZoneServer
from tests.test_zonefile import SOA, ZONE, example_records, record

LOCALHOST = "127.0.0.1"


def serve(records: list[Record]) -> ZoneServer:
    return ZoneServer(render(ZONE, records, soa=SOA), ZONE)


def check(served: list[Record], planned: list[Record]) -> list[Finding]:
    with serve(served) as server:
        return verify(planned, LOCALHOST, port=server.port, timeout=2.0)


def replaced(records: list[Record], name: str, rtype: str, **changes: object) -> list[Record]:
    return [
        dataclasses.replace(r, **changes) if (r.name, r.rtype) == (name, rtype) else r  # type: ignore[arg-type]
        for r in records
    ]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A UDP port on 127.0.0.1 where nothing ever answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        yield sock.getsockname()[1]


def test_the_served_plan_gives_no_findings() -> None:
    assert check(example_records(), example_records()) == []


def test_a_removed_record_is_reported_missing() -> None:
    records = example_records()
    served = [r for r in records if r.name != f"_dmarc.{ZONE}"]
    findings = check(served, records)
    assert findings == [
        Finding(
            f"_dmarc.{ZONE}",
            "TXT",
            "missing",
            ('"v=DMARC1; p=reject"',),
            (),
            'expected "v=DMARC1; p=reject"',
        )
    ]
    assert str(findings[0]) == 'missing   _dmarc.example.test TXT: expected "v=DMARC1; p=reject"'


def test_a_name_without_the_planned_type_is_reported_missing() -> None:
    records = example_records()
    served = [r for r in records if r.rtype != "AAAA"]
    findings = check(served, records)
    assert [(f.name, f.rtype, f.kind) for f in findings] == [(f"mx1.{ZONE}", "AAAA", "missing")]


def test_a_changed_txt_is_reported_different_with_both_values() -> None:
    records = example_records()
    served = replaced(records, ZONE, "TXT", rdata=txt.presentation("v=spf1 a mx -all"))
    (finding,) = check(served, records)
    assert (finding.name, finding.rtype, finding.kind) == (ZONE, "TXT", "different")
    assert finding.expected == ('"v=spf1 mx -all"',)
    assert finding.actual == ('"v=spf1 a mx -all"',)
    assert '"v=spf1 mx -all"' in str(finding)
    assert '"v=spf1 a mx -all"' in str(finding)


def test_a_txt_split_differently_is_different() -> None:
    records = example_records()
    value = "v=DMARC1; p=reject"
    served = replaced(records, f"_dmarc.{ZONE}", "TXT", rdata='"v=DMARC1;" " p=reject"')
    (finding,) = check(served, records)
    assert finding.kind == "different"
    assert txt.joined(finding.actual[0]) == value


def test_an_extra_record_at_a_planned_name_and_type_is_different() -> None:
    records = example_records()
    served = [*records, record("", "MX", "20 mx2.example.test.")]
    (finding,) = check(served, records)
    assert (finding.rtype, finding.kind) == ("MX", "different")
    assert finding.actual == ("10 mx1.example.test.", "20 mx2.example.test.")


def test_a_changed_ttl_is_reported() -> None:
    records = example_records()
    served = replaced(records, ZONE, "MX", ttl=600)
    (finding,) = check(served, records)
    assert (finding.name, finding.rtype, finding.kind) == (ZONE, "MX", "ttl")
    assert finding.expected == finding.actual == ("10 mx1.example.test.",)
    assert "600" in finding.detail
    assert "3600" in finding.detail


def test_quoting_and_name_case_do_not_matter() -> None:
    records = example_records()
    served = replaced(records, ZONE, "MX", rdata="10 MX1.EXAMPLE.TEST.")
    served = replaced(served, ZONE, "TXT", rdata="v=spf1\\032mx\\032-all")
    assert check(served, records) == []


def test_an_answer_too_long_for_udp_comes_by_tcp() -> None:
    big = [record("big", "TXT", txt.presentation(f"{i}" * 400), key=f"big{i}") for i in range(4)]
    records = [*example_records(), *big]
    with serve(records) as server:
        assert verify(records, LOCALHOST, port=server.port, timeout=2.0) == []
        assert server.tcp_queries >= 1
        served = [r for r in records if r.key != "big3"]
    with serve(served) as server:
        (finding,) = verify(records, LOCALHOST, port=server.port, timeout=2.0)
        assert (finding.name, finding.kind, len(finding.actual)) == (f"big.{ZONE}", "different", 3)


def test_a_silent_server_raises_within_the_timeout(silent_server: int) -> None:
    start = time.monotonic()
    with pytest.raises(VerifyError, match=r"127\.0\.0\.1.*did not answer"):
        verify(example_records(), LOCALHOST, port=silent_server, timeout=0.5)
    assert time.monotonic() - start < 2.0


def test_a_refused_query_raises() -> None:
    other = [Record("other.test", "other.test", "MX", "10 mx.other.test.", 300, "mx")]
    with (
        serve(example_records()) as server,
        pytest.raises(VerifyError, match=r"127\.0\.0\.1.*REFUSED"),
    ):
        verify(other, LOCALHOST, port=server.port, timeout=2.0)


def test_a_host_name_is_resolved_first(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    real = socket.getaddrinfo

    def fake(host: str, *args: object, **kwargs: object) -> object:
        asked.append(host)
        return real(LOCALHOST, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with serve(example_records()) as server:
        assert verify(example_records(), "ns1.example.test", port=server.port) == []
    assert asked == ["ns1.example.test"]


def test_the_test_server_answers_like_an_authoritative_server() -> None:
    def ask(port: int, name: str, rtype: str) -> dns.message.Message:
        query = dns.message.make_query(name, rtype, flags=0)
        return dns.query.udp(query, LOCALHOST, port=port, timeout=2.0)

    with serve(example_records()) as server:
        found = ask(server.port, f"mx1.{ZONE}", "A")
        assert found.rcode() == dns.rcode.NOERROR
        assert found.flags & dns.flags.AA
        assert [rr.to_text() for rr in found.answer[0]] == ["192.0.2.25"]
        nodata = ask(server.port, f"mx1.{ZONE}", "TXT")
        assert (nodata.rcode(), nodata.answer) == (dns.rcode.NOERROR, [])
        empty_non_terminal = ask(server.port, f"_tcp.mx1.{ZONE}", "TXT")
        assert (empty_non_terminal.rcode(), empty_non_terminal.answer) == (dns.rcode.NOERROR, [])
        absent = ask(server.port, f"nothing.{ZONE}", "A")
        assert absent.rcode() == dns.rcode.NXDOMAIN
        assert absent.flags & dns.flags.AA
        outside = ask(server.port, "example.org", "A")
        assert outside.rcode() == dns.rcode.REFUSED
        assert not outside.flags & dns.flags.AA


def test_the_test_server_stops_cleanly() -> None:
    before = set(threading.enumerate())
    server = serve(example_records())
    with server:
        port = server.port
    assert set(threading.enumerate()) == before
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, port))  # the port is free again
