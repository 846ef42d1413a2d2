"""Mail client set-up documents read into one form: the servers a client would use.

Three documents tell a mail client where its servers are: Thunderbird's autoconfig XML
(clientConfig 1.1), Outlook's POX autodiscover answer (response schema 2006a) and Apple's
configuration profile (a property list with com.apple.mail.managed payloads). Each parser
here checks its document against the element set its vendor documents (required elements,
allowed values, no element outside the set) and returns the servers it names, in the
document's order, as `Server`s: protocol, host, port, how TLS starts, and the login name.

`ParseError` names what does not conform, with the element's path. XML is parsed without
any DTD: a document with a DOCTYPE is refused before it reaches the parser.

How TLS starts: Thunderbird's socketType says it (SSL: implicit, STARTTLS, plain). Outlook's
Encryption says it when present (SSL, TLS: STARTTLS, None); without it, or with Auto, and
in Apple's profiles, which only say whether TLS is used, it is implicit on the ports of
implicit TLS (993, 995, 465; RFC 8314) and STARTTLS elsewhere.
"""

from __future__ import annotations

import plistlib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Protocol = Literal["imap", "pop3", "smtp"]
Tls = Literal["implicit", "starttls", "plain"]
PROTOCOLS: tuple[Protocol, ...] = ("imap", "pop3", "smtp")
IMPLICIT_PORTS = frozenset({993, 995, 465})

NS_REQUEST = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
NS_RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
NS_OUTLOOK = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


class ParseError(ValueError):
    """The document does not conform; the message names the element and the problem."""


@dataclass(frozen=True, slots=True)
class Server:
    """A server as a client set-up document names it."""

    protocol: Protocol
    host: str
    port: int
    tls: Tls
    username: str  # the login name; Thunderbird's placeholders replaced when an address is known

    @property
    def incoming(self) -> bool:
        return self.protocol != "smtp"

    def __str__(self) -> str:
        return f"{self.protocol} {self.host}:{self.port} ({self.tls})"


def _by_port(port: int, tls: bool) -> Tls:
    """How TLS starts when a document says only whether it is used."""
    if not tls:
        return "plain"
    return "implicit" if port in IMPLICIT_PORTS else "starttls"


def _port(text: str | None, where: str) -> int:
    value = (text or "").strip()
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= 65535):
        raise ParseError(f"{where}: {value!r} is not a port number from 1 to 65535")
    return int(value)


def _host(text: str | None, where: str) -> str:
    value = (text or "").strip().lower().rstrip(".")
    if not value or len(value) > 253 or any(c.isspace() or c in "/:@" for c in value):
        raise ParseError(f"{where}: {value!r} is not a host name")
    return value


