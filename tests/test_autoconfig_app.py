"""The autoconfig role's served program, run as the server runs it: a subprocess of Python
without site-packages (so stdlib only) serving HTTP on a Unix socket in a temporary directory,
asked over real HTTP. Every document is parsed by mailstack.clientsetup, whose parsers check
it against its vendor's documented element set; the tests here also plant mistakes in served
documents and expect that check to refuse them."""

from __future__ import annotations

import http.client
import json
import plistlib
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from mailstack import clientsetup
from mailstack.clientsetup import ParseError, Server
from tests.conftest import ROOT, load_file

APP = ROOT / "roles/autoconfig/files/usr/local/lib/mailstack/autoconfig_app.py"
app = load_file(APP.relative_to(ROOT), "autoconfig_app")

SETTINGS: dict[str, Any] = {
    "domains": {
        "example.test": {
            "display_name": "Example & Co <mail>",
            "incoming": [
                {"type": "imap", "host": "mx1.example.test", "port": 993, "socket": "SSL"},
                {"type": "imap", "host": "mx1.example.test", "port": 143, "socket": "STARTTLS"},
                {"type": "pop3", "host": "mx1.example.test", "port": 995, "socket": "SSL"},
            ],
            "outgoing": [
                {"type": "smtp", "host": "mx1.example.test", "port": 465, "socket": "SSL"},
                {"type": "smtp", "host": "mx1.example.test", "port": 587, "socket": "STARTTLS"},
            ],
        },
        # POP3 only, STARTTLS listed first: the program keeps the settings' order.
        "other.test": {
            "display_name": "other.test",
            "incoming": [{"type": "pop3", "host": "pop.other.test", "port": 995, "socket": "SSL"}],
            "outgoing": [
                {"type": "smtp", "host": "smtp.other.test", "port": 587, "socket": "STARTTLS"},
                {"type": "smtp", "host": "smtp.other.test", "port": 465, "socket": "SSL"},
            ],
        },
    }
}
TIMEOUT = 5.0
ALICE = "alice@example.test"
NOBODY = "xqzzy@example.test"  # as long as ALICE: the two answers' lengths can be compared
AUTOCONFIG = "/mail/config-v1.1.xml"
WELL_KNOWN = "/.well-known/autoconfig/mail/config-v1.1.xml"
AUTODISCOVER = "/autodiscover/autodiscover.xml"


def expected(domain: str, address: str) -> list[Server]:
    """The servers of a domain's settings as every document should name them, in order."""
    settings = SETTINGS["domains"][domain]
    return [
        Server(
            s["type"],
            s["host"],
            s["port"],
            "implicit" if s["socket"] == "SSL" else "starttls",
            address,
        )
        for s in (*settings["incoming"], *settings["outgoing"])
    ]


# --- the server -----------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class UnixConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket, as nginx's proxy_pass http://unix:... speaks it."""

    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=TIMEOUT)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        sock.connect(str(self.path))
        self.sock = sock


