"""The dovecot role's accounts (roles/dovecot/files/usr/local/lib/mailstack/dovecot_users.py):
the users file reveals nothing that a fast hash of a guessed password can match (each vaulted
password is hashed with ARGON2ID and a random salt, by the real argon2 library that Debian
ships as python3-argon2), and each hash is made once: a second run with the same passwords
hashes nothing and writes nothing, and the cache of hashes is useless without the host's key."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from argon2.exceptions import VerifyMismatchError
from argon2.low_level import Type, verify_secret

from tests.conftest import ROOT, load_file

users = load_file(
    ROOT / "roles/dovecot/files/usr/local/lib/mailstack/dovecot_users.py", "dovecot_users"
)

SECRET = "correct horse battery staple"  # noqa: S105 (a test password)
MAILBOXES: list[dict[str, Any]] = [
    {"address": "alice@example.test", "quota": None, "password_hash": None, "password": SECRET},
    # The same password on another mailbox: its hash must share nothing with alice's.
    {"address": "bob@example.test", "quota": "1G", "password_hash": None, "password": SECRET},
    {"address": "carol@example.test", "quota": None, "password_hash": "{ARGON2ID}$given"},
]


def fast_digests(guess: str, address: str) -> set[str]:
    """What a fast hash of a guessed password can be compared with: hex and base64 digests of
    the password alone or with the address, and the salt the old template derived from them."""
    found = set()
    for text in (guess, f"{guess}:{address}", f"{address}:{guess}", f"{address}\0{guess}"):
        for name in ("md5", "sha1", "sha256", "sha512"):
            digest = hashlib.new(name, text.encode()).digest()
            found |= {digest.hex(), base64.b64encode(digest).decode().rstrip("=")}
    found.add(hashlib.sha256(f"{guess}:{address}".encode()).hexdigest()[:16])
    return found


def fast_oracle(text: str, guess: str) -> list[str]:
    """The addresses of the users file whose line a fast hash of `guess` matches."""
    hits = []
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        address, password_hash = line.split(":")[:2]
        if any(d in password_hash for d in fast_digests(guess, address)):
            hits.append(address)
    return hits


def vaulted_lines(text: str) -> dict[str, str]:
    lines = (line.split(":") for line in text.splitlines() if line and not line.startswith("#"))
    return {fields[0]: fields[1] for fields in lines}


def options(tmp_path: Path, **kwargs: Any) -> Any:
    return users.Options(users=tmp_path / "users", state=tmp_path / "state", **kwargs)


def never(password: str) -> str:
    raise AssertionError("a password was hashed again")


def test_the_old_derived_salt_is_a_fast_oracle() -> None:
    # The control: the line the old template wrote (SHA512-CRYPT, salt from sha256 of the
    # password and the address) is confirmed by one SHA-256 of the right guess.
    address = "alice@example.test"
    salt = hashlib.sha256(f"{SECRET}:{address}".encode()).hexdigest()[:16]
    old = f"{address}:{{SHA512-CRYPT}}$6${salt}$whatever::::::\n"
    assert fast_oracle(old, SECRET) == [address]
    assert fast_oracle(old, "wrong guess") == []


def test_the_users_file_reveals_nothing_to_a_fast_hash(tmp_path: Path) -> None:
    users.run(MAILBOXES, options(tmp_path))
    text = (tmp_path / "users").read_text()
    assert fast_oracle(text, SECRET) == []
    assert SECRET not in text
    hashes = vaulted_lines(text)
    pattern = (
        r"\{ARGON2ID\}\$argon2id\$v=19\$m=19456,t=2,p=1\$([A-Za-z0-9+/]{22})\$[A-Za-z0-9+/]{43}"
    )
    salts = [re.fullmatch(pattern, hashes[a]) for a in ("alice@example.test", "bob@example.test")]
    assert all(salts), hashes
    # The same password on two mailboxes: two random salts, two unrelated hashes.
    assert salts[0] and salts[1] and salts[0].group(1) != salts[1].group(1)
    assert hashes["carol@example.test"] == "{ARGON2ID}$given"
    # Only the slow scheme confirms a guess.
    for address in ("alice@example.test", "bob@example.test"):
        encoded = hashes[address].removeprefix("{ARGON2ID}").encode()
        assert verify_secret(encoded, SECRET.encode(), Type.ID)
        with pytest.raises(VerifyMismatchError):
            verify_secret(encoded, b"wrong guess", Type.ID)
    assert "\nbob@example.test:{ARGON2ID}$" in text
    assert [line.split("::::::")[1] for line in text.splitlines() if line.startswith("bob@")] == [
        "userdb_quota_rule=*:storage=1G"
    ]


def test_the_state_is_root_only_and_the_cache_useless_without_the_key(tmp_path: Path) -> None:
    users.run(MAILBOXES, options(tmp_path))
    state = tmp_path / "state"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "key").stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "cache.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "users").stat().st_mode) == 0o640
    cache = (state / "cache.json").read_text()
    assert SECRET not in cache
    tags = set(json.loads(cache)["hashes"])
    assert len(tags) == 2
    for address in ("alice@example.test", "bob@example.test"):
        assert not tags & fast_digests(SECRET, address)
    # Another host's key (or none) finds nothing in it: every password is hashed anew.
    (state / "key").write_bytes(b"k" * 32)
    assert users.run(MAILBOXES, options(tmp_path))["hashed"] == 2


def test_a_second_run_hashes_nothing_and_changes_nothing(tmp_path: Path) -> None:
    first = users.run(MAILBOXES, options(tmp_path))
    assert (first["changed"], first["hashed"], first["kept"]) == (True, 2, 0)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    second = users.run(MAILBOXES, options(tmp_path), hasher=never)
    assert second == {"changed": False, "hashed": 0, "kept": 2}
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_a_changed_password_alone_is_hashed_again(tmp_path: Path) -> None:
    users.run(MAILBOXES, options(tmp_path))
    old = vaulted_lines((tmp_path / "users").read_text())
    changed = [{**MAILBOXES[0], "password": "a new password"}, *MAILBOXES[1:]]
    summary = users.run(changed, options(tmp_path))
    assert summary == {"changed": True, "hashed": 1, "kept": 1}
    new = vaulted_lines((tmp_path / "users").read_text())
    assert new["bob@example.test"] == old["bob@example.test"]
    assert new["alice@example.test"] != old["alice@example.test"]
    # The old password's hash has left the cache.
    assert old["alice@example.test"] not in (tmp_path / "state" / "cache.json").read_text()


def test_a_new_cost_rehashes_each_password_once(tmp_path: Path) -> None:
    users.run(MAILBOXES, options(tmp_path))
    cheaper = users.Cost(time=1, memory_kib=8192)
    assert users.run(MAILBOXES, options(tmp_path, cost=cheaper))["hashed"] == 2
    assert "m=8192,t=1,p=1" in (tmp_path / "users").read_text()
    assert users.run(MAILBOXES, options(tmp_path, cost=cheaper), hasher=never)["hashed"] == 0


def test_check_mode_writes_and_hashes_nothing(tmp_path: Path) -> None:
    summary = users.run(MAILBOXES, options(tmp_path, check=True), hasher=never)
    assert summary == {"changed": True, "hashed": 2, "kept": 0}
    assert list(tmp_path.iterdir()) == []
    users.run(MAILBOXES, options(tmp_path))
    assert users.run(MAILBOXES, options(tmp_path, check=True), hasher=never)["changed"] is False


def run_main(tmp_path: Path, mailboxes: Iterable[dict[str, Any]], monkeypatch: Any) -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"mailboxes": list(mailboxes)})))
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    argv = ["--users", str(tmp_path / "users"), "--state", str(tmp_path / "state"), "--write"]
    assert users.main(argv) == 0
    return out.getvalue()


def test_the_program_reads_passwords_from_stdin_and_prints_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    printed = run_main(tmp_path, MAILBOXES, monkeypatch)
    assert json.loads(printed) == {"changed": True, "hashed": 2, "kept": 0}
    assert SECRET not in printed
    assert json.loads(run_main(tmp_path, MAILBOXES, monkeypatch))["changed"] is False
