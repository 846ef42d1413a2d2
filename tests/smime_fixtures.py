"""What the S/MIME tests share: an inventory with S/MIME on, and a session on it."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from mailstack.inventory import load
from mailstack.smime.actions import Smime
from tests.conftest import PASSWORD_HASH, MakeInventory, domain, hosts

HASH = PASSWORD_HASH
MAILBOXES = ("alice", "bob")


def smime_domain(name: str = "example.test", **smime: Any) -> dict[str, Any]:
    """A domain with mailboxes alice and bob and an smime section of `smime`."""
    return domain(
        name,
        dmarc={"p": "reject", "rua": [f"mailto:alice@{name}"]},
        mailboxes=[{"name": m, "password_hash": HASH} for m in MAILBOXES],
        aliases=[{"name": "postmaster", "to": [f"alice@{name}"]}],
        smime=smime,
    )


def smime_inventory(make_inventory: MakeInventory, *domains: dict[str, Any]) -> Path:
    names = [f"mx1.{d['name']}" for d in domains]
    return make_inventory(list(domains), hosts(*names))


def session(inventory: Path, now: datetime.datetime | None = None) -> Smime:
    """The S/MIME steps on `inventory`, its store beside it (the default)."""
    when = now or datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return Smime(load(inventory), inventory.with_name(inventory.name + ".smime"), when)


def tree(*roots: Path) -> dict[str, bytes]:
    """Every file under `roots` with its content: to show that a refused step wrote nothing."""
    return {
        str(p): p.read_bytes()
        for root in roots
        if root.exists()
        for p in root.rglob("*")
        if p.is_file()
    }