def _safe_xml(body: bytes, what: str) -> ET.Element:
    """Parse UTF-8 XML in which no DTD (hence no entity declaration) can appear."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ParseError(f"the {what} is not UTF-8") from None
    if "<!doctype" in text.lower() or "<!entity" in text.lower():
        raise ParseError(f"the {what} has a DOCTYPE: DTDs and entities are refused")
    try:
        return ET.fromstring(text)  # noqa: S314 (no DTD can reach the parser, see above)
    except ET.ParseError as error:
        raise ParseError(f"the {what} is not well-formed XML: {error}") from None


def _children(element: ET.Element, allowed: frozenset[str], where: str, ns: str = "") -> None:
    """Refuse a child element outside the documented set (and any in another namespace)."""
    prefix = f"{{{ns}}}" if ns else ""
    for child in element:
        local = child.tag.removeprefix(prefix)
        if local not in allowed or (child.tag.startswith("{") and not prefix):
            raise ParseError(f"{where}: {child.tag} is not one of its documented elements")


def _one(element: ET.Element, tag: str, where: str, ns: str = "") -> str:
    """The text of exactly one child `tag`."""
    found = element.findall(f"{{{ns}}}{tag}" if ns else tag)
    if len(found) != 1:
        raise ParseError(f"{where}: needs exactly one {tag}, found {len(found)}")
    return (found[0].text or "").strip()


# --- Thunderbird: clientConfig 1.1 ----------------------------------------------------------

# The element set of Mozilla's ConfigFileFormat (wiki.mozilla.org/Thunderbird:Autoconfiguration).
TB_ROOT = frozenset({"emailProvider", "oAuth2", "webMail", "clientConfigUpdate"})
TB_PROVIDER = frozenset(
    {
        "domain",
        "displayName",
        "displayShortName",
        "incomingServer",
        "outgoingServer",
        "documentation",
        "enable",
        "instructions",
        "identity",
        "inputField",
    }
)
TB_SERVER = frozenset(
    {
        "hostname",
        "port",
        "socketType",
        "username",
        "password",
        "authentication",
        "pop3",
        "restriction",
        "addThisServer",
        "useGlobalPreferredServer",
        "owaURL",
        "ewsURL",
        "easURL",
    }
)
TB_SOCKET_TYPES: Mapping[str, Tls] = {"SSL": "implicit", "STARTTLS": "starttls", "plain": "plain"}
TB_AUTHENTICATION = frozenset(
    {
        "password-cleartext",
        "plain",
        "password-encrypted",
        "secure",
        "NTLM",
        "GSSAPI",
        "client-IP-address",
        "TLS-client-cert",
        "OAuth2",
        "none",
        "smtp-after-pop",
    }
)
TB_TYPES = {"incomingServer": frozenset({"imap", "pop3", "exchange"}), "outgoingServer": {"smtp"}}


def _placeholders(text: str, address: str | None) -> str:
    if address is None:
        return text
    local, _, domain = address.rpartition("@")
    for name, value in (("EMAILADDRESS", address), ("EMAILLOCALPART", local)):
        text = text.replace(f"%{name}%", value)
    return text.replace("%EMAILDOMAIN%", domain)


def parse_autoconfig(body: bytes, address: str | None = None) -> list[Server]:
    """The servers of a Thunderbird clientConfig 1.1 document, incoming first as listed.

    `address`, when given, replaces %EMAILADDRESS%, %EMAILLOCALPART% and %EMAILDOMAIN% in
    host and user names. Servers of type `exchange` are checked and left out.
    """
    root = _safe_xml(body, "autoconfig document")
    if root.tag != "clientConfig":
        raise ParseError(f"the root element is {root.tag}, not clientConfig")
    if root.get("version") != "1.1":
        raise ParseError(f"clientConfig: version {root.get('version')!r}, not '1.1'")
    _children(root, TB_ROOT, "clientConfig")
    providers = root.findall("emailProvider")
    if len(providers) != 1:
        raise ParseError(f"clientConfig: needs one emailProvider, found {len(providers)}")
    provider = providers[0]
    where = "clientConfig/emailProvider"
    _children(provider, TB_PROVIDER, where)
    if not provider.get("id"):
        raise ParseError(f"{where}: has no id")
    if not provider.findall("domain"):
        raise ParseError(f"{where}: names no domain")
    _one(provider, "displayName", where)
    servers: list[Server] = []
    for tag in ("incomingServer", "outgoingServer"):
        found = provider.findall(tag)
        if not found:
            raise ParseError(f"{where}: has no {tag}")
        for index, element in enumerate(found):
            server = _tb_server(element, f"{where}/{tag}[{index}]", tag, address)
            if server is not None:
                servers.append(server)
    return servers


def _tb_server(element: ET.Element, where: str, tag: str, address: str | None) -> Server | None:
    _children(element, TB_SERVER, where)
    kind = element.get("type", "")
    if kind not in TB_TYPES[tag]:
        raise ParseError(f"{where}: type {kind!r} is not one of {', '.join(sorted(TB_TYPES[tag]))}")
    host = _host(_placeholders(_one(element, "hostname", where), address), f"{where}/hostname")
    port = _port(_one(element, "port", where), f"{where}/port")
    socket = _one(element, "socketType", where)
    if socket not in TB_SOCKET_TYPES:
        raise ParseError(f"{where}/socketType: {socket!r} is not one of SSL, STARTTLS, plain")
    username = _placeholders(_one(element, "username", where), address)
    methods = [(a.text or "").strip() for a in element.findall("authentication")]
    if not methods:
        raise ParseError(f"{where}: has no authentication")
    for method in methods:
        if method not in TB_AUTHENTICATION:
            raise ParseError(f"{where}/authentication: {method!r} is not a documented method")
    if kind == "exchange":
        return None
    protocol: Protocol = "imap" if kind == "imap" else "pop3" if kind == "pop3" else "smtp"
    return Server(protocol, host, port, TB_SOCKET_TYPES[socket], username)


# --- Outlook: POX autodiscover, response schema 2006a ---------------------------------------

# The element set of Microsoft's POX Autodiscover reference (Microsoft publishes no schema
# for it), and Encryption, which Outlook reads for POP3, IMAP and SMTP.
AD_RESPONSE = frozenset({"User", "Account", "Error"})
AD_USER = frozenset({"DisplayName", "LegacyDN", "AutoDiscoverSMTPAddress", "DeploymentId"})
AD_ACCOUNT = frozenset(
    {"AccountType", "Action", "RedirectUrl", "RedirectAddr", "Image", "ServiceHome", "Protocol"}
)
AD_PROTOCOL = frozenset(
    {
        "Type",
        "Internal",
        "External",
        "TTL",
        "Server",
        "ServerDN",
        "ServerVersion",
        "MdbDN",
        "PublicFolderServer",
        "AD",
        "Port",
        "DirectoryPort",
        "ReferralPort",
        "ASUrl",
        "EwsUrl",
        "EmwsUrl",
        "SharingUrl",
        "EcpUrl",
        "OOFUrl",
        "OABUrl",
        "UMUrl",
        "EwsPartnerUrl",
        "LoginName",
        "DomainRequired",
        "DomainName",
        "SPA",
        "AuthPackage",
        "CertPrincipalName",
        "SSL",
        "AuthRequired",
        "UsePOPAuth",
        "SMTPLast",
        "NetworkRequirements",
        "AddressBook",
        "MailStore",
        "Encryption",
    }
)
AD_ON_OFF = ("SSL", "SPA", "AuthRequired", "DomainRequired", "UsePOPAuth", "SMTPLast")
AD_TYPES: Mapping[str, Protocol] = {"IMAP": "imap", "POP3": "pop3", "SMTP": "smtp"}
AD_ENCRYPTION: Mapping[str, Tls | None] = {
    "ssl": "implicit",
    "tls": "starttls",
    "none": "plain",
    "auto": None,
}


def autodiscover_request(address: str) -> bytes:
    """Outlook's POX request for `address`, asking for the response schema 2006a."""
    root = ET.Element("Autodiscover", xmlns=NS_REQUEST)
    request = ET.SubElement(root, "Request")
    ET.SubElement(request, "EMailAddress").text = address
    ET.SubElement(request, "AcceptableResponseSchema").text = NS_OUTLOOK
    document = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{document}'.encode()


