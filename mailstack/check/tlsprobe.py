"""TLS probes for `mailstack check`: handshakes with a mail server, as a sending MTA sees them.

`handshake` connects to one address and port, speaks the STARTTLS dialogue of SMTP, IMAP or
POP3 (or none, for implicit TLS on 465, 993 and 995), and reports what the server offered:
the protocol version and cipher, the certificate chain exactly as sent, whether that chain
verifies against the CA bundle for the expected name, and the leaf's expiry. `tlsa_match`
checks DANE TLSA records against a chain. Which versions and ciphers a server accepts is
tlsscan's work, with hand-written ClientHellos (tlshello).

The client side is deliberately permissive about protocol versions and ciphers (OpenSSL's
lowest supported version, "DEFAULT:@SECLEVEL=0"): the probe must be able to talk to an old
server in order to report on it, and version, cipher and chain are returned for the caller
to judge. `verify_error` therefore judges trust and name only, not key strength.

`timeout` is the time allowed one whole probe (the connection, the dialogue, the handshake
and the goodbye), not each read: a server that sends one octet a second cannot hold a probe
past it.

Every failure to connect, to complete the STARTTLS dialogue or to complete the handshake
raises `ProbeError`, whose message names the address, the port and what failed.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509

from mailstack.keys import tlsa_association

Starttls = Literal["smtp", "imap", "pop3"] | None

PERMISSIVE_CIPHERS = "DEFAULT:@SECLEVEL=0"
MAX_LINE = 8192
MAX_LINES = 1000
ECHO = 200  # characters of a server's answer quoted in a message


class ProbeError(Exception):
    """The connection, the STARTTLS dialogue or the TLS handshake failed."""


class Deferred(ProbeError):
    """The server refused for now (a 4xx greeting, such as a rate limit's 421): nothing about
    its TLS is known, and nothing is wrong with it either."""


@dataclass(frozen=True)
class Handshake:
    """What one completed TLS handshake showed.

    `chain` holds the DER certificates in the order the server sent them, leaf first.
    `verify_error` is None when that chain verifies against the CA bundle (the system's, or
    `cafile`) and the leaf is valid for the expected name; otherwise OpenSSL's reason.
    """

    address: str
    port: int
    starttls: Starttls
    version: str
    cipher: str
    chain: tuple[bytes, ...]
    verify_error: str | None
    not_after: datetime.datetime


@dataclass(frozen=True)
class Tlsa:
    """One TLSA record: certificate usage, selector, matching type and association data."""

    usage: int
    selector: int
    mtype: int
    data: bytes

    @classmethod
    def from_text(cls, text: str) -> Tlsa:
        """Parse the presentation format, "3 1 1 <hex>"; the hex may contain spaces.

        Raises ValueError naming the problem: too few fields, a field that is not a number
        from 0 to 255, association data that is not hexadecimal, or a SHA-256 (matching
        type 1) or SHA-512 (matching type 2) digest of the wrong length.
        """
        fields = text.split()
        if len(fields) < 4:
            raise ValueError(
                f"TLSA record {text!r}: expected usage, selector, matching type and "
                f"association data, found {len(fields)} field(s)"
            )
        numbers: list[int] = []
        for name, field in zip(("usage", "selector", "matching type"), fields[:3], strict=True):
            if not field.isdigit() or not 0 <= int(field) <= 255:
                raise ValueError(
                    f"TLSA record {text!r}: the {name} {field!r} is not a number from 0 to 255"
                )
            numbers.append(int(field))
        hexdata = "".join(fields[3:])
        try:
            data = bytes.fromhex(hexdata)
        except ValueError:
            raise ValueError(
                f"TLSA record {text!r}: the association data is not hexadecimal"
            ) from None
        usage, selector, mtype = numbers
        expected = {1: 32, 2: 64}.get(mtype)
        if expected is not None and len(data) != expected:
            raise ValueError(
                f"TLSA record {text!r}: matching type {mtype} needs {expected} octets of "
                f"digest, the association data has {len(data)}"
            )
        if not data:
            raise ValueError(f"TLSA record {text!r}: the association data is empty")
        return cls(usage, selector, mtype, data)

    def to_text(self) -> str:
        """The presentation format, "3 1 1 <hex>"."""
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


# --- certificates -------------------------------------------------------------------------


def tlsa_match(chain: Sequence[bytes], records: Sequence[Tlsa]) -> list[Tlsa]:
    """The records, in their order, that match the chain (DER certificates, leaf first).

    Usage 3 (DANE-EE) is checked against the leaf, usage 2 (DANE-TA) against every
    certificate the server sent after the leaf, so a trust anchor that the server leaves out
    of its chain does not match. Selector 0 is the whole certificate, 1 its
    SubjectPublicKeyInfo; matching type 0 is the data itself, 1 its SHA-256, 2 its SHA-512.
    Usages 0 (PKIX-TA) and 1 (PKIX-EE) never match: RFC 7672 section 3.1.3 has SMTP clients
    treat them as unusable, since MX hosts are not expected to hold WebPKI certificates.
    Unknown selectors and matching types never match either.
    """
    matched: list[Tlsa] = []
    for record in records:
        if record.usage == 3:
            candidates: Sequence[bytes] = chain[:1]
        elif record.usage == 2:
            candidates = chain[1:]
        else:
            continue
        for der_cert in candidates:
            if tlsa_association(der_cert, record.selector, record.mtype) == record.data:
                matched.append(record)
                break
    return matched


# --- the conversation ---------------------------------------------------------------------


class _Lines:
    """Lines read from a socket, keeping count of the octets received past the last line."""

    def __init__(self, sock: socket.socket, where: str, clock: Clock) -> None:
        self.sock = sock
        self.where = where
        self.clock = clock
        self.timeout = clock.seconds
        self.buffer = b""

    def fail(self, what: str) -> ProbeError:
        """A ProbeError about this connection."""
        return ProbeError(f"{self.where}: {what}")

    def send(self, line: str) -> None:
        """Send one command line; ProbeError when that fails."""
        try:
            self.sock.settimeout(self.clock.left(f"chance to send {line!r}", self.where))
            self.sock.sendall(line.encode("ascii") + b"\r\n")
        except TimeoutError:
            raise self.fail(f"sending {line!r} timed out after {self.timeout:g} s") from None
        except OSError as error:
            raise self.fail(f"sending {line!r} failed: {_reason(error)}") from None

    def line(self, waiting_for: str) -> str:
        """One line without its end; ProbeError on end of stream, timeout or an endless line."""
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise self.fail(f"the {waiting_for} is a line longer than {MAX_LINE} octets")
            so_far = f" (so far: {_echo(self.buffer)})" if self.buffer else ""
            try:
                self.sock.settimeout(self.clock.left(waiting_for, self.where, so_far))
                data = self.sock.recv(4096)
            except TimeoutError:
                raise self.fail(f"no {waiting_for} within {self.timeout:g} s{so_far}") from None
            except OSError as error:
                raise self.fail(f"reading the {waiting_for} failed: {_reason(error)}") from None
            if not data:
                raise self.fail(
                    f"the server closed the connection instead of sending the {waiting_for}"
                    + (f" (so far: {_echo(self.buffer)})" if self.buffer else "")
                )
            self.buffer += data
        raw, _, self.buffer = self.buffer.partition(b"\n")
        return raw.rstrip(b"\r").decode("utf-8", "replace")

    def smtp_reply(self, waiting_for: str) -> tuple[int, list[str]]:
        """An SMTP reply, possibly multi-line: its code and its lines' texts."""
        texts: list[str] = []
        for _ in range(MAX_LINES):
            line = self.line(waiting_for)
            code = line[:3]
            if not code.isdigit() or (len(line) > 3 and line[3] not in " -"):
                raise self.fail(f"the {waiting_for} is not an SMTP reply: {_echo(line)}")
            texts.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return int(code), texts
        raise self.fail(f"the {waiting_for} goes on for more than {MAX_LINES} lines")

    def imap_tagged(self, tag: str, waiting_for: str) -> str:
        """The tagged IMAP response to the command `tag`, untagged lines skipped."""
        for _ in range(MAX_LINES):
            line = self.line(waiting_for)
            if line.startswith(f"{tag} "):
                return line
        raise self.fail(f"no tagged answer to {tag} in {MAX_LINES} lines")

    def nothing_pending(self) -> None:
        """Refuse octets sent ahead of the TLS handshake (STARTTLS command injection)."""
        if self.buffer:
            raise self.fail(
                "the server sent data after its STARTTLS answer, before the TLS handshake: "
                f"{_echo(self.buffer)}"
            )


def _echo(text: str | bytes) -> str:
    """A server's answer quoted for a message, shortened to ECHO characters."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.strip()
    return repr(text if len(text) <= ECHO else text[:ECHO] + "...")


def _reason(error: BaseException) -> str:
    """An exception's reason in words: "connection refused", "tlsv1 alert protocol version"."""
    if isinstance(error, ssl.SSLError) and error.reason:
        return str(error.reason).lower().replace("_", " ")
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _smtp_starttls(lines: _Lines, helo: str) -> None:
    code, texts = lines.smtp_reply("SMTP greeting")
    if 400 <= code < 500:
        raise Deferred(
            f"{lines.where}: the server refuses for now (greeting: {code} {_echo(texts[0])})"
        )
    if code != 220:
        raise lines.fail(f"the server does not accept mail (greeting: {code} {_echo(texts[0])})")
    lines.send(f"EHLO {helo}")
    code, texts = lines.smtp_reply("EHLO answer")
    if code != 250:
        raise lines.fail(f"the server refused EHLO ({code} {_echo(' / '.join(texts))})")
    keywords = {text.split()[0].upper() for text in texts[1:] if text.split()}
    if "STARTTLS" not in keywords:
        raise lines.fail(
            f"the server does not offer STARTTLS (EHLO answer: {_echo(' / '.join(texts))})"
        )
    lines.send("STARTTLS")
    code, texts = lines.smtp_reply("STARTTLS answer")
    if code != 220:
        raise lines.fail(f"the server refused STARTTLS ({code} {_echo(' / '.join(texts))})")


def _imap_starttls(lines: _Lines) -> None:
    greeting = lines.line("IMAP greeting")
    if not greeting.upper().startswith("* OK"):
        raise lines.fail(f"the IMAP greeting is not '* OK': {_echo(greeting)}")
    lines.send("a1 STARTTLS")
    answer = lines.imap_tagged("a1", "STARTTLS answer")
    if not answer.upper().startswith("A1 OK"):
        raise lines.fail(f"the server does not offer STARTTLS (answer: {_echo(answer)})")


def _pop3_starttls(lines: _Lines) -> None:
    greeting = lines.line("POP3 greeting")
    if not greeting.startswith("+OK"):
        raise lines.fail(f"the POP3 greeting is not '+OK': {_echo(greeting)}")
    lines.send("STLS")
    answer = lines.line("STLS answer")
    if not answer.startswith("+OK"):
        raise lines.fail(f"the server does not offer STLS (answer: {_echo(answer)})")


class Clock:
    """The time one probe may take, from its start: `left()` is what remains of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self, waiting_for: str, where: str, so_far: str = "") -> float:
        """Seconds left; ProbeError naming what was awaited once none are."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise ProbeError(f"{where}: no {waiting_for} within {self.seconds:g} s{so_far}")
        return left


@dataclass(frozen=True)
class _Target:
    """Where to connect and how to get to the TLS handshake there."""

    address: str
    port: int
    starttls: Starttls
    helo: str
    clock: Clock

    @property
    def timeout(self) -> float:
        """The seconds the whole probe may take."""
        return self.clock.seconds

    @property
    def where(self) -> str:
        """ "ADDRESS port PORT", the start of every message."""
        return f"{self.address} port {self.port}"


def _goodbye(tls: ssl.SSLSocket, target: _Target) -> None:
    """Say QUIT / LOGOUT over TLS and read the answer; any failure here is ignored.

    With implicit TLS the protocol is unknown, so the connection is only closed.
    """
    lines = _Lines(tls, target.where, target.clock)
    with contextlib.suppress(ProbeError):
        if target.starttls == "smtp":
            lines.send("QUIT")
            lines.smtp_reply("QUIT answer")
        elif target.starttls == "imap":
            lines.send("a2 LOGOUT")
            lines.imap_tagged("a2", "LOGOUT answer")
        elif target.starttls == "pop3":
            lines.send("QUIT")
            lines.line("QUIT answer")


def _connect(target: _Target) -> socket.socket:
    """A TCP connection that is ready for the TLS handshake (STARTTLS accepted, if any)."""
    where, timeout = target.where, target.timeout
    try:
        sock = socket.create_connection(
            (target.address, target.port), timeout=target.clock.left("connection", where)
        )
    except TimeoutError:
        raise ProbeError(f"{where}: the connection timed out after {timeout:g} s") from None
    except OSError as error:
        raise ProbeError(f"{where}: cannot connect: {_reason(error)}") from None
    try:
        lines = _Lines(sock, where, target.clock)
        if target.starttls == "smtp":
            _smtp_starttls(lines, target.helo)
        elif target.starttls == "imap":
            _imap_starttls(lines)
        elif target.starttls == "pop3":
            _pop3_starttls(lines)
        lines.nothing_pending()
    except BaseException:
        sock.close()
        raise
    return sock


def ready_for_tls(
    address: str,
    port: int,
    *,
    starttls: Starttls,
    clock: Clock,
    helo: str = "mailstack-check.invalid",
) -> socket.socket:
    """A connection to (address, port) at the point where the TLS handshake begins: the
    STARTTLS dialogue done, if any. The caller closes it; `clock` bounds the whole of it."""
    return _connect(_Target(address, port, starttls, helo, clock))


class _Refused(Exception):
    """The server refused the TLS handshake: an alert, or it hung up on the ClientHello."""


def _tls(
    target: _Target,
    context: ssl.SSLContext,
    server_name: str | None,
    then: Callable[[ssl.SSLSocket], object],
) -> None:
    """Connect, complete the handshake with `context`, call `then`, say goodbye, close.

    A failed certificate verification propagates as ssl.SSLCertVerificationError, any other
    refusal of the handshake as _Refused; everything else raises ProbeError.
    """
    where, timeout = target.where, target.timeout
    sock = _connect(target)
    try:
        try:
            sock.settimeout(target.clock.left("TLS handshake", where))
            tls = context.wrap_socket(sock, server_hostname=server_name)
        except ssl.SSLCertVerificationError:
            raise
        except (ssl.SSLError, ConnectionError) as error:
            raise _Refused(_reason(error)) from None
        except TimeoutError:
            raise ProbeError(f"{where}: the TLS handshake timed out after {timeout:g} s") from None
        except OSError as error:
            raise ProbeError(f"{where}: the TLS handshake failed: {_reason(error)}") from None
        with tls:
            then(tls)
            _goodbye(tls, target)
    finally:
        sock.close()


def _context(*, verify: bool, cafile: str | None = None) -> ssl.SSLContext:
    """A client context that offers every version and cipher this OpenSSL can speak."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
    context.set_ciphers(PERMISSIVE_CIPHERS)
    if verify:
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = True
        if cafile is not None:
            context.load_verify_locations(cafile=cafile)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _chain(tls: ssl.SSLSocket) -> tuple[bytes, ...]:
    """The certificates the server sent, DER, leaf first, whether or not they verify.

    Python 3.13 has SSLSocket.get_unverified_chain(); 3.10 to 3.12 have the same on the
    private `_sslobj`, returning certificate objects. Without either, only the leaf.
    """
    public = getattr(tls, "get_unverified_chain", None)
    private = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    getter = public if public is not None else private
    items: object = getter() if getter is not None else None
    chain: list[bytes] = []
    if isinstance(items, list | tuple):
        for item in items:
            if isinstance(item, bytes | bytearray):
                chain.append(bytes(item))
            else:
                chain.append(ssl.PEM_cert_to_DER_cert(item.public_bytes()))
    if not chain:
        leaf = tls.getpeercert(binary_form=True)
        if leaf:
            chain.append(leaf)
    return tuple(chain)


def _verify_sentence(error: ssl.SSLCertVerificationError, server_name: str) -> str:
    """OpenSSL's verification failure as one sentence naming the expected server name."""
    message = (error.verify_message or error.reason or str(error)).strip().rstrip(".")
    return (
        f"the certificate does not verify for {server_name}: {message} "
        f"(OpenSSL verify error {error.verify_code})"
    )


def handshake(  # noqa: PLR0913 (the public signature: keyword-only options)
    address: str,
    port: int,
    *,
    starttls: Starttls,
    server_name: str,
    cafile: str | None = None,
    timeout: float = 5.0,
    helo: str = "mailstack-check.invalid",
) -> Handshake:
    """Complete a TLS handshake with the server at (address, port) and report on it.

    `address` is an IP address (IPv6 literal without brackets) or a host name; `server_name`
    is sent as SNI and is the name the certificate must be valid for. `starttls` names the
    dialogue that precedes the handshake, or None for implicit TLS. `helo` is the SMTP EHLO
    name. `cafile` replaces the system's CA bundle for verification.

    The first handshake verifies the chain and the name; when that succeeds it is the only
    connection. When verification fails, OpenSSL's reason becomes `verify_error` and a
    second handshake without verification collects the version, cipher and chain. After the
    handshake the client says QUIT (SMTP, POP3) or LOGOUT (IMAP) when it knows the protocol.
    Raises ProbeError when the connection, the dialogue or the handshake fails, ValueError
    when `server_name` is empty; an unreadable `cafile` raises what OpenSSL raises for it.
    """
    if not server_name:
        raise ValueError("handshake() needs the server name the certificate must match")
    target = _Target(address, port, starttls, helo, Clock(timeout))
    where = target.where
    seen: list[Handshake] = []
    verify_error: str | None = None

    def collect(tls: ssl.SSLSocket) -> None:
        """Record what the completed handshake shows."""
        chain = _chain(tls)
        if not chain:
            raise ProbeError(f"{where}: the server sent no certificate")
        cipher = tls.cipher()
        try:
            leaf = x509.load_der_x509_certificate(chain[0])
        except ValueError as error:
            raise ProbeError(f"{where}: the server's certificate does not parse: {error}") from None
        seen.append(
            Handshake(
                address=address,
                port=port,
                starttls=starttls,
                version=tls.version() or "",
                cipher=cipher[0] if cipher else "",
                chain=chain,
                verify_error=verify_error,
                not_after=leaf.not_valid_after_utc,
            )
        )

    def attempt(context: ssl.SSLContext) -> None:
        """One connection and handshake with `context`; a refused handshake is a ProbeError."""
        try:
            _tls(target, context, server_name, collect)
        except _Refused as refused:
            raise ProbeError(f"{where}: the TLS handshake failed: {refused}") from None

    try:
        attempt(_context(verify=True, cafile=cafile))
    except ssl.SSLCertVerificationError as error:
        verify_error = _verify_sentence(error, server_name)
        attempt(_context(verify=False))
    return seen[0]