@dataclass
class App:
    socket: Path
    process: subprocess.Popen[bytes]
    log: Path  # the program's standard error

    def ask(
        self,
        method: str,
        target: str,
        *,
        host: str | None = "autoconfig.example.test",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        connection = UnixConnection(self.socket)
        try:
            connection.putrequest(method, target, skip_host=True)
            for name, value in ({"Host": host} if host else {}).items():
                connection.putheader(name, value)
            for name, value in (headers or {}).items():
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def get(self, target: str, **options: Any) -> Reply:
        return self.ask("GET", target, **options)

    def autodiscover(self, address: str, path: str = AUTODISCOVER, **options: Any) -> Reply:
        body = clientsetup.autodiscover_request(address)
        headers = {"Content-Type": "text/xml"}
        return self.ask("POST", path, body=body, headers=headers, host="autodiscover.x", **options)

    def raw(self, data: bytes) -> bytes:
        """Send octets as they are; what the server answers until it closes."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.connect(str(self.socket))
            sock.sendall(data)
            received = b""
            for _ in range(1000):
                chunk = sock.recv(65536)
                if not chunk:
                    return received
                received += chunk
            raise AssertionError("the server did not close the connection")


def start(directory: Path, settings: object, *extra: str) -> App:
    """The program started on a socket in `directory`, once the socket is there."""
    settings_file = directory / "settings.json"
    settings_file.write_text(json.dumps(settings))
    path = directory / "app.sock"
    log = directory / "stderr.log"
    with log.open("wb") as errors:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            # -I -S: no site-packages and no environment: the program needs the stdlib only.
            [
                sys.executable,
                "-I",
                "-S",
                str(APP),
                "--settings",
                str(settings_file),
                "--socket",
                str(path),
                *extra,
            ],
            stderr=errors,
        )
    for _ in range(200):
        if process.poll() is not None:
            raise AssertionError(f"the program stopped: {log.read_text()}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))  # a stale socket refuses: only a live one accepts
            except OSError:
                time.sleep(0.025)
                continue
        return App(path, process, log)
    process.kill()
    raise AssertionError("no socket after 5 s")


def stop(server: App) -> str:
    """SIGTERM, and the program's standard error once it exited."""
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=TIMEOUT)
    return server.log.read_text()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    server = start(tmp_path_factory.mktemp("app"), SETTINGS)
    yield server
    stop(server)


def q(address: str) -> str:
    return quote(address, safe="")


def refused(
    parse: Callable[[bytes], object], body: bytes, change: tuple[bytes, bytes], message: str
) -> None:
    """The served `body`, changed once from old to new, is refused with `message`."""
    old, new = change
    assert old in body
    with pytest.raises(ParseError, match=re.escape(message)):
        parse(body.replace(old, new, 1))


# --- Thunderbird ----------------------------------------------------------------------------


def test_thunderbird_gets_every_server_in_order_at_both_addresses(served: App) -> None:
    first = served.get(f"{AUTOCONFIG}?emailaddress={q(ALICE)}")
    assert first.status == 200
    assert first.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert clientsetup.parse_autoconfig(first.body, ALICE) == expected("example.test", ALICE)
    # The user name is Thunderbird's placeholder, not the address.
    assert [s.username for s in clientsetup.parse_autoconfig(first.body)] == ["%EMAILADDRESS%"] * 5
    # The domain's own host serves the .well-known copy; without an address, Host decides.
    for target, host in (
        (f"{WELL_KNOWN}?emailaddress={q(ALICE)}", "example.test"),
        (AUTOCONFIG, "autoconfig.example.test"),
        (WELL_KNOWN, "EXAMPLE.test.:443"),
        (AUTOCONFIG, "autodiscover.example.test"),
    ):
        again = served.get(target, host=host)
        assert (again.status, again.body) == (200, first.body), (target, host)


def test_the_address_s_domain_chooses_the_document_and_the_order_is_kept(served: App) -> None:
    reply = served.get(
        f"{AUTOCONFIG}?emailaddress=bob%40other.test", host="autoconfig.example.test"
    )
    assert reply.status == 200
    servers = clientsetup.parse_autoconfig(reply.body, "bob@other.test")
    assert servers == expected("other.test", "bob@other.test")
    assert [s.port for s in servers] == [995, 587, 465]


