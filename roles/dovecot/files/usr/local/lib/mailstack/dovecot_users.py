"""mailstack's Dovecot accounts: /etc/dovecot/users, each vaulted password hashed once.

Managed by mailstack (role dovecot). Reads the host's mailboxes as JSON on standard input
(never on the command line): {"mailboxes": [{"address", "quota", "password_hash"} or
{"address", "quota", "password"}]}, and writes the passwd-file that Dovecot reads.

- A mailbox given with a hash keeps that hash.
- A vaulted password is hashed with ARGON2ID (memory-hard; by default 19 MiB and 2 passes,
  OWASP's recommendation, one lane as libsodium requires, a random 16-byte salt), in Dovecot's
  {ARGON2ID}$argon2id$v=19$m=...,t=...,p=1$salt$hash form, which Debian 12's Dovecot verifies
  through libsodium. Nothing in the users file is a fast function of a password.
- A hash is made once and kept: the state directory (root only, 0700) holds a random key
  (`key`, 0600) and a cache (`cache.json`, 0600) from HMAC-SHA256(key, address NUL password)
  to the hash made for it. An unchanged password finds its hash there without any slow
  computation; a changed one misses and is hashed anew. Without the key the cache reveals
  nothing (an HMAC under a 256-bit secret); with it, only as much as root could learn anyway.
- Files are written (atomically) only when their content changes.

Prints one JSON line, no password in it: {"changed": bool, "hashed": N, "kept": N}.
With --check nothing is written and nothing hashed: a missing hash counts as a change.

    python3 dovecot_users.py --users /etc/dovecot/users --state /var/lib/mailstack/dovecot
"""

from __future__ import annotations

import argparse
import base64
import functools
import grp
import hashlib
import hmac
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ARGON2ID's cost by default: OWASP's (Password Storage Cheat Sheet) m=19 MiB, t=2, p=1, about
# 25 ms a hash on one core; libsodium, which verifies them in Dovecot, supports one lane only.
TIME_COST = 2
MEMORY_KIB = 19456
PARALLELISM = 1
SALT_BYTES = 16
HASH_BYTES = 32

HEADER = (
    "# Managed by mailstack (role dovecot): the mailboxes of the mail description, with their\n"
    "# password hashes (a vaulted password hashed once with ARGON2ID and a random salt) and\n"
    "# quotas.\n"
)


@dataclass(frozen=True)
class Cost:
    """ARGON2ID's parameters. Cached hashes made with others are dropped (each re-hashed once)."""

    time: int = TIME_COST
    memory_kib: int = MEMORY_KIB

    @property
    def scheme(self) -> str:
        return f"ARGON2ID m={self.memory_kib},t={self.time},p={PARALLELISM}"


@dataclass(frozen=True)
class Result:
    users: str
    cache: dict[str, str]
    hashed: int
    kept: int


def argon2id(password: str, cost: Cost = Cost()) -> str:
    """`password` hashed as Dovecot's {ARGON2ID}, with a random salt."""
    from argon2.low_level import Type, hash_secret  # noqa: PLC0415 (python3-argon2, host only)

    encoded = hash_secret(
        password.encode(),
        os.urandom(SALT_BYTES),
        time_cost=cost.time,
        memory_cost=cost.memory_kib,
        parallelism=PARALLELISM,
        hash_len=HASH_BYTES,
        type=Type.ID,
    )
    return "{ARGON2ID}" + encoded.decode("ascii")


def tag(key: bytes, address: str, password: str) -> str:
    """The cache's key for a mailbox's password: HMAC-SHA256 under the host's secret key."""
    message = address.encode() + b"\0" + password.encode()
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")


def line(address: str, password_hash: str, quota: str | None) -> str:
    rule = f"userdb_quota_rule=*:storage={quota}" if quota else ""
    return f"{address}:{password_hash}::::::{rule}\n"


