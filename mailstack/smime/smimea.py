"""SMIMEA records (RFC 8162): where a mailbox's certificate is published, and in what form.

The owner name is the SHA2-256 hash of the local part (its UTF-8 octets), truncated to 28
octets, in hex, under `_smimecert.<domain>` (RFC 8162 section 3). The data is `3 0 0` and the
whole certificate (DER): usage 3, DANE-EE, because the certificate itself is what DNSSEC
vouches for (mailstack's CA is in nobody's trust store); selector 0 and matching type 0, the
full certificate, because a sender looks the record up to find the certificate to encrypt to,
which a hash would not give.
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mailstack.smime.mailbox import addresses

USAGE_SELECTOR_MTYPE = "3 0 0"
HASH_OCTETS = 28


def owner(address: str) -> str:
    """`<hash of the local part>._smimecert.<domain>` for `local@domain`."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{address!r} is not a mail address")
    digest = hashlib.sha256(local.encode("utf-8")).digest()[:HASH_OCTETS]
    return f"{digest.hex()}._smimecert.{domain.lower()}"


def rdata(certificate: x509.Certificate) -> str:
    """The record's data in presentation format: `3 0 0 <certificate, DER, hex>`."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return f"{USAGE_SELECTOR_MTYPE} {der.hex()}"


def certificate_of(text: str) -> x509.Certificate | None:
    """The certificate a `3 0 0` record carries (its presentation form, as dnspython prints
    it: the hex may be split by spaces); None for any other kind of record."""
    fields = text.split()
    if len(fields) < 4 or fields[:3] != USAGE_SELECTOR_MTYPE.split():
        return None
    try:
        return x509.load_der_x509_certificate(bytes.fromhex("".join(fields[3:])))
    except ValueError:
        return None


class Published:
    """A mailbox's published certificate, read for its SMIMEA record: `rdata`, or the
    `problem` that keeps it out of DNS."""

    def __init__(self, rdata: str = "", problem: str | None = None) -> None:
        self.rdata = rdata
        self.problem = problem


def published(path: Path, address: str, now: datetime.datetime | None = None) -> Published:
    """The SMIMEA data of the certificate at `path` (PEM) for `address`; a problem instead
    when it is unreadable, for another address, or expired (a sender must not use it)."""
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        return Published(problem=f"not a certificate ({exc})")
    if address not in addresses(certificate):
        return Published(problem=f"the certificate is not for {address}")
    moment = now or datetime.datetime.now(datetime.UTC)
    if certificate.not_valid_after_utc <= moment:
        return Published(
            problem=f"the certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}"
            " (mailstack smime renew)"
        )
    return Published(rdata(certificate))
