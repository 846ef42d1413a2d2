"""The certificates of mailstack's CA, field by field: the CA/B Forum S/MIME Baseline
Requirements' mailbox-validated strict profile, for RSA 3072 and ECDSA P-256, and the CRL."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
)

from mailstack.smime import profile
from mailstack.smime.errors import SmimeError
from tests.conftest import MakeInventory
from tests.smime_fixtures import session, smime_domain, smime_inventory

NOW = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)


def issued(
    make_inventory: MakeInventory, key: str, days: int = 365
) -> tuple[x509.Certificate, x509.Certificate, Path]:
    inventory = smime_inventory(make_inventory, smime_domain(key=key, validity=days))
    s = session(inventory, NOW)
    entry = s.issue("alice@example.test")
    _, certificates = s.store(s.domain("example.test")).issued(entry.serial)
    return certificates[0], certificates[1], inventory


@pytest.mark.parametrize("key", ["rsa-3072", "ecdsa-p256"])
def test_a_mailbox_certificate_has_the_strict_profile(
    make_inventory: MakeInventory, key: str
) -> None:
    cert, ca, _ = issued(make_inventory, key)
    ext = cert.extensions
    # Subject: the address alone; issuer: the domain's CA.
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice@example.test"
    assert (
        cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)[0].value == "alice@example.test"
    )
    assert len(cert.subject) == 2
    assert cert.issuer == ca.subject
    assert cert.version == x509.Version.v3
    # The key.
    public = cert.public_key()
    if key == "rsa-3072":
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 3072
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert public.curve.name == "secp256r1"
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    # keyUsage: critical; sign, and encrypt as the key's kind does.
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.key_encipherment is (key == "rsa-3072")
    assert usage.value.key_agreement is (key == "ecdsa-p256")
    assert not usage.value.key_cert_sign and not usage.value.crl_sign
    assert not usage.value.content_commitment and not usage.value.data_encipherment
    # extendedKeyUsage: emailProtection and nothing else.
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    # subjectAltName: the rfc822Name alone.
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.RFC822Name("alice@example.test")]
    # Key identifiers: SKI of its key, AKI of the CA's.
    ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(public)
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    # The policy of a mailbox-validated strict certificate.
    policies = ext.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == ["2.23.140.1.5.1.3"]
    # CRL distribution point and CA issuer: HTTP, at the pki name.
    crl_dp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for n in crl_dp[0].full_name or []] == [
        "http://pki.example.test/smime/example.test/ca.crl"
    ]
    aia = ext.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [(a.access_method, a.access_location.value) for a in aia] == [
        (
            AuthorityInformationAccessOID.CA_ISSUERS,
            "http://pki.example.test/smime/example.test/ca.crt",
        )
    ]
    # Not a CA.
    basic = ext.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    assert {e.oid for e in ext} == {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    }
    # Random serial of more than 64 bits; signed by the CA.
    assert cert.serial_number.bit_length() > 64
    cert.verify_directly_issued_by(ca)


def test_validity_is_as_described_and_counted_inclusively(make_inventory: MakeInventory) -> None:
    cert, _, _ = issued(make_inventory, "ecdsa-p256", days=825)
    period = cert.not_valid_after_utc - cert.not_valid_before_utc + datetime.timedelta(seconds=1)
    assert period == datetime.timedelta(days=825)
    assert (
        cert.not_valid_before_utc <= NOW < cert.not_valid_before_utc + datetime.timedelta(minutes=2)
    )


def test_more_than_825_days_is_refused_by_the_profile_itself() -> None:
    key = profile.new_key("ecdsa-p256")
    ca = profile.ca_certificate(key, "example.test", 3650, NOW)
    issuer = profile.Issuer(key, ca, profile.Urls.at("pki.example.test", "example.test"))
    with pytest.raises(ValueError, match="1 to 825 days"):
        profile.mailbox_certificate(issuer, key.public_key(), "a@example.test", 826, NOW)


def test_the_ca_certificate_signs_certificates_and_crls_only(make_inventory: MakeInventory) -> None:
    _, ca, _ = issued(make_inventory, "rsa-3072")
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    assert ca.subject == ca.issuer
    assert (
        ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "example.test S/MIME CA"
    )
    ca.verify_directly_issued_by(ca)


def test_the_crl_lists_a_revoked_certificate_and_is_signed_by_the_ca(
    make_inventory: MakeInventory,
) -> None:
    inventory = smime_inventory(make_inventory, smime_domain(key="ecdsa-p256", crl_days=7))
    s = session(inventory, NOW)
    alice = s.issue("alice@example.test")
    bob = s.issue("bob@example.test")
    published = s.inventory.published
    first = x509.load_der_x509_crl(published.smime_crl("example.test").read_bytes())
    assert len(first) == 0
    s.revoke("alice@example.test", "key-compromise")
    crl = x509.load_der_x509_crl(published.smime_crl("example.test").read_bytes())
    ca = x509.load_pem_x509_certificate(published.smime_ca("example.test").read_bytes())
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    listed = crl.get_revoked_certificate_by_serial_number(int(alice.serial, 16))
    assert listed is not None
    reason = listed.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(int(bob.serial, 16)) is None

    def number(c: x509.CertificateRevocationList) -> int:
        return c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    assert number(crl) == number(first) + 1
    assert crl.next_update_utc == NOW + datetime.timedelta(days=7)
    assert crl.issuer == ca.subject


def test_an_expired_ca_issues_nothing(make_inventory: MakeInventory) -> None:
    inventory = smime_inventory(
        make_inventory, smime_domain(key="ecdsa-p256", validity=30, ca_validity=825)
    )
    session(inventory, NOW).issue("alice@example.test")
    later = session(inventory, NOW + datetime.timedelta(days=826))
    with pytest.raises(SmimeError, match=r"the CA of example\.test expired on"):
        later.issue("bob@example.test")
    near_end = session(inventory, NOW + datetime.timedelta(days=800))
    with pytest.raises(SmimeError, match="before a certificate issued now would"):
        near_end.issue("bob@example.test")
