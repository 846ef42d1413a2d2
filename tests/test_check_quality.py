"""TLS quality (mailstack.check.tlshello, tlsscan, renegotiation and the tlsquality audit)
against real TLS servers on loopback, each configured with one weakness the grading must find:
a weak cipher suite, a phase-out one preferred by the client's order, TLS 1.1, a 1024-bit DH
group, SHA-1 key exchange signatures, client-initiated renegotiation, a 1024-bit RSA key, a
certificate for another name. What this machine's OpenSSL can no longer serve (compression, a
server without RFC 5746) comes from a server on loopback that answers with a ServerHello
written byte by byte, as such a server sends it."""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import struct
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dh, rsa
from cryptography.x509.oid import NameOID

from mailstack.check import tlshello
from mailstack.check.audit import tlsquality
from mailstack.check.context import Context, Options
from mailstack.check.report import Finding
from mailstack.check.tlsprobe import Starttls
from mailstack.check.tlsscan import Grade, Scan, Target, dh_grade, ffdhe_prime, grade, scan
from mailstack.dnsquery import Dns
from tests.dnsserver import ZoneServer
from tests.test_check_servers import loopback, needs_root
from tests.test_check_tlsprobe import NAME, Pki, Serve, pki, serve, server_context

__all__ = ["pki", "serve"]  # fixtures used by name below

HOST = "127.0.0.1"
ALLOW_CLIENT_RENEGOTIATION = 1 << 8  # OpenSSL 3's SSL_OP_ALLOW_CLIENT_RENEGOTIATION
# RFC 2409's 1024-bit MODP group (Oakley group 2): a DH group internet.nl grades insufficient.
MODP1024 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E"
    "3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF"
    "5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
    16,
)


def budget(seconds: float = 3.0) -> Callable[[], float]:
    return lambda: seconds


def tls_server(
    pki: Pki,
    *,
    ciphers: str | None = None,
    minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
    options: int = 0,
    clear: int = 0,
) -> ssl.SSLContext:
    context = server_context(pki.chain_pem, pki.leaf_key, minimum=minimum, maximum=maximum)
    if ciphers is not None:
        context.set_ciphers(ciphers)
    context.options |= options
    context.options &= ~clear
    return context


