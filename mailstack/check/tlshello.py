"""TLS ClientHellos written by hand, for `mailstack check`: what a server answers to a hello
whose terms the checker chooses, read up to the end of the server's first flight. No key is
made and the handshake is never completed, so the terms offered need not be ones this
machine's OpenSSL would still speak (SSL 3.0, TLS 1.0, RC4, export ciphers, compression).

`hello(address, port, offer, starttls=..., timeout=...)` connects (after the STARTTLS dialogue
of `tlsprobe`), sends one ClientHello built from an `Offer`, and returns the server's `Reply`:
the version and cipher suite it chose, its compression method, whether it sent the
renegotiation_info extension (RFC 5746), the key exchange group (the TLS 1.2
ServerKeyExchange's named curve, or the TLS 1.3 HelloRetryRequest's group: the TLS 1.3 hello
carries an empty key_share on purpose, so that the server names the group it picks without
any key being computed), a finite-field DH prime, and the signature scheme of a TLS 1.2
ServerKeyExchange. It returns None when the server refuses the hello (an alert, or it hangs
up before its ServerHello). Every other failure raises `ProbeError`: the connection, the
dialogue, a timeout (the whole probe is bounded by `timeout`), or an answer that is not TLS.

The cipher suites known here are the ones this machine's OpenSSL knows (their names and
properties come from it), plus a few that OpenSSL 3 no longer has (RC4, DES, export, IDEA),
which are offered by number so that a server still accepting them is found.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import ssl
import struct
from dataclasses import dataclass
from functools import cache

from mailstack.check.tlsprobe import Clock, ProbeError, Starttls, ready_for_tls

SSL30, TLS10, TLS11, TLS12, TLS13 = 0x0300, 0x0301, 0x0302, 0x0303, 0x0304
VERSION_NAMES = {
    SSL30: "SSL 3.0",
    TLS10: "TLS 1.0",
    TLS11: "TLS 1.1",
    TLS12: "TLS 1.2",
    TLS13: "TLS 1.3",
}

# Named groups (RFC 8422, RFC 7919, RFC 8446), by number.
GROUP_NAMES = {
    0x0001: "sect163k1",
    0x0003: "sect163r2",
    0x0009: "sect283k1",
    0x000A: "sect283r1",
    0x000B: "sect409k1",
    0x000C: "sect409r1",
    0x000D: "sect571k1",
    0x000E: "sect571r1",
    0x000F: "secp160k1",
    0x0010: "secp160r1",
    0x0011: "secp160r2",
    0x0012: "secp192k1",
    0x0013: "secp192r1",
    0x0014: "secp224k1",
    0x0015: "secp224r1",
    0x0016: "secp256k1",
    0x0017: "secp256r1",
    0x0018: "secp384r1",
    0x0019: "secp521r1",
    0x001A: "brainpoolP256r1",
    0x001B: "brainpoolP384r1",
    0x001C: "brainpoolP512r1",
    0x001D: "x25519",
    0x001E: "x448",
    0x0100: "ffdhe2048",
    0x0101: "ffdhe3072",
    0x0102: "ffdhe4096",
    0x0103: "ffdhe6144",
    0x0104: "ffdhe8192",
}
EC_GROUPS = tuple(g for g in GROUP_NAMES if g < 0x0100)
GOOD_GROUPS = (0x001D, 0x0017, 0x0018, 0x001E, 0x0019, 0x001A, 0x001B, 0x001C)

# Signature schemes (RFC 8446 section 4.2.3; TLS 1.2's hash and signature pairs).
SIGALG_NAMES = {
    0x0201: "rsa_pkcs1_sha1",
    0x0203: "ecdsa_sha1",
    0x0202: "dsa_sha1",
    0x0301: "rsa_sha224",
    0x0303: "ecdsa_sha224",
    0x0302: "dsa_sha224",
    0x0401: "rsa_pkcs1_sha256",
    0x0501: "rsa_pkcs1_sha384",
    0x0601: "rsa_pkcs1_sha512",
    0x0403: "ecdsa_secp256r1_sha256",
    0x0503: "ecdsa_secp384r1_sha384",
    0x0603: "ecdsa_secp521r1_sha512",
    0x0804: "rsa_pss_rsae_sha256",
    0x0805: "rsa_pss_rsae_sha384",
    0x0806: "rsa_pss_rsae_sha512",
    0x0807: "ed25519",
    0x0808: "ed448",
}
SHA2_SIGALGS = (
    0x0403,
    0x0503,
    0x0603,
    0x0804,
    0x0805,
    0x0806,
    0x0807,
    0x0808,
    0x0401,
    0x0501,
    0x0601,
)
SHA1_SIGALGS = (0x0201, 0x0203, 0x0202)
SHA224_SIGALGS = (0x0301, 0x0303, 0x0302)

HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()
MAX_FLIGHT = 256 * 1024  # octets read of the server's first flight, at most

_HANDSHAKE, _ALERT = 22, 21
_SERVER_HELLO, _SERVER_KEY_EXCHANGE, _SERVER_HELLO_DONE = 2, 12, 14


@dataclass(frozen=True)
class Suite:
    """A cipher suite: its number, its OpenSSL name, and the properties that grade it."""

    code: int
    name: str
    kx: str  # "ecdhe", "dhe", "rsa", "any" (TLS 1.3), or another
    auth: str  # "rsa", "ecdsa", "null", "any", ...
    cipher: str  # "aes-128-gcm", "chacha20-poly1305", "rc4", ...
    mac: str | None  # "sha1", "sha256", ... or None for AEAD
    tls13: bool


# Suites OpenSSL 3 no longer knows, still to be found on old servers: number, name, kx, cipher.
_LEGACY = (
    (0x0003, "EXP-RC4-MD5", "rsa", "rc4-40", "md5"),
    (0x0004, "RC4-MD5", "rsa", "rc4", "md5"),
    (0x0005, "RC4-SHA", "rsa", "rc4", "sha1"),
    (0x0007, "IDEA-CBC-SHA", "rsa", "idea-cbc", "sha1"),
    (0x0008, "EXP-DES-CBC-SHA", "rsa", "des-40", "sha1"),
    (0x0009, "DES-CBC-SHA", "rsa", "des-cbc", "sha1"),
    (0x0014, "EXP-EDH-RSA-DES-CBC-SHA", "dhe", "des-40", "sha1"),
    (0x0015, "EDH-RSA-DES-CBC-SHA", "dhe", "des-cbc", "sha1"),
    (0xC007, "ECDHE-ECDSA-RC4-SHA", "ecdhe", "rc4", "sha1"),
    (0xC011, "ECDHE-RSA-RC4-SHA", "ecdhe", "rc4", "sha1"),
)
_KX = {"kx-ecdhe": "ecdhe", "kx-dhe": "dhe", "kx-rsa": "rsa", "kx-any": "any"}


@cache
def suites() -> dict[int, Suite]:
    """Every suite offered: those this OpenSSL knows (bar PSK and SRP), and the legacy ones."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    out: dict[int, Suite] = {}
    for c in context.get_ciphers():
        kx = _KX.get(str(c.get("kea")))
        if kx is None:
            continue  # PSK, SRP: never chosen without their credentials
        code = int(c["id"]) & 0xFFFF
        name = str(c["name"])
        cipher = str(c.get("symmetric") or "null") + ("-8" if "CCM8" in name else "")
        auth = str(c.get("auth") or "").removeprefix("auth-")
        digest = c.get("digest")
        out[code] = Suite(
            code, name, kx, auth, cipher, str(digest) if digest else None, kx == "any"
        )
    for code, name, kx, cipher, mac in _LEGACY:
        out.setdefault(code, Suite(code, name, kx, "rsa", cipher, mac, False))
    return out


