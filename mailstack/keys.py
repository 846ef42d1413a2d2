"""Public key material that the servers publish back into the inventory, and its DNS form.

Layout under `inventories/<env>/published/` (written by the roles, read here):

    dkim/<domain>/<selector>.pem     the selector's public key (SubjectPublicKeyInfo PEM)
    tls/<host>/current.pem           the public key (or certificate) the host serves now
    tls/<host>/next.pem              the key it will serve after the next rollover

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
    """TLSA `3 1 1` data: SHA-256 of the SubjectPublicKeyInfo, in hex (RFC 6698, 7671)."""
    return hashlib.sha256(spki_der(load_public_key(data))).hexdigest()


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
