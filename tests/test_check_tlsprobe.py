"""mailstack.check.tlsprobe against real mail servers on loopback, with real certificates.

The servers below speak just enough SMTP (ESMTP with or without STARTTLS), IMAP and POP3 to
reach a TLS handshake, or TLS from the first octet (implicit TLS). Each connection is served
by its own thread; what the client said after the handshake is recorded, so that the tests
can check that the probe says goodbye. Certificates come from a test CA made here with
`cryptography` (EC P-256): a leaf for mx.example.test signed by the CA, and a self-signed
certificate for the same name.
"""

from __future__ import annotations

import datetime
import hashlib
import socket
import socketserver
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailstack.check.tlsprobe import (
    Deferred,
    Handshake,
    ProbeError,
    Tlsa,
    handshake,
    tlsa_match,
)
from mailstack.keys import tlsa_311

HOST = "127.0.0.1"
NAME = "mx.example.test"
# More names of the test certificates, for the audits' HTTPS tests (tests/test_check_servers.py,
# tests/test_check_clientsetup.py).
OTHER_NAMES = (
    "mta-sts.example.test",
    "autoconfig.example.test",
    "autodiscover.example.test",
    "example.test",
)
TIMEOUT = 3.0
EXPECTED_VERSION = "TLSv1.3" if ssl.HAS_TLSv1_3 else "TLSv1.2"

# --- certificates -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """The test CA, the leaf it signed, a self-signed certificate, and their files."""

    ca: x509.Certificate
    leaf: x509.Certificate
    selfsigned: x509.Certificate
    ca_pem: Path  # the CA certificate alone: a cafile
    chain_pem: Path  # leaf then CA
    leaf_pem: Path  # the leaf alone
    leaf_key: Path
    selfsigned_pem: Path
    selfsigned_key: Path

    @property
    def ca_der(self) -> bytes:
        return self.ca.public_bytes(serialization.Encoding.DER)

    @property
    def leaf_der(self) -> bytes:
        return self.leaf.public_bytes(serialization.Encoding.DER)

    @property
    def selfsigned_der(self) -> bytes:
        return self.selfsigned.public_bytes(serialization.Encoding.DER)


