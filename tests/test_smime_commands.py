"""`mailstack smime` as a user runs it: issue, renew, revoke, import, export, list, crl; and
every refusal (a mailbox that does not exist, a .p12 for another address, without
emailProtection, expired, with a wrong password, a key that is not the certificate's) says
why and writes nothing."""

from __future__ import annotations

import datetime
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailstack import share
from mailstack.cli import main
from mailstack.inventory import load
from mailstack.plan import build
from mailstack.problems import DescriptionError
from mailstack.smime import mailbox, pkcs12, profile, smimea
from mailstack.smime.errors import SmimeError
from mailstack.smime.serve import served
from tests.conftest import MakeInventory
from tests.smime_fixtures import smime_domain, smime_inventory, tree

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
# The test-only password of the users' .p12 files.
USER_SECRET = "user-secret"  # noqa: S105


@pytest.fixture
def inventory(make_inventory: MakeInventory) -> Path:
    """example.test with mailstack's CA (ECDSA: fast), peer.test with an external CA."""
    return smime_inventory(
        make_inventory,
        smime_domain("example.test", key="ecdsa-p256"),
        smime_domain("peer.test", ca="external"),
    )


def run(inventory: Path, *args: str) -> int:
    return main(["smime", args[0], "-i", str(inventory), *args[1:]])


def everything(inventory: Path) -> dict[str, bytes]:
    return tree(inventory, inventory.with_name(inventory.name + ".smime"))


def smimea_names(inventory: Path) -> set[str]:
    return {r.name for r in build(load(inventory)).records if r.rtype == "SMIMEA"}