def suite_name(code: int) -> str:
    """A suite's OpenSSL name, or its number when unknown here."""
    found = suites().get(code)
    return found.name if found else f"0x{code:04X}"


@dataclass(frozen=True)
class Offer:
    """What one ClientHello offers. `version` is the highest version offered (TLS 1.3 through
    supported_versions, the others as the hello's version); `compression` adds DEFLATE."""

    version: int
    ciphers: tuple[int, ...]
    groups: tuple[int, ...] = GOOD_GROUPS
    sigalgs: tuple[int, ...] = SHA2_SIGALGS
    compression: bool = False


@dataclass(frozen=True)
class Reply:
    """The server's first flight in answer to an Offer."""

    version: int
    cipher: int
    compression: int
    renegotiation_info: bool
    group: int | None = None
    dh_prime: int | None = None
    sigalg: int | None = None
    retry: bool = False  # a TLS 1.3 HelloRetryRequest


def _vec(data: bytes, size: int) -> bytes:
    """`data` preceded by its length in `size` octets."""
    return len(data).to_bytes(size, "big") + data


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack("!H", kind) + _vec(data, 2)


def client_hello(offer: Offer, server_name: str | None) -> bytes:
    """The TLS record holding the ClientHello for `offer`."""
    tls13 = offer.version >= TLS13
    legacy = TLS12 if tls13 else offer.version
    extensions = b""
    if server_name and not _is_address(server_name):
        name = server_name.encode("ascii")
        extensions += _ext(0x0000, _vec(b"\x00" + _vec(name, 2), 2))
    extensions += _ext(0x000A, _vec(b"".join(struct.pack("!H", g) for g in offer.groups), 2))
    extensions += _ext(0x000B, b"\x01\x00")  # ec_point_formats: uncompressed
    if offer.version >= TLS12:
        sigalgs = b"".join(struct.pack("!H", s) for s in offer.sigalgs)
        extensions += _ext(0x000D, _vec(sigalgs, 2))
    extensions += _ext(0xFF01, b"\x00")  # renegotiation_info, empty: a first handshake
    if tls13:
        extensions += _ext(0x002B, _vec(struct.pack("!H", TLS13), 1))
        extensions += _ext(0x0033, _vec(b"", 2))  # no key share: the server names its group
    body = (
        struct.pack("!H", legacy)
        + os.urandom(32)
        + _vec(os.urandom(32) if tls13 else b"", 1)
        + _vec(b"".join(struct.pack("!H", c) for c in offer.ciphers), 2)
        + _vec(b"\x01\x00" if offer.compression else b"\x00", 1)
        + _vec(extensions, 2)
    )
    handshake = b"\x01" + _vec(body, 3)
    return struct.pack("!BHH", _HANDSHAKE, min(legacy, TLS10), len(handshake)) + handshake


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class _Flight:
    """The records a server sends, read with the probe's clock."""

    def __init__(self, sock: socket.socket, clock: Clock, where: str) -> None:
        self.sock, self.clock, self.where = sock, clock, where
        self.buffer = b""
        self.total = 0

    def _read(self, size: int) -> bytes | None:
        """Exactly `size` octets; None when the server closes first."""
        while len(self.buffer) < size:
            try:
                self.sock.settimeout(self.clock.left("answer to the ClientHello", self.where))
                data = self.sock.recv(16384)
            except TimeoutError:
                raise ProbeError(
                    f"{self.where}: no answer to the ClientHello within {self.clock.seconds:g} s"
                ) from None
            except ConnectionError:
                return None
            except OSError as error:
                raise ProbeError(
                    f"{self.where}: reading the server's hello failed: {error}"
                ) from None
            if not data:
                return None
            self.total += len(data)
            if self.total > MAX_FLIGHT:
                raise ProbeError(f"{self.where}: the server's hello runs past {MAX_FLIGHT} octets")
            self.buffer += data
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out

    def record(self) -> tuple[int, bytes] | None:
        """(content type, payload) of the next record; None at the end of the stream."""
        header = self._read(5)
        if header is None:
            return None
        kind, _, length = struct.unpack("!BHH", header)
        if kind not in (_HANDSHAKE, _ALERT, 20, 23) or length > 18432:
            raise ProbeError(
                f"{self.where}: the answer to the ClientHello is not TLS (first octets"
                f" {header.hex()})"
            )
        payload = self._read(length)
        return None if payload is None else (kind, payload)


