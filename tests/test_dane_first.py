"""The postfix role's DANE-first TLS policy table: which destinations it sends to DANE, and
the socketmap protocol Postfix speaks to it. DNS answers are given here as the validating
resolver would give them; the lab verifies the whole path with real DNSSEC."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ROOT, load_file

SOURCE = ROOT / "roles/postfix/files/usr/local/lib/mailstack/dane_first.py"


table = load_file(SOURCE, "dane_first")
Answer = table.Answer
TLSA = "3 1 1 " + "ab" * 32


def zone(answers: dict[tuple[str, str], object]) -> object:
    """A lookup over fixed answers; a name not listed does not exist (secure NXDOMAIN)."""

    def lookup(name: str, rtype: str) -> object:
        found = answers.get((name, rtype))
        if isinstance(found, Exception):
            raise found
        return found if found is not None else Answer(True, nxdomain=True)

    return lookup


SIGNED = {
    ("example.test", "MX"): Answer(True, ("20 mx2.example.test.", "10 mx1.example.test.")),
    ("_25._tcp.mx1.example.test", "TLSA"): Answer(True, (TLSA,)),
    ("_25._tcp.mx2.example.test", "TLSA"): Answer(True, ("2 0 1 " + "ef" * 32,)),
}


def test_every_mx_host_needs_tlsa() -> None:
    """An MX host without TLSA would lose the receiver's MTA-STS policy if the table answered
    dane for the domain: the next table (MTA-STS) decides unless every host has TLSA."""
    answers = dict(SIGNED)
    del answers[("_25._tcp.mx1.example.test", "TLSA")]
    policy, why = table.decide("Example.Test.", zone(answers))
    assert policy is None
    assert "_25._tcp.mx1.example.test" in why


def test_one_host_of_two_with_tlsa_is_not_enough() -> None:
    answers = dict(SIGNED)
    del answers[("_25._tcp.mx2.example.test", "TLSA")]  # a secure NXDOMAIN
    policy, why = table.decide("example.test", zone(answers))
    assert policy is None
    assert "_25._tcp.mx2.example.test" in why


def test_an_unsigned_tlsa_answer_on_one_host_is_not_enough() -> None:
    answers = dict(SIGNED)
    answers[("_25._tcp.mx2.example.test", "TLSA")] = Answer(False, (TLSA,))
    assert table.decide("example.test", zone(answers))[0] is None


def test_dane_when_every_mx_host_has_tlsa() -> None:
    policy, why = table.decide("Example.Test.", zone(SIGNED))
    assert policy == "dane"
    assert "every MX host" in why


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ({("example.test", "MX"): Answer(False, ("10 mx1.example.test.",))}, "not DNSSEC"),
        (
            {
                ("example.test", "MX"): Answer(True, ("10 mx1.example.test.",)),
                ("_25._tcp.mx1.example.test", "TLSA"): Answer(False, (TLSA,)),
            },
            "no DNSSEC-validated TLSA",
        ),
        (
            {
                ("example.test", "MX"): Answer(True, ("10 mx1.example.test.",)),
                # PKIX usages (0, 1) say nothing that DANE for SMTP may use (RFC 7672).
                ("_25._tcp.mx1.example.test", "TLSA"): Answer(True, ("1 1 1 " + "cd" * 32,)),
            },
            "no DNSSEC-validated TLSA",
        ),
        ({}, "no such domain"),
    ],
)
def test_anything_else_goes_to_the_next_table(
    answers: dict[tuple[str, str], object], reason: str
) -> None:
    policy, why = table.decide("example.test", zone(answers))
    assert policy is None
    assert reason in why


def test_a_domain_without_mx_is_its_own_host() -> None:
    answers = {
        ("example.test", "MX"): Answer(True),
        ("_25._tcp.example.test", "TLSA"): Answer(True, (TLSA,)),
    }
    assert table.decide("example.test", zone(answers))[0] == "dane"


def test_next_hops_that_are_not_domains_are_left_alone() -> None:
    assert table.decide("[10.0.0.1]:25", zone({})) == (None, "not a domain name")
    # A whole-name match: a name followed by a newline is no domain name.
    assert table.decide("example.test\n", zone(SIGNED)) == (None, "not a domain name")


async def ask(requests: list[bytes], lookup: object) -> bytes:
    """Send netstring requests to the table over a real socket; return all it answered."""
    server = await asyncio.start_server(
        lambda r, w: table.serve_client(r, w, lookup), host="127.0.0.1", port=0
    )
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(table.netstring(r) for r in requests))
        await writer.drain()
        writer.write_eof()
        data = await reader.read()
        writer.close()
    return data


def exchange(requests: list[bytes], lookup: object) -> bytes:
    """ask() on a loop of its own: asyncio.run would leave the thread without a current loop,
    which Pulumi's tests, run later in the same process, rely on."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(ask(requests, lookup))
    finally:
        loop.close()


def test_socketmap_answers_in_netstrings_on_one_connection() -> None:
    answers = dict(SIGNED)
    answers[("broken.test", "MX")] = table.TempFail("SERVFAIL")
    data = exchange(
        [b"dane example.test", b"dane other.test", b"dane broken.test", b"junk"], zone(answers)
    )
    assert data == (b"7:OK dane,9:NOTFOUND ,22:TEMP DNS lookup failed,22:PERM malformed request,")


def test_an_oversized_request_closes_the_connection() -> None:
    assert exchange([b"dane " + b"a" * 2000], zone({})) == b""