def test_display_names_are_escaped_and_read_back(served: App) -> None:
    body = served.get(AUTOCONFIG).body
    assert b"Example &amp; Co &lt;mail&gt;" in body
    root = clientsetup.safe_xml(body, "test")
    assert root.findtext("emailProvider/displayName") == "Example & Co <mail>"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b"<socketType>SSL</socketType>", b"<socketType>TLS</socketType>", "'TLS' is not one of"),
        (b"password-cleartext", b"password-magic", "is not a documented method"),
        (b"<hostname>mx1.example.test</hostname>", b"", "needs exactly one hostname, found 0"),
        (b"<port>993</port>", b"<port>99301</port>", "is not a port number"),
        (b"<domain>", b"<website>x</website><domain>", "website is not one of its documented"),
        (b'version="1.1"', b'version="1.0"', "version '1.0', not '1.1'"),
        (b'type="imap"', b'type="nntp"', "type 'nntp' is not one of"),
        (b"<clientConfig", b'<!DOCTYPE c [<!ENTITY e "x">]><clientConfig', "DOCTYPE"),
    ],
)
def test_the_thunderbird_element_set_is_enforced(
    served: App, old: bytes, new: bytes, message: str
) -> None:
    refused(clientsetup.parse_autoconfig, served.get(AUTOCONFIG).body, (old, new), message)


# --- Outlook --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [AUTODISCOVER, "/Autodiscover/Autodiscover.xml"])
def test_outlook_gets_every_server_with_the_address_as_login(served: App, path: str) -> None:
    reply = served.autodiscover(ALICE, path)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert clientsetup.parse_autodiscover(reply.body) == expected("example.test", ALICE)
    root = clientsetup.safe_xml(reply.body, "test")
    protocols = root.findall(
        f"{{{clientsetup.NS_OUTLOOK}}}Response/{{{clientsetup.NS_OUTLOOK}}}Account/{{{clientsetup.NS_OUTLOOK}}}Protocol"
    )
    values = {
        (
            p.findtext(f"{{{clientsetup.NS_OUTLOOK}}}SPA"),
            p.findtext(f"{{{clientsetup.NS_OUTLOOK}}}AuthRequired"),
            p.findtext(f"{{{clientsetup.NS_OUTLOOK}}}SSL"),
        )
        for p in protocols
    }
    assert values == {("off", "on", "on")}


def test_a_get_of_autodiscover_is_refused_with_the_method_to_use(served: App) -> None:
    reply = served.get(AUTODISCOVER)
    assert (reply.status, reply.headers["Allow"]) == (405, "POST")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            b"<Encryption>SSL</Encryption>",
            b"<Encryption>Maybe</Encryption>",
            "is not None, SSL, TLS or Auto",
        ),
        (b"<SSL>on</SSL>", b"<SSL>yes</SSL>", "is neither 'on' nor 'off'"),
        (b"<Action>settings</Action>", b"<Action>redirectUrl</Action>", "not redirects"),
        (b"<Port>993</Port>", b"<Port>none</Port>", "is not a port number"),
        (b"<Type>IMAP</Type>", b"<Type>IMAP</Type><Flavour>x</Flavour>", "Flavour is not one of"),
        (b"<AccountType>email</AccountType>", b"", "needs exactly one AccountType"),
        (
            b"outlook/responseschema/2006a",
            b"outlook/responseschema/2099",
            "needs exactly one Response",
        ),
    ],
)
def test_the_outlook_element_set_is_enforced(
    served: App, old: bytes, new: bytes, message: str
) -> None:
    refused(clientsetup.parse_autodiscover, served.autodiscover(ALICE).body, (old, new), message)


def test_without_encryption_ssl_and_the_port_say_how_tls_starts(served: App) -> None:
    body = re.sub(rb"<Encryption>\w+</Encryption>", b"", served.autodiscover(ALICE).body)
    assert [s.tls for s in clientsetup.parse_autodiscover(body)] == [
        "implicit",
        "starttls",
        "implicit",
        "implicit",
        "starttls",
    ]
    plain = body.replace(b"<SSL>on</SSL>", b"<SSL>off</SSL>")
    assert {s.tls for s in clientsetup.parse_autodiscover(plain)} == {"plain"}


