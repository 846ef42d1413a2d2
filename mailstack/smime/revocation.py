"""The CA's certificate revocation list: every certificate it revoked, signed by it."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from mailstack.smime.profile import Issuer

# RFC 5280 section 5.3.1 reason codes that `mailstack smime revoke --reason` takes.
REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key-compromise": x509.ReasonFlags.key_compromise,
    "affiliation-changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
}


@dataclass(frozen=True)
class Revoked:
    serial: int
    when: datetime.datetime
    reason: str


def crl(
    issuer: Issuer,
    revoked: Iterable[Revoked],
    number: int,
    now: datetime.datetime,
    days: int,
) -> x509.CertificateRevocationList:
    """The CRL number `number` of `issuer`, valid `days` days from `now`, listing `revoked`."""
    key, ca = issuer.key, issuer.certificate
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    )
    for entry in revoked:
        item = (
            x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(entry.when)
        )
        if entry.reason != "unspecified":
            item = item.add_extension(x509.CRLReason(REASONS[entry.reason]), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    return builder.sign(key, hashes.SHA256())