def rsa_context(
    tmp_path: Path, bits: int, *, ciphers: str = "DEFAULT:@SECLEVEL=0"
) -> ssl.SSLContext:
    """A server context with a self-signed RSA certificate of `bits` bits, for NAME."""
    key = rsa.generate_private_key(65537, bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "rsa.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "rsa.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(ciphers)
    context.load_cert_chain(tmp_path / "rsa.pem", tmp_path / "rsa.key")
    return context


def target(port: int, starttls: Starttls = "smtp") -> Target:
    return Target(HOST, port, starttls, NAME)


# --- grading --------------------------------------------------------------------------------


def test_suites_are_graded_as_internet_nl_grades_them() -> None:
    by_name = {s.name: s for s in tlshello.suites().values()}
    expected = {
        "TLS_AES_256_GCM_SHA384": Grade.GOOD,
        "TLS_CHACHA20_POLY1305_SHA256": Grade.GOOD,
        "TLS_AES_128_GCM_SHA256": Grade.SUFFICIENT,
        "ECDHE-ECDSA-AES256-GCM-SHA384": Grade.SUFFICIENT,
        "ECDHE-RSA-CHACHA20-POLY1305": Grade.SUFFICIENT,
        "ECDHE-RSA-AES128-SHA256": Grade.PHASE_OUT,
        "DHE-RSA-AES256-GCM-SHA384": Grade.PHASE_OUT,
        "ECDHE-RSA-AES128-SHA": Grade.INSUFFICIENT,  # CBC with SHA-1
        "AES128-GCM-SHA256": Grade.INSUFFICIENT,  # RSA key exchange: no forward secrecy
        "ADH-AES256-GCM-SHA384": Grade.INSUFFICIENT,  # anonymous
        "RC4-SHA": Grade.INSUFFICIENT,  # offered by number: OpenSSL 3 lacks it
    }
    assert {name: grade(by_name[name]) for name in expected} == expected


def test_the_ffdhe_primes_are_the_safe_primes_of_rfc_7919() -> None:
    p = ffdhe_prime(2048)
    assert p.bit_length() == 2048
    assert f"{p:x}".startswith("ffffffffffffffffadf85458a2bb4a9a")
    assert f"{p:x}".endswith("886b423861285c97ffffffffffffffff")
    for n in (p, (p - 1) // 2):  # a safe prime: p and (p-1)/2 prime (Miller-Rabin)
        d, r = n - 1, 0
        while d % 2 == 0:
            d, r = d // 2, r + 1
        for base in (2, 3, 5, 7, 11):
            x = pow(base, d, n)
            assert x in (1, n - 1) or any(pow(x, 2**i, n) == n - 1 for i in range(1, r))
    assert dh_grade(p)[0] == Grade.INSUFFICIENT
    assert dh_grade(ffdhe_prime(3072)) == (Grade.PHASE_OUT, "ffdhe3072")
    assert dh_grade(MODP1024) == (Grade.INSUFFICIENT, "a 1024-bit group of its own")


# --- scans of real servers ------------------------------------------------------------------


def test_a_modern_server_is_clean(pki: Pki, serve: Serve) -> None:
    server = serve("smtp", tls_server(pki, ciphers="ECDHE+AESGCM:ECDHE+CHACHA20"))
    found = scan(target(server.port), budget())
    assert found.errors == []
    assert found.versions == {
        0x0300: False,
        0x0301: False,
        0x0302: False,
        0x0303: True,
        0x0304: True,
    }
    assert found.suites_tested and not any(found.suites.values())
    assert found.groups_tested and not any(found.groups.values())
    assert found.order_tested and found.order_violation is None
    assert found.dh_primes == []
    # OpenSSL's default security level refuses SHA-1 but signs with SHA-224 when asked only that.
    assert found.kex_hash is not None
    assert not set(found.kex_hash) & set(tlshello.SHA1_SIGALGS)
    assert (found.compression, found.secure_renegotiation) == (False, True)
    assert found.client_renegotiation is False


def test_a_weak_cipher_and_the_client_s_order_are_found(pki: Pki, serve: Serve) -> None:
    ciphers = "AES128-SHA:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0"
    context = tls_server(
        pki, ciphers=ciphers, maximum=ssl.TLSVersion.TLSv1_2, clear=ssl.OP_CIPHER_SERVER_PREFERENCE
    )
    found = scan(target(serve("smtp", context).port), budget())
    names = {g: [tlshello.suite_name(c) for c in codes] for g, codes in found.suites.items()}
    # The test certificate is ECDSA: the RSA-authenticated AES128-SHA cannot be chosen.
    assert names[Grade.PHASE_OUT] == ["ECDHE-ECDSA-AES128-SHA256"]
    assert found.order_violation is not None
    chosen, better = found.order_violation
    assert tlshello.suite_name(chosen) == "ECDHE-ECDSA-AES128-SHA256"
    assert tlshello.suite_name(better) == "ECDHE-ECDSA-AES128-GCM-SHA256"
    # The same server choosing by its own order is fine.
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256")
    preferring = scan(target(serve("smtp", context).port), budget())
    assert preferring.order_tested and preferring.order_violation is None


def test_rsa_key_exchange_and_tls11_and_sha1_signatures(tmp_path: Path, serve: Serve) -> None:
    context = rsa_context(
        tmp_path, 2048, ciphers="AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
    found = scan(target(serve("smtp", context).port), budget())
    assert found.versions[0x0302] is True and found.versions[0x0301] is False
    assert [tlshello.suite_name(c) for c in found.suites[Grade.INSUFFICIENT]] == ["AES128-SHA"]
    assert found.kex_hash is not None
    assert 0x0201 in found.kex_hash  # rsa_pkcs1_sha1, at security level 0


def test_a_1024_bit_dh_group_is_found(tmp_path: Path, serve: Serve) -> None:
    context = rsa_context(tmp_path, 2048, ciphers="DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0")
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography deprecates finite-field DH: the point here
        params = dh.DHParameterNumbers(MODP1024, 2).parameters()
    pem = tmp_path / "dh.pem"
    pem.write_bytes(
        params.parameter_bytes(serialization.Encoding.PEM, serialization.ParameterFormat.PKCS3)
    )
    context.load_dh_params(str(pem))
    found = scan(target(serve("smtp", context).port), budget())
    assert found.dh_primes == [MODP1024]


def test_client_initiated_renegotiation_is_found(pki: Pki, serve: Serve) -> None:
    refusing = tls_server(pki, maximum=ssl.TLSVersion.TLSv1_2)
    assert scan(target(serve("smtp", refusing).port), budget()).client_renegotiation is False
    context = tls_server(pki, maximum=ssl.TLSVersion.TLSv1_2, options=ALLOW_CLIENT_RENEGOTIATION)
    found = scan(target(serve("smtp", context).port), budget())
    assert found.client_renegotiation is True
    assert found.secure_renegotiation is True


# --- what OpenSSL cannot serve: a server that answers with a hand-written ServerHello ------


def _server_hello(compression: int, renegotiation_info: bool) -> bytes:
    extensions = b"\xff\x01\x00\x01\x00" if renegotiation_info else b""
    body = (
        struct.pack("!H", 0x0303)
        + os.urandom(32)
        + b"\x00"
        + struct.pack("!H", 0xC02F)
        + bytes([compression])
        + struct.pack("!H", len(extensions))
        + extensions
    )
    messages = b"\x02" + len(body).to_bytes(3, "big") + body + b"\x0e\x00\x00\x00"
    return struct.pack("!BHH", 22, 0x0303, len(messages)) + messages


@pytest.fixture
def scripted() -> Iterator[Callable[[bytes | None], int]]:
    """Servers that read a ClientHello and answer with the given octets (None: say nothing)."""
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def start(answer: bytes | None) -> int:
        listener = socket.socket()
        listener.bind((HOST, 0))
        listener.listen(16)
        listener.settimeout(0.1)
        sockets.append(listener)

        def run() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                with conn:
                    conn.settimeout(5)
                    try:
                        conn.recv(65536)
                        if answer is None:
                            stop.wait(5)  # silent until the test ends
                        else:
                            conn.sendall(answer)
                    except OSError:
                        pass

        threading.Thread(target=run, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    stop.set()
    for sock in sockets:
        sock.close()


def test_compression_and_a_missing_renegotiation_info_are_read(
    scripted: Callable[[bytes | None], int],
) -> None:
    port = scripted(_server_hello(compression=1, renegotiation_info=False))
    reply = tlshello.hello(
        HOST,
        port,
        tlshello.Offer(tlshello.TLS12, (0xC02F,), compression=True),
        starttls=None,
        timeout=2,
    )
    assert reply is not None
    assert (reply.compression, reply.renegotiation_info, reply.cipher) == (1, False, 0xC02F)


def test_a_probe_that_gets_no_answer_is_not_taken_for_a_refusal(
    scripted: Callable[[bytes | None], int],
) -> None:
    port = scripted(None)
    start = time.monotonic()
    found = scan(Target(HOST, port, None, NAME), budget(0.5))
    assert time.monotonic() - start < 4
    assert set(found.versions.values()) == {None}
    assert any("no answer to the ClientHello within 0.5 s" in e for e in found.errors)
    finding = tlsquality._versions("TLS quality", "here", found)
    assert finding.status == "warn"
    assert "not tested" in finding.message


# --- findings -------------------------------------------------------------------------------


def only(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check]


def test_scan_results_become_failures_with_fixes() -> None:
    bad = Scan(
        versions={0x0300: False, 0x0301: True, 0x0302: True, 0x0303: True, 0x0304: False},
        suites={Grade.INSUFFICIENT: [0x002F], Grade.PHASE_OUT: []},
        suites_tested=True,
        order_tested=True,
        groups_tested=True,
        kex_hash=[0x0201],
        compression=True,
        secure_renegotiation=False,
        client_renegotiation=True,
    )
    versions = tlsquality._versions("TLS quality", "mx port 25", bad)
    assert versions.status == "fail" and "TLS 1.0, TLS 1.1" in versions.message
    found = [
        *tlsquality._suites("TLS quality", "mx", bad),
        *tlsquality._exchange("TLS quality", "mx", bad),
        *tlsquality._renegotiation("TLS quality", "mx", bad),
    ]
    failures = {f.check for f in found if f.status == "fail"}
    assert failures == {
        "tls.ciphers",
        "tls.kex_hash",
        "tls.compression",
        "tls.renegotiation",
        "tls.client_renegotiation",
    }
    assert all(f.fix for f in found if f.status == "fail")


def test_a_1024_bit_key_and_a_certificate_for_another_name(tmp_path: Path, serve: Serve) -> None:
    server = serve("smtp", rsa_context(tmp_path, 1024))
    from mailstack.check.tlsprobe import handshake  # noqa: PLC0415

    got = handshake(HOST, server.port, starttls="smtp", server_name="other.example.test", timeout=3)
    found = tlsquality._certificate("TLS quality", "mx port 25", got, port25=True)
    (key,) = only(found, "tls.cert_key")
    assert key.status == "fail" and "RSA 1024 bits" in key.message
    (trust,) = only(found, "tls.cert_trust")
    assert trust.status == "warn" and not trust.mandatory
    assert "other.example.test" in trust.message
    assert only(found, "tls.cert_signature")[0].status == "pass"


def sha1_signed_chain(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for NAME signed with SHA-1 by a CA of its own, as a chain file and key:
    made by the openssl command, since the cryptography package refuses to sign with SHA-1."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-subj", "/CN=SHA-1 test CA", "-days", "2", "-sha256")  # fmt: skip
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key",
            "-out", "leaf.csr", "-subj", f"/CN={NAME}")  # fmt: skip
    (tmp_path / "san.ext").write_text(f"subjectAltName=DNS:{NAME}\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-sha1", "-days", "2", "-set_serial", "2", "-extfile", "san.ext",
            "-out", "leaf.pem")  # fmt: skip
    chain = tmp_path / "chain.pem"
    chain.write_bytes((tmp_path / "leaf.pem").read_bytes() + (tmp_path / "ca.pem").read_bytes())
    return chain, tmp_path / "leaf.key"


def test_a_certificate_signed_with_sha1_fails(tmp_path: Path, serve: Serve) -> None:
    chain, key = sha1_signed_chain(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # before the chain: OpenSSL refuses SHA-1 above 0
    context.load_cert_chain(chain, key)
    server = serve("smtp", context)
    from mailstack.check.tlsprobe import handshake  # noqa: PLC0415

    got = handshake(HOST, server.port, starttls="smtp", server_name=NAME, timeout=3)
    found = tlsquality._certificate("TLS quality", "mx port 25", got, port25=True)
    (signature,) = only(found, "tls.cert_signature")
    assert signature.status == "fail"
    assert "sha1WithRSAEncryption" in signature.message
    assert only(found, "tls.cert_key")[0].status == "pass"


@needs_root
def test_tls11_on_port_25_fails_the_audit(pki: Pki, serve: Serve) -> None:
    address = loopback()
    context = tls_server(pki, ciphers="DEFAULT:@SECLEVEL=0", minimum=ssl.TLSVersion.TLSv1_1)
    serve("smtp", context, host=address, port=25)
    zone = (
        "$ORIGIN example.test.\n$TTL 300\n"
        "@ IN SOA ns.example.test. h.example.test. 1 3600 900 1209600 300\n"
        "@ IN NS ns.example.test.\n"
        f"@ IN MX 10 {NAME}.\nmx IN A {address}\n"
    )
    with ZoneServer(zone, "example.test") as dns_server:
        ctx = Context(
            "example.test", Dns(HOST, dns_server.port, timeout=2.0), {}, Options(timeout=3.0)
        )
        ctx.start()
        found = tlsquality.audit(ctx)
    (versions,) = only(found, "tls.versions")
    assert versions.status == "fail"
    assert "TLS 1.1" in versions.message and f"({address}) port 25" in versions.message
    (rpki,) = only(found, "tls.rpki")
    assert rpki.status == "info" and "not tested" in rpki.message
