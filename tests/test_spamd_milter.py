"""The spamc protocol as the spamassassin role's milter speaks it: the request it sends and
how it reads spamd's answers (the whole path, with spamd, is verified by the mail scenario).
The answers below follow spamd's protocol (SPAMD/1.1, a Spam line, the headers block)."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.conftest import ROOT, load_file

SOURCE = ROOT / "roles/spamassassin/files/usr/local/lib/mailstack/spamd_milter.py"


milter = load_file(SOURCE, "spamd_milter")

HAM = (
    b"SPAMD/1.1 0 EX_OK\r\nContent-length: 166\r\nSpam: False ; 1.5 / 5.0\r\n\r\n"
    b"Received: from outside.test\r\nX-Spam-Checker-Version: SpamAssassin 4.0.1 on mx1\r\n"
    b"X-Spam-Status: No, score=1.5 required=5.0 tests=MISSING_DATE,\r\n\tMISSING_MID\r\n"
    b"Subject: hello\r\n\r\n"
)
SPAM = (
    b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"
    b"X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=1000.0 required=5.0 tests=GTUBE\r\n\r\n"
)


def test_the_request_carries_the_length_and_the_user() -> None:
    assert milter.request(b"Subject: x\r\n\r\nbody\r\n", "debian-spamd") == (
        b"HEADERS SPAMC/1.5\r\nContent-length: 20\r\nUser: debian-spamd\r\n\r\n"
        b"Subject: x\r\n\r\nbody\r\n"
    )


def test_ham_keeps_only_the_x_spam_headers_with_their_folding() -> None:
    verdict = milter.parse(HAM)
    assert (verdict.spam, verdict.score, verdict.required) == (False, 1.5, 5.0)
    assert verdict.headers == (
        ("X-Spam-Checker-Version", "SpamAssassin 4.0.1 on mx1"),
        ("X-Spam-Status", "No, score=1.5 required=5.0 tests=MISSING_DATE,\n\tMISSING_MID"),
    )


def test_spam_is_read_as_spam_with_its_score() -> None:
    verdict = milter.parse(SPAM)
    assert (verdict.spam, verdict.score) == (True, 1000.0)
    assert ("X-Spam-Flag", "YES") in verdict.headers


@pytest.mark.parametrize(
    "reply",
    [
        b"",
        b"SPAMD/1.1 76 Bad header line: Content-length\r\n\r\n",
        b"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
    ],
)
def test_anything_but_a_verdict_is_an_error(reply: bytes) -> None:
    with pytest.raises(milter.SpamdError):
        milter.parse(reply)


def test_spamd_unreachable_is_an_os_error() -> None:
    # A port on the loopback that nothing listens on: the milter turns this into a 451.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        milter.ask(b"Subject: x\r\n\r\n", ("127.0.0.1", port), "debian-spamd", 2.0)


# Bounded scanning, as spamc's -s: a message above the bound is never sent to spamd, and the
# milter never keeps more than the bound of it in memory.


def test_the_default_bound_is_spamcs() -> None:
    # spamc(1): "-s max_size ... The default size is 500 KB."
    assert milter.MAX_SIZE == 500 * 1024


def test_a_message_up_to_the_bound_is_kept_whole() -> None:
    message = milter.Message(limit=100)
    for chunk in (b"Subject: x\r\n", b"\r\n", b"a" * 86):
        message.add(chunk)
    assert (message.size, message.oversized) == (100, False)
    assert bytes(message.data) == b"Subject: x\r\n\r\n" + b"a" * 86


def test_beyond_the_bound_nothing_is_kept() -> None:
    message = milter.Message(limit=1000)
    largest = 0
    message.add(b"Subject: big\r\n\r\n")
    for _ in range(2048):  # 2 MiB in 1 KiB chunks, as Postfix hands the body over
        message.add(b"x" * 1024)
        largest = max(largest, len(message.data))
    assert largest <= 1000
    assert (message.size, message.oversized, bytes(message.data)) == (16 + 2048 * 1024, True, b"")
    name, value = milter.skipped_header(message)
    assert name.lower().startswith("x-spam-")
    assert value == "larger than 1000 bytes, not scanned by SpamAssassin"


WHEN = "Sat, 05 Dec 2026 10:40:00 -0000"


def test_the_trace_names_the_client_and_the_sender_as_spamassassin_reads_them() -> None:
    client = milter.Client("192.0.2.7", "mail.outside.test", "mail.outside.test")
    assert milter.trace(client, "<bob@outside.test>", "mx1.example.test", "4C1A", WHEN) == (
        b"Received: from mail.outside.test (mail.outside.test [192.0.2.7])\r\n"
        b"\tby mx1.example.test (Postfix) with ESMTP id 4C1A\r\n"
        b"\t(envelope-from <bob@outside.test>);\r\n"
        b"\tSat, 05 Dec 2026 10:40:00 -0000\r\n"
    )


def test_an_ipv6_client_is_written_as_postfix_writes_it() -> None:
    client = milter.Client("2001:db8:0:0::25", "unknown", "[IPv6:2001:db8::25]")
    head = milter.trace(client, "<>", "mx1.example.test", "4C1A", WHEN)
    assert head.startswith(b"Received: from [IPv6:2001:db8::25] (unknown [IPv6:2001:db8::25])\r\n")
    assert b"\t(envelope-from <>);\r\n" in head


@pytest.mark.parametrize(
    ("name", "helo", "sender"),
    [
        # A client without a verified name, as Postfix may give it.
        ("[192.0.2.7]", "mail.outside.test", "<bob@outside.test>"),
        # A HELO that would add a header of its own, or close the comment early.
        ("unknown", "x\r\nX-Spam-Flag: NO", "<bob@outside.test>"),
        ("unknown", "x) (trusted", "<bob@outside.test>"),
        # A sender that would do the same.
        ("unknown", "x", "<bob@outside.test>\r\nX-Spam-Flag: NO"),
        ("unknown", "x", "<bob@outside.test) (x>"),
    ],
)
def test_what_the_client_wrote_stays_within_the_trace(name: str, helo: str, sender: str) -> None:
    head = milter.trace(milter.Client("192.0.2.7", name, helo), sender, "mx1", "4C1A", WHEN)
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("Received: from ")
    assert all(line.startswith("\t") for line in lines[1:-1]) and lines[-1] == ""
    assert "X-Spam-Flag" not in head.decode() and "(trusted" not in head.decode()
    assert "[192.0.2.7]" in lines[0] and "(x>" not in head.decode()


class FakeSpamd:
    """A spamd on the loopback that answers HAM and records what it was sent."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.stopped = threading.Event()
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.getsockname()[:2]
        return (host, port)

    def serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            self.answer(conn)

    def answer(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with conn:
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            self.received.append(data)
            conn.sendall(HAM)

    def close(self) -> list[bytes]:
        self.stopped.set()
        self.thread.join(5)
        self.server.close()
        return self.received


def test_a_message_within_the_bound_is_scanned() -> None:
    spamd = FakeSpamd()
    message = milter.Message(limit=1000)
    message.add(b"Subject: x\r\n\r\nbody\r\n")
    verdict = milter.scan(message, spamd.address, "debian-spamd", 5.0)
    assert verdict is not None and verdict.score == 1.5
    assert spamd.close() == [milter.request(b"Subject: x\r\n\r\nbody\r\n", "debian-spamd")]


def test_the_trace_goes_on_top_of_the_message_spamd_is_sent() -> None:
    spamd = FakeSpamd()
    message = milter.Message(limit=1000)
    message.add(b"Subject: x\r\n\r\nbody\r\n")
    top = milter.trace(milter.Client("192.0.2.7"), "<>", "mx1", "4C1A", WHEN)
    assert milter.scan(message, spamd.address, "debian-spamd", 5.0, top) is not None
    expected = milter.request(top + b"Subject: x\r\n\r\nbody\r\n", "debian-spamd")
    assert spamd.close() == [expected]


def test_a_message_above_the_bound_is_not_sent_to_spamd() -> None:
    spamd = FakeSpamd()
    message = milter.Message(limit=1000)
    message.add(b"Subject: x\r\n\r\n" + b"x" * 1000)
    assert milter.scan(message, spamd.address, "debian-spamd", 5.0) is None
    assert spamd.close() == []
