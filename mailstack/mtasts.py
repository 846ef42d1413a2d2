"""MTA-STS (RFC 8461): the policy text and the id that announces it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from mailstack.model import Domain

ID_LENGTH = 20


def policy(mode: str, mx: Sequence[str], max_age: int) -> str:
    """The policy served at https://mta-sts.<domain>/.well-known/mta-sts.txt (CRLF lines)."""
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {m}" for m in mx), f"max_age: {max_age}"]
    return "\r\n".join(lines) + "\r\n"


def policy_of(domain: Domain) -> str | None:
    """The domain's policy text, or None when it publishes none."""
    sts = domain.mta_sts
    return None if sts is None else policy(sts.mode, domain.sts_patterns, sts.max_age)


def policy_id(text: str) -> str:
    """An id derived from the policy text, so that it changes exactly when the policy does."""
    return hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]


def txt_value(text: str) -> str:
    return f"v=STSv1; id={policy_id(text)}"
