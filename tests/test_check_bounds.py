"""`mailstack check` ends in bounded time with a clear error, whatever it is given or talks to:
a bad argument is one line naming it (exit 2); a resolver that does not answer is said at
once; an SMTP server that sends one octet a second cannot hold a probe past its timeout, nor
the audit past the bound the docs state (3 x --timeout, and a second)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from mailstack.check.context import DEADLINE_FACTOR
from mailstack.check.runner import GRACE
from mailstack.check.tlsprobe import ProbeError, handshake
from tests.conftest import mailstack
from tests.dnsserver import ZoneServer
from tests.test_check_servers import loopback, needs_root

HOST = "127.0.0.1"
STARTUP = 3.0  # seconds for the interpreter to start and import, on a loaded machine


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["a" * 300 + ".test"], "argument DOMAIN"),
        (["a" * 64 + ".test"], "argument DOMAIN"),
        (["a..example"], "argument DOMAIN"),
        ([""], "argument DOMAIN '' is empty"),
        (["."], "is the root"),
        (["bad_name.example"], "argument DOMAIN"),
        (["example.test", "--selector", "../.."], "argument --selector '../..'"),
        (["example.test", "--resolver", "not-an-ip"], "argument --resolver 'not-an-ip'"),
        (["example.test", "--resolver-port", "70000"], "argument --resolver-port 70000"),
        (["example.test", "--timeout", "nan"], "argument --timeout: nan is not"),
        (["example.test", "--timeout", "inf"], "argument --timeout: inf is not"),
        (["example.test", "--timeout", "0"], "argument --timeout: 0 is not"),
        (["example.test", "--timeout", "-1"], "argument --timeout: -1 is not"),
    ],
)
def test_a_bad_argument_is_one_line_naming_it(args: list[str], named: str) -> None:
    result = mailstack("check", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mailstack check: error: ")
    assert named in lines[0]


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1", "3601"])
def test_every_command_refuses_a_timeout_that_is_no_deadline(value: str) -> None:
    """The reverse lookups of `dmarc report` take the same --timeout as `check`."""
    result = mailstack("dmarc", "report", "--timeout", value, "no-such-report.xml")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"mailstack dmarc report: error: argument --timeout: {value} is not a positive number"
        " of seconds (at most 3600)"
    ]


@pytest.fixture
def silent_resolver() -> Iterator[int]:
    """A UDP and TCP port on loopback that take questions and never answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((HOST, 0))
        yield int(udp.getsockname()[1])


def test_a_resolver_that_does_not_answer_is_said_at_once(silent_resolver: int) -> None:
    start = time.monotonic()
    result = mailstack(
        "check", "example.test", "--resolver", HOST, "--resolver-port", str(silent_resolver),
        "--timeout", "10",
    )  # fmt: skip
    elapsed = time.monotonic() - start
    assert result.returncode == 2
    assert "could not run: . NS: the resolver 127.0.0.1 did not answer within 2 s" in result.stderr
    assert elapsed < 2 + STARTUP


class Trickle:
    """An SMTP server on (address, port) that sends its greeting one octet a second."""

    def __init__(self, address: str, port: int = 0) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((address, port))
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.port = int(self.listener.getsockname()[1])
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> Trickle:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self.drip, args=(conn,), daemon=True).start()

    def drip(self, conn: socket.socket) -> None:
        with conn:
            greeting = b"220-" + b"x" * 8000 + b"\r\n"
            for octet in greeting:  # bounded: one greeting's length
                if self.stop.wait(1.0):
                    return
                try:
                    conn.sendall(bytes([octet]))
                except OSError:
                    return


def test_a_trickling_server_cannot_hold_a_probe_past_its_timeout() -> None:
    with Trickle(HOST) as server:
        start = time.monotonic()
        with pytest.raises(ProbeError, match=r"no SMTP greeting within 1\.5 s \(so far: '2"):
            handshake(
                HOST, server.port, starttls="smtp", server_name="mx.example.test", timeout=1.5
            )
        assert time.monotonic() - start < 1.5 + 0.5


@needs_root
def test_a_trickling_mx_cannot_hold_the_audit_past_its_bound() -> None:
    address = loopback()
    timeout = 1.0
    zone = (
        "$ORIGIN example.test.\n$TTL 300\n"
        "@ IN SOA ns.example.test. h.example.test. 1 3600 900 1209600 300\n"
        "@ IN NS ns.example.test.\nns IN A 127.0.0.1\n"
        "@ IN MX 10 mx.example.test.\n"
        f"mx IN A {address}\n"
        "_submission._tcp IN SRV 0 1 25 mx.example.test.\n"
    )
    with ZoneServer(zone, "example.test") as dns_server, Trickle(address, 25):
        start = time.monotonic()
        result = mailstack(
            "check", "example.test", "--resolver", HOST, "--resolver-port", str(dns_server.port),
            "--timeout", str(timeout), "--json",
        )  # fmt: skip
        elapsed = time.monotonic() - start
    bound = DEADLINE_FACTOR * timeout + GRACE
    assert elapsed < bound + STARTUP, result.stdout[-2000:]
    assert result.returncode in (1, 2)
    assert "no SMTP greeting within" in result.stdout