def request(address: str, schema: str = clientsetup.NS_OUTLOOK) -> bytes:
    return clientsetup.autodiscover_request(address).replace(
        clientsetup.NS_OUTLOOK.encode(), schema.encode()
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaa">]>'
            + request(ALICE).split(b"?>", 1)[1],
            b"DOCTYPE",
        ),
        (request(ALICE).replace(b"<Request>", b"<!doctype x><Request>"), b"DOCTYPE"),
        (request(ALICE)[:-20], b"not well-formed"),
        (request(ALICE).decode().encode("utf-16"), b"not UTF-8"),
        (
            request(ALICE).replace(b"requestschema/2006", b"requestschema/2099"),
            b"not an Autodiscover element",
        ),
        (
            request(
                ALICE,
                "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006",
            ),
            b"only the response schema",
        ),
        (
            request(ALICE).replace(
                b"</Request>", b"<EMailAddress>b@example.test</EMailAddress></Request>"
            ),
            b"one EMailAddress",
        ),
        (request("not an address"), b"not a valid mail address"),
        (b"", b"not well-formed"),
    ],
)
def test_a_malformed_autodiscover_request_is_refused(
    served: App, body: bytes, message: bytes
) -> None:
    reply = served.ask("POST", AUTODISCOVER, body=body)
    assert reply.status == 400
    assert message in reply.body


def test_a_body_over_64_kib_is_refused_and_one_of_64_kib_is_read(served: App) -> None:
    valid = request(ALICE)
    padded = valid + b" " * (64 * 1024 - len(valid))
    assert served.ask("POST", AUTODISCOVER, body=padded).status == 200
    # One octet more, and a body larger than the socket's buffers: the server answers 413
    # and reads what is still sent, so that the client reads the answer.
    for body in (padded + b" ", padded * 16):
        reply = served.ask("POST", AUTODISCOVER, body=body)
        assert reply.status == 413
        assert b"larger than 65536 octets" in reply.body


