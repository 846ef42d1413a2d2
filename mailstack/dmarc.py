"""DMARC records (RFC 7489, updated by RFC 9989): build them and read them back."""

from __future__ import annotations

import re

from mailstack.model import POLICIES, Dmarc

_TAG = re.compile(r"([A-Za-z]+)=(.*)")
_KNOWN = {"v", "p", "sp", "np", "adkim", "aspf", "pct", "t", "rua", "ruf", "fo", "rf", "ri", "psd"}


def build(dmarc: Dmarc) -> str:
    """The `_dmarc` TXT value. `pct` is written only when set, for receivers of RFC 7489."""
    tags = [("v", "DMARC1"), ("p", dmarc.p)]
    if dmarc.sp:
        tags.append(("sp", dmarc.sp))
    if dmarc.np:
        tags.append(("np", dmarc.np))
    tags += [("adkim", dmarc.adkim), ("aspf", dmarc.aspf)]
    if dmarc.pct is not None:
        tags.append(("pct", str(dmarc.pct)))
    if dmarc.t:
        tags.append(("t", "y"))
    if dmarc.rua:
        tags.append(("rua", ",".join(dmarc.rua)))
    if dmarc.ruf:
        tags += [("ruf", ",".join(dmarc.ruf)), ("fo", "1")]
    return "; ".join(f"{k}={v}" for k, v in tags)


def parse(text: str) -> dict[str, str]:
    """The tags of a DMARC record; ValueError says what is wrong with it."""
    tags: dict[str, str] = {}
    parts = [p.strip() for p in text.split(";")]
    if parts and parts[-1] == "":
        parts.pop()
    for i, part in enumerate(parts):
        match = _TAG.fullmatch(part.replace(" =", "=").replace("= ", "="))
        if match is None:
            raise ValueError(f"{part!r} is not a tag=value pair")
        name, value = match.group(1).lower(), match.group(2).strip()
        if i == 0 and (name != "v" or value != "DMARC1"):
            raise ValueError("a DMARC record starts with v=DMARC1")
        if name in tags:
            raise ValueError(f"the tag {name} appears twice")
        tags[name] = value
    if "v" not in tags:
        raise ValueError("a DMARC record starts with v=DMARC1")
    _check(tags)
    return tags


def _check(tags: dict[str, str]) -> None:
    if tags.get("p") not in POLICIES:
        raise ValueError(f"p must be one of {', '.join(POLICIES)}, not {tags.get('p')!r}")
    for tag in ("sp", "np"):
        if tag in tags and tags[tag] not in POLICIES:
            raise ValueError(f"{tag} must be one of {', '.join(POLICIES)}, not {tags[tag]!r}")
    for tag in ("adkim", "aspf"):
        if tag in tags and tags[tag] not in ("r", "s"):
            raise ValueError(f"{tag} must be r or s, not {tags[tag]!r}")
    if "pct" in tags and not (tags["pct"].isdigit() and 0 <= int(tags["pct"]) <= 100):
        raise ValueError(f"pct must be 0 to 100, not {tags['pct']!r}")
    if "t" in tags and tags["t"] not in ("y", "n"):
        raise ValueError(f"t must be y or n, not {tags['t']!r}")
    for tag in ("rua", "ruf"):
        for uri in filter(None, (u.strip() for u in tags.get(tag, "").split(","))):
            if not uri.lower().startswith("mailto:") or "@" not in uri:
                raise ValueError(f"{tag}: {uri!r} is not a mailto: URI")
    unknown = set(tags) - _KNOWN
    if unknown:
        raise ValueError(f"unknown tag(s): {', '.join(sorted(unknown))}")


def report_domains(dmarc: Dmarc) -> list[str]:
    """The domains that receive this domain's reports, in order, without repeats."""
    out: list[str] = []
    for uri in (*dmarc.rua, *dmarc.ruf):
        domain = uri.split("@", 1)[1].split("!", 1)[0].lower().removesuffix(".")
        if domain not in out:
            out.append(domain)
    return out
