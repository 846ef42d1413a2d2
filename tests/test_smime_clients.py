"""The .p12 files and certificates of `mailstack smime` in the real tools clients use.

- NSS (Thunderbird, Evolution): each encoding imports with `pk12util`, and `certutil -V`
  finds the certificate valid for signing (`-u S`) and for encryption (`-u R`) once the CA is
  trusted for e-mail (`,C,`); a certificate of the same CA without emailProtection is refused
  (the control).
- OpenSSL: the compatible file is written with the legacy PKCS#12 algorithms (3DES, SHA-1
  MAC), the modern one with PBES2 (PBKDF2, AES-256-CBC) and a SHA-256 MAC.
- A message: alice signs it and encrypts it to bob with `openssl cms`; NSS's `cmsutil`
  decrypts it with bob's key imported from his .p12; `openssl cms -verify` finds alice's
  signature good, and bad once one byte of the message is changed.

NSS's tools come from Debian's libnss3-tools (tests/setup-nss.sh, run by `make unit`).
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailstack.smime import pkcs12
from tests.conftest import hosts, write_inventory
from tests.smime_fixtures import session, smime_domain

PASSWORD = "test-only-p12-password"  # noqa: S105 (the tests' own files)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: tests/setup-nss.sh installs libnss3-tools (root)")
        pytest.skip(f"{name} is not installed: run `bash tests/setup-nss.sh` as root")
    return path


def call(*argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "P12PW": PASSWORD},
    )
    if ok:
        assert done.returncode == 0, f"{' '.join(argv)}: {done.stdout}{done.stderr}"
    return done


@dataclass(frozen=True)
class Exported:
    inventory: Path
    out: Path
    ca: Path

    def p12(self, address: str, encoding: pkcs12.Encoding) -> Path:
        return self.out / f"{address}-{encoding.suffix}"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """alice and bob of example.test (RSA 3072, mailstack's CA), both exported."""
    root = tmp_path_factory.mktemp("smime-clients")
    inventory = write_inventory(
        root / "inv", [smime_domain(key="rsa-3072")], hosts("mx1.example.test")
    )
    s = session(inventory)
    out = root / "out"
    for address in ("alice@example.test", "bob@example.test"):
        s.issue(address)
        s.export(address, out, PASSWORD)
    return Exported(inventory, out, out / "example.test-smime-ca.crt")


def nss_db(path: Path, ca: Path) -> str:
    """A new NSS database with an empty password, the CA trusted for e-mail (`,C,`)."""
    path.mkdir()
    db = f"sql:{path}"
    call(tool("certutil"), "-N", "-d", db, "--empty-password")
    call(tool("certutil"), "-A", "-d", db, "-n", "mailstack CA", "-t", ",C,", "-i", str(ca))
    return db


@pytest.mark.parametrize("encoding", pkcs12.ENCODINGS, ids=lambda e: e.name)
def test_nss_imports_each_encoding_valid_for_signing_and_encryption(
    exported: Exported, tmp_path: Path, encoding: pkcs12.Encoding
) -> None:
    db = nss_db(tmp_path / "nss", exported.ca)
    path = exported.p12("alice@example.test", encoding)
    done = call(tool("pk12util"), "-i", str(path), "-d", db, "-W", PASSWORD, "-K", "")
    assert "PKCS12 IMPORT SUCCESSFUL" in done.stdout + done.stderr
    listed = call(tool("certutil"), "-L", "-d", db).stdout
    assert "alice@example.test" in listed
    keys = call(tool("certutil"), "-K", "-d", db, "-f", "/dev/null").stdout
    assert "alice@example.test" in keys
    for usage in ("S", "R"):
        said = call(tool("certutil"), "-V", "-u", usage, "-n", "alice@example.test", "-d", db)
        assert "certificate is valid" in said.stdout, said.stdout
    # Not for a TLS server: the usage is checked, not waved through.
    said = call(tool("certutil"), "-V", "-u", "V", "-n", "alice@example.test", "-d", db, ok=False)
    assert "certificate is invalid" in said.stdout + said.stderr


def test_nss_refuses_a_wrong_password(exported: Exported, tmp_path: Path) -> None:
    db = nss_db(tmp_path / "nss", exported.ca)
    path = exported.p12("alice@example.test", pkcs12.MODERN)
    done = call(tool("pk12util"), "-i", str(path), "-d", db, "-W", "wrong", "-K", "", ok=False)
    assert done.returncode != 0
    assert "alice@example.test" not in call(tool("certutil"), "-L", "-d", db).stdout


def test_nss_refuses_a_certificate_without_email_protection(
    exported: Exported, tmp_path: Path
) -> None:
    """The control: the same CA, the same address, extendedKeyUsage serverAuth."""
    s = session(exported.inventory)
    key, ca = s.store(s.domain("example.test")).ca()
    alice = x509.load_pem_x509_certificate(
        (exported.inventory / "published/smime/example.test/mailboxes/alice.pem").read_bytes()
    )
    now = datetime.datetime.now(datetime.UTC)
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice@example.test")]))
        .issuer_name(ca.subject)
        .public_key(alice.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name("alice@example.test")]), critical=False
        )
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    pem = tmp_path / "server.pem"
    pem.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    db = nss_db(tmp_path / "nss", exported.ca)
    mine = tmp_path / "alice.pem"
    mine.write_bytes(alice.public_bytes(serialization.Encoding.PEM))
    call(tool("certutil"), "-A", "-d", db, "-n", "server-auth", "-t", ",,", "-i", str(pem))
    call(tool("certutil"), "-A", "-d", db, "-n", "issued", "-t", ",,", "-i", str(mine))
    refused = call(tool("certutil"), "-V", "-u", "S", "-n", "server-auth", "-d", db, ok=False)
    assert "certificate is invalid" in refused.stdout + refused.stderr
    assert "not approved" in refused.stdout + refused.stderr
    accepted = call(tool("certutil"), "-V", "-u", "S", "-n", "issued", "-d", db)
    assert "certificate is valid" in accepted.stdout
    # OpenSSL agrees: S/MIME signing purpose, against the same CA.
    ca_pem = str(exported.ca)
    call("openssl", "verify", "-purpose", "smimesign", "-CAfile", ca_pem, str(mine))
    done = call("openssl", "verify", "-purpose", "smimesign", "-CAfile", ca_pem, str(pem), ok=False)
    assert done.returncode != 0 and "unsuitable certificate purpose" in done.stdout + done.stderr


