"""`mailstack dmarc report` as a user runs it: exit codes, JSON, the HTML file, reverse names
asked of a real DNS server on 127.0.0.1 (never of an outside address), the IMAP refusals
that need no server."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import dns.name
import dns.reversename
import pytest

from mailstack.cli import main
from mailstack.reports.command import size
from mailstack.reports.reverse import reverse_names
from tests.conftest import mailstack
from tests.dnsserver import ZoneServer
from tests.test_reports_summary import write_reports

SOA = (
    "@ 300 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300\n"
    "@ 300 IN NS ns.example.test.\n"
)


def reverse_zones() -> ZoneServer:
    """PTR records for two of the reports' sources: mx1 over IPv4 and IPv6."""
    v6 = dns.reversename.from_address("2001:db8::25")
    v6_zone = dns.name.from_text("8.b.d.0.1.0.0.2.ip6.arpa")
    return ZoneServer.multi(
        {
            "2.0.192.in-addr.arpa": SOA + "10 300 IN PTR mx1.example.test.\n",
            v6_zone.to_text(): SOA + f"{v6.relativize(v6_zone)} 300 IN PTR mx1.example.test.\n",
        }
    )


def test_reverse_names_come_from_the_resolver_and_failures_show_none() -> None:
    with reverse_zones() as server:
        names = reverse_names(
            ["192.0.2.10", "192.0.2.11", "2001:db8::25", "198.51.100.20"],
            nameserver="127.0.0.1",
            port=server.port,
        ).names
    assert names == {
        "192.0.2.10": "mx1.example.test",  # PTR
        "192.0.2.11": None,  # NXDOMAIN
        "198.51.100.20": None,  # REFUSED: not a zone of this server
        "2001:db8::25": "mx1.example.test",
    }


def test_a_resolver_that_never_answers_only_costs_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        names = reverse_names(
            ["192.0.2.10"], nameserver="127.0.0.1", port=silent.getsockname()[1], timeout=0.3
        )
    assert names.names == {"192.0.2.10": None}


def test_the_summary_shows_the_reverse_names(tmp_path: Path) -> None:
    paths = write_reports(tmp_path / "r")
    with reverse_zones() as server:
        result = mailstack(
            "dmarc", "report", "--json", "--resolver", "127.0.0.1",
            "--resolver-port", str(server.port), *map(str, paths),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    sources = json.loads(result.stdout)["dmarc"]["sources"]
    assert {s["ip"]: s["name"] for s in sources} == {
        "192.0.2.10": "mx1.example.test",
        "198.51.100.40": None,
        "2001:db8::25": "mx1.example.test",
        "198.51.100.20": None,
        "203.0.113.30": None,
        "203.0.113.50": None,
    }


def test_every_input_read_exits_0_and_writes_the_html_page(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = mailstack(
        "dmarc", "report", "--no-resolve", "--html", str(page), str(tmp_path / "r")
    )  # fmt: skip
    assert result.returncode == 2  # the folder does not exist yet: nothing read
    write_reports(tmp_path / "r")
    result = mailstack("dmarc", "report", "--no-resolve", "--html", str(page), str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"wrote {page}\n"
    assert "Fully compliant (DMARC pass): 93.2% (234 of 251)" in result.stdout
    assert "<title>DMARC report: example.test</title>" in page.read_text()


def test_nothing_readable_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<html/>")
    assert main(["dmarc", "report", "--no-resolve", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"refused: {bad}: the root element is <html>, not <feedback>: not a DMARC aggregate report",
        "mailstack dmarc report: error: no report could be read",
    ]
    assert main(["dmarc", "report"]) == 2
    assert "give a PATH or --imap URL" in capsys.readouterr().err


def test_an_imap_mailbox_that_cannot_be_reached_is_a_refused_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = write_reports(tmp_path / "r")
    with socket.socket() as closed:  # a port on 127.0.0.1 where nothing listens
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.delenv("MAILSTACK_IMAP_PASSWORD", raising=False)
    url = f"imaps://dmarc@127.0.0.1:{port}/INBOX"
    assert main(["dmarc", "report", "--no-resolve", "--imap", url, str(paths[0])]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"refused: imaps://dmarc@127.0.0.1:{port}/INBOX: no password:"
        " give it in the URL or in $MAILSTACK_IMAP_PASSWORD"
    ]
    monkeypatch.setenv("MAILSTACK_IMAP_PASSWORD", "secret")
    assert main(["dmarc", "report", "--no-resolve", "--imap", url]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"refused: imaps://dmarc@127.0.0.1:{port}/INBOX: imaps://")
    assert "Connection refused" in err[0]
    assert main(["dmarc", "report", "--no-resolve", "--imap", "ftp://x"]) == 2
    assert capsys.readouterr().err.startswith(
        "refused: --imap: ftp://...: the URL must start with imaps:// or imap://"
    )


@pytest.mark.parametrize(
    ("text", "octets"), [("1000", 1000), ("512K", 512 * 1024), ("50M", 50 << 20), ("1GiB", 1 << 30)]
)
def test_sizes(text: str, octets: int) -> None:
    assert size(text) == octets


def test_a_bad_size_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["dmarc", "report", "--max-size", "lots", "x.xml"])
    assert exc.value.code == 2
    assert "'lots' is not a size such as 50M, 512K or 1000" in capsys.readouterr().err
