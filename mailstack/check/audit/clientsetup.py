"""Mail client set-up: the documents Thunderbird and Outlook fetch to configure themselves
(autoconfig at `autoconfig.<domain>` and the domain's `.well-known`, autodiscover POSTed to
`autodiscover.<domain>` or the `_autodiscover._tcp` SRV target), each fetched over HTTPS with a
validated certificate, for postmaster@<domain> as a client would ask, and parsed; then every
server they name answering with TLS on its port, with a certificate valid for its name.

A domain with no address for `autoconfig.<domain>` and no `_autodiscover._tcp` SRV record
offers no client set-up: that is said, not failed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from mailstack import clientsetup
from mailstack.check.context import Context
from mailstack.check.facts import tls_handshake
from mailstack.check.https import FetchError, fetch
from mailstack.check.report import RETRY, Finding, failed, info, passed, warned
from mailstack.check.tlsprobe import Deferred, ProbeError, Starttls
from mailstack.clientsetup import ParseError, Server

CATEGORY = "Client setup"
FIX_SERVE = "serve it with the autoconfig role, on the host the description's autoconfig names"
FIX_SERVER = (
    "make the server listen with TLS on that port (roles postfix and dovecot), or offer only"
    " the services that run (the description's autoconfig.services)"
)

Parse = Callable[[bytes], list[Server]]
NO_RECORD = "publish the plan's records (mailstack dns plan, then pulumi up)"


@dataclass(frozen=True)
class Document:
    """One document as a client asks for it: GET `url`, or POST `request` to it."""

    check: str
    url: str
    parse: Parse
    request: bytes | None = None

    @property
    def where(self) -> str:
        return self.url.split("?", maxsplit=1)[0]


def audit(ctx: Context) -> list[Finding]:
    domain = ctx.domain
    address = f"postmaster@{domain}"
    autoconfig = f"autoconfig.{domain}"
    autodiscover = _autodiscover_host(ctx)
    if not _resolves(ctx, autoconfig) and autodiscover is None:
        return [
            info(
                CATEGORY,
                "clients.offered",
                f"not offered: {autoconfig} has no address and there is no SRV record at"
                f" _autodiscover._tcp.{domain}",
            )
        ]
    query = f"/mail/config-v1.1.xml?emailaddress={quote(address, safe='')}"

    def thunderbird(body: bytes) -> list[Server]:
        return clientsetup.parse_autoconfig(body, address)

    found: dict[str, list[Server]] = {}
    out: list[Finding] = []
    if _resolves(ctx, autoconfig):
        url = f"https://{autoconfig}{query}"
        out.append(_document(ctx, Document("clients.autoconfig", url, thunderbird), found))
    else:
        out.append(
            failed(
                CATEGORY,
                "clients.autoconfig",
                f"{autoconfig} has no A or AAAA record: Thunderbird finds no settings there",
                NO_RECORD,
            )
        )
    url = f"https://{domain}/.well-known/autoconfig{query}"
    out.append(_well_known(ctx, Document("clients.wellknown", url, thunderbird), found))
    if autodiscover is None:
        out.append(
            failed(
                CATEGORY,
                "clients.autodiscover",
                f"autodiscover.{domain} has no address and no _autodiscover._tcp.{domain} SRV"
                " record names a host on port 443: Outlook finds no settings",
                NO_RECORD,
            )
        )
    else:
        url = f"https://{autodiscover}/autodiscover/autodiscover.xml"
        request = clientsetup.autodiscover_request(address)
        outlook = Document("clients.autodiscover", url, clientsetup.parse_autodiscover, request)
        out.append(_document(ctx, outlook, found))
    out += _agreement(found)
    for server in dict.fromkeys(s for listed in found.values() for s in listed):
        out += _server(ctx, server)
    return out


def _resolves(ctx: Context, name: str) -> bool:
    return bool(ctx.texts(name, "A") or ctx.texts(name, "AAAA"))


def _autodiscover_host(ctx: Context) -> str | None:
    """Where Outlook POSTs: autodiscover.<domain>, else the SRV record's target on port 443."""
    name = f"autodiscover.{ctx.domain}"
    if _resolves(ctx, name):
        return name
    records = sorted(text.split() for text in ctx.texts(f"_autodiscover._tcp.{ctx.domain}", "SRV"))
    for _, _, port, target in records:
        if target != "." and port == "443":
            return target.rstrip(".").lower()
    return None


