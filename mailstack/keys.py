"""Public key material that the servers publish back into the inventory, and its DNS form.

Layout under `inventories/<env>/published/` (written by the roles, read here):

    dkim/<domain>/<selector>.pem     the selector's public key (SubjectPublicKeyInfo PEM)
    tls/<host>/current.pem           the public key (or certificate) the host serves now
    tls/<host>/next.pem              the key it will serve after the next rollover
    smime/<domain>/mailboxes/<name>.pem  a mailbox's S/MIME certificate (mailstack smime)
    smime/<domain>/ca.pem, ca.crt    the domain's S/MIME CA certificate (PEM, DER)
    smime/<domain>/ca.crl            its CRL (DER)

Private keys never leave the hosts; only these public files come back.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

MIN_RSA_BITS = 1024
GOOD_RSA_BITS = 2048


class KeyError_(ValueError):
    """A published key file cannot be used; the message says why."""


@dataclass(frozen=True)
class PublishedKeys:
    """Where the published public keys of one inventory are."""

    root: Path

    def dkim(self, domain: str, selector: str) -> Path:
        return self.root / "dkim" / domain / f"{selector}.pem"

    def tls(self, host: str, which: str) -> Path:
        return self.root / "tls" / host / f"{which}.pem"

    def smime(self, domain: str, name: str) -> Path:
        return self.root / "smime" / domain / "mailboxes" / f"{name}.pem"

    def smime_ca(self, domain: str) -> Path:
        return self.root / "smime" / domain / "ca.pem"

    def smime_ca_der(self, domain: str) -> Path:
        return self.root / "smime" / domain / "ca.crt"

    def smime_crl(self, domain: str) -> Path:
        return self.root / "smime" / domain / "ca.crl"


def load_public_key(data: bytes) -> PublicKeyTypes:
    """A public key from PEM: a PUBLIC KEY block or a certificate's subject key."""
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    try:
        return serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyError_(f"not a PEM public key or certificate ({exc})") from exc


def spki_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def tlsa_311(data: bytes) -> str:
    """TLSA `3 1 1` data: SHA-256 of the SubjectPublicKeyInfo, in hex (RFC 6698, 7671).

    `data` is a public key or a certificate in PEM (as the hosts publish them), or a
    certificate in DER (as a server sends it). This is the one place mailstack computes it:
    the plan's TLSA records, the checker's messages and the lab's checks all come here.
    """
    return _sha256(_spki_of(data)).hex()


def _spki_of(data: bytes) -> bytes:
    if b"-----BEGIN" in data and b"-----BEGIN CERTIFICATE-----" not in data:
        return spki_der(load_public_key(data))
    try:
        if b"-----BEGIN" in data:
            data = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
        return certificate_spki(data)
    except ValueError as exc:
        raise KeyError_(f"not a certificate ({exc})") from exc


def tlsa_association(der_cert: bytes, selector: int, mtype: int) -> bytes | None:
    """The association data that a TLSA record of (selector, mtype) has for a certificate
    (DER): selector 0 the whole certificate, 1 its SubjectPublicKeyInfo; matching type 0 the
    data itself, 1 its SHA-256, 2 its SHA-512 (RFC 6698 2.1.2, 2.1.3). None when unknown."""
    if selector == 0:
        selected = der_cert
    elif selector == 1:
        selected = certificate_spki(der_cert)
    else:
        return None
    if mtype == 0:
        return selected
    if mtype == 1:
        return _sha256(selected)
    if mtype == 2:
        return hashlib.sha512(selected).digest()
    return None


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def certificate_spki(der_cert: bytes) -> bytes:
    """The certificate's SubjectPublicKeyInfo, as the octets encoded in it (RFC 5280 4.1).

    DANE hashes these exact octets; they are taken from the certificate rather than
    re-encoded from the parsed key. Raises ValueError when `der_cert` is no certificate.
    """
    x509.load_der_x509_certificate(der_cert)  # ValueError when it is not one
    tag, start, _ = _der_element(der_cert, 0)  # Certificate
    if tag != 0x30:
        raise ValueError("a certificate is a DER SEQUENCE")
    tag, pos, _ = _der_element(der_cert, start)  # TBSCertificate
    if tag != 0x30:
        raise ValueError("a TBSCertificate is a DER SEQUENCE")
    tag, _, end = _der_element(der_cert, pos)
    if tag == 0xA0:  # [0] EXPLICIT version
        pos = end
    for _field in ("serialNumber", "signature", "issuer", "validity", "subject"):
        _, _, pos = _der_element(der_cert, pos)
    tag, _, end = _der_element(der_cert, pos)
    if tag != 0x30:
        raise ValueError("a SubjectPublicKeyInfo is a DER SEQUENCE")
    return der_cert[pos:end]


def _der_element(der: bytes, pos: int) -> tuple[int, int, int]:
    """The DER element at `pos`: (tag, first octet of its contents, end of the element)."""
    if pos + 2 > len(der):
        raise ValueError("truncated DER")
    tag = der[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError("unexpected multi-octet DER tag")
    length = der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or pos + count > len(der):
            raise ValueError("bad DER length")
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(der):
        raise ValueError("truncated DER")
    return tag, pos, end


def dkim_value(data: bytes, algorithm: str) -> tuple[str, str | None]:
    """The DKIM TXT value for a public key, and a warning or None.

    RSA keys publish the SubjectPublicKeyInfo (RFC 6376); Ed25519 keys the raw 32 bytes
    (RFC 8463). The key must be of the selector's algorithm.
    """
    key = load_public_key(data)
    if algorithm == "rsa":
        if not isinstance(key, rsa.RSAPublicKey):
            raise KeyError_(f"the selector is rsa but the key is {_kind(key)}")
        if key.key_size < MIN_RSA_BITS:
            raise KeyError_(f"a {key.key_size}-bit RSA key is refused by verifiers (1024 at least)")
        warning = (
            f"a {key.key_size}-bit RSA key is weak: use {GOOD_RSA_BITS} bits"
            if key.key_size < GOOD_RSA_BITS
            else None
        )
        p = base64.b64encode(spki_der(key)).decode()
        return f"v=DKIM1; k=rsa; p={p}", warning
    if algorithm == "ed25519":
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise KeyError_(f"the selector is ed25519 but the key is {_kind(key)}")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}", None
    raise KeyError_(f"unknown DKIM algorithm {algorithm!r}")


def _kind(key: PublicKeyTypes) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "an RSA key"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "an Ed25519 key"
    return f"a {type(key).__name__.removesuffix('PublicKey').lstrip('_')} key"
