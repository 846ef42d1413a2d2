"""The S/MIME steps on one inventory: issue, renew, revoke, import, export, list, sign a CRL.

Every step checks everything before it writes anything: a refused step raises SmimeError and
leaves the store and the inventory as they were.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from mailstack.inventory import Inventory
from mailstack.model import Domain
from mailstack.smime import mailbox, pkcs12, profile, revocation
from mailstack.smime.errors import SmimeError
from mailstack.smime.instructions import Files
from mailstack.smime.store import (
    DomainStore,
    Entry,
    Index,
    make_dirs,
    publish_ca,
    publish_certificate,
    write,
    write_secret,
)


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def serial_text(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


def entry_of(certificate: x509.Certificate, address: str, source: str) -> Entry:
    return Entry(
        serial=serial_text(certificate),
        address=address,
        source=source,
        not_before=certificate.not_valid_before_utc.isoformat(),
        not_after=certificate.not_valid_after_utc.isoformat(),
    )


@dataclass(frozen=True)
class _Batch:
    """One domain's certificates to issue, checked: its store, index and CA (new or not)."""

    domain: Domain
    store: DomainStore
    index: Index
    issuer: profile.Issuer
    new_ca: bool
    addresses: list[str]


@dataclass
class Smime:
    """The S/MIME steps on `inventory`, with the CA store at `root`; `now` for every date."""

    inventory: Inventory
    root: Path
    now: datetime.datetime

    # -- what an address is --------------------------------------------------------------
    def mailbox(self, address: str) -> tuple[Domain, str]:
        """The described domain of `address` with S/MIME on, and the address lower-cased."""
        address = address.strip().lower()
        local, at, name = address.rpartition("@")
        if not at or not local:
            raise SmimeError(f"{address!r} is not a mail address")
        domain = self.domain(name)
        if local not in {m.name for m in domain.accounts.mailboxes}:
            raise SmimeError(
                f"{address} is not a mailbox of {name} in the description (mailboxes only:"
                " not an alias)"
            )
        return domain, address

    def domain(self, name: str) -> Domain:
        found = next((d for d in self.inventory.description.domains if d.name == name), None)
        if found is None:
            raise SmimeError(f"{name} is not a domain of the description")
        if found.smime is None:
            raise SmimeError(f"{name} has no smime section in the description: add one first")
        return found

    def store(self, domain: Domain) -> DomainStore:
        return DomainStore(self.root, domain.name)

    # -- mailstack's CA -------------------------------------------------------------------
    def _issuer(self, domain: Domain, store: DomainStore) -> tuple[profile.Issuer, bool]:
        """The domain's CA, made now when it has none (True: it is new, to be written)."""
        settings = domain.smime
        if settings is None or settings.pki_name is None:
            raise SmimeError(f"{domain.name}: no smime section")
        urls = profile.Urls.at(settings.pki_name, domain.name)
        if store.has_ca():
            key, certificate = store.ca()
            if not isinstance(key, profile.PrivateKey):
                raise SmimeError(f"{store.ca_key_path}: not an RSA or EC key")
            if certificate.not_valid_after_utc <= self.now:
                raise SmimeError(
                    f"the CA of {domain.name} expired on"
                    f" {certificate.not_valid_after_utc:%Y-%m-%d}: it issues nothing more"
                )
            return profile.Issuer(key, certificate, urls), False
        key = profile.new_key(settings.key)
        certificate = profile.ca_certificate(key, domain.name, settings.ca_validity, self.now)
        return profile.Issuer(key, certificate, urls), True

    def _crl(
        self, domain: Domain, issuer: profile.Issuer, index: Index
    ) -> x509.CertificateRevocationList:
        """A new CRL of every certificate the CA revoked (index.crl_number is raised)."""
        index.crl_number += 1
        revoked = [
            revocation.Revoked(
                int(e.serial, 16),
                datetime.datetime.fromisoformat(e.changed or e.not_before),
                e.reason or "unspecified",
            )
            for e in index.entries
            if e.state == "revoked" and e.source == "mailstack"
        ]
        days = domain.smime.crl_days if domain.smime else 30
        return revocation.crl(issuer, revoked, index.crl_number, self.now, days)

    def issue(self, address: str, *, renew: bool = False) -> Entry:
        """A new key and certificate for the mailbox; `renew` replaces its current one (which
        stays valid until it expires, for the mail signed with it)."""
        return self.issue_all([address], renew=renew)[0]

    def issue_all(self, addresses: Sequence[str], *, renew: bool = False) -> list[Entry]:
        """`issue` for each address, all or nothing: every address is checked before anything
        is made, and each domain's index is written once."""
        groups: dict[str, tuple[Domain, list[str]]] = {}
        for given in addresses:
            domain, address = self.mailbox(given)
            if domain.smime is None or not domain.smime.own_ca:
                raise SmimeError(
                    f"{domain.name} takes certificates from an external CA: renew at that CA,"
                    " then bring the .p12 in with `mailstack smime import`"
                )
            listed = groups.setdefault(domain.name, (domain, []))[1]
            if address in listed:
                raise SmimeError(f"{address} is listed twice")
            listed.append(address)
        batches = [self._batch(domain, group, renew) for domain, group in groups.values()]
        return [entry for batch in batches for entry in self._issue_batch(batch)]

    def _batch(self, domain: Domain, addresses: list[str], renew: bool) -> _Batch:
        """Everything an issue checks, for one domain's addresses: nothing made yet."""
        store = self.store(domain)
        index = store.index()
        for address in addresses:
            current = index.current(address)
            if renew and current is None:
                raise SmimeError(f"{address} has no certificate to renew: issue one")
            if not renew and current is not None:
                raise SmimeError(
                    f"{address} already has a certificate (serial {current.serial}, valid"
                    f" until {current.not_after[:10]}): renew or revoke it"
                )
        issuer, new_ca = self._issuer(domain, store)
        days = domain.smime.validity if domain.smime else 0
        _, not_after = profile.validity(self.now, days)
        if issuer.certificate.not_valid_after_utc < not_after:
            raise SmimeError(
                f"the CA of {domain.name} expires on"
                f" {issuer.certificate.not_valid_after_utc:%Y-%m-%d}, before a certificate"
                f" issued now would ({not_after:%Y-%m-%d}): shorten smime.validity"
            )
        return _Batch(domain, store, index, issuer, new_ca, addresses)

    def _issue_batch(self, batch: _Batch) -> list[Entry]:
        settings = batch.domain.smime
        if settings is None:
            raise SmimeError(f"{batch.domain.name} has no smime section")
        made = []
        for address in batch.addresses:
            key = profile.new_key(settings.key)
            certificate = profile.mailbox_certificate(
                batch.issuer, key.public_key(), address, settings.validity, self.now
            )
            entry = entry_of(certificate, address, "mailstack")
            current = batch.index.current(address)
            if current is not None:
                batch.index.set_state(current.serial, "superseded", self.now.isoformat())
            batch.index.entries.append(entry)
            made.append((entry, key, certificate))
        issuer, store, published = batch.issuer, batch.store, self.inventory.published
        crl = self._crl(batch.domain, issuer, batch.index) if batch.new_ca else None
        # Everything is made: now written, secrets first.
        if batch.new_ca:
            store.save_ca(issuer.key, issuer.certificate)
        for entry, key, certificate in made:
            store.save_issued(entry.serial, key, [certificate, issuer.certificate])
        store.save_index(batch.index)
        if crl is not None:
            publish_ca(published, batch.domain.name, issuer.certificate, crl)
        for entry, _, certificate in made:
            publish_certificate(published, entry.address, certificate)
        return [entry for entry, _, _ in made]

    def revoke(self, address: str, reason: str = "unspecified") -> Entry:
        """Revoke the mailbox's current certificate: the CRL lists it (mailstack's CA) and
        its SMIMEA record goes with the next publication of the zone."""
        if reason not in revocation.REASONS:
            raise SmimeError(f"{reason!r} is not one of {', '.join(revocation.REASONS)}")
        domain, address = self.mailbox(address)
        store = self.store(domain)
        index = store.index()
        current = index.current(address)
        if current is None:
            raise SmimeError(f"{address} has no valid certificate to revoke")
        own = current.source == "mailstack"
        index.set_state(
            current.serial, "revoked" if own else "withdrawn", self.now.isoformat(), reason
        )
        signed = None
        if own:
            issuer, _ = self._issuer(domain, store)
            signed = (issuer.certificate, self._crl(domain, issuer, index))
        store.save_index(index)
        if signed is not None:
            publish_ca(self.inventory.published, domain.name, *signed)
        publish_certificate(self.inventory.published, address, None)
        return next(e for e in index.entries if e.serial == current.serial)

    def sign_crl(self, name: str) -> int:
        """Sign the domain's CRL anew (before `crl_days` run out); its number."""
        domain = self.domain(name)
        store = self.store(domain)
        if domain.smime is None or not domain.smime.own_ca or not store.has_ca():
            raise SmimeError(f"{name} has no CA of mailstack's to sign a CRL")
        index = store.index()
        issuer, _ = self._issuer(domain, store)
        crl = self._crl(domain, issuer, index)
        store.save_index(index)
        publish_ca(self.inventory.published, domain.name, issuer.certificate, crl)
        return index.crl_number

    # -- a certificate from another CA ----------------------------------------------------
    def import_p12(self, address: str, data: bytes, password: str) -> Entry:
        """Bring in a user's .p12 from an external CA, once it passes every check."""
        domain, address = self.mailbox(address)
        if domain.smime is None or domain.smime.own_ca:
            raise SmimeError(
                f"{domain.name} has mailstack's own CA (smime.ca: mailstack): issue with"
                " `mailstack smime issue`, or set smime.ca: external"
            )
        contents = pkcs12.read(data, password)
        mailbox.check(address, contents.certificate, contents.key, contents.chain, self.now)
        store = self.store(domain)
        index = store.index()
        entry = entry_of(contents.certificate, address, "external")
        if any(e.serial == entry.serial for e in index.entries):
            raise SmimeError(f"{address}: the certificate {entry.serial} was imported before")
        current = index.current(address)
        if current is not None:
            index.set_state(current.serial, "superseded", self.now.isoformat())
        index.entries.append(entry)
        store.save_issued(entry.serial, contents.key, [contents.certificate, *contents.chain])
        store.save_index(index)
        publish_certificate(self.inventory.published, address, contents.certificate)
        return entry

    # -- handing the certificate to its user ----------------------------------------------
    def export(self, address: str, out: Path, password: str) -> Files:
        """Both .p12 files of the mailbox's current certificate in `out` (0600), and the
        CA's certificate when it is mailstack's."""
        domain, address = self.mailbox(address)
        store = self.store(domain)
        current = store.index().current(address)
        if current is None:
            raise SmimeError(f"{address} has no valid certificate: issue or import one")
        key, certificates = store.issued(current.serial)
        if not isinstance(key, profile.PrivateKey):
            raise SmimeError(f"{store.key_path(current.serial)}: not an RSA or EC key")
        certificate, chain = certificates[0], certificates[1:]
        mailbox.check(address, certificate, key, chain, self.now)
        files = Files(
            address,
            out / f"{address}-{pkcs12.MODERN.suffix}",
            out / f"{address}-{pkcs12.COMPATIBLE.suffix}",
            out / f"{domain.name}-smime-ca.crt" if current.source == "mailstack" else None,
        )
        contents = pkcs12.Contents(key, certificate, chain)
        blobs = {
            files.modern: pkcs12.encode(pkcs12.MODERN, address, contents, password),
            files.compatible: pkcs12.encode(pkcs12.COMPATIBLE, address, contents, password),
        }
        make_dirs(out, 0o700)
        for path, blob in blobs.items():
            write_secret(path, blob)
        if files.ca is not None:
            from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

            write(files.ca, chain[0].public_bytes(serialization.Encoding.PEM), 0o644)
        return files

    def entries(self, name: str | None = None) -> list[Entry]:
        """Every certificate of the domain `name`, or of every domain with S/MIME."""
        domains = (
            [self.domain(name)]
            if name
            else [d for d in self.inventory.description.domains if d.smime is not None]
        )
        return [e for d in domains for e in self.store(d).index().entries]
