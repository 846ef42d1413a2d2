"""DMARC: one valid record, an enforcing policy, reports sent only where they are accepted."""

from __future__ import annotations

from mailstack import dmarc
from mailstack.check.audit.txtrecord import Expected, one
from mailstack.check.context import Context
from mailstack.check.report import Finding, failed, info, passed, warned

CATEGORY = "DMARC"
RECORD = Expected(
    CATEGORY,
    "dmarc.present",
    "v=DMARC1",
    "anyone can send as the domain and receivers are not told what to do with it",
    "publish the plan's DMARC record (p=reject once your mail passes)",
)


def record(ctx: Context) -> dict[str, str] | None:
    """The tags of the domain's one valid DMARC record, or None."""

    def make() -> dict[str, str] | None:
        found = [t for t in ctx.texts(f"_dmarc.{ctx.domain}", "TXT") if t.startswith("v=DMARC1")]
        if len(found) != 1:
            return None
        try:
            return dmarc.parse(found[0])
        except ValueError:
            return None

    tags: dict[str, str] | None = ctx.once("dmarc", make)
    return tags


def audit(ctx: Context) -> list[Finding]:
    name = f"_dmarc.{ctx.domain}"
    text = one(ctx, name, RECORD)
    if isinstance(text, Finding):
        return [text]
    try:
        tags = dmarc.parse(text)
    except ValueError as error:
        return [
            failed(
                CATEGORY,
                "dmarc.syntax",
                f"the DMARC record does not parse: {error}",
                "correct the record (RFC 9989, section 4.7)",
            )
        ]
    out = [passed(CATEGORY, "dmarc.present", f"DMARC: {text}")]
    out += _policy(tags)
    out += _alignment(tags)
    out += _reports(ctx, tags)
    return out


def _policy(tags: dict[str, str]) -> list[Finding]:
    out: list[Finding] = []
    p = tags["p"]
    if p == "none":
        out.append(
            failed(
                CATEGORY,
                "dmarc.policy",
                "p=none: mail that fails DMARC is delivered anyway, so the domain is not"
                " protected against spoofing",
                "read the aggregate reports until all your senders pass, then set"
                " p=quarantine and p=reject",
            )
        )
    else:
        out.append(passed(CATEGORY, "dmarc.policy", f"p={p}: failing mail is not delivered as is"))
    sp = tags.get("sp", p)
    if sp == "none" and p != "none":
        out.append(
            warned(
                CATEGORY,
                "dmarc.subdomains",
                "sp=none: subdomains can be spoofed",
                "set sp=reject (or drop sp to inherit p)",
            )
        )
    np_ = tags.get("np")
    if np_ is None:
        out.append(
            info(
                CATEGORY,
                "dmarc.np",
                f"no np tag (RFC 9989): non-existent subdomains follow sp ({sp})",
            )
        )
    if "pct" in tags and tags["pct"] != "100":
        out.append(
            warned(
                CATEGORY,
                "dmarc.pct",
                f"pct={tags['pct']}: the policy applies to part of the mail only; RFC 9989"
                " replaces pct by t",
                "drop pct (or use t=y while testing)",
            )
        )
    if tags.get("t") == "y":
        out.append(
            warned(
                CATEGORY,
                "dmarc.testing",
                "t=y: receivers apply one level less than the policy",
                "drop t=y once the reports show your mail passing",
            )
        )
    return out


def _alignment(tags: dict[str, str]) -> list[Finding]:
    words = {"r": "relaxed", "s": "strict"}
    return [
        info(
            CATEGORY,
            "dmarc.alignment",
            f"alignment: DKIM {words[tags.get('adkim', 'r')]}, SPF {words[tags.get('aspf', 'r')]}",
        )
    ]


def _reports(ctx: Context, tags: dict[str, str]) -> list[Finding]:
    out: list[Finding] = []
    if not tags.get("rua"):
        out.append(
            warned(
                CATEGORY,
                "dmarc.rua",
                "no rua: you receive no aggregate reports, so you cannot see who sends as you",
                f"add rua=mailto:dmarc-reports@{ctx.domain}",
            )
        )
    for tag in ("rua", "ruf"):
        for uri in filter(None, (u.strip() for u in tags.get(tag, "").split(","))):
            destination = uri.split("@", 1)[1].split("!", 1)[0].lower().rstrip(".")
            if _related(ctx.domain, destination):
                continue
            out.append(_authorized(ctx, tag, uri, destination))
    return out


def _related(domain: str, other: str) -> bool:
    """The same domain, or one under the other: no authorization record is needed."""
    return domain == other or domain.endswith("." + other) or other.endswith("." + domain)


def _authorized(ctx: Context, tag: str, uri: str, destination: str) -> Finding:
    name = f"{ctx.domain}._report._dmarc.{destination}"
    if any(t.startswith("v=DMARC1") for t in ctx.texts(name, "TXT")):
        return passed(
            CATEGORY,
            "dmarc.external",
            f"{tag} {uri}: {destination} accepts {ctx.domain}'s reports ({name})",
        )
    return failed(
        CATEGORY,
        "dmarc.external",
        f"{tag} {uri}: {destination} has not authorized reports for {ctx.domain} (no"
        f" v=DMARC1 at {name}), so receivers send none there",
        f'publish `{name} TXT "v=DMARC1"` in {destination}\'s zone (the plan does it when'
        " both domains are in the description)",
    )
