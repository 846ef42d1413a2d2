"""Benchmark: the dovecot role's account step on a second converge (no password changed).

The real program the role runs on the mail host (roles/dovecot/files/usr/local/lib/mailstack/
dovecot_users.py), run as the role runs it: a python3 process reading the mailboxes as JSON on
its standard input, with a users file and a state (key and cache) in a temporary directory,
here on this machine, no container. The state of a first converge is made beforehand with the
program's own key and tags; the hashes in it are random stand-ins (nothing verifies them in
a second converge, and making 10,000 real ones would only time the setup).
Target: under 5 s for 10,000 mailboxes. Prints figures, passes or fails nothing on a time.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, load_file

PROGRAM = ROOT / "roles/dovecot/files/usr/local/lib/mailstack/dovecot_users.py"
SIZES = (1000, 10000)
TARGET = 5.0


def mailboxes(count: int) -> list[dict[str, Any]]:
    return [
        {
            "address": f"user{n}@example.test",
            "quota": "2G" if n % 3 == 0 else None,
            "password_hash": None,
            "password": secrets.token_urlsafe(12),
        }
        for n in range(count)
    ]


def first_converge(directory: Path, boxes: list[dict[str, Any]]) -> None:
    """The users file and state that a first converge leaves (stand-in hashes)."""
    users = load_file(PROGRAM, "dovecot_users_bench")
    state = directory / "state"
    state.mkdir(mode=0o700)
    key = users.read_key(state, create=True)
    cost = users.Cost()

    def stand_in(password: str) -> str:
        salt = base64.b64encode(os.urandom(16)).decode().rstrip("=")
        digest = base64.b64encode(os.urandom(32)).decode().rstrip("=")
        return f"{{ARGON2ID}}$argon2id$v=19$m={cost.memory_kib},t={cost.time},p=1${salt}${digest}"

    result = users.render(boxes, key, {}, stand_in, workers=1)
    users.replace(state / "cache.json", users.cache_text(result.cache, cost), 0o600)
    users.replace(directory / "users", result.users, 0o640)


def second_converge(directory: Path, payload: bytes) -> dict[str, Any]:
    """The account step as the role runs it; its summary."""
    argv = [sys.executable, str(PROGRAM), "--users", str(directory / "users")]
    argv += ["--state", str(directory / "state"), "--write"]
    done = subprocess.run(argv, input=payload, capture_output=True, check=True)
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def main() -> list[tuple[str, list[float]]]:
    """Times of a second converge's account step, per number of mailboxes."""
    from tests.bench.run import timed  # noqa: PLC0415 (run imports this module)

    figures = []
    for count in SIZES:
        boxes = mailboxes(count)
        payload = json.dumps({"mailboxes": boxes}).encode()
        with tempfile.TemporaryDirectory(prefix="mailstack-bench-accounts-") as scratch:
            directory = Path(scratch)
            first_converge(directory, boxes)
            summary = second_converge(directory, payload)
            if summary != {"changed": False, "hashed": 0, "kept": count}:
                raise RuntimeError(f"a second converge was not idle: {summary}")

            def step(directory: Path = directory, payload: bytes = payload) -> None:
                second_converge(directory, payload)

            times = timed(step, 5)
        figures.append((f"{count:,} mailboxes, second converge", times))
    return figures
