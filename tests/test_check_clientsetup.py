"""The client set-up audit of `mailstack check`, against the autoconfig role's own program
served over HTTPS on port 443 of a loopback address (with the test CA's certificate), mail
servers on the ports its documents name, and a real DNS server for the zone. Ports 443, 465,
587 and 993 need root, as in tests/test_check_servers.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from mailstack.check.audit import AUDITS, clientsetup
from mailstack.check.context import Context, Options
from mailstack.check.report import Finding
from mailstack.clientsetup import Server
from mailstack.dnsquery import Dns
from tests.dnsserver import ZoneServer
from tests.test_autoconfig_app import app
from tests.test_check_servers import https_server, loopback, needs_root
from tests.test_check_tlsprobe import NAME, Pki, Serve, pki, serve, server_context

__all__ = ["pki", "serve"]  # fixtures used by name below

SETTINGS: dict[str, Any] = {
    "domains": {
        "example.test": {
            "display_name": "example.test",
            "incoming": [{"type": "imap", "host": NAME, "port": 993, "socket": "SSL"}],
            "outgoing": [
                {"type": "smtp", "host": NAME, "port": 465, "socket": "SSL"},
                {"type": "smtp", "host": NAME, "port": 587, "socket": "STARTTLS"},
            ],
        }
    }
}
ZONE = """
$ORIGIN example.test.
$TTL 300
@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 900 1209600 300
@ IN NS ns.example.test.
@ IN MX 10 mx.example.test.
mx IN A {address}
"""
SERVED = ZONE + "@ IN A {address}\nautoconfig IN A {address}\nautodiscover IN A {address}\n"


def on_https(handler: type[Any]) -> Callable[..., Any]:
    """The role's request handler, or a subclass, served by tests.test_check_servers'
    HTTPS server: it reads its settings and read timeout from what it is given as its
    server, as from the role's Unix socket server."""
    problems: list[str] = []
    facade = SimpleNamespace(settings=app.parse_settings(SETTINGS, problems), read_timeout=3.0)
    assert problems == []
    return lambda request, client, server: handler(request, client, facade)


@contextmanager
def context(zone: str, cafile: str | None) -> Iterator[Context]:
    with ZoneServer(zone, "example.test") as dns_server:
        resolver = Dns("127.0.0.1", dns_server.port, timeout=2.0)
        yield Context("example.test", resolver, {}, Options(cafile=cafile, timeout=3.0))