def _document(ctx: Context, document: Document, found: dict[str, list[Server]]) -> Finding:
    """Fetch and parse the document; the finding, and its servers added to `found`."""
    check, where = document.check, document.where
    try:
        got = fetch(ctx, document.url, document.request)
    except FetchError as error:
        return failed(
            CATEGORY, check, f"{where}: {error}", FIX_SERVE + ", with the tls role's certificate"
        )
    if got.status != 200:
        return failed(CATEGORY, check, f"{where} answered {got.status}", FIX_SERVE)
    try:
        servers = document.parse(got.body)
    except ParseError as error:
        return failed(
            CATEGORY,
            check,
            f"{where}: the document does not conform: {error}",
            "serve the document the autoconfig role's program makes",
        )
    found[where] = servers
    listed = ", ".join(str(s) for s in servers)
    return passed(CATEGORY, check, f"{where} names {listed}")


def _well_known(ctx: Context, document: Document, found: dict[str, list[Server]]) -> Finding:
    """Thunderbird's second try, on the domain's own web host: optional, it may be elsewhere."""
    domain = ctx.domain
    if not _resolves(ctx, domain):
        return info(CATEGORY, document.check, f"{domain} has no address: no .well-known copy")
    finding = _document(ctx, document, found)
    if finding.status == "pass":
        return finding
    return warned(
        CATEGORY,
        document.check,
        f"{finding.message} (Thunderbird asks there second)",
        f"serve it on {domain}'s web host, or leave it to autoconfig.{domain}",
        mandatory=False,
    )


def _agreement(found: dict[str, list[Server]]) -> list[Finding]:
    """Whether every document names the same servers (Apple's profile names fewer)."""
    distinct = {tuple(servers) for servers in found.values()}
    if len(distinct) <= 1:
        return []
    said = "; ".join(f"{url}: {', '.join(map(str, servers))}" for url, servers in found.items())
    return [
        warned(
            CATEGORY,
            "clients.agree",
            f"the documents disagree: {said}",
            "serve every document from the same settings (the autoconfig role does)",
        )
    ]


def _server(ctx: Context, server: Server) -> list[Finding]:
    """Each address of the server's host completes a TLS handshake as the document says."""
    if server.tls == "plain":
        return [
            failed(
                CATEGORY,
                "clients.server",
                f"{server}: the documents offer it without TLS: passwords would travel in clear",
                "offer only implicit TLS or STARTTLS (RFC 8314)",
            )
        ]
    addresses = ctx.texts(server.host, "A") + ctx.texts(server.host, "AAAA")
    if not addresses:
        return [
            failed(
                CATEGORY,
                "clients.server",
                f"{server}: {server.host} has no A or AAAA record",
                "publish the host's addresses (mailstack dns plan, then pulumi up)",
            )
        ]
    return [_handshake(ctx, server, address) for address in addresses]


def _handshake(ctx: Context, server: Server, address: str) -> Finding:
    starttls: Starttls = server.protocol if server.tls == "starttls" else None
    where = f"{server} at {address}"
    try:
        got = tls_handshake(ctx, server.host, (address, server.port, starttls))
    except Deferred as error:
        return warned(
            CATEGORY, "clients.server", f"{where}: not tested: {error}", RETRY, mandatory=False
        )
    except ProbeError as error:
        return failed(CATEGORY, "clients.server", f"{where}: {error}", FIX_SERVER)
    if got.verify_error:
        return failed(
            CATEGORY,
            "clients.server",
            f"{where}: {got.verify_error}",
            "serve a certificate from a public CA for the host name (role tls)",
        )
    return passed(
        CATEGORY,
        "clients.server",
        f"{where}: {got.version}, certificate valid for {server.host}",
    )
