"""PKCS#12 (.p12) files: a mailbox's key, certificate and CA chain, under a password.

Two encodings of the same content, because no one encoding is read everywhere:

- modern: AES-256-CBC with PBKDF2 (HMAC-SHA-256) for the key and certificates, and a SHA-256
  MAC: Windows 10 1709 and later, Thunderbird, Evolution, OpenSSL 3;
- compatible: 3DES (pbeWithSHAAnd3-KeyTripleDES-CBC) and a SHA-1 MAC: macOS' Keychain and
  Apple Mail, older Windows, and OpenSSL 3 only with its legacy algorithms.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    KeySerializationEncryption,
    PrivateFormat,
    pkcs12,
)

from mailstack.smime.errors import SmimeError
from mailstack.smime.profile import PrivateKey

# Letters and digits that no font confuses (no 0/O, 1/l/I): read off a screen and typed.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PASSWORD_LENGTH = 24


@dataclass(frozen=True)
class Encoding:
    """One way to write a .p12: `suffix` names the file, `who` says who reads it."""

    name: str
    suffix: str
    who: str


MODERN = Encoding(
    "modern",
    "modern-aes256-sha256.p12",
    "Windows 10 (1709) and later, Windows 11, Outlook there, Thunderbird, Evolution",
)
COMPATIBLE = Encoding(
    "compatible",
    "compatible-3des-sha1.p12",
    "macOS (Keychain, Apple Mail), older Windows, anything that refuses the modern file",
)
ENCODINGS = (MODERN, COMPATIBLE)


def new_password() -> str:
    """A generated password of about 139 bits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))


def _algorithm(encoding: Encoding, password: bytes) -> KeySerializationEncryption:
    if encoding is MODERN:
        # AES-256-CBC, PBKDF2 with HMAC-SHA-256, SHA-256 MAC (cryptography's best available).
        return BestAvailableEncryption(password)
    return (
        PrivateFormat.PKCS12.encryption_builder()
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())  # noqa: S303 (what the compatible encoding is for)
        .build(password)
    )


@dataclass(frozen=True)
class Contents:
    """What a .p12 holds: a key, its certificate, and the certificate's CA chain."""

    key: PrivateKey
    certificate: x509.Certificate
    chain: Sequence[x509.Certificate]


def encode(encoding: Encoding, name: str, contents: Contents, password: str) -> bytes:
    """The .p12 of `contents`, its friendly name `name`, in `encoding`."""
    return pkcs12.serialize_key_and_certificates(
        name.encode(),
        contents.key,
        contents.certificate,
        list(contents.chain) or None,
        _algorithm(encoding, password.encode()),
    )


def read(data: bytes, password: str) -> Contents:
    """The key, certificate and chain of a user's .p12; SmimeError for a wrong password or a
    file that holds no key or no certificate."""
    try:
        loaded = pkcs12.load_pkcs12(data, password.encode())
    except ValueError as exc:
        raise SmimeError(
            "cannot open the .p12: wrong password, or not a PKCS#12 file"
            f" ({str(exc).splitlines()[0]})"
        ) from exc
    if loaded.key is None or loaded.cert is None:
        raise SmimeError("the .p12 holds no private key and certificate pair")
    key = loaded.key
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SmimeError(f"the .p12's key is {type(key).__name__}: S/MIME takes RSA or EC")
    return Contents(key, loaded.cert.certificate, [c.certificate for c in loaded.additional_certs])
