"""Mailboxes, aliases and catch-alls of a mail domain: read and validated with paths.

A mailbox's password is either a hash (Dovecot's `{SCHEME}hash` form, as `doveadm pw` prints
it; a plain-text scheme is refused) or a password encrypted with ansible-vault, which the
`dovecot` role hashes at deploy time. A password in clear is refused: none is ever at rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailstack.fields import NAME_LIMIT, Reader, first_time, is_address, is_local_part
from mailstack.problems import Problems

# crypt(3)'s alphabet, and Argon2's (standard base64, no padding).
_CRYPT = "[./0-9A-Za-z]"
_B64 = "[+/0-9A-Za-z]"
# Argon2 (RFC 9106, as libargon2 encodes it): version 19, its parameters, a salt of 8 bytes or
# more and a tag of 4 bytes or more, in base64 (Dovecot's default: 16 and 32 bytes).
_ARGON2 = (
    rf"v=19\$m=[1-9][0-9]{{0,9}},t=[1-9][0-9]{{0,9}},p=[1-9][0-9]{{0,2}}"
    rf"\${_B64}{{11,86}}\${_B64}{{6,86}}"
)


def _sha_crypt(tag: str, digest: int) -> str:
    """glibc's SHA-crypt: `$5$` or `$6$`, optional rounds, a salt of 16 characters at most,
    and a digest of exactly `digest` characters."""
    return rf"\${tag}\$(?:rounds=[1-9][0-9]{{3,8}}\$)?{_CRYPT}{{1,16}}\${_CRYPT}{{{digest}}}"


# What follows `{SCHEME}` in a hash of each scheme that mailstack accepts, matched whole, with
# the scheme's own alphabet and lengths: no password passes for a hash, and no `:`, space or
# control character ever reaches the users file, whose fields are separated by `:`.
HASH_FORMS = {
    "ARGON2ID": re.compile(rf"\$argon2id\${_ARGON2}"),
    "ARGON2I": re.compile(rf"\$argon2i\${_ARGON2}"),
    # bcrypt: a cost of 04 to 31, then 22 characters of salt and 31 of digest.
    "BLF-CRYPT": re.compile(rf"\$2[aby]\$(?:0[4-9]|[12][0-9]|3[01])\${_CRYPT}{{53}}"),
    "SHA512-CRYPT": re.compile(_sha_crypt("6", 86)),
    "SHA256-CRYPT": re.compile(_sha_crypt("5", 43)),
}
HASH_SCHEMES = tuple(HASH_FORMS)
# Longer than any hash of these schemes (an Argon2 hash with large parameters is about 130).
HASH_LIMIT = 256
_HASH = re.compile(r"\{([A-Z0-9-]+)\}(.*)", re.DOTALL)
_TEMPLATE = re.compile(r"\{\{|\{%")
# Dovecot's sizes: a number and a unit (kibi-, mebi-, gibi-, tebibytes).
_QUOTA = re.compile(r"[1-9][0-9]{0,5}[KMGT]")


class Vaulted:
    """A value encrypted with ansible-vault (`!vault`): mailstack never decrypts it. `secret` is
    the value as Ansible holds it (decrypted by Ansible alone, when a template reads it), kept
    only to hand it on to the one role that hashes passwords; it is never shown."""

    __slots__ = ("secret",)

    def __init__(self, secret: object = None) -> None:
        self.secret = secret

    def __repr__(self) -> str:
        return "Vaulted()"


@dataclass(frozen=True)
class Mailbox:
    name: str
    # The hash, or None when the password is vaulted (hashed by the dovecot role).
    password_hash: str | None
    quota: str | None = None
    # The vaulted password, when there is one (never compared or shown).
    password: Vaulted | None = field(default=None, compare=False, repr=False)


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
        vaulted = m.data.get("password")
        password = _password(m, problems)
        quota = m.text("quota", longest=NAME_LIMIT)
        m.done()
        if quota is not None and not _QUOTA.fullmatch(quota):
            problems.error(m.at("quota"), f"{quota!r} is not a size such as 500M or 2G")
            quota = None
        if name and password is not None:
            secret = vaulted if isinstance(vaulted, Vaulted) else None
            mailboxes.append(Mailbox(name, password or None, quota, secret))
    aliases = []
    for i, item in enumerate(r.items("aliases")):
        a = Reader(item, f"{r.at('aliases')}[{i}]", problems)
        name = _local(a, seen, problems)
        targets = [t.lower() for t in a.texts("to", longest=NAME_LIMIT)]
        a.done()
        if not targets:
            problems.error(a.at("to"), "needs at least one address")
        for j, target in enumerate(targets):
            if not is_address(target):
                problems.error(f"{a.at('to')}[{j}]", f"{target!r} is not a mail address")
        if name and targets:
            aliases.append(Alias(name, tuple(targets)))
    catch_all = r.text("catch_all", longest=NAME_LIMIT)
    if catch_all is not None and not is_address(catch_all.lower()):
        problems.error(r.at("catch_all"), f"{catch_all!r} is not a mail address")
        catch_all = None
    return Accounts(tuple(mailboxes), tuple(aliases), catch_all.lower() if catch_all else None)


def _local(r: Reader, seen: dict[str, str], problems: Problems) -> str | None:
    name = r.text("name", required=True, longest=NAME_LIMIT)
    if name is None:
        return None
    if not is_local_part(name):
        problems.error(r.at("name"), f"{name!r} is not a lower-case local part")
        return None
    return name if first_time(name, r.at("name"), seen, problems) else None


def _password(m: Reader, problems: Problems) -> str | None:
    """The mailbox's hash, "" for a vaulted password, None when neither is valid."""
    vaulted = m.raw("password")
    if isinstance(vaulted, str) and _TEMPLATE.search(vaulted):
        problems.error(
            m.at("password"),
            f"{vaulted[:60]!r} is a Jinja template, which mailstack does not resolve (Ansible"
            " would, at deploy time only): put the vaulted value here itself, made with"
            " `ansible-vault encrypt_string --name password`",
        )
        return None
    if vaulted is not None and not isinstance(vaulted, Vaulted):
        problems.error(
            m.at("password"),
            "must be encrypted with ansible-vault (`ansible-vault encrypt_string`), never in"
            " clear; or give password_hash",
        )
        return None
    if vaulted is not None and m.has("password_hash"):
        m.raw("password_hash")
        problems.error(m.at("password"), "give password or password_hash, not both")
        return None
    if vaulted is not None:
        return ""
    password_hash = m.text("password_hash", longest=HASH_LIMIT)
    if password_hash is None:
        problems.error(m.at("password_hash"), "is required (or a vaulted password)")
        return None
    return password_hash if _hash_ok(password_hash, m.at("password_hash"), problems) else None


def _hash_ok(value: str, path: str, problems: Problems) -> bool:
    match = _HASH.fullmatch(value)
    if match is None:
        problems.error(path, "must be a {SCHEME}hash as `doveadm pw` prints it, never a password")
        return False
    scheme, hashed = match.groups()
    form = HASH_FORMS.get(scheme)
    if form is None:
        problems.error(path, f"the scheme {scheme} is not one of {', '.join(HASH_SCHEMES)}")
        return False
    if form.fullmatch(hashed) is None:
        problems.error(
            path,
            f"is not a {scheme} hash as `doveadm pw -s {scheme}` prints it (the scheme's form,"
            " lengths and alphabet: letters, digits and . / $ , = +)",
        )
        return False
    return True
