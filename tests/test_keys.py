"""TLSA data from a published key or certificate, and DKIM values."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mailstack.keys import KeyError_, dkim_value, tlsa_311
from tests.conftest import ec_key, public_pem, rsa_key


def test_tlsa_from_a_certificate_equals_tlsa_from_its_key() -> None:
    key = ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx1.example.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert tlsa_311(pem) == tlsa_311(public_pem(key)) == hashlib.sha256(spki).hexdigest()


def test_an_rsa_key_under_1024_bits_is_refused() -> None:
    # cryptography will not generate one; any 512-bit odd modulus makes a public key.
    small = rsa.RSAPublicNumbers(65537, (1 << 511) | 0xF1).public_key()
    pem = small.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyError_, match="512-bit RSA key is refused"):
        dkim_value(pem, "rsa")


def test_a_1024_bit_rsa_key_is_accepted_with_a_warning() -> None:
    value, warning = dkim_value(public_pem(rsa_key(1024)), "rsa")
    assert value.startswith("v=DKIM1; k=rsa; p=MI")
    assert warning == "a 1024-bit RSA key is weak: use 2048 bits"


def test_an_ec_key_is_no_dkim_key() -> None:
    with pytest.raises(KeyError_, match="the selector is ed25519 but the key is a"):
        dkim_value(public_pem(ec_key()), "ed25519")


def test_garbage_is_not_a_key() -> None:
    with pytest.raises(KeyError_, match="not a PEM public key or certificate"):
        tlsa_311(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
