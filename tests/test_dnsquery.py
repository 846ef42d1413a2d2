"""mailstack.dnsquery: the one way mailstack sets up a resolver and asks a server."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import dns.flags
import pytest

from mailstack.dnsquery import EDNS_PAYLOAD, DnsError, Server, query, resolver


@pytest.fixture
def silent_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_a_given_resolver_is_that_server_alone() -> None:
    stub = resolver("192.0.2.53", port=5353, timeout=1.5, lifetime=4.0)
    assert [str(n) for n in stub.nameservers] == ["192.0.2.53"]
    assert stub.port == 5353
    assert stub.timeout == 1.5
    assert stub.lifetime == 4.0


def test_a_question_s_flags() -> None:
    checker = query("example.test", "TLSA", dnssec=True, cd=True)
    assert checker.flags & dns.flags.RD
    assert checker.flags & dns.flags.CD
    assert checker.ednsflags & dns.flags.DO
    assert checker.payload == EDNS_PAYLOAD
    authoritative = query("example.test", "MX", recursion=False)
    assert not authoritative.flags & (dns.flags.RD | dns.flags.CD)
    assert not authoritative.ednsflags & dns.flags.DO
    assert authoritative.edns == 0
    assert authoritative.payload == EDNS_PAYLOAD


def test_a_silent_server_is_named_in_the_error(silent_port: int) -> None:
    server = Server("127.0.0.1", silent_port, 0.2, "the resolver 127.0.0.1")
    with pytest.raises(DnsError) as caught:
        server.exchange("example.test.", "MX")
    assert re.fullmatch(
        r"example\.test\. MX: the resolver 127\.0\.0\.1 did not answer within 0\.2 s",
        str(caught.value),
    )
