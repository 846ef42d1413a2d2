"""The certificates mailstack's CA makes: its own, and each mailbox's.

A mailbox's certificate follows the CA/Browser Forum S/MIME Baseline Requirements' profile
for a mailbox-validated, strict certificate (section 7.1.2.3): the subject holds the address
alone (commonName and emailAddress), subjectAltName the rfc822Name, keyUsage is critical
(digitalSignature and keyEncipherment for RSA, digitalSignature and keyAgreement for EC),
extendedKeyUsage is emailProtection and nothing else, the certificate policy is
2.23.140.1.5.1.3, the CRL distribution point and the CA's certificate are HTTP URLs, the key
identifiers are there, the serial is random (159 bits), and it is valid 825 days at most.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from mailstack.model import SMIME_MAX_DAYS

# CA/B Forum S/MIME BR section 7.1.6.1: mailbox-validated, strict.
MAILBOX_STRICT = x509.ObjectIdentifier("2.23.140.1.5.1.3")
RSA_BITS = 3072
# Issued a minute in the past: a client whose clock is a little behind still accepts it.
BACKDATE = datetime.timedelta(minutes=1)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class Urls:
    """Where the CA's certificate and CRL are served (HTTP, as the BR require)."""

    ca: str
    crl: str

    @classmethod
    def at(cls, pki_name: str, domain: str) -> Urls:
        base = f"http://{pki_name}/smime/{domain}"
        return cls(ca=f"{base}/ca.crt", crl=f"{base}/ca.crl")


def new_key(kind: str) -> PrivateKey:
    """A new key: `rsa-3072` or `ecdsa-p256` (the description's `smime.key`)."""
    if kind == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if kind == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown S/MIME key kind {kind!r}")


def validity(start: datetime.datetime, days: int) -> tuple[datetime.datetime, datetime.datetime]:
    """(notBefore, notAfter) of a certificate valid `days` days from `start`: the BR count
    the period inclusively, so it ends one second before `days` whole days."""
    not_before = start - BACKDATE
    return not_before, not_before + datetime.timedelta(days=days) - datetime.timedelta(seconds=1)


def ca_name(domain: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, domain),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{domain} S/MIME CA"),
        ]
    )


def ca_certificate(
    key: PrivateKey, domain: str, days: int, now: datetime.datetime
) -> x509.Certificate:
    """The domain's CA: self-signed, signing mailbox certificates and CRLs only."""
    name = ca_name(domain)
    not_before, not_after = validity(now, days)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def key_usage(public: PublicKey) -> x509.KeyUsage:
    """Signing, and encryption as the key's kind does it: RSA enciphers the content key, EC
    agrees on one (ECDH, RFC 5753)."""
    is_rsa = isinstance(public, rsa.RSAPublicKey)
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=is_rsa,
        data_encipherment=False,
        key_agreement=not is_rsa,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class Issuer:
    """The CA that signs: its key, its certificate, and where it is served."""

    key: PrivateKey
    certificate: x509.Certificate
    urls: Urls


def mailbox_certificate(
    issuer: Issuer, public: PublicKey, address: str, days: int, now: datetime.datetime
) -> x509.Certificate:
    """A mailbox-validated strict certificate for `address`, valid `days` days from `now`."""
    if not 1 <= days <= SMIME_MAX_DAYS:
        raise ValueError(f"{days} days: a certificate is valid 1 to {SMIME_MAX_DAYS} days")
    not_before, not_after = validity(now, days)
    ca_public = issuer.certificate.public_key()
    if not isinstance(ca_public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("the CA's key is neither RSA nor EC")
    return (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, address),
                    x509.NameAttribute(NameOID.EMAIL_ADDRESS, address),
                ]
            )
        )
        .issuer_name(issuer.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(public), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
        )
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(MAILBOX_STRICT, None)]),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(issuer.urls.crl)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(issuer.urls.ca),
                    )
                ]
            ),
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())
    )