def hello(  # noqa: PLR0913 (the public signature: keyword-only options)
    address: str,
    port: int,
    offer: Offer,
    *,
    starttls: Starttls,
    timeout: float = 5.0,
    server_name: str | None = None,
) -> Reply | None:
    """Send one ClientHello and read the answer; None when the server refuses it."""
    clock = Clock(timeout)
    where = f"{address} port {port}"
    sock = ready_for_tls(address, port, starttls=starttls, clock=clock)
    try:
        try:
            sock.settimeout(clock.left("chance to send the ClientHello", where))
            sock.sendall(client_hello(offer, server_name))
        except TimeoutError:
            raise ProbeError(f"{where}: sending the ClientHello timed out") from None
        except ConnectionError:
            return None
        except OSError as error:
            raise ProbeError(f"{where}: sending the ClientHello failed: {error}") from None
        return _answer(_Flight(sock, clock, where), where)
    finally:
        sock.close()


def _answer(flight: _Flight, where: str) -> Reply | None:  # noqa: PLR0911
    """The Reply read from the server's first flight, or None for a refusal."""
    messages = b""
    reply: Reply | None = None
    for _ in range(64):  # records of one first flight
        record = flight.record()
        if record is None:
            return reply  # closed: a refusal before the ServerHello, or the flight's end
        kind, payload = record
        if kind == _ALERT:
            return reply
        if kind != _HANDSHAKE:
            return reply
        messages += payload
        while len(messages) >= 4:
            size = int.from_bytes(messages[1:4], "big")
            if len(messages) < 4 + size:
                break
            kind_, body, messages = messages[0], messages[4 : 4 + size], messages[4 + size :]
            try:
                if kind_ == _SERVER_HELLO:
                    reply = _server_hello(body)
                    if reply.version >= TLS13 or reply.retry:
                        return reply
                elif kind_ == _SERVER_KEY_EXCHANGE and reply is not None:
                    return _key_exchange(reply, body)
                elif kind_ == _SERVER_HELLO_DONE:
                    return reply
            except (IndexError, struct.error, ValueError) as error:
                raise ProbeError(f"{where}: the server's hello does not parse: {error}") from None
    return reply


