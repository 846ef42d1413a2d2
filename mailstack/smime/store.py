"""Where S/MIME keys and certificates live.

The CA store holds what is secret, on the controller, outside the repository: by default
the directory `<inventory>.smime/` beside the inventory (`inventories/prod.smime/` for
`inventories/prod/`; `.gitignore` keeps `*.smime/` out of commits), else `--store DIR` or
`$MAILSTACK_SMIME_STORE`. Directories are 0700 and every file 0600, written whole (a
temporary file renamed), never logged:

    <store>/<domain>/ca-key.pem        the domain's CA key (mailstack's CA)
    <store>/<domain>/ca.pem            the CA's certificate
    <store>/<domain>/index.json        every certificate: serial, address, dates, state
    <store>/<domain>/keys/<serial>.pem      each mailbox certificate's private key
    <store>/<domain>/certs/<serial>.pem     the certificate, then its CA chain

What is public is published into the inventory, beside the other public keys, and committed:
the plan makes the SMIMEA records from it (`mailstack.keys.PublishedKeys`):

    published/smime/<domain>/ca.pem, ca.crt       the CA's certificate, PEM and DER
    published/smime/<domain>/ca.crl               its CRL (DER)
    published/smime/<domain>/mailboxes/<name>.pem each mailbox's current certificate
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from mailstack.keys import PublishedKeys
from mailstack.smime.errors import SmimeError

STORE_ENV = "MAILSTACK_SMIME_STORE"
STATES = ("valid", "superseded", "revoked", "withdrawn")


def default_root(inventory: Path) -> Path:
    """`<inventory>.smime`, beside the inventory directory."""
    resolved = inventory.resolve()
    return resolved.with_name(resolved.name + ".smime")


def root_of(inventory: Path, given: str | None) -> Path:
    """The store: `given` (--store), else $MAILSTACK_SMIME_STORE, else beside the inventory."""
    named = given or os.environ.get(STORE_ENV)
    return Path(named) if named else default_root(inventory)


def make_dirs(path: Path, mode: int) -> None:
    """`path` and its missing parents, each made with `mode` (mkdir gives it only to the
    last)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=mode, exist_ok=True)


def write(path: Path, data: bytes, mode: int) -> None:
    """Write `data` whole at `path` with `mode` (a temporary file in the same directory,
    renamed), making missing directories 0700 for a secret file, 0755 otherwise."""
    make_dirs(path.parent, 0o700 if mode == 0o600 else 0o755)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_secret(path: Path, data: bytes) -> None:
    write(path, data, 0o600)


def pem_key(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def pem_certs(certificates: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


@dataclass(frozen=True)
class Entry:
    """One certificate of the index. `state`: valid (the address's current one), superseded
    (renewed or replaced; still valid until it expires), revoked (on the CRL), withdrawn (an
    external one taken out of DNS; its CA alone can revoke it)."""

    serial: str
    address: str
    source: str
    not_before: str
    not_after: str
    state: str = "valid"
    changed: str | None = None
    reason: str | None = None


@dataclass
class Index:
    entries: list[Entry] = field(default_factory=list)
    crl_number: int = 0

    def current(self, address: str) -> Entry | None:
        """The address's valid certificate, or None."""
        return next((e for e in self.entries if e.address == address and e.state == "valid"), None)

    def set_state(self, serial: str, state: str, when: str, reason: str | None = None) -> None:
        self.entries = [
            replace(e, state=state, changed=when, reason=reason) if e.serial == serial else e
            for e in self.entries
        ]


class DomainStore:
    """The CA store of one domain."""

    def __init__(self, root: Path, domain: str) -> None:
        self.domain = domain
        self.dir = root / domain

    @property
    def ca_key_path(self) -> Path:
        return self.dir / "ca-key.pem"

    @property
    def ca_path(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def index_path(self) -> Path:
        return self.dir / "index.json"

    def key_path(self, serial: str) -> Path:
        return self.dir / "keys" / f"{serial}.pem"

    def cert_path(self, serial: str) -> Path:
        return self.dir / "certs" / f"{serial}.pem"

    def index(self) -> Index:
        if not self.index_path.exists():
            return Index()
        try:
            data: dict[str, Any] = json.loads(self.index_path.read_text())
            return Index([Entry(**e) for e in data["entries"]], int(data["crl_number"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise SmimeError(f"{self.index_path} is not an index mailstack wrote: {exc}") from exc

    def save_index(self, index: Index) -> None:
        # vars(), not asdict(): a flat record, without asdict's deep copies (1,000 of them).
        data = {"crl_number": index.crl_number, "entries": [vars(e) for e in index.entries]}
        write_secret(self.index_path, (json.dumps(data, indent=2) + "\n").encode())

    def has_ca(self) -> bool:
        return self.ca_key_path.exists() and self.ca_path.exists()

    def ca(self) -> tuple[PrivateKeyTypes, x509.Certificate]:
        """The CA's key and certificate; SmimeError when there is none or it is unreadable."""
        if not self.has_ca():
            raise SmimeError(f"{self.domain} has no CA in {self.dir}: issue a certificate first")
        return self._key(self.ca_key_path), self._certs(self.ca_path)[0]

    def save_ca(self, key: PrivateKeyTypes, certificate: x509.Certificate) -> None:
        write_secret(self.ca_key_path, pem_key(key))
        write_secret(self.ca_path, pem_certs([certificate]))

    def save_issued(
        self, serial: str, key: PrivateKeyTypes, certificates: list[x509.Certificate]
    ) -> None:
        """A certificate (then its chain) and its key, under its serial."""
        write_secret(self.key_path(serial), pem_key(key))
        write_secret(self.cert_path(serial), pem_certs(certificates))

    def issued(self, serial: str) -> tuple[PrivateKeyTypes, list[x509.Certificate]]:
        """The key and the certificates (the certificate, then its chain) of a serial."""
        return self._key(self.key_path(serial)), self._certs(self.cert_path(serial))

    @staticmethod
    def _key(path: Path) -> PrivateKeyTypes:
        try:
            return serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise SmimeError(f"{path}: cannot read the key: {exc}") from exc

    @staticmethod
    def _certs(path: Path) -> list[x509.Certificate]:
        try:
            return x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise SmimeError(f"{path}: cannot read the certificates: {exc}") from exc


def publish_certificate(
    published: PublishedKeys, address: str, certificate: x509.Certificate | None
) -> None:
    """Put the address's current certificate where the plan reads it; None removes it."""
    local, _, domain = address.rpartition("@")
    path = published.smime(domain, local)
    if certificate is None:
        path.unlink(missing_ok=True)
    else:
        write(path, pem_certs([certificate]), 0o644)


def publish_ca(
    published: PublishedKeys,
    domain: str,
    certificate: x509.Certificate,
    crl: x509.CertificateRevocationList,
) -> None:
    write(published.smime_ca(domain), pem_certs([certificate]), 0o644)
    der = certificate.public_bytes(serialization.Encoding.DER)
    write(published.smime_ca_der(domain), der, 0o644)
    write(published.smime_crl(domain), crl.public_bytes(serialization.Encoding.DER), 0o644)