def _spki_der(cert: x509.Certificate) -> bytes:
    """SubjectPublicKeyInfo as cryptography encodes the key (independent of tlsprobe's parser)."""
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def _leaf_builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, days: int
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in (NAME, *OTHER_NAMES)]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("mailstack test CA"))
        .issuer_name(_name("mailstack test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        _leaf_builder(_name(NAME), ca.subject, leaf_key, days=30)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    self_key = ec.generate_private_key(ec.SECP256R1())
    selfsigned = _leaf_builder(_name(NAME), _name(NAME), self_key, days=10).sign(
        self_key, hashes.SHA256()
    )
    directory = tmp_path_factory.mktemp("pki")
    files = {
        "ca.pem": _pem(ca),
        "chain.pem": _pem(leaf, ca),
        "leaf.pem": _pem(leaf),
        "leaf.key": _key_pem(leaf_key),
        "selfsigned.pem": _pem(selfsigned),
        "selfsigned.key": _key_pem(self_key),
    }
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return Pki(
        ca=ca,
        leaf=leaf,
        selfsigned=selfsigned,
        ca_pem=directory / "ca.pem",
        chain_pem=directory / "chain.pem",
        leaf_pem=directory / "leaf.pem",
        leaf_key=directory / "leaf.key",
        selfsigned_pem=directory / "selfsigned.pem",
        selfsigned_key=directory / "selfsigned.key",
    )


def server_context(
    certfile: Path,
    keyfile: Path,
    *,
    minimum: ssl.TLSVersion = ssl.TLSVersion.MINIMUM_SUPPORTED,
    maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
    ciphers: str | None = None,
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    if ciphers is not None:
        context.set_ciphers(ciphers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1 and TLSv1_1, on purpose
        context.minimum_version = minimum
        context.maximum_version = maximum
    return context


# --- servers ------------------------------------------------------------------------------

Protocol = Literal["smtp", "smtp-without-starttls", "smtp-injecting", "imap", "pop3", "implicit"]


@dataclass
class Record:
    """What a server saw: EHLO names, commands after TLS, the negotiated versions and ciphers."""

    helos: list[str] = field(default_factory=list)
    after_tls: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    ciphers: list[str] = field(default_factory=list)
    handshaken: threading.Event = field(default_factory=threading.Event)


def read_line(sock: socket.socket) -> str | None:
    """One line without its end, read an octet at a time (nothing is read past it)."""
    data = b""
    while not data.endswith(b"\n"):
        octet = sock.recv(1)
        if not octet:
            return None
        data += octet
    return data.rstrip(b"\r\n").decode()


def send(sock: socket.socket, *lines: str) -> None:
    sock.sendall("".join(line + "\r\n" for line in lines).encode())


class MailServer(socketserver.ThreadingTCPServer):
    """One protocol on loopback, a port the OS chose; `serve` runs it in a thread."""

    daemon_threads = True
    block_on_close = False
    # A fixed port (the audits' port 25) is bound again by the next test at once.
    allow_reuse_address = True

    def __init__(
        self,
        protocol: Protocol,
        context: ssl.SSLContext,
        host: str,
        family: socket.AddressFamily,
        port: int = 0,
    ) -> None:
        self.address_family = family
        self.protocol = protocol
        self.context = context
        self.record = Record()
        super().__init__((host, port), Connection)
        self.port: int = self.server_address[1]

    def secure(self, sock: socket.socket) -> ssl.SSLSocket:
        tls = self.context.wrap_socket(sock, server_side=True)
        self.record.versions.append(tls.version() or "")
        cipher = tls.cipher()
        self.record.ciphers.append(cipher[0] if cipher else "")
        self.record.handshaken.set()
        return tls


class Connection(socketserver.BaseRequestHandler):
    """One client: the dialogue up to TLS, then the commands the client sends over TLS."""

    server: MailServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(TIMEOUT)
        try:
            tls = self.starttls(sock)
            if tls is not None:
                with tls:
                    self.after_tls(tls)
        except OSError:
            pass  # the client hung up, or refused our certificate or protocol version

    def starttls(self, sock: socket.socket) -> ssl.SSLSocket | None:
        protocol = self.server.protocol
        if protocol == "implicit":
            return self.server.secure(sock)  # after_tls greets
        if protocol == "imap":
            send(sock, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready")
            line = read_line(sock)
            if line != "a1 STARTTLS":
                send(sock, f"{(line or '*').split()[0]} BAD unexpected")
                return None
            send(sock, "* unsolicited untagged data", "a1 OK begin TLS now")
            return self.server.secure(sock)
        if protocol == "pop3":
            send(sock, "+OK POP3 ready")
            if read_line(sock) != "STLS":
                send(sock, "-ERR unexpected")
                return None
            send(sock, "+OK begin TLS")
            return self.server.secure(sock)
        return self.smtp(sock)

    def smtp(self, sock: socket.socket) -> ssl.SSLSocket | None:
        offers = self.server.protocol != "smtp-without-starttls"
        send(sock, f"220-{NAME} ESMTP test server", "220 a two-line greeting")
        while (line := read_line(sock)) is not None:
            verb = line.split(" ")[0].upper()
            if verb == "EHLO":
                self.server.record.helos.append(line[5:])
                extensions = ["PIPELINING", "SIZE 10240000", "8BITMIME"]
                if offers:
                    extensions.insert(1, "STARTTLS")
                send(
                    sock,
                    f"250-{NAME} hello",
                    *(f"250-{e}" for e in extensions[:-1]),
                    f"250 {extensions[-1]}",
                )
            elif verb == "STARTTLS" and offers:
                if self.server.protocol == "smtp-injecting":
                    send(sock, "220 ready", "250 injected before the handshake")
                else:
                    send(sock, "220 2.0.0 ready to start TLS")
                return self.server.secure(sock)
            elif verb == "QUIT":
                send(sock, "221 bye")
                return None
            else:
                send(sock, "502 5.5.2 command not recognised")
        return None

    def after_tls(self, tls: ssl.SSLSocket) -> None:
        if self.server.protocol == "implicit":
            send(tls, f"220 {NAME} ESMTP")
        while (line := read_line(tls)) is not None:
            self.server.record.after_tls.append(line)
            if line == "QUIT":
                send(tls, "+OK bye" if self.server.protocol == "pop3" else "221 2.0.0 bye")
                return
            if line == "a2 LOGOUT":
                send(tls, "* BYE logging out", "a2 OK LOGOUT completed")
                return
            send(tls, "502 5.5.2 command not recognised")


Serve = Callable[..., MailServer]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start servers (stopped when the test ends): serve(protocol, context, host=..., port=...)."""
    servers: list[tuple[MailServer, threading.Thread]] = []

    def start(
        protocol: Protocol, context: ssl.SSLContext, host: str = HOST, port: int = 0
    ) -> MailServer:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server = MailServer(protocol, context, host, family, port)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        return server

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def chain_context(pki: Pki) -> ssl.SSLContext:
    return server_context(pki.chain_pem, pki.leaf_key)


def probe(
    server: MailServer, starttls: Literal["smtp", "imap", "pop3"] | None, **options: str
) -> Handshake:
    return handshake(
        HOST,
        server.port,
        starttls=starttls,
        server_name=options.pop("server_name", NAME),
        timeout=TIMEOUT,
        **options,
    )


# --- 1. SMTP STARTTLS: version, chain, verification -----------------------------------------


def test_smtp_starttls_verifies_against_the_given_ca(
    pki: Pki, serve: Serve, chain_context: ssl.SSLContext
) -> None:
    server = serve("smtp", chain_context)
    result = probe(server, "smtp", cafile=str(pki.ca_pem))
    assert result.address == HOST
    assert result.port == server.port
    assert result.starttls == "smtp"
    assert result.version == EXPECTED_VERSION
    assert result.chain == (pki.leaf_der, pki.ca_der)
    assert result.verify_error is None
    # One connection only: the client's view is the server's view, and it said goodbye.
    assert server.record.versions == [EXPECTED_VERSION]
    assert server.record.ciphers == [result.cipher]
    assert server.record.helos == ["mailstack-check.invalid"]
    assert server.record.after_tls == ["QUIT"]


def test_smtp_helo_name_is_the_one_given(
    pki: Pki, serve: Serve, chain_context: ssl.SSLContext
) -> None:
    server = serve("smtp", chain_context)
    probe(server, "smtp", cafile=str(pki.ca_pem), helo="probe.example.org")
    assert server.record.helos == ["probe.example.org"]


def test_wrong_server_name_is_a_hostname_mismatch(
    pki: Pki, serve: Serve, chain_context: ssl.SSLContext
) -> None:
    server = serve("smtp", chain_context)
    result = probe(server, "smtp", cafile=str(pki.ca_pem), server_name="other.example.test")
    assert result.verify_error is not None
    assert "other.example.test" in result.verify_error
    assert "Hostname mismatch" in result.verify_error
    # The chain and version still come back, from a second, unverified handshake.
    assert result.chain == (pki.leaf_der, pki.ca_der)
    assert result.version == EXPECTED_VERSION
    assert len(server.record.helos) == 2
    assert server.record.after_tls == ["QUIT"]


def test_unknown_ca_does_not_verify_without_cafile(
    pki: Pki, serve: Serve, chain_context: ssl.SSLContext
) -> None:
    server = serve("smtp", chain_context)
    result = probe(server, "smtp")  # the system's bundle does not hold the test CA
    assert result.verify_error is not None
    assert result.verify_error.startswith(f"the certificate does not verify for {NAME}: ")
    assert "OpenSSL verify error" in result.verify_error
    assert result.chain == (pki.leaf_der, pki.ca_der)


def test_self_signed_certificate_does_not_verify(pki: Pki, serve: Serve) -> None:
    server = serve("smtp", server_context(pki.selfsigned_pem, pki.selfsigned_key))
    for cafile in (None, str(pki.ca_pem)):
        options = {} if cafile is None else {"cafile": cafile}
        result = probe(server, "smtp", **options)
        assert result.verify_error is not None
        assert "self-signed certificate" in result.verify_error
        assert "(OpenSSL verify error 18)" in result.verify_error
        assert result.chain == (pki.selfsigned_der,)
        assert result.not_after == pki.selfsigned.not_valid_after_utc


# --- 2. failures --------------------------------------------------------------------------


def test_server_without_starttls(serve: Serve, chain_context: ssl.SSLContext) -> None:
    server = serve("smtp-without-starttls", chain_context)
    with pytest.raises(ProbeError) as caught:
        probe(server, "smtp")
    message = str(caught.value)
    assert message.startswith(f"{HOST} port {server.port}: the server does not offer STARTTLS")
    assert "(EHLO answer: " in message
    assert "PIPELINING" in message
    assert server.record.versions == []


def test_closed_port() -> None:
    # A bound socket that does not listen: connections to its port are refused.
    with socket.socket() as closed:
        closed.bind((HOST, 0))
        port = closed.getsockname()[1]
        with pytest.raises(ProbeError, match=rf"^{HOST} port {port}: cannot connect: "):
            handshake(HOST, port, starttls="smtp", server_name=NAME, timeout=TIMEOUT)


def test_silent_server_times_out() -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(ProbeError, match=r"no SMTP greeting within 0\.2 s"):
            handshake(HOST, port, starttls="smtp", server_name=NAME, timeout=0.2)


def test_data_injected_before_the_handshake_is_refused(
    serve: Serve, chain_context: ssl.SSLContext
) -> None:
    server = serve("smtp-injecting", chain_context)
    with pytest.raises(ProbeError, match="sent data after its STARTTLS answer"):
        probe(server, "smtp")


def test_imap_on_the_smtp_probe_is_a_protocol_error(
    serve: Serve, chain_context: ssl.SSLContext
) -> None:
    server = serve("imap", chain_context)
    with pytest.raises(ProbeError, match=r"the SMTP greeting is not an SMTP reply: '\* OK"):
        probe(server, "smtp")


# --- 3. IMAP, POP3, implicit TLS, IPv6 ------------------------------------------------------


def test_imap_starttls(pki: Pki, serve: Serve, chain_context: ssl.SSLContext) -> None:
    server = serve("imap", chain_context)
    result = probe(server, "imap", cafile=str(pki.ca_pem))
    assert (result.version, result.verify_error) == (EXPECTED_VERSION, None)
    assert result.chain == (pki.leaf_der, pki.ca_der)
    assert server.record.ciphers == [result.cipher]
    assert server.record.after_tls == ["a2 LOGOUT"]


def test_pop3_starttls(pki: Pki, serve: Serve, chain_context: ssl.SSLContext) -> None:
    server = serve("pop3", chain_context)
    result = probe(server, "pop3", cafile=str(pki.ca_pem))
    assert (result.version, result.verify_error) == (EXPECTED_VERSION, None)
    assert result.chain == (pki.leaf_der, pki.ca_der)
    assert server.record.ciphers == [result.cipher]
    assert server.record.after_tls == ["QUIT"]


def test_implicit_tls(pki: Pki, serve: Serve, chain_context: ssl.SSLContext) -> None:
    server = serve("implicit", chain_context)
    result = probe(server, None, cafile=str(pki.ca_pem))
    assert result.starttls is None
    assert (result.version, result.verify_error) == (EXPECTED_VERSION, None)
    assert result.chain == (pki.leaf_der, pki.ca_der)
    assert server.record.handshaken.wait(TIMEOUT)
    assert server.record.ciphers == [result.cipher]


def test_ipv6_literal(pki: Pki, serve: Serve, chain_context: ssl.SSLContext) -> None:
    try:
        server = serve("smtp", chain_context, host="::1")
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here: binding ::1 failed: {error}")
    result = handshake(
        "::1", server.port, starttls="smtp", server_name=NAME, cafile=str(pki.ca_pem)
    )
    assert (result.address, result.verify_error) == ("::1", None)
    assert result.chain == (pki.leaf_der, pki.ca_der)


def test_tlsa_311_of_a_certificate_as_sent_is_the_hash_of_its_key(pki: Pki) -> None:
    leaf_pem = pki.leaf.public_bytes(serialization.Encoding.PEM)
    assert tlsa_311(pki.leaf_der) == hashlib.sha256(_spki_der(pki.leaf)).hexdigest()
    assert tlsa_311(pki.leaf_der) == tlsa_311(leaf_pem)
    assert tlsa_311(pki.ca_der) == hashlib.sha256(_spki_der(pki.ca)).hexdigest()
    assert tlsa_311(pki.ca_der) != tlsa_311(pki.leaf_der)
    with pytest.raises(ValueError, match="not a certificate"):
        tlsa_311(b"\x30\x03\x02\x01\x00")


def test_tlsa_dane_ee(pki: Pki) -> None:
    chain = (pki.leaf_der, pki.ca_der)
    leaf_spki = _spki_der(pki.leaf)
    good = [
        Tlsa(3, 1, 1, hashlib.sha256(leaf_spki).digest()),
        Tlsa(3, 0, 1, hashlib.sha256(pki.leaf_der).digest()),
        Tlsa(3, 1, 2, hashlib.sha512(leaf_spki).digest()),
        Tlsa(3, 1, 0, leaf_spki),
        Tlsa(3, 0, 0, pki.leaf_der),
        Tlsa(3, 0, 2, hashlib.sha512(pki.leaf_der).digest()),
    ]
    other_key = Tlsa(3, 1, 1, hashlib.sha256(_spki_der(pki.selfsigned)).digest())
    ca_as_ee = Tlsa(3, 1, 1, hashlib.sha256(_spki_der(pki.ca)).digest())
    assert tlsa_match(chain, [*good, other_key, ca_as_ee]) == good
    assert tlsa_match(chain, [other_key]) == []
    assert tlsa_match(chain, [ca_as_ee]) == []  # usage 3 is the leaf, not any certificate
    assert tlsa_match((), good) == []


def test_tlsa_dane_ta_needs_the_ca_in_the_chain(
    pki: Pki, serve: Serve, chain_context: ssl.SSLContext
) -> None:
    ta = Tlsa(2, 1, 1, hashlib.sha256(_spki_der(pki.ca)).digest())
    ta_full = Tlsa(2, 0, 1, hashlib.sha256(pki.ca_der).digest())
    leaf_as_ta = Tlsa(2, 1, 1, hashlib.sha256(_spki_der(pki.leaf)).digest())
    with_ca = probe(serve("smtp", chain_context), "smtp", cafile=str(pki.ca_pem))
    leaf_only = probe(
        serve("smtp", server_context(pki.leaf_pem, pki.leaf_key)), "smtp", cafile=str(pki.ca_pem)
    )
    assert leaf_only.chain == (pki.leaf_der,)
    assert leaf_only.verify_error is None  # the CA file completes the chain for OpenSSL
    assert tlsa_match(with_ca.chain, [ta, ta_full, leaf_as_ta]) == [ta, ta_full]
    assert tlsa_match(leaf_only.chain, [ta, ta_full, leaf_as_ta]) == []


def test_tlsa_pkix_usages_never_match(pki: Pki) -> None:
    chain = (pki.leaf_der, pki.ca_der)
    records = [
        Tlsa(1, 1, 1, hashlib.sha256(_spki_der(pki.leaf)).digest()),
        Tlsa(1, 0, 0, pki.leaf_der),
        Tlsa(0, 1, 1, hashlib.sha256(_spki_der(pki.ca)).digest()),
        Tlsa(3, 2, 1, hashlib.sha256(_spki_der(pki.leaf)).digest()),  # unknown selector
        Tlsa(3, 1, 3, hashlib.sha256(_spki_der(pki.leaf)).digest()),  # unknown matching type
    ]
    assert tlsa_match(chain, records) == []


def test_tlsa_from_text(pki: Pki) -> None:
    digest = tlsa_311(pki.leaf_der)
    record = Tlsa.from_text(f"3 1 1 {digest[:20].upper()} {digest[20:]}")
    assert record == Tlsa(3, 1, 1, bytes.fromhex(digest))
    assert record.to_text() == f"3 1 1 {digest}"
    assert tlsa_match((pki.leaf_der,), [record]) == [record]
    assert Tlsa.from_text("2 0 0 3082") == Tlsa(2, 0, 0, b"\x30\x82")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "found 0 field"),
        ("3 1 1", "found 3 field"),
        ("three 1 1 00", "the usage 'three' is not a number from 0 to 255"),
        ("3 256 1 00", "the selector '256' is not a number from 0 to 255"),
        ("3 1 -1 00", "the matching type '-1' is not a number from 0 to 255"),
        ("3 1 1 xyz", "the association data is not hexadecimal"),
        ("3 1 1 abc", "the association data is not hexadecimal"),
        ("3 1 1 abcd", "matching type 1 needs 32 octets of digest, the association data has 2"),
        ("3 1 2 " + "00" * 32, "matching type 2 needs 64 octets"),
    ],
)
def test_tlsa_from_text_rejects(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match="TLSA record") as caught:
        Tlsa.from_text(text)
    assert problem in str(caught.value)


# --- 4. expiry ----------------------------------------------------------------------------


def test_not_after_is_the_leaf_expiry(
    pki: Pki, serve: Serve, chain_context: ssl.SSLContext
) -> None:
    result = probe(serve("smtp", chain_context), "smtp", cafile=str(pki.ca_pem))
    assert result.not_after == pki.leaf.not_valid_after_utc
    assert result.not_after.utcoffset() == datetime.timedelta(0)
    assert result.not_after != pki.ca.not_valid_after_utc


def test_a_server_that_turns_the_probe_away_for_now_is_deferred_not_broken() -> None:
    """A 421 greeting (Postfix's answer over a client's connection rate) says nothing of the
    server's TLS: the probe raises Deferred, which the audits report as not tested."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(1)
    listener.settimeout(5)

    def greet() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"421 4.7.0 mx.example.test Error: too many connections\r\n")

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    try:
        with pytest.raises(Deferred, match=r"refuses for now .*421"):
            handshake(HOST, listener.getsockname()[1], starttls="smtp", server_name=NAME, timeout=3)
    finally:
        thread.join(5)
        listener.close()
    assert issubclass(Deferred, ProbeError)