def by_check(findings: list[Finding]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for f in findings:
        out.setdefault(f.check, []).append((f.status, f.message))
    return out


def test_the_audit_is_registered() -> None:
    assert ("Client setup", clientsetup.audit) in AUDITS


def test_a_domain_without_client_setup_is_told_it_is_not_offered() -> None:
    with context(ZONE.format(address="127.0.0.1"), None) as ctx:
        (finding,) = clientsetup.audit(ctx)
    assert (finding.status, finding.check, finding.mandatory) == ("info", "clients.offered", False)
    assert finding.message.startswith("not offered: autoconfig.example.test has no address")


@needs_root
def test_every_document_is_read_and_a_server_that_is_not_there_is_found(
    pki: Pki, serve: Serve
) -> None:
    address = loopback()
    tls = server_context(pki.chain_pem, pki.leaf_key)
    serve("implicit", tls, host=address, port=993)
    serve("smtp", tls, host=address, port=587)  # and nothing on 465
    with (
        https_server(pki, address, on_https(app.Handler)),
        context(SERVED.format(address=address), str(pki.ca_pem)) as ctx,
    ):
        found = by_check(clientsetup.audit(ctx))
    servers = f"imap {NAME}:993 (implicit), smtp {NAME}:465 (implicit), smtp {NAME}:587 (starttls)"
    assert found["clients.autoconfig"] == [
        ("pass", f"https://autoconfig.example.test/mail/config-v1.1.xml names {servers}")
    ]
    assert found["clients.wellknown"] == [
        (
            "pass",
            f"https://example.test/.well-known/autoconfig/mail/config-v1.1.xml names {servers}",
        )
    ]
    assert found["clients.autodiscover"] == [
        ("pass", f"https://autodiscover.example.test/autodiscover/autodiscover.xml names {servers}")
    ]
    assert "clients.agree" not in found
    (imap, smtps, submission) = found["clients.server"]
    assert imap[0] == "pass"
    assert imap[1].startswith(f"imap {NAME}:993 (implicit) at {address}: TLSv1.")
    assert imap[1].endswith(f"certificate valid for {NAME}")
    assert submission[0] == "pass"
    assert smtps[0] == "fail"
    assert smtps[1] == (
        f"smtp {NAME}:465 (implicit) at {address}: {address} port 465: cannot connect:"
        " Connection refused"
    )


@needs_root
def test_autodiscover_is_found_through_its_srv_record(pki: Pki) -> None:
    address = loopback()
    zone = (
        ZONE.format(address=address)
        + f"autoconfig IN A {address}\n"
        + "_autodiscover._tcp IN SRV 0 0 443 autoconfig.example.test.\n"
    )
    with https_server(pki, address, on_https(app.Handler)), context(zone, str(pki.ca_pem)) as ctx:
        found = by_check(clientsetup.audit(ctx))
    ((status, message),) = found["clients.autodiscover"]
    assert status == "pass"
    assert message.startswith("https://autoconfig.example.test/autodiscover/autodiscover.xml names")
    # The domain's own name has no address here: the .well-known copy is not looked for.
    assert found["clients.wellknown"] == [
        ("info", "example.test has no address: no .well-known copy")
    ]


@needs_root
def test_documents_behind_an_untrusted_certificate_are_not_read(pki: Pki) -> None:
    address = loopback()
    with (
        https_server(pki, address, on_https(app.Handler)),
        context(SERVED.format(address=address), None) as ctx,
    ):
        findings = clientsetup.audit(ctx)
    found = {f.check: f for f in findings}
    assert found["clients.autoconfig"].status == "fail"
    assert "certificate is not valid" in found["clients.autoconfig"].message
    assert found["clients.autoconfig"].fix is not None
    assert "tls role's certificate" in found["clients.autoconfig"].fix
    # The .well-known copy may live on another web host: a warning that does not score.
    assert (found["clients.wellknown"].status, found["clients.wellknown"].mandatory) == (
        "warn",
        False,
    )
    assert found["clients.autodiscover"].status == "fail"
    assert "clients.server" not in found  # nothing was read, so no server is probed


class NoPost(app.Handler):  # type: ignore[misc, name-defined]
    """An autodiscover that answers 500, and a Thunderbird document that does not conform."""

    def do_POST(self) -> None:
        self._send(app.Reply(500, app.TEXT, b"oops\n"), body=True)

    def do_GET(self) -> None:
        body = app.autoconfig_xml(self.server.settings.domains["example.test"])
        self._send(app.Reply(200, app.XML, body.replace(b"SSL", b"TLS", 1)), body=True)


@needs_root
def test_an_error_and_a_document_that_does_not_conform_are_explained(pki: Pki) -> None:
    address = loopback()
    with (
        https_server(pki, address, on_https(NoPost)),
        context(SERVED.format(address=address), str(pki.ca_pem)) as ctx,
    ):
        found = {f.check: f for f in clientsetup.audit(ctx)}
    assert found["clients.autodiscover"].message == (
        "https://autodiscover.example.test/autodiscover/autodiscover.xml answered 500"
    )
    autoconfig = found["clients.autoconfig"]
    assert autoconfig.status == "fail"
    assert "does not conform" in autoconfig.message
    assert "socketType: 'TLS' is not one of SSL, STARTTLS, plain" in autoconfig.message


def test_documents_that_disagree_are_named() -> None:
    imap = Server("imap", NAME, 993, "implicit", "postmaster@example.test")
    pop3 = Server("pop3", NAME, 995, "implicit", "postmaster@example.test")
    findings = clientsetup._agreement({"https://a/x": [imap], "https://b/y": [imap, pop3]})
    ((status, message),) = by_check(findings)["clients.agree"]
    assert status == "warn"
    assert message == (
        f"the documents disagree: https://a/x: imap {NAME}:993 (implicit);"
        f" https://b/y: imap {NAME}:993 (implicit), pop3 {NAME}:995 (implicit)"
    )
    assert clientsetup._agreement({"https://a/x": [imap], "https://b/y": [imap]}) == []


def test_a_server_offered_in_plain_text_fails_without_a_probe() -> None:
    with context(ZONE.format(address="127.0.0.1"), None) as ctx:
        (finding,) = clientsetup._server(ctx, Server("imap", NAME, 143, "plain", "x"))
    assert finding.status == "fail"
    assert "without TLS: passwords would travel in clear" in finding.message


def test_autoconfig_without_autodiscover_fails_for_outlook() -> None:
    address = loopback()  # nothing listens there: the Thunderbird document cannot be had
    zone = (
        ZONE.format(address=address)
        + f"autoconfig IN A {address}\n"
        + "_autodiscover._tcp IN SRV 0 0 8443 autoconfig.example.test.\n"
    )
    with context(zone, None) as ctx:
        found = {f.check: f for f in clientsetup.audit(ctx)}
    outlook = found["clients.autodiscover"]
    assert outlook.status == "fail"
    assert outlook.message == (
        "autodiscover.example.test has no address and no _autodiscover._tcp.example.test SRV"
        " record names a host on port 443: Outlook finds no settings"
    )
    assert outlook.fix is not None and "mailstack dns plan" in outlook.fix
    thunderbird = found["clients.autoconfig"]
    assert thunderbird.status == "fail"
    assert "Connection refused" in thunderbird.message
