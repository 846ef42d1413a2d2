"""DKIM: each selector's key is published, parses, is strong enough, and (with -i) is the key
the servers sign with."""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailstack.check.context import Context
from mailstack.check.report import Finding, failed, info, passed, warned
from mailstack.keys import GOOD_RSA_BITS, MIN_RSA_BITS, KeyError_, dkim_value

CATEGORY = "DKIM"


def tags(record: str) -> dict[str, str]:
    """The tags of a DKIM key record (RFC 6376, section 3.6.1); later duplicates ignored."""
    out: dict[str, str] = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            out.setdefault(name.strip().lower(), "".join(value.split()))
    return out


def audit(ctx: Context) -> list[Finding]:
    selectors = ctx.options.selectors or ctx.inventory_selectors
    if not selectors:
        return [
            info(
                CATEGORY,
                "dkim.selectors",
                "no DKIM selector known: give --selector S, or -i INVENTORY to use its selectors",
            )
        ]
    out: list[Finding] = []
    for selector in selectors:
        out += _selector(ctx, selector)
    return out


def _selector(ctx: Context, selector: str) -> list[Finding]:
    name = f"{selector}._domainkey.{ctx.domain}"
    records = [t for t in ctx.texts(name, "TXT") if "p=" in t]
    if not records:
        return [
            failed(
                CATEGORY,
                "dkim.key",
                f"no DKIM key at {name}: receivers cannot verify mail signed with selector"
                f" {selector}",
                "publish the plan's DKIM record (the opendkim role writes the public key to"
                " published/dkim/, then pulumi up)",
            )
        ]
    if len(records) > 1:
        return [
            failed(
                CATEGORY,
                "dkim.key",
                f"{name} has {len(records)} key records: verifiers fail on the ambiguity",
                "keep one key record per selector",
            )
        ]
    found = tags(records[0])
    kind = found.get("k", "rsa").lower()
    data = found.get("p", "")
    if not data:
        return [
            warned(
                CATEGORY,
                "dkim.key",
                f"the selector {selector} is revoked (empty p=)",
                "remove the selector from the description once no mail signed with it is in flight",
            )
        ]
    out = [_strength(selector, kind, data)]
    published = ctx.published_dkim.get(selector)
    if published is not None:
        out.append(_same_as_published(selector, kind, data, published))
    return out


def _strength(selector: str, kind: str, data: str) -> Finding:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return failed(
            CATEGORY,
            "dkim.key",
            f"the key of selector {selector} is not valid base64",
            "publish the key again from the server's public key file",
        )
    if kind == "ed25519":
        return _ed25519(selector, raw)
    if kind == "rsa":
        return _rsa(selector, raw)
    return failed(
        CATEGORY,
        "dkim.key",
        f"selector {selector} has the unknown key type k={kind}",
        "use k=rsa or k=ed25519",
    )


def _ed25519(selector: str, raw: bytes) -> Finding:
    if len(raw) != 32:
        return failed(
            CATEGORY,
            "dkim.key",
            f"the Ed25519 key of selector {selector} is {len(raw)} octets, not 32",
            "publish the raw 32-octet public key (RFC 8463)",
        )
    return passed(CATEGORY, "dkim.key", f"selector {selector}: an Ed25519 key")


def _rsa(selector: str, raw: bytes) -> Finding:
    try:
        key = serialization.load_der_public_key(raw)
    except ValueError:
        key = None
    if not isinstance(key, rsa.RSAPublicKey):
        return failed(
            CATEGORY,
            "dkim.key",
            f"the key of selector {selector} does not parse as an RSA public key",
            "publish the key again from the server's public key file",
        )
    bits = key.key_size
    if bits < MIN_RSA_BITS:
        return failed(
            CATEGORY,
            "dkim.key",
            f"selector {selector}: an RSA key of {bits} bits, which verifiers ignore",
            f"rotate to a {GOOD_RSA_BITS}-bit key under a new selector",
        )
    if bits < GOOD_RSA_BITS:
        return warned(
            CATEGORY,
            "dkim.key",
            f"selector {selector}: an RSA key of {bits} bits, weaker than the"
            f" {GOOD_RSA_BITS} bits expected today",
            f"rotate to a {GOOD_RSA_BITS}-bit key under a new selector",
        )
    return passed(CATEGORY, "dkim.key", f"selector {selector}: an RSA key of {bits} bits")


def _same_as_published(selector: str, kind: str, data: str, published: bytes) -> Finding:
    try:
        value, _ = dkim_value(published, "ed25519" if kind == "ed25519" else "rsa")
    except (KeyError_, ValueError) as error:
        return failed(
            CATEGORY,
            "dkim.inventory",
            f"the inventory's key of selector {selector} cannot be read: {error}",
            "run the playbook again so that the opendkim role writes it back",
        )
    if tags(value).get("p") == data:
        return passed(
            CATEGORY,
            "dkim.inventory",
            f"selector {selector}: DNS has the key the servers sign with (inventory)",
        )
    return failed(
        CATEGORY,
        "dkim.inventory",
        f"selector {selector}: the key in DNS differs from the one the servers sign with"
        " (the inventory's published key): every signature fails",
        "publish the plan again (pulumi up), then `mailstack dns verify`",
    )
