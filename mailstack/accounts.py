"""Mailboxes, aliases and catch-alls of a mail domain: read and validated with paths.

Passwords are stored as hashes only (Dovecot's `{SCHEME}hash` form, as `doveadm pw` prints
them): a plain-text scheme is refused, so no password is ever at rest in clear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailstack.fields import Reader, first_time, is_address, is_local_part
from mailstack.problems import Problems

HASH_SCHEMES = ("ARGON2ID", "ARGON2I", "BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT")
_HASH = re.compile(r"^\{([A-Z0-9-]+)\}\S+$")


@dataclass(frozen=True)
class Mailbox:
    name: str
    password_hash: str


@dataclass(frozen=True)
class Alias:
    name: str
    to: tuple[str, ...]


@dataclass(frozen=True)
class Accounts:
    mailboxes: tuple[Mailbox, ...] = ()
    aliases: tuple[Alias, ...] = ()
    catch_all: str | None = None


def read(r: Reader, problems: Problems) -> Accounts:
    """The `mailboxes`, `aliases` and `catch_all` fields of the domain read by `r`."""
    seen: dict[str, str] = {}
    mailboxes = []
    for i, item in enumerate(r.items("mailboxes")):
        m = Reader(item, f"{r.at('mailboxes')}[{i}]", problems)
        name = _local(m, seen, problems)
        password_hash = m.text("password_hash", required=True)
        m.done()
        if password_hash is not None and not _hash_ok(
            password_hash, m.at("password_hash"), problems
        ):
            continue
        if name and password_hash:
            mailboxes.append(Mailbox(name, password_hash))
    aliases = []
    for i, item in enumerate(r.items("aliases")):
        a = Reader(item, f"{r.at('aliases')}[{i}]", problems)
        name = _local(a, seen, problems)
        targets = [t.lower() for t in a.texts("to")]
        a.done()
        if not targets:
            problems.error(a.at("to"), "needs at least one address")
        for j, target in enumerate(targets):
            if not is_address(target):
                problems.error(f"{a.at('to')}[{j}]", f"{target!r} is not a mail address")
        if name and targets:
            aliases.append(Alias(name, tuple(targets)))
    catch_all = r.text("catch_all")
    if catch_all is not None and not is_address(catch_all.lower()):
        problems.error(r.at("catch_all"), f"{catch_all!r} is not a mail address")
        catch_all = None
    return Accounts(tuple(mailboxes), tuple(aliases), catch_all.lower() if catch_all else None)


def _local(r: Reader, seen: dict[str, str], problems: Problems) -> str | None:
    name = r.text("name", required=True)
    if name is None:
        return None
    if not is_local_part(name):
        problems.error(r.at("name"), f"{name!r} is not a lower-case local part")
        return None
    return name if first_time(name, r.at("name"), seen, problems) else None


def _hash_ok(value: str, path: str, problems: Problems) -> bool:
    match = _HASH.match(value)
    if match is None:
        problems.error(path, "must be a {SCHEME}hash as `doveadm pw` prints it, never a password")
        return False
    if match.group(1) not in HASH_SCHEMES:
        problems.error(path, f"the scheme {match.group(1)} is not one of {', '.join(HASH_SCHEMES)}")
        return False
    return True
