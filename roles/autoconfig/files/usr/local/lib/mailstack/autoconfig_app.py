"""Mail client set-up documents, served over HTTP on a Unix socket behind nginx.

    python3 autoconfig_app.py --settings /etc/mailstack/autoconfig.json --socket PATH
    python3 autoconfig_app.py --settings /etc/mailstack/autoconfig.json --check

The settings (JSON, rendered from the mail description) give, per served domain, its display
name and its incoming (IMAP, POP3) and outgoing (SMTP submission) servers in the order clients
should prefer them. From them this program answers:

- GET /mail/config-v1.1.xml and /.well-known/autoconfig/mail/config-v1.1.xml: Thunderbird's
  clientConfig 1.1 (the user name is Thunderbird's %EMAILADDRESS% placeholder);
- POST /autodiscover/autodiscover.xml (any case): Outlook's POX autodiscover answer, for the
  address the request names; GET there is 405 (Outlook always POSTs);
- GET /mobileconfig and /email.mobileconfig: an unsigned Apple configuration profile with one
  com.apple.mail.managed payload for the address asked;
- GET /healthz: 200 "ok".

The domain is the `emailaddress` query's (or the autodiscover request's) domain, else the Host
header's: `autoconfig.<domain>`, `autodiscover.<domain>` or `<domain>`. Every syntactically
valid address of a served domain gets the same answer with only the address substituted; a
domain that is not served gets 404 with one body for all; an invalid address gets 400. The
settings hold no mailbox, so nothing here can tell a mailbox that exists from one that does
not.

With --check the settings are read and validated and the program exits 0 (valid) or 1 (each
problem named on standard error), so that a deployment can validate before restarting.

Only the Python standard library is needed (Debian 12's python3).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import plistlib
import re
import signal
import socketserver
import stat
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 64 * 1024  # octets of a request body (an autodiscover request is under 1 KiB)
MAX_HEADERS = 50  # header fields of a request (the standard library stops reading at 100)
READ_TIMEOUT = 10.0  # seconds of silence before a connection is dropped
MAX_ADDRESS = 254  # octets of an address (RFC 5321's path limit less the angle brackets)
MAX_LOCAL_PART = 64
MAX_QUERY_FIELDS = 8

# An address as clients type it: a dot-atom local part (RFC 5322 atext) and a host name.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>(?:{_LABEL}\.)+{_LABEL})")
_LOWER_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
LOWER_HOST_NAME = re.compile(rf"(?:{_LOWER_LABEL}\.)+{_LOWER_LABEL}")
HOST_HEADER = re.compile(r"(?P<name>[A-Za-z0-9.-]{1,253}?)\.?(?::[0-9]{1,5})?")
DISPLAY_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,100}")

INCOMING_TYPES = ("imap", "pop3")
OUTGOING_TYPES = ("smtp",)
SOCKETS = ("SSL", "STARTTLS")  # plain text is never offered
HOST_PREFIXES = ("autoconfig.", "autodiscover.")

AUTOCONFIG_PATHS = frozenset(
    {"/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"}
)
AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml"  # compared without case
MOBILECONFIG_PATHS = frozenset({"/mobileconfig", "/email.mobileconfig"})

# Outlook's POX autodiscover (Exchange 2007 "plain old XML"; Microsoft publishes no schema).
NS_REQUEST = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
NS_RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
NS_OUTLOOK = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"

XML = "text/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
MOBILECONFIG = "application/x-apple-aspen-config"
# One body for every domain that is not served, whatever the endpoint: nothing to compare.
NOT_SERVED = b"no mail client settings are served for this address\n"
# The namespace of the profile's UUIDs: fixed, so that a profile downloaded again for the same
# address has the same identifiers, and installing it replaces the first one.
PROFILE_NAMESPACE = uuid.UUID("6f1f7c86-7d8e-5d4e-9b5e-6d61696c7374")


class SettingsError(Exception):
    """The settings cannot be used; the message names each problem, one a line."""


# --- settings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """One server a client may use: its type (imap, pop3, smtp), host, port and TLS mode."""

    type: str
    host: str
    port: int
    socket: str  # SSL (implicit TLS) or STARTTLS

    @property
    def implicit(self) -> bool:
        return self.socket == "SSL"


@dataclass(frozen=True)
class Domain:
    name: str
    display_name: str
    incoming: tuple[Server, ...]
    outgoing: tuple[Server, ...]


@dataclass(frozen=True)
class Settings:
    domains: Mapping[str, Domain] = field(default_factory=dict)


def load(path: Path) -> Settings:
    """The settings file read and validated; SettingsError names what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsError(f"{path}: cannot read: {error.strerror or error}") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise SettingsError(f"{path}: not JSON: {error}") from None
    problems: list[str] = []
    settings = parse_settings(data, problems)
    if problems:
        raise SettingsError("\n".join(f"{path}: {p}" for p in problems))
    return settings