def test_issue_writes_secrets_0600_and_publishes_the_certificate(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(inventory, "issue", "alice@example.test", "--json") == 0
    issued = json.loads(capsys.readouterr().out)
    assert [e["address"] for e in issued] == ["alice@example.test"]
    store = inventory.with_name("inv.smime") / "example.test"
    for path in [store / "ca-key.pem", store / "index.json", *store.glob("keys/*.pem")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for directory in [store.parent, store, store / "keys"]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert len(list(store.glob("keys/*.pem"))) == 1
    published = inventory / "published" / "smime" / "example.test"
    cert = x509.load_pem_x509_certificate((published / "mailboxes" / "alice.pem").read_bytes())
    assert format(cert.serial_number, "x") == issued[0]["serial"]
    assert b"PRIVATE KEY" not in b"".join(p.read_bytes() for p in published.rglob("*.pem"))
    assert smimea_names(inventory) == {smimea.owner("alice@example.test")}


def test_the_smimea_record_is_rfc_8162s(inventory: Path) -> None:
    assert run(inventory, "issue", "alice@example.test") == 0
    record = next(r for r in build(load(inventory)).records if r.rtype == "SMIMEA")
    # SHA2-256 of "alice", truncated to 28 octets (RFC 8162 section 3).
    assert record.name == (
        "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db._smimecert.example.test"
    )
    cert_pem = (inventory / "published/smime/example.test/mailboxes/alice.pem").read_bytes()
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert record.rdata == smimea.rdata(cert)
    assert smimea.certificate_of(record.rdata) == cert
    assert record.rdata.startswith("3 0 0 3082")


def test_a_second_issue_is_refused_and_renew_replaces(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(inventory, "issue", "alice@example.test") == 0
    first = (inventory / "published/smime/example.test/mailboxes/alice.pem").read_bytes()
    before = everything(inventory)
    capsys.readouterr()
    assert run(inventory, "issue", "alice@example.test") == 1
    assert "already has a certificate" in capsys.readouterr().err
    assert everything(inventory) == before
    assert run(inventory, "renew", "bob@example.test") == 1
    assert "no certificate to renew" in capsys.readouterr().err
    assert run(inventory, "renew", "alice@example.test") == 0
    assert (inventory / "published/smime/example.test/mailboxes/alice.pem").read_bytes() != first
    capsys.readouterr()
    assert run(inventory, "list", "example.test", "--json") == 0
    states = [e["state"] for e in json.loads(capsys.readouterr().out)]
    assert states == ["superseded", "valid"]


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("carol@example.test", "carol@example.test is not a mailbox of example.test"),
        ("postmaster@example.test", "mailboxes only: not an alias"),
        ("alice@nowhere.test", "nowhere.test is not a domain of the description"),
        ("alice@peer.test", "peer.test takes certificates from an external CA"),
    ],
)
def test_issue_refuses_what_is_no_mailbox_of_ours(
    inventory: Path, capsys: pytest.CaptureFixture[str], address: str, says: str
) -> None:
    before = everything(inventory)
    assert run(inventory, "issue", address) == 1
    assert says in capsys.readouterr().err
    assert everything(inventory) == before


def test_a_domain_without_an_smime_section_is_refused(
    make_inventory: MakeInventory, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = smime_domain("example.test")
    del plain["smime"]
    inventory = smime_inventory(make_inventory, plain)
    assert run(inventory, "issue", "alice@example.test") == 1
    assert "has no smime section" in capsys.readouterr().err
    assert not inventory.with_name("inv.smime").exists()


def test_revoke_lists_it_on_the_crl_and_withdraws_the_smimea_record(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(inventory, "issue", "alice@example.test", "bob@example.test") == 0
    assert smimea_names(inventory) == {
        smimea.owner("alice@example.test"),
        smimea.owner("bob@example.test"),
    }
    capsys.readouterr()
    assert run(inventory, "revoke", "alice@example.test", "--json") == 0
    revoked = json.loads(capsys.readouterr().out)
    assert revoked["state"] == "revoked"
    crl = x509.load_der_x509_crl((inventory / "published/smime/example.test/ca.crl").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(revoked["serial"], 16)) is not None
    assert smimea_names(inventory) == {smimea.owner("bob@example.test")}
    assert run(inventory, "revoke", "alice@example.test") == 1
    assert "no valid certificate to revoke" in capsys.readouterr().err


def test_crl_signs_a_new_crl(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(inventory, "crl", "example.test") == 1
    assert "no CA of mailstack's" in capsys.readouterr().err
    assert run(inventory, "issue", "alice@example.test") == 0
    path = inventory / "published/smime/example.test/ca.crl"
    first = x509.load_der_x509_crl(path.read_bytes())
    assert run(inventory, "crl", "example.test") == 0
    second = x509.load_der_x509_crl(path.read_bytes())
    numbers = [
        c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        for c in (first, second)
    ]
    assert numbers[1] == numbers[0] + 1


def test_export_writes_both_encodings_0600_and_the_password_once(
    inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(inventory, "issue", "alice@example.test") == 0
    out = tmp_path / "out"
    capsys.readouterr()
    assert run(inventory, "export", "alice@example.test", "--out", str(out)) == 0
    said = capsys.readouterr().out
    password = said.split("never send it by mail): ")[1].split()[0]
    assert len(password) == pkcs12.PASSWORD_LENGTH
    assert said.count(password) == 1
    modern = out / "alice@example.test-modern-aes256-sha256.p12"
    compatible = out / "alice@example.test-compatible-3des-sha1.p12"
    for path in (modern, compatible):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        contents = pkcs12.read(path.read_bytes(), password)
        assert contents.certificate.subject.rfc4514_string().endswith("alice@example.test")
        assert len(contents.chain) == 1
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert (out / "example.test-smime-ca.crt").is_file()
    for client in (
        "certutil -user -importpfx",
        "security import",
        "Trust Center",
        "Apple Mail",
        "Evolution",
        "Thunderbird",
        "pk12util",
    ):
        assert client in said, client


def test_export_to_a_password_file_shows_no_password(
    inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(inventory, "issue", "alice@example.test") == 0
    secret = tmp_path / "password"
    capsys.readouterr()
    args = ["alice@example.test", "--out", str(tmp_path / "o"), "--password-file", str(secret)]
    assert run(inventory, "export", *args, "--json", "--client", "macos") == 0
    data = json.loads(capsys.readouterr().out)
    password = secret.read_text().strip()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "password" not in data and password not in json.dumps(data)
    assert "security add-trusted-cert" in data["instructions"]
    assert "Thunderbird" not in data["instructions"]
    pkcs12.read(Path(data["compatible"]).read_bytes(), password)
    # An existing password file is never overwritten.
    assert run(inventory, "export", *args) == 1
    assert secret.read_text().strip() == password


def _external(
    address: str,
    *,
    eku: x509.ObjectIdentifier = ExtendedKeyUsageOID.EMAIL_PROTECTION,
    start: datetime.datetime = NOW,
    days: int = 365,
    ca_days: int = 3650,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, x509.Certificate]:
    """A commercial CA's certificate for `address` (any EKU, any dates), its key, the CA."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some Commercial CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start - datetime.timedelta(days=1))
        .not_valid_after(start + datetime.timedelta(days=ca_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, address)]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - datetime.timedelta(hours=1))
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    return key, cert, ca


def p12(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, ca: x509.Certificate
) -> Path:
    path = tmp_path / "user.p12"
    contents = pkcs12.Contents(key, cert, [ca])
    path.write_bytes(pkcs12.encode(pkcs12.MODERN, "user", contents, USER_SECRET))
    return path


def import_(
    inventory: Path, tmp_path: Path, address: str, path: Path, password: str = USER_SECRET
) -> int:
    secret = tmp_path / "p12-password"
    secret.write_text(password + "\n")
    return run(inventory, "import", address, str(path), "--password-file", str(secret))


def test_import_checks_a_users_p12_and_publishes_it(
    inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, cert, ca = _external("bob@peer.test")
    assert import_(inventory, tmp_path, "bob@peer.test", p12(tmp_path, key, cert, ca)) == 0
    published = inventory / "published/smime/peer.test/mailboxes/bob.pem"
    assert x509.load_pem_x509_certificate(published.read_bytes()) == cert
    assert smimea_names(inventory) == {smimea.owner("bob@peer.test")}
    # Exported again, with the CA chain the user brought and no CA file of ours.
    capsys.readouterr()
    assert run(inventory, "export", "bob@peer.test", "--out", str(tmp_path / "o"), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ca"] is None
    assert pkcs12.read(Path(data["modern"]).read_bytes(), data["password"]).chain == [ca]
    # Revoking an external certificate withdraws it from DNS; its CA alone revokes it.
    assert run(inventory, "revoke", "bob@peer.test") == 0
    assert "only the CA that issued it can revoke it" in capsys.readouterr().out
    assert smimea_names(inventory) == set()


def test_import_into_a_domain_of_mailstacks_ca_is_refused(
    inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, cert, ca = _external("alice@example.test")
    assert import_(inventory, tmp_path, "alice@example.test", p12(tmp_path, key, cert, ca)) == 1
    assert "has mailstack's own CA" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("another address", "the certificate is for alice@peer.test, not bob@peer.test"),
        ("no emailProtection", "no emailProtection"),
        ("expired", "the certificate expired on"),
        ("expired CA", "expired on"),
        ("a key alone", "holds no private key and certificate pair"),
        ("wrong password", "wrong password"),
        ("no such mailbox", "carol@peer.test is not a mailbox of peer.test"),
    ],
)
def test_import_refuses_a_bad_p12_and_writes_nothing(
    inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, says: str
) -> None:
    address, password = "bob@peer.test", USER_SECRET
    if case == "another address":
        key, cert, ca = _external("alice@peer.test")
    elif case == "no emailProtection":
        key, cert, ca = _external(address, eku=ExtendedKeyUsageOID.SERVER_AUTH)
    elif case == "expired":
        key, cert, ca = _external(address, start=NOW - datetime.timedelta(days=400))
    elif case == "expired CA":
        key, cert, ca = _external(address, ca_days=-1)
    else:
        key, cert, ca = _external(address)
    if case == "wrong password":
        password = USER_SECRET + "-not"
    if case == "no such mailbox":
        address = "carol@peer.test"
    path = p12(tmp_path, key, cert, ca)
    if case == "a key alone":
        path.write_bytes(
            serialization.pkcs12.serialize_key_and_certificates(
                b"user",
                key,
                None,
                None,
                serialization.BestAvailableEncryption(USER_SECRET.encode()),
            )
        )
    before = everything(inventory)
    assert import_(inventory, tmp_path, address, path, password) == 1
    err = capsys.readouterr().err
    assert says in err, err
    assert everything(inventory) == before


def test_usage_errors_exit_2(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["smime", "issue", "-i", str(inventory)])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["smime", "revoke", "-i", str(inventory), "alice@example.test", "--reason", "bored"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["check", "example.test", "--smime", "not-an-address"])
    assert exc.value.code == 2
    assert "'not-an-address' is not a mail address" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("smime", "path", "says"),
    [
        ({"ca": "sometimes"}, "smime.ca", "must be one of mailstack, external"),
        ({"key": "dsa"}, "smime.key", "must be one of rsa-3072, ecdsa-p256"),
        ({"validity": 826}, "smime.validity", "must be between 1 and 825"),
        ({"ca": "external", "validity": 30}, "smime.validity", "is only for ca: mailstack"),
        ({"host": "mx9.example.test"}, "smime.host", "is not a host of the mail group"),
        ({"pki_name": "not a name"}, "smime.pki_name", "is not a host name"),
        ({"crl_day": 3}, "smime.crl_day", "is not a known field (did you mean crl_days?)"),
    ],
)
def test_the_smime_section_is_validated(
    make_inventory: MakeInventory, smime: dict[str, Any], path: str, says: str
) -> None:
    inventory = smime_inventory(make_inventory, smime_domain(**smime))
    with pytest.raises(DescriptionError) as exc:
        load(inventory)
    found = [(p.path, p.message) for p in exc.value.problems.errors]
    assert any(p == f"mailstack_domains[0].{path}" and says in m for p, m in found), found


def test_a_parked_domain_takes_no_smime(make_inventory: MakeInventory) -> None:
    parked = {"name": "parked.test", "parked": True, "smime": {}}
    inventory = smime_inventory(make_inventory, smime_domain(), parked)
    with pytest.raises(DescriptionError) as exc:
        load(inventory)
    assert any(p.path == "mailstack_domains[1].smime" for p in exc.value.problems.errors)


def test_the_pki_name_points_at_the_serving_host(inventory: Path) -> None:
    records = build(load(inventory)).records
    pki = [(r.name, r.rtype, r.rdata) for r in records if r.name.startswith("pki.")]
    assert pki == [
        ("pki.example.test", "A", "192.0.2.10"),
        ("pki.example.test", "AAAA", "2001:db8::a"),
    ]


def test_a_published_certificate_for_another_address_makes_no_record(
    inventory: Path,
) -> None:
    assert run(inventory, "issue", "alice@example.test") == 0
    mailboxes = inventory / "published/smime/example.test/mailboxes"
    (mailboxes / "bob.pem").write_bytes((mailboxes / "alice.pem").read_bytes())
    plan = build(load(inventory))
    assert {r.name for r in plan.records if r.rtype == "SMIMEA"} == {
        smimea.owner("alice@example.test")
    }
    assert any("not for bob@example.test" in w.message for w in plan.problems.warnings)


def test_profile_urls_follow_the_description(make_inventory: MakeInventory) -> None:
    urls = profile.Urls.at("ca.example.test", "example.test")
    assert urls.crl == "http://ca.example.test/smime/example.test/ca.crl"
    assert urls.ca == "http://ca.example.test/smime/example.test/ca.crt"


def test_a_key_that_is_not_the_certificates_is_refused() -> None:
    key, cert, ca = _external("bob@peer.test")
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(SmimeError, match="the private key is not the certificate's key"):
        mailbox.check("bob@peer.test", cert, other, [ca], NOW)
    mailbox.check("bob@peer.test", cert, key, [ca], NOW)


def test_the_pki_name_serves_the_ca_certificate_and_crl(inventory: Path) -> None:
    assert run(inventory, "issue", "alice@example.test") == 0
    loaded = load(inventory)
    found = served(loaded.description)
    assert [(s.host, s.name, s.path, s.content_type) for s in found] == [
        (
            "mx1.example.test",
            "pki.example.test",
            "/smime/example.test/ca.crt",
            "application/pkix-cert",
        ),
        (
            "mx1.example.test",
            "pki.example.test",
            "/smime/example.test/ca.crl",
            "application/pkix-crl",
        ),
    ]
    ca = x509.load_der_x509_certificate((loaded.published.root / found[0].published).read_bytes())
    cert = x509.load_pem_x509_certificate(
        (inventory / "published/smime/example.test/mailboxes/alice.pem").read_bytes()
    )
    cert.verify_directly_issued_by(ca)
    x509.load_der_x509_crl((loaded.published.root / found[1].published).read_bytes())


def test_the_pki_host_share_names_the_files_to_serve(inventory: Path) -> None:
    loaded = load(inventory)
    assert share.of(loaded.description, "mx1.example.test")["pki"] == [
        {
            "name": "pki.example.test",
            "files": [
                {
                    "path": "/smime/example.test/ca.crt",
                    "published": "smime/example.test/ca.crt",
                    "type": "application/pkix-cert",
                },
                {
                    "path": "/smime/example.test/ca.crl",
                    "published": "smime/example.test/ca.crl",
                    "type": "application/pkix-crl",
                },
            ],
        }
    ]


def test_issue_of_several_addresses_is_all_or_nothing(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = everything(inventory)
    assert run(inventory, "issue", "alice@example.test", "carol@example.test") == 1
    assert "carol@example.test is not a mailbox" in capsys.readouterr().err
    assert run(inventory, "issue", "alice@example.test", "ALICE@example.test") == 1
    assert "alice@example.test is listed twice" in capsys.readouterr().err
    assert everything(inventory) == before
    assert run(inventory, "issue", "alice@example.test", "bob@example.test", "--json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert len(smimea_names(inventory)) == 2


def test_every_smime_command_needs_an_inventory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAILSTACK_INVENTORY", raising=False)
    for args in (["list"], ["issue", "a@example.test"], ["crl", "example.test"]):
        assert main(["smime", *args]) == 2
        assert "no inventory" in capsys.readouterr().err