def _server_hello(body: bytes) -> Reply:
    version = struct.unpack("!H", body[:2])[0]
    random = body[2:34]
    at = 34
    at += 1 + body[at]  # session id
    cipher = struct.unpack("!H", body[at : at + 2])[0]
    compression = body[at + 2]
    at += 3
    group: int | None = None
    renegotiation = False
    if at < len(body):
        end = at + 2 + struct.unpack("!H", body[at : at + 2])[0]
        at += 2
        while at + 4 <= end:
            kind, size = struct.unpack("!HH", body[at : at + 4])
            data = body[at + 4 : at + 4 + size]
            at += 4 + size
            if kind == 0x002B and len(data) >= 2:
                version = struct.unpack("!H", data[:2])[0]
            elif kind == 0x0033 and len(data) >= 2:
                group = struct.unpack("!H", data[:2])[0]
            elif kind == 0xFF01:
                renegotiation = True
    return Reply(version, cipher, compression, renegotiation, group, retry=random == HRR_RANDOM)


def _key_exchange(reply: Reply, body: bytes) -> Reply:
    """The reply completed by a TLS 1.2 (or older) ServerKeyExchange."""
    suite = suites().get(reply.cipher)
    signed = reply.version >= TLS12
    if body[0] == 3 and (suite is None or suite.kx == "ecdhe"):
        group = struct.unpack("!H", body[1:3])[0]
        at = 3 + 1 + body[3]
        sigalg = struct.unpack("!H", body[at : at + 2])[0] if signed else None
        return _with(reply, group=group, sigalg=sigalg)
    if suite is not None and suite.kx == "dhe":
        at = 0
        values = []
        for _ in range(3):  # p, g, Ys
            size = struct.unpack("!H", body[at : at + 2])[0]
            values.append(body[at + 2 : at + 2 + size])
            at += 2 + size
        sigalg = struct.unpack("!H", body[at : at + 2])[0] if signed and at < len(body) else None
        return _with(reply, dh_prime=int.from_bytes(values[0], "big"), sigalg=sigalg)
    return reply


def _with(reply: Reply, **changes: int | None) -> Reply:
    fields = {**reply.__dict__, **changes}
    return Reply(**fields)
