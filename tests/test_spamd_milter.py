"""The spamc protocol as the spamassassin role's milter speaks it: the request it sends and
how it reads spamd's answers (the whole path, with spamd, is verified by the mail scenario).
The answers below follow spamd's protocol (SPAMD/1.1, a Spam line, the headers block)."""

from __future__ import annotations

import socket

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