def render(
    mailboxes: Iterable[Mapping[str, Any]],
    key: bytes,
    cache: Mapping[str, str],
    hasher: Callable[[str], str] | None = argon2id,
    workers: int = 0,
) -> Result:
    """The users file, and the cache of the hashes it uses. Passwords whose tag is cached
    reuse their hash; the others are hashed by `hasher` (in parallel), or, when it is None
    (check mode), given an empty hash."""
    boxes = list(mailboxes)
    tags = {
        index: tag(key, str(box["address"]), str(box["password"]))
        for index, box in enumerate(boxes)
        if not box.get("password_hash")
    }
    missing = sorted({t for t in tags.values() if t not in cache})
    passwords = {t: str(boxes[index]["password"]) for index, t in tags.items() if t not in cache}
    made: dict[str, str] = {}
    if hasher is not None and missing:
        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            hashes = pool.map(hasher, [passwords[t] for t in missing])
            made = dict(zip(missing, hashes, strict=True))
    used: dict[str, str] = {}
    lines = [HEADER]
    for index, box in enumerate(boxes):
        if box.get("password_hash"):
            password_hash = str(box["password_hash"])
        else:
            t = tags[index]
            password_hash = cache.get(t) or made.get(t, "")
            used[t] = password_hash
        lines.append(line(str(box["address"]), password_hash, box.get("quota")))
    return Result("".join(lines), used, hashed=len(made), kept=len(tags) - len(missing))


def read_key(state: Path, create: bool) -> bytes:
    """The host's secret key (32 random bytes), made on first use (0600)."""
    path = state / "key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        if not create:
            return b""
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


def read_cache(state: Path, cost: Cost) -> dict[str, str]:
    """The cached hashes, empty when missing or made with other parameters."""
    try:
        data = json.loads((state / "cache.json").read_text())
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict) or data.get("scheme") != cost.scheme:
        return {}
    hashes = data.get("hashes", {})
    return {str(k): str(v) for k, v in hashes.items()} if isinstance(hashes, dict) else {}


def cache_text(cache: Mapping[str, str], cost: Cost) -> str:
    hashes = dict(sorted(cache.items()))
    return json.dumps({"scheme": cost.scheme, "hashes": hashes}, indent=0) + "\n"


def replace(path: Path, text: str, mode: int, gid: int = -1) -> bool:
    """Write `text` to `path` atomically with `mode` (and group), unless it already holds it."""
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        if gid != -1:
            os.fchown(fd, 0, gid)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        Path(scratch).replace(path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return True


@dataclass(frozen=True)
class Options:
    users: Path
    state: Path
    group: str | None = None
    check: bool = False
    cost: Cost = Cost()


def run(
    mailboxes: list[Mapping[str, Any]],
    options: Options,
    hasher: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Bring the users file (and the state) up to date; the summary printed."""
    state = options.state
    if not options.check:
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        state.chmod(0o700)
    key = read_key(state, create=not options.check)
    cache = read_cache(state, options.cost) if key else {}
    if options.check:
        result = render(mailboxes, key or b"\0" * 32, cache, None)
        try:
            current = options.users.read_text()
        except FileNotFoundError:
            current = ""
        missing = sum(1 for h in result.cache.values() if not h)
        changed = missing > 0 or current != result.users
        return {"changed": changed, "hashed": missing, "kept": result.kept}
    hasher = hasher or functools.partial(argon2id, cost=options.cost)
    result = render(mailboxes, key, cache, hasher)
    gid = grp.getgrnam(options.group).gr_gid if options.group else -1
    # The cache first: a hash in the users file is always one the cache can give back.
    changed_cache = replace(state / "cache.json", cache_text(result.cache, options.cost), 0o600)
    changed_users = replace(options.users, result.users, 0o640, gid)
    changed = changed_users or changed_cache
    return {"changed": changed, "hashed": result.hashed, "kept": result.kept}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=Path, required=True, help="the passwd-file to write")
    parser.add_argument("--state", type=Path, required=True, help="the key and cache's directory")
    parser.add_argument("--group", help="the users file's group (dovecot)")
    parser.add_argument("--time-cost", type=int, default=TIME_COST, help="ARGON2ID's passes")
    parser.add_argument("--memory-kib", type=int, default=MEMORY_KIB, help="its memory in KiB")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="write nothing, hash nothing")
    mode.add_argument("--write", action="store_true", help="bring the files up to date")
    args = parser.parse_args(argv)
    data = json.load(sys.stdin)
    cost = Cost(time=args.time_cost, memory_kib=args.memory_kib)
    options = Options(args.users, args.state, args.group, args.check, cost)
    summary = run(data["mailboxes"], options)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