def parse_settings(data: object, problems: list[str]) -> Settings:
    """The settings from decoded JSON; each problem appended to `problems`, named by its path."""
    if not isinstance(data, dict):
        problems.append("settings: must be an object with the key `domains`")
        return Settings()
    for key in sorted(set(data) - {"domains"}):
        problems.append(f"settings.{key}: unknown key (the only key is `domains`)")
    domains = data.get("domains")
    if not isinstance(domains, dict) or not domains:
        problems.append("settings.domains: must be an object with at least one domain")
        return Settings()
    out: dict[str, Domain] = {}
    for name, value in domains.items():
        where = f"settings.domains[{json.dumps(name)}]"
        if not (len(name) <= 253 and LOWER_HOST_NAME.fullmatch(name)):
            problems.append(f"{where}: the domain must be a lower-case host name")
            continue
        domain = _domain(name, value, where, problems)
        if domain is not None:
            out[name] = domain
    return Settings(out)


def _domain(name: str, value: object, where: str, problems: list[str]) -> Domain | None:
    if not isinstance(value, dict):
        problems.append(f"{where}: must be an object")
        return None
    for key in sorted(set(value) - {"display_name", "incoming", "outgoing"}):
        problems.append(f"{where}.{key}: unknown key")
    display = value.get("display_name")
    if not (isinstance(display, str) and DISPLAY_NAME.fullmatch(display)):
        problems.append(
            f"{where}.display_name: must be text of 1 to 100 characters without control characters"
        )
        display = name
    before = len(problems)
    incoming = _servers(value.get("incoming"), f"{where}.incoming", INCOMING_TYPES, problems)
    outgoing = _servers(value.get("outgoing"), f"{where}.outgoing", OUTGOING_TYPES, problems)
    if len(problems) > before:
        return None
    return Domain(name, str(display), incoming, outgoing)