def parse_autodiscover(body: bytes) -> list[Server]:
    """The POP3, IMAP and SMTP servers of an Outlook POX answer (Action `settings`).

    An Error answer, a redirect and a Protocol of another type (EXCH, WEB...) are named;
    only the last is left out without an error.
    """
    root = _safe_xml(body, "autodiscover answer")
    if root.tag != f"{{{NS_RESPONSE}}}Autodiscover":
        raise ParseError(f"the root element is {root.tag}, not Autodiscover of {NS_RESPONSE}")
    responses = root.findall(f"{{{NS_OUTLOOK}}}Response")
    if len(responses) != 1 or len(root) != 1:
        raise ParseError(f"Autodiscover: needs exactly one Response of {NS_OUTLOOK}")
    response, where = responses[0], "Autodiscover/Response"
    _children(response, AD_RESPONSE, where, NS_OUTLOOK)
    error = response.find(f"{{{NS_OUTLOOK}}}Error")
    if error is not None:
        code = error.findtext(f"{{{NS_OUTLOOK}}}ErrorCode", "").strip()
        message = error.findtext(f"{{{NS_OUTLOOK}}}Message", "").strip()
        raise ParseError(f"{where}: the answer is an error: {code} {message}".rstrip())
    for user in response.findall(f"{{{NS_OUTLOOK}}}User"):
        _children(user, AD_USER, f"{where}/User", NS_OUTLOOK)
    accounts = response.findall(f"{{{NS_OUTLOOK}}}Account")
    if len(accounts) != 1:
        raise ParseError(f"{where}: needs exactly one Account, found {len(accounts)}")
    account, where = accounts[0], f"{where}/Account"
    _children(account, AD_ACCOUNT, where, NS_OUTLOOK)
    if (kind := _one(account, "AccountType", where, NS_OUTLOOK)) != "email":
        raise ParseError(f"{where}/AccountType: {kind!r}, not 'email'")
    if (action := _one(account, "Action", where, NS_OUTLOOK)) != "settings":
        raise ParseError(f"{where}/Action: {action!r}: only 'settings' is read, not redirects")
    servers: list[Server] = []
    for index, protocol in enumerate(account.findall(f"{{{NS_OUTLOOK}}}Protocol")):
        server = _ad_protocol(protocol, f"{where}/Protocol[{index}]")
        if server is not None:
            servers.append(server)
    if not servers:
        raise ParseError(f"{where}: names no IMAP, POP3 or SMTP server")
    return servers