def test_a_post_without_a_length_is_refused(served: App) -> None:
    chunked = served.raw(
        b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.example.test\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    assert chunked.startswith(b"HTTP/1.0 411 ")
    missing = served.raw(b"POST /autodiscover/autodiscover.xml HTTP/1.0\r\n\r\n")
    assert missing.startswith(b"HTTP/1.0 411 ")


def test_too_many_header_fields_are_refused(served: App) -> None:
    headers = {f"X-Filler-{i}": "x" for i in range(app.MAX_HEADERS)}
    assert served.get("/healthz", headers=headers).status == 431
    assert served.get("/healthz", headers=dict(list(headers.items())[:40])).status == 200


# --- Apple ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/mobileconfig", "/email.mobileconfig"])
def test_apple_gets_a_profile_for_the_address(served: App, path: str) -> None:
    reply = served.get(f"{path}?emailaddress={q(ALICE)}")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/x-apple-aspen-config"
    assert (
        reply.headers["Content-Disposition"] == 'attachment; filename="example.test.mobileconfig"'
    )
    imap, _, _, smtp, _ = expected("example.test", ALICE)
    assert clientsetup.parse_mobileconfig(reply.body) == [imap, smtp]
    profile = plistlib.loads(reply.body)
    (mail,) = profile["PayloadContent"]
    assert mail["EmailAccountType"] == "EmailTypeIMAP"
    assert mail["EmailAddress"] == ALICE
    assert mail["IncomingMailServerUseSSL"] is mail["OutgoingMailServerUseSSL"] is True
    assert {profile["PayloadUUID"], mail["PayloadUUID"]} == {
        str(uuid.uuid5(app.PROFILE_NAMESPACE, f"{kind}:{ALICE}")).upper()
        for kind in ("profile", "mail")
    }
    assert profile["PayloadIdentifier"].startswith("test.example.mailstack.")


def test_a_profile_downloaded_again_replaces_the_first_and_others_do_not(served: App) -> None:
    def ids(address: str) -> tuple[str, str]:
        profile = plistlib.loads(served.get(f"/mobileconfig?emailaddress={q(address)}").body)
        return profile["PayloadIdentifier"], profile["PayloadUUID"]

    assert ids(ALICE) == ids(ALICE) == ids(ALICE.upper())
    assert ids(ALICE)[0] != ids("bob@example.test")[0]
    assert ids(ALICE)[1] != ids("bob@example.test")[1]


def test_a_pop3_only_domain_gets_a_pop_profile(served: App) -> None:
    body = served.get("/mobileconfig?emailaddress=bob%40other.test").body
    pop, smtp, _ = expected("other.test", "bob@other.test")
    assert clientsetup.parse_mobileconfig(body) == [pop, smtp]
    assert plistlib.loads(body)["PayloadContent"][0]["EmailAccountType"] == "EmailTypePOP"


def test_a_profile_needs_an_address(served: App) -> None:
    reply = served.get("/mobileconfig")
    assert reply.status == 400
    assert b"emailaddress is required" in reply.body


def test_the_identity_hook_adds_payloads_the_parser_checks() -> None:
    problems: list[str] = []
    settings = app.parse_settings(SETTINGS, problems)
    assert problems == []
    domain = settings.domains["example.test"]
    identity = {
        "PayloadType": "com.apple.security.pkcs12",
        "PayloadVersion": 1,
        "PayloadIdentifier": "x.y",
        "PayloadUUID": "U",
    }
    body = app.mobileconfig(domain, ALICE, [identity])
    assert len(plistlib.loads(body)["PayloadContent"]) == 2
    assert len(clientsetup.parse_mobileconfig(body)) == 2
    del identity["PayloadUUID"]
    with pytest.raises(ParseError, match=r"PayloadContent\[1\]: PayloadUUID must be a string"):
        clientsetup.parse_mobileconfig(app.mobileconfig(domain, ALICE, [identity]))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("EmailAccountType", "EmailTypeExchange", "is not EmailTypeIMAP or EmailTypePOP"),
        ("IncomingMailServerPortNumber", "993", "must be an integer"),
        ("OutgoingMailServerUseSSL", "yes", "must be true or false"),
        ("IncomingMailServerAuthentication", "EmailAuthMagic", "is not documented"),
        ("PayloadVersion", 2, "PayloadVersion must be 1"),
    ],
)
def test_the_profile_s_required_keys_are_enforced(
    served: App, key: str, value: object, message: str
) -> None:
    profile = plistlib.loads(served.get(f"/mobileconfig?emailaddress={q(ALICE)}").body)
    profile["PayloadContent"][0][key] = value
    with pytest.raises(ParseError, match=re.escape(message)):
        clientsetup.parse_mobileconfig(plistlib.dumps(profile))


# --- no enumeration, invalid addresses ---------------------------------------------------------


def fetch_all(served: App, address: str) -> list[Reply]:
    """What each endpoint answers about one address."""
    return [
        served.get(f"{AUTOCONFIG}?emailaddress={q(address)}"),
        served.get(f"{WELL_KNOWN}?emailaddress={q(address)}", host=address.rpartition("@")[2]),
        served.autodiscover(address),
        served.get(f"/mobileconfig?emailaddress={q(address)}"),
    ]


UUID = re.compile(rb"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")


def shape(reply: Reply, address: str) -> tuple[int, dict[str, str], bytes]:
    """The reply with the address and the UUIDs made from it blanked, and no Date."""
    headers = {k: v for k, v in reply.headers.items() if k != "Date"}
    body = UUID.sub(b"<uuid>", reply.body.replace(address.encode(), b"<address>"))
    return reply.status, headers, body


def test_any_address_of_a_served_domain_gets_the_same_answer(served: App) -> None:
    known, unknown = fetch_all(served, ALICE), fetch_all(served, NOBODY)
    assert [r.status for r in known] == [200] * 4
    assert [shape(r, ALICE) for r in known] == [shape(r, NOBODY) for r in unknown]
    # Only the address differs: the replies are not equal as they are.
    assert known[2].body != unknown[2].body