def _servers(
    value: object, where: str, types: tuple[str, ...], problems: list[str]
) -> tuple[Server, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= 20:
        problems.append(f"{where}: must be a list of 1 to 20 servers")
        return ()
    out: list[Server] = []
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{at}: must be an object with type, host, port and socket")
            continue
        for key in sorted(set(item) - {"type", "host", "port", "socket"}):
            problems.append(f"{at}.{key}: unknown key")
        kind, host, port, sock = (item.get(k) for k in ("type", "host", "port", "socket"))
        found = len(problems)
        if kind not in types:
            problems.append(f"{at}.type: {kind!r} is not one of {', '.join(types)}")
        if not (isinstance(host, str) and len(host) <= 253 and LOWER_HOST_NAME.fullmatch(host)):
            problems.append(f"{at}.host: {host!r} is not a lower-case host name")
        if not (type(port) is int and 1 <= port <= 65535):
            problems.append(f"{at}.port: {port!r} is not a port number from 1 to 65535")
        if sock not in SOCKETS:
            problems.append(f"{at}.socket: {sock!r} is not one of {', '.join(SOCKETS)}")
        if len(problems) == found:
            out.append(Server(item["type"], item["host"], item["port"], item["socket"]))
    return tuple(out)


# --- requests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class BadRequest(Exception):
    """The request is malformed; the message says how, without echoing it."""


def text_reply(status: int, message: str) -> Reply:
    return Reply(status, TEXT, message.encode() + b"\n")


def valid_address(text: str) -> str:
    """The address when it is one a client may ask about; BadRequest otherwise."""
    match = ADDRESS.fullmatch(text) if text.isascii() else None
    if (
        match is None
        or len(text) > MAX_ADDRESS
        or len(match["local"]) > MAX_LOCAL_PART
        or any(len(label) > 63 for label in match["domain"].split("."))
    ):
        raise BadRequest("emailaddress is not a valid mail address")
    return text


def domain_of(settings: Settings, address: str | None, host: str | None) -> Domain | None:
    """The served domain an address (first) or a Host header names; None when none is served."""
    if address is not None:
        return settings.domains.get(address.rpartition("@")[2].lower())
    match = HOST_HEADER.fullmatch(host or "")
    if match is None:
        return None
    name = match["name"].lower()
    if name in settings.domains:
        return settings.domains[name]
    for prefix in HOST_PREFIXES:
        if name.startswith(prefix) and name[len(prefix) :] in settings.domains:
            return settings.domains[name[len(prefix) :]]
    return None


def query_address(query: str) -> str | None:
    """The `emailaddress` of a query string, validated; None when absent or empty."""
    try:
        fields = parse_qs(query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        raise BadRequest("the query has too many fields") from None
    values = fields.get("emailaddress", [])
    if len(values) > 1:
        raise BadRequest("emailaddress is given more than once")
    if not values or not values[0]:
        return None
    return valid_address(values[0])


def answer_get(settings: Settings, host: str | None, target: str) -> Reply:
    """The reply to GET `target` (path and query) with the Host header `host`."""
    parts = urlsplit(target)
    if parts.path == "/healthz":
        return text_reply(200, "ok")
    if parts.path.lower() == AUTODISCOVER_PATH:
        return Reply(405, TEXT, b"POST an autodiscover request\n", (("Allow", "POST"),))
    if parts.path not in AUTOCONFIG_PATHS | MOBILECONFIG_PATHS:
        return text_reply(404, "not found")
    try:
        return _document(settings, host, parts.path, query_address(parts.query))
    except BadRequest as error:
        return text_reply(400, str(error))


def _document(settings: Settings, host: str | None, path: str, address: str | None) -> Reply:
    """Thunderbird's document, or the profile, for the domain of `address`, else of `host`."""
    if path in MOBILECONFIG_PATHS and address is None:
        raise BadRequest("emailaddress is required: the profile is made for one address")
    domain = domain_of(settings, address, host)
    if domain is None:
        return Reply(404, TEXT, NOT_SERVED)
    if address is None or path in AUTOCONFIG_PATHS:
        return Reply(200, XML, autoconfig_xml(domain))
    disposition = f'attachment; filename="{domain.name}.mobileconfig"'
    return Reply(
        200, MOBILECONFIG, mobileconfig(domain, address), (("Content-Disposition", disposition),)
    )


def answer_post(settings: Settings, target: str, body: bytes) -> Reply:
    """The reply to POST `target` with `body`: only autodiscover takes a POST."""
    if urlsplit(target).path.lower() != AUTODISCOVER_PATH:
        return Reply(405, TEXT, b"only GET is served here\n", (("Allow", "GET, HEAD"),))
    try:
        address = autodiscover_request(body)
    except BadRequest as error:
        return text_reply(400, str(error))
    domain = domain_of(settings, address, None)
    if domain is None:
        return Reply(404, TEXT, NOT_SERVED)
    return Reply(200, XML, autodiscover_xml(domain, address))


def safe_xml(body: bytes) -> ET.Element:
    """A small XML document parsed without any DTD: a DOCTYPE (so any entity) is refused."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the request is not UTF-8") from None
    if "<!doctype" in text.lower() or "<!entity" in text.lower():
        raise BadRequest("the request has a DOCTYPE: DTDs and entities are refused")
    try:
        return ET.fromstring(text)  # noqa: S314 (no DTD can reach the parser, see above)
    except ET.ParseError as error:
        raise BadRequest(f"the request is not well-formed XML: {error}") from None


def autodiscover_request(body: bytes) -> str:
    """The address of Outlook's POX request; BadRequest when it is not one."""
    root = safe_xml(body)
    if root.tag != f"{{{NS_REQUEST}}}Autodiscover":
        raise BadRequest(f"the request is not an Autodiscover element of {NS_REQUEST}")
    request = root.find(f"{{{NS_REQUEST}}}Request")
    if request is None:
        raise BadRequest("the request has no Request element")
    schema = (request.findtext(f"{{{NS_REQUEST}}}AcceptableResponseSchema") or "").strip()
    if schema != NS_OUTLOOK:
        raise BadRequest(f"only the response schema {NS_OUTLOOK} is served")
    addresses = request.findall(f"{{{NS_REQUEST}}}EMailAddress")
    if len(addresses) != 1:
        raise BadRequest("the request must name one EMailAddress")
    return valid_address((addresses[0].text or "").strip())


# --- documents ----------------------------------------------------------------------------


def _text(parent: ET.Element, tag: str, value: str | int) -> None:
    ET.SubElement(parent, tag).text = str(value)


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    document = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{document}\n'.encode()


def autoconfig_xml(domain: Domain) -> bytes:
    """Thunderbird's clientConfig 1.1 for the domain; the same for every address."""
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domain.name)
    _text(provider, "domain", domain.name)
    _text(provider, "displayName", domain.display_name)
    _text(provider, "displayShortName", domain.display_name)
    for tag, servers in (("incomingServer", domain.incoming), ("outgoingServer", domain.outgoing)):
        for server in servers:
            element = ET.SubElement(provider, tag, type=server.type)
            _text(element, "hostname", server.host)
            _text(element, "port", server.port)
            _text(element, "socketType", server.socket)
            _text(element, "username", "%EMAILADDRESS%")
            _text(element, "authentication", "password-cleartext")
    return _xml(root)


def autodiscover_xml(domain: Domain, address: str) -> bytes:
    """Outlook's POX answer: one Protocol per server, in the settings' order.

    SSL is on for every server (the password only ever travels over TLS); Encryption, which
    Outlook reads before SSL, says how TLS starts: SSL (implicit) or TLS (STARTTLS).
    """
    # Plain `xmlns` attributes keep each element in the default namespace Outlook expects.
    root = ET.Element("Autodiscover", xmlns=NS_RESPONSE)
    response = ET.SubElement(root, "Response", xmlns=NS_OUTLOOK)
    account = ET.SubElement(response, "Account")
    _text(account, "AccountType", "email")
    _text(account, "Action", "settings")
    for server in (*domain.incoming, *domain.outgoing):
        protocol = ET.SubElement(account, "Protocol")
        _text(protocol, "Type", server.type.upper())
        _text(protocol, "Server", server.host)
        _text(protocol, "Port", server.port)
        _text(protocol, "LoginName", address)
        _text(protocol, "DomainRequired", "off")
        _text(protocol, "SPA", "off")
        _text(protocol, "SSL", "on")
        _text(protocol, "Encryption", "SSL" if server.implicit else "TLS")
        _text(protocol, "AuthRequired", "on")
        if server.type == "smtp":
            _text(protocol, "UsePOPAuth", "off")
            _text(protocol, "SMTPLast", "off")
    return _xml(root)


def mobileconfig(
    domain: Domain, address: str, extra_payloads: Sequence[dict[str, Any]] = ()
) -> bytes:
    """An Apple configuration profile (XML property list, unsigned) for one address.

    It holds one com.apple.mail.managed payload: the first IMAP server (else the first POP3
    one) and the first SMTP server of the settings. Its identifiers are UUIDs made from the
    address, so a profile downloaded again replaces the one installed. `extra_payloads` are
    appended to PayloadContent: the place for an S/MIME identity (a com.apple.security.pkcs12
    payload, referenced from the mail payload's SMIMESigningCertificateUUID) when there is one.
    """
    # The first IMAP server, else the first POP3 one (min keeps the first of equals).
    incoming = min(domain.incoming, key=lambda s: INCOMING_TYPES.index(s.type))
    outgoing = domain.outgoing[0]
    key = address.lower()
    profile_uuid = str(uuid.uuid5(PROFILE_NAMESPACE, f"profile:{key}")).upper()
    mail_uuid = str(uuid.uuid5(PROFILE_NAMESPACE, f"mail:{key}")).upper()
    reverse = ".".join(reversed(domain.name.split(".")))
    mail: dict[str, Any] = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{reverse}.mailstack.mail.{mail_uuid}",
        "PayloadUUID": mail_uuid,
        "PayloadDisplayName": f"{domain.display_name} mail",
        "EmailAccountDescription": domain.display_name,
        "EmailAccountType": "EmailTypeIMAP" if incoming.type == "imap" else "EmailTypePOP",
        "EmailAddress": address,
        "IncomingMailServerHostName": incoming.host,
        "IncomingMailServerPortNumber": incoming.port,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerUsername": address,
        "OutgoingMailServerHostName": outgoing.host,
        "OutgoingMailServerPortNumber": outgoing.port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerUsername": address,
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    profile: dict[str, Any] = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{reverse}.mailstack.{profile_uuid}",
        "PayloadUUID": profile_uuid,
        "PayloadDisplayName": f"{domain.display_name} mail: {address}",
        "PayloadDescription": f"The mail account {address}: its servers, ports and TLS.",
        "PayloadOrganization": domain.display_name,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [mail, *extra_payloads],
    }
    data: bytes = plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)
    return data


