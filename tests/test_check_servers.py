"""The audits of `mailstack check` that talk to servers, against real ones on loopback: SMTP
with STARTTLS on port 25 and HTTPS on port 443 (of a loopback address, which needs root: the audits
use the standard ports, as the world does), and DNSSEC-signed zones. Each test plants one
mistake of the issue's list and expects it found and explained."""

from __future__ import annotations

import http.server
import os
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dns.name
import pytest

from mailstack.check.audit import dane, dnssec, mtasts
from mailstack.check.context import Context, Options
from mailstack.check.https import FetchError, fetch
from mailstack.check.report import Finding
from mailstack.dnsquery import Dns
from mailstack.keys import tlsa_311
from tests.dnsserver import ZoneServer
from tests.test_check_dnssec import World, edit_sigs, flip
from tests.test_check_tlsprobe import NAME, Pki, Serve, pki, serve, server_context

__all__ = ["pki", "serve"]  # fixtures used by name below


def loopback() -> str:
    """A fresh loopback address: a port closed by the last test can linger in TIME_WAIT, and
    not every kernel lets SO_REUSEADDR bind it again at once."""
    a, b, c = (secrets.randbelow(250) + 2 for _ in range(3))
    return f"127.{a}.{b}.{c}"


ZONE = """
$ORIGIN example.test.
$TTL 300
@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 900 1209600 300
@ IN NS ns.example.test.
@ IN MX 10 {name}.
@ IN MX 20 mx2.example.test.
mx IN A {address}
mx2 IN A {address}
mta-sts IN A {address}
_mta-sts IN TXT "v=STSv1; id=20261123"
"""
POLICY = f"version: STSv1\r\nmode: enforce\r\nmx: {NAME}\r\nmax_age: 604800\r\n"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="binds ports 25 and 443 of a loopback address, which needs root"
)


@contextmanager
def context(zone: str, pki: Pki) -> Iterator[Context]:
    with ZoneServer(zone, "example.test") as server:
        resolver = Dns("127.0.0.1", server.port, timeout=2.0)
        yield Context("example.test", resolver, {}, Options(cafile=str(pki.ca_pem), timeout=3.0))


def only(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check]


@needs_root
def test_a_stale_tlsa_after_a_key_change_is_found(pki: Pki, serve: Serve) -> None:
    address = loopback()
    serve("smtp", server_context(pki.chain_pem, pki.leaf_key), host=address, port=25)
    stale = "3 1 1 " + "ab" * 32
    zone = ZONE.format(name=NAME, address=address) + f"_25._tcp.mx IN TLSA {stale}\n"
    with context(zone, pki) as ctx:
        found = dane.audit(ctx)
    mx1 = [f for f in found if NAME in f.message]
    (starttls,) = only(mx1, "tls.starttls")
    assert starttls.status == "pass"
    (match,) = only(mx1, "dane.match")
    assert match.status == "fail"
    assert tlsa_311(pki.leaf_der) in match.message
    assert "matches no TLSA record" in match.message
    assert match.fix is not None and "tls-rollover" in match.fix
    (rollover,) = only(mx1, "dane.rollover")
    assert rollover.status == "warn"


@needs_root
def test_the_current_key_s_tlsa_matches(pki: Pki, serve: Serve) -> None:
    address = loopback()
    serve("smtp", server_context(pki.chain_pem, pki.leaf_key), host=address, port=25)
    current = f"3 1 1 {tlsa_311(pki.leaf_der)}"
    zone = (
        ZONE.format(name=NAME, address=address)
        + f"_25._tcp.mx IN TLSA {current}\n_25._tcp.mx IN TLSA 3 1 1 {'cd' * 32}\n"
    )
    with context(zone, pki) as ctx:
        found = [f for f in dane.audit(ctx) if NAME in f.message]
    assert only(found, "dane.match")[0].status == "pass"
    assert only(found, "dane.rollover")[0].status == "pass"
    assert only(found, "tls.expiry")[0].status == "pass"


class PolicyHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = POLICY.encode()
        status = 200 if self.path == "/.well-known/mta-sts.txt" else 404
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def https_server(
    pki: Pki,
    address: str,
    handler: Callable[..., http.server.BaseHTTPRequestHandler] = PolicyHandler,
) -> Iterator[None]:
    server = http.server.ThreadingHTTPServer((address, 443), handler)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.chain_pem, pki.leaf_key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@needs_root
def test_an_mta_sts_policy_missing_an_mx_is_found(pki: Pki) -> None:
    address = loopback()
    with https_server(pki, address), context(ZONE.format(name=NAME, address=address), pki) as ctx:
        found = mtasts.audit(ctx)
    assert only(found, "mtasts.policy")[0].status == "pass"
    assert only(found, "mtasts.mode")[0].status == "pass"
    patterns = only(found, "mtasts.mx")
    assert [(f.status, f.message.split(" matches")[0]) for f in patterns] == [
        ("pass", f"the MX {NAME}"),
        ("fail", "the MX mx2.example.test"),
    ]
    assert patterns[1].fix is not None and "mx: mx2.example.test" in patterns[1].fix


@needs_root
def test_a_policy_behind_an_untrusted_certificate_is_not_read(pki: Pki) -> None:
    address = loopback()
    zone = ZONE.format(name=NAME, address=address)
    with https_server(pki, address), ZoneServer(zone, "example.test") as server:
        ctx = Context("example.test", Dns("127.0.0.1", server.port, timeout=2.0), {})
        (record, policy) = mtasts.audit(ctx)
    assert record.status == "pass"
    assert policy.status == "fail"
    assert "certificate is not valid" in policy.message


def test_a_broken_dnssec_signature_is_found_and_located() -> None:
    world = World()
    world.child_edit = lambda zone: edit_sigs(zone, "example.test.", "MX", flip)
    with ZoneServer.multi(world.zones()) as server:
        resolver = Dns("127.0.0.1", server.port, timeout=2.0)
        ctx = Context("example.test", resolver, world.anchors())
        found = dnssec.audit(ctx)
    (domain,) = only(found, "dnssec.domain")
    assert domain.status == "fail"
    assert domain.message.startswith("example.test MX: bogus: the RRSIG of example.test. MX")
    assert "does not verify" in domain.message
    assert domain.fix is not None and "re-sign" in domain.fix
    # The MX host's address is signed correctly: only the broken RRset is blamed.
    (host,) = only(found, "dnssec.mx")
    assert host.status == "pass"


def test_a_correctly_signed_domain_validates_from_its_anchor() -> None:
    world = World()
    with ZoneServer.multi(world.zones()) as server:
        ctx = Context(
            "example.test",
            Dns("127.0.0.1", server.port, timeout=2.0),
            {dns.name.from_text("example.test."): [world.ksk.ds("example.test.")]},
        )
        found = dnssec.audit(ctx)
    assert {f.status for f in found} == {"pass"}


class TricklingHandler(http.server.BaseHTTPRequestHandler):
    """Answers 200 with a policy it sends one octet a second: each read returns in time."""

    def do_GET(self) -> None:
        body = POLICY.encode() * 20
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for octet in body:  # bounded: the body's length, and the client leaves early
            try:
                self.wfile.write(bytes([octet]))
                self.wfile.flush()
            except OSError:
                return
            time.sleep(1.0)

    def log_message(self, format: str, *args: object) -> None:
        return


@needs_root
def test_a_trickling_web_server_cannot_hold_a_fetch_past_its_timeout(pki: Pki) -> None:
    """--timeout bounds the whole fetch, not each read: the policy never arrives in time."""
    address = loopback()
    with (
        https_server(pki, address, TricklingHandler),
        context(ZONE.format(name=NAME, address=address), pki) as ctx,
    ):
        start = time.monotonic()
        with pytest.raises(FetchError):
            fetch(ctx, "https://mta-sts.example.test/.well-known/mta-sts.txt")
        elapsed = time.monotonic() - start
    assert elapsed < ctx.options.timeout + 1.0