def test_every_domain_not_served_gets_one_404(served: App) -> None:
    replies = fetch_all(served, "bob@nowhere.test") + fetch_all(served, "alice@elsewhere.example")
    replies.append(served.get(AUTOCONFIG, host="autoconfig.nowhere.test"))
    replies.append(served.get(AUTOCONFIG, host="[2001:db8::1]"))
    replies.append(served.get(AUTOCONFIG, host=None))
    assert {(r.status, r.body) for r in replies} == {(404, app.NOT_SERVED)}


@pytest.mark.parametrize(
    "address",
    [
        "alice",
        "alice@",
        "@example.test",
        "alice@example",
        "al..ice@example.test",
        ".alice@example.test",
        "alice@-example.test",
        "alice@exa_mple.test",
        "a" * 65 + "@example.test",
        "alice@" + "a" * 64 + ".test",
        "alice@" + ".".join(["abcdefghi"] * 25) + ".test",
        "älice@example.test",
        "alice@example.test bob@example.test",
        '"alice"@example.test',
    ],
)
def test_an_invalid_address_is_400_everywhere(served: App, address: str) -> None:
    for reply in fetch_all(served, address):
        assert reply.status == 400, reply
        assert b"not a valid mail address" in reply.body


def test_an_address_given_twice_or_with_a_line_end_is_400(served: App) -> None:
    reply = served.get(f"{AUTOCONFIG}?emailaddress={q(ALICE)}&emailaddress=bob%40other.test")
    assert (reply.status, reply.body) == (400, b"emailaddress is given more than once\n")
    reply = served.get(f"/mobileconfig?emailaddress={q(ALICE)}%0A")
    assert (reply.status, reply.body) == (400, b"emailaddress is not a valid mail address\n")


def test_escaping_keeps_an_unusual_address_exact(served: App) -> None:
    address = "o'brien&co+{x}@example.test"
    login = {s.username for s in clientsetup.parse_autodiscover(served.autodiscover(address).body)}
    assert login == {address}
    body = served.get(f"/mobileconfig?emailaddress={q(address)}").body
    assert {s.username for s in clientsetup.parse_mobileconfig(body)} == {address}


# --- the rest of HTTP -------------------------------------------------------------------------


def test_health_head_and_unknown_paths(served: App) -> None:
    health = served.get("/healthz")
    assert (health.status, health.body) == (200, b"ok\n")
    head = served.ask("HEAD", AUTOCONFIG)
    assert (head.status, head.body) == (200, b"")
    assert int(head.headers["Content-Length"]) == len(served.get(AUTOCONFIG).body)
    assert served.get("/mail/other.xml").status == 404
    post = served.ask("POST", AUTOCONFIG, body=b"x")
    assert (post.status, post.headers["Allow"]) == (405, "GET, HEAD")
    assert served.ask("PUT", AUTOCONFIG).status == 501


def test_a_silent_client_is_dropped_after_the_read_timeout(tmp_path: Path) -> None:
    server = start(tmp_path, SETTINGS, "--timeout", "0.3")
    try:
        began = time.monotonic()
        answer = server.raw(b"GET /healthz HTTP/1.0\r\n")  # and then nothing
        assert time.monotonic() - began < TIMEOUT
        assert b" 200 " not in answer
    finally:
        stop(server)


# --- starting and stopping --------------------------------------------------------------------


def test_the_socket_is_0660_replaces_a_stale_one_and_goes_on_sigterm(tmp_path: Path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "app.sock"))
    stale.close()  # the file stays, as after a crash
    server = start(tmp_path, SETTINGS)
    assert stat.S_IMODE(server.socket.stat().st_mode) == 0o660
    assert server.get("/healthz").status == 200
    errors = stop(server)
    assert server.process.returncode == 0
    assert not server.socket.exists()
    assert "GET /healthz 200" in errors