# --- the server ---------------------------------------------------------------------------


class AppServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, settings: Settings) -> None:
        self.settings = settings
        super().__init__(path, Handler)


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.0, one request a connection; bounded header count, body size and read time."""

    server: AppServer
    server_version = "mailstack-autoconfig"
    sys_version = ""
    timeout = READ_TIMEOUT

    def do_GET(self) -> None:
        self._send(self._get(), body=True)

    def do_HEAD(self) -> None:
        self._send(self._get(), body=False)

    def do_POST(self) -> None:
        reply = self._bounded() or answer_post(self.server.settings, self.path, self._body())
        self._send(reply, body=True)

    def _get(self) -> Reply:
        return self._bounded() or answer_get(
            self.server.settings, self.headers.get("Host"), self.path
        )

    def _bounded(self) -> Reply | None:
        """A refusal when the request breaks a limit, before its body is read."""
        if len(self.headers) > MAX_HEADERS:
            return text_reply(431, f"more than {MAX_HEADERS} header fields")
        if self.command != "POST":
            return None
        if "Transfer-Encoding" in self.headers:
            return text_reply(411, "send the body with a Content-Length, not chunked")
        length = self.headers.get("Content-Length", "")
        if not (length.isascii() and length.isdigit()):
            return text_reply(411, "a Content-Length is required")
        if int(length) > MAX_BODY:
            return text_reply(413, f"the body is larger than {MAX_BODY} octets")
        return None

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers["Content-Length"]))

    def _send(self, reply: Reply, *, body: bool) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(reply.body)

    def version_string(self) -> str:
        return self.server_version

    def address_string(self) -> str:
        return "unix"  # a Unix socket's peer has no address; nginx logs the client's

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: the query holds the address asked about, which is nobody's log's.
        self.log_message("%s %s %s", self.command, urlsplit(self.path).path, code)


def _remove_stale(path: Path) -> None:
    """Remove a socket left by an earlier run; refuse to remove anything else."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SettingsError(f"{path} exists and is not a socket: not removed")
    path.unlink()


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(settings: Settings, path: Path) -> int:
    """Serve until SIGTERM or SIGINT; the socket is mode 0660 and removed on exit."""
    _remove_stale(path)
    old = os.umask(0o117)
    try:
        server = AppServer(str(path), settings)
    finally:
        os.umask(old)
    path.chmod(0o660)
    signal.signal(signal.SIGTERM, _stop)
    print(f"autoconfig_app: serving {len(settings.domains)} domain(s) on {path}", file=sys.stderr)
    try:
        with server, contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return 0


def _summary(settings: Settings) -> Iterable[str]:
    for domain in settings.domains.values():
        servers = (*domain.incoming, *domain.outgoing)
        listed = ", ".join(f"{s.type} {s.host}:{s.port} {s.socket}" for s in servers)
        yield f"{domain.name}: {listed}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True, type=Path, help="the JSON settings file")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--socket", type=Path, help="serve HTTP on this Unix socket")
    mode.add_argument("--check", action="store_true", help="validate the settings and exit")
    args = parser.parse_args(argv)
    try:
        settings = load(args.settings)
        if args.check:
            print("\n".join(_summary(settings)))
            print(f"{args.settings}: valid, {len(settings.domains)} domain(s)")
            return 0
        return serve(settings, args.socket)
    except SettingsError as error:
        print(f"autoconfig_app: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
