"""What a mailbox's certificate must be, whoever issued it: for the address, for S/MIME, in
date, with the key that comes with it, and its CA in date. Each problem is a sentence."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from mailstack.smime.errors import SmimeError


def addresses(certificate: x509.Certificate) -> list[str]:
    """The rfc822Name addresses of the certificate's subjectAltName, lower-cased."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [a.lower() for a in san.get_values_for_type(x509.RFC822Name)]


def for_email(certificate: x509.Certificate) -> bool:
    """Whether its extendedKeyUsage names emailProtection (RFC 8550 section 4.4.4); mailstack
    refuses a certificate without one, as the S/MIME BR require it."""
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.EMAIL_PROTECTION in eku


def same_key(key: PrivateKeyTypes, certificate: x509.Certificate) -> bool:
    def spki(public: object) -> bytes:
        return public.public_bytes(  # type: ignore[attr-defined, no-any-return]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    return spki(key.public_key()) == spki(certificate.public_key())


def problems(
    address: str,
    certificate: x509.Certificate,
    key: PrivateKeyTypes | None,
    chain: Sequence[x509.Certificate],
    now: datetime.datetime,
) -> list[str]:
    """Why `certificate` (with `key`, issued through `chain`) cannot be `address`'s S/MIME
    certificate; empty when it can."""
    out = []
    found = addresses(certificate)
    if address.lower() not in found:
        named = ", ".join(found) if found else "no address"
        out.append(f"the certificate is for {named}, not {address}")
    if not for_email(certificate):
        out.append(
            "the certificate is not for e-mail: its extended key usage has no emailProtection"
        )
    if certificate.not_valid_after_utc <= now:
        out.append(f"the certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}")
    elif certificate.not_valid_before_utc > now:
        out.append(
            f"the certificate is valid only from {certificate.not_valid_before_utc:%Y-%m-%d}"
        )
    if key is None:
        out.append("there is no private key with the certificate")
    elif not same_key(key, certificate):
        out.append("the private key is not the certificate's key")
    for ca in chain:
        if ca.not_valid_after_utc <= now:
            out.append(
                f"its CA {ca.subject.rfc4514_string()} expired on {ca.not_valid_after_utc:%Y-%m-%d}"
            )
    return out


def check(
    address: str,
    certificate: x509.Certificate,
    key: PrivateKeyTypes | None,
    chain: Sequence[x509.Certificate],
    now: datetime.datetime,
) -> None:
    """Raise SmimeError listing every problem `problems` finds."""
    found = problems(address, certificate, key, chain, now)
    if found:
        raise SmimeError(f"{address}: " + "; ".join(found))