def test_a_file_in_the_socket_s_place_is_not_removed(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(json.dumps(SETTINGS))
    (tmp_path / "app.sock").write_text("keep me")
    result = run_app(
        "--settings", str(tmp_path / "settings.json"), "--socket", str(tmp_path / "app.sock")
    )
    assert result.returncode == 1
    assert "is not a socket: not removed" in result.stderr
    assert (tmp_path / "app.sock").read_text() == "keep me"


def test_the_query_s_address_is_not_logged(tmp_path: Path) -> None:
    server = start(tmp_path, SETTINGS)
    server.get(f"{AUTOCONFIG}?emailaddress={q(ALICE)}")
    errors = stop(server)
    assert f"GET {AUTOCONFIG} 200" in errors
    assert "alice" not in errors


def run_app(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-S", str(APP), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def check(tmp_path: Path, settings: object) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "settings.json"
    path.write_text(settings if isinstance(settings, str) else json.dumps(settings))
    return run_app("--settings", str(path), "--check")


def test_check_accepts_good_settings(tmp_path: Path) -> None:
    result = check(tmp_path, SETTINGS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("valid, 2 domain(s)\n")
    assert "pop3 pop.other.test:995 SSL" in result.stdout


def broken(change: dict[str, Any]) -> dict[str, Any]:
    domain = json.loads(json.dumps(SETTINGS["domains"]["other.test"]))
    domain.update(change)
    return {"domains": {"other.test": domain}}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("{not json", "not JSON"),
        ([], "settings: must be an object with the key `domains`"),
        ({"domains": {}}, "settings.domains: must be an object with at least one domain"),
        ({"domains": {}, "users": []}, "settings.users: unknown key"),
        (
            {"domains": {"Example.test": {}}},
            'settings.domains["Example.test"]: the domain must be a lower-case host name',
        ),
        (
            broken({"display_name": "a\nb"}),
            'settings.domains["other.test"].display_name: must be text',
        ),
        (broken({"mailboxes": ["alice"]}), 'settings.domains["other.test"].mailboxes: unknown key'),
        (
            broken({"incoming": []}),
            'settings.domains["other.test"].incoming: must be a list of 1 to 20 servers',
        ),
        (
            broken({"incoming": [{"type": "imap", "host": "x.test", "port": 0, "socket": "SSL"}]}),
            ".incoming[0].port: 0 is not a port number",
        ),
        (
            broken(
                {"incoming": [{"type": "imap", "host": "x.test", "port": True, "socket": "SSL"}]}
            ),
            ".incoming[0].port: True is not a port number",
        ),
        (
            broken(
                {"incoming": [{"type": "imap", "host": "x.test", "port": 143, "socket": "plain"}]}
            ),
            ".incoming[0].socket: 'plain' is not one of SSL, STARTTLS",
        ),
        (
            broken({"incoming": [{"type": "smtp", "host": "x.test", "port": 25, "socket": "SSL"}]}),
            ".incoming[0].type: 'smtp' is not one of imap, pop3",
        ),
        (
            broken(
                {"outgoing": [{"type": "smtp", "host": "x test", "port": 465, "socket": "SSL"}]}
            ),
            ".outgoing[0].host: 'x test' is not a lower-case host name",
        ),
        (broken({"outgoing": ["smtp"]}), ".outgoing[0]: must be an object"),
    ],
)
def test_check_names_each_problem(tmp_path: Path, settings: object, message: str) -> None:
    result = check(tmp_path, settings)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_a_missing_settings_file_and_usage_errors(tmp_path: Path) -> None:
    missing = run_app("--settings", str(tmp_path / "none.json"), "--check")
    assert missing.returncode == 1
    assert "cannot read: No such file or directory" in missing.stderr
    assert run_app("--check").returncode == 2
    assert run_app("--settings", "x", "--check", "--socket", "y").returncode == 2
    assert run_app("--settings", "x", "--check", "--timeout", "0").returncode == 2