def test_openssl_reads_the_algorithms_each_file_is_named_for(exported: Exported) -> None:
    def info(encoding: pkcs12.Encoding) -> str:
        path = str(exported.p12("alice@example.test", encoding))
        return call(
            "openssl", "pkcs12", "-info", "-noout", "-in", path, "-passin", "env:P12PW"
        ).stderr

    compatible = info(pkcs12.COMPATIBLE)
    assert "MAC: sha1" in compatible
    assert compatible.count("pbeWithSHA1And3-KeyTripleDES-CBC") == 2  # certificates and key
    assert "PBES2" not in compatible and "AES" not in compatible
    modern = info(pkcs12.MODERN)
    assert "MAC: sha256" in modern
    assert modern.count("PBES2, PBKDF2, AES-256-CBC") == 2
    assert "hmacWithSHA256" in modern
    assert "TripleDES" not in modern and "sha1" not in modern.lower()


def pem_files(exported: Exported, address: str, tmp_path: Path) -> tuple[Path, Path]:
    """The certificate and key of `address`, out of its modern .p12, as PEM files."""
    path = exported.p12(address, pkcs12.MODERN)
    contents = pkcs12.read(path.read_bytes(), PASSWORD)
    cert = tmp_path / f"{address}.crt"
    key = tmp_path / f"{address}.key"
    cert.write_bytes(contents.certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        contents.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    return cert, key


def test_alice_signs_and_encrypts_to_bob_who_decrypts_with_nss_and_verifies(
    exported: Exported, tmp_path: Path
) -> None:
    alice_cert, alice_key = pem_files(exported, "alice@example.test", tmp_path)
    bob_cert, _ = pem_files(exported, "bob@example.test", tmp_path)
    body = tmp_path / "body.txt"
    body.write_text("Content-Type: text/plain\r\n\r\nThe minutes of the meeting, signed.\r\n")
    signed, encrypted = tmp_path / "signed.eml", tmp_path / "encrypted.der"
    call("openssl", "cms", "-sign", "-in", str(body), "-signer", str(alice_cert),
         "-inkey", str(alice_key), "-md", "sha256", "-out", str(signed))  # fmt: skip
    call("openssl", "cms", "-encrypt", "-in", str(signed), "-aes-256-cbc", "-outform", "DER",
         "-out", str(encrypted), str(bob_cert))  # fmt: skip
    assert b"The minutes" not in encrypted.read_bytes()
    # Bob's key lives only in his NSS database, imported from his .p12.
    db = nss_db(tmp_path / "bob-nss", exported.ca)
    call(tool("pk12util"), "-i", str(exported.p12("bob@example.test", pkcs12.MODERN)), "-d", db,
         "-W", PASSWORD, "-K", "")  # fmt: skip
    decrypted = tmp_path / "decrypted.eml"
    call(
        tool("cmsutil"),
        "-D",
        "-i",
        str(encrypted),
        "-o",
        str(decrypted),
        "-d",
        db,
        "-f",
        "/dev/null",
    )
    assert decrypted.read_bytes().replace(b"\r\n", b"\n") == signed.read_bytes().replace(
        b"\r\n", b"\n"
    )
    verified = call("openssl", "cms", "-verify", "-in", str(decrypted), "-CAfile", str(exported.ca),
                    "-purpose", "smimesign", "-out", str(tmp_path / "content.txt"))  # fmt: skip
    assert "Verification successful" in verified.stderr
    assert "The minutes of the meeting, signed." in (tmp_path / "content.txt").read_text()
    # One byte changed: the signature no longer verifies.
    data = bytearray(decrypted.read_bytes())
    at = data.index(b"minutes")
    data[at] = ord("M")
    tampered = tmp_path / "tampered.eml"
    tampered.write_bytes(bytes(data))
    failed = call("openssl", "cms", "-verify", "-in", str(tampered), "-CAfile", str(exported.ca),
                  ok=False)  # fmt: skip
    assert failed.returncode != 0
    assert "Verification failure" in failed.stderr and "content verify error" in failed.stderr