def _ad_protocol(element: ET.Element, where: str) -> Server | None:
    _children(element, AD_PROTOCOL, where, NS_OUTLOOK)

    def text(tag: str) -> str | None:
        found = element.findall(f"{{{NS_OUTLOOK}}}{tag}")
        if len(found) > 1:
            raise ParseError(f"{where}: {tag} appears {len(found)} times")
        return (found[0].text or "").strip() if found else None

    for tag in AD_ON_OFF:
        if (value := text(tag)) is not None and value not in ("on", "off"):
            raise ParseError(f"{where}/{tag}: {value!r} is neither 'on' nor 'off'")
    kind = text("Type")
    if kind is None:
        raise ParseError(f"{where}: has no Type")
    if kind not in AD_TYPES:
        return None
    host = _host(text("Server"), f"{where}/Server")
    port = _port(text("Port"), f"{where}/Port")
    encryption = text("Encryption")
    if encryption is not None and encryption.lower() not in AD_ENCRYPTION:
        raise ParseError(f"{where}/Encryption: {encryption!r} is not None, SSL, TLS or Auto")
    # SSL defaults to on when absent (Microsoft's reference).
    tls = AD_ENCRYPTION.get((encryption or "auto").lower()) or _by_port(port, text("SSL") != "off")
    return Server(AD_TYPES[kind], host, port, tls, text("LoginName") or "")


# --- Apple: configuration profile -----------------------------------------------------------

APPLE_ACCOUNT_TYPES: Mapping[str, Protocol] = {"EmailTypeIMAP": "imap", "EmailTypePOP": "pop3"}
APPLE_AUTHENTICATION = frozenset(
    {"EmailAuthNone", "EmailAuthPassword", "EmailAuthCRAMMD5", "EmailAuthNTLM", "EmailAuthHTTPMD5"}
)
MAIL_PAYLOAD = "com.apple.mail.managed"


def _str(payload: Mapping[str, object], key: str, where: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str):
        raise ParseError(f"{where}: {key} must be a string, found {value!r}")
    return value


def _int(payload: Mapping[str, object], key: str, where: str) -> int:
    value = payload.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParseError(f"{where}: {key} must be an integer, found {value!r}")
    return value


def parse_mobileconfig(body: bytes) -> list[Server]:
    """The servers of each com.apple.mail.managed payload of an (unsigned) profile.

    The profile and each payload must have the keys Apple requires (PayloadType,
    PayloadVersion 1, PayloadIdentifier, PayloadUUID); other payload types are checked for
    those keys and left out.
    """
    try:
        profile = plistlib.loads(body)
    except (plistlib.InvalidFileException, ValueError) as error:
        raise ParseError(f"the profile is not a property list (a signed one?): {error}") from None
    if not isinstance(profile, dict):
        raise ParseError("the profile is not a dictionary")
    _payload_keys(profile, "profile")
    if profile["PayloadType"] != "Configuration":
        raise ParseError(f"profile: PayloadType {profile['PayloadType']!r}, not 'Configuration'")
    content = profile.get("PayloadContent")
    if not isinstance(content, list):
        raise ParseError(f"profile: PayloadContent must be an array, found {content!r}")
    servers: list[Server] = []
    for index, payload in enumerate(content):
        where = f"profile/PayloadContent[{index}]"
        if not isinstance(payload, dict):
            raise ParseError(f"{where}: is not a dictionary")
        _payload_keys(payload, where)
        if payload["PayloadType"] == MAIL_PAYLOAD:
            servers += _mail_payload(payload, where)
    if not servers:
        raise ParseError(f"the profile has no {MAIL_PAYLOAD} payload")
    return servers


def _payload_keys(payload: Mapping[str, object], where: str) -> None:
    for key in ("PayloadType", "PayloadIdentifier", "PayloadUUID"):
        _str(payload, key, where)
    if _int(payload, "PayloadVersion", where) != 1:
        raise ParseError(f"{where}: PayloadVersion must be 1")


def _mail_payload(payload: Mapping[str, object], where: str) -> list[Server]:
    kind = _str(payload, "EmailAccountType", where)
    if kind not in APPLE_ACCOUNT_TYPES:
        raise ParseError(f"{where}: EmailAccountType {kind!r} is not EmailTypeIMAP or EmailTypePOP")
    servers: list[Server] = []
    sides: tuple[tuple[str, Protocol], ...] = (
        ("Incoming", APPLE_ACCOUNT_TYPES[kind]),
        ("Outgoing", "smtp"),
    )
    for side, protocol in sides:
        host = _host(_str(payload, f"{side}MailServerHostName", where), where)
        port = _port(str(_int(payload, f"{side}MailServerPortNumber", where)), where)
        use_ssl = payload.get(f"{side}MailServerUseSSL", False)
        if not isinstance(use_ssl, bool):
            raise ParseError(f"{where}: {side}MailServerUseSSL must be true or false")
        auth = payload.get(f"{side}MailServerAuthentication")
        if auth not in APPLE_AUTHENTICATION:
            raise ParseError(f"{where}: {side}MailServerAuthentication {auth!r} is not documented")
        username = payload.get(f"{side}MailServerUsername", "")
        if not isinstance(username, str):
            raise ParseError(f"{where}: {side}MailServerUsername must be a string")
        servers.append(Server(protocol, host, port, _by_port(port, use_ssl), username))
    return servers
