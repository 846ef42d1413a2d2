"""DMARC: one valid record, an enforcing policy, reports sent only where they are accepted."""

from __future__ import annotations

from mailstack import dmarc
from mailstack.check.audit.txtrecord import Expected, one
from mailstack.check.context import Context
from mailstack.check.facts import dmarc_policy
from mailstack.check.report import Finding, failed, info, passed, warned

CATEGORY = "DMARC"
RECORD = Expected(
    CATEGORY,
    "dmarc.present",
    "v=DMARC1",
    "anyone can send as the domain and receivers are not told what to do with it",
    "publish the plan's DMARC record (p=reject once your mail passes)",
)


def audit(ctx: Context) -> list[Finding]:
    name = f"_dmarc.{ctx.domain}"
    texts = ctx.texts(name, "TXT")
    out = _misplaced(ctx, name, texts)
    if not any(t.startswith("v=DMARC1") for t in texts):
        policy = dmarc_policy(ctx)
        if policy is not None and policy.inherited:
            sp = policy.tags.get("sp", policy.tags["p"])
            out.append(
                passed(
                    CATEGORY,
                    "dmarc.present",
                    f"no record at {name}: the record of {policy.name} applies (found by"
                    f" {policy.method}), with sp={sp} for {ctx.domain}: {policy.text}",
                )
            )
            tags = {**policy.tags, "p": sp}
            return out + _policy(tags) + _alignment(tags) + _reports(ctx, policy.tags)
    text = one(ctx, name, RECORD)
    if isinstance(text, Finding):
        return [*out, text]
    try:
        tags = dmarc.parse(text)
    except ValueError as error:
        return [
            *out,
            failed(
                CATEGORY,
                "dmarc.syntax",
                f"the DMARC record does not parse: {error}",
                "correct the record (RFC 9989, section 4.7)",
            ),
        ]
    out.append(passed(CATEGORY, "dmarc.present", f"DMARC: {text}"))
    out += _policy(tags)
    out += _alignment(tags)
    out += _reports(ctx, tags)
    return out


def _misplaced(ctx: Context, name: str, texts: list[str]) -> list[Finding]:
    """Records that do not belong where they are: other TXT at _dmarc, DMARC at the domain."""
    out: list[Finding] = []
    for text in texts:
        if text.startswith("v=DMARC1"):
            continue
        kind = "an SPF record" if text.lower().startswith("v=spf1") else "a TXT record"
        out.append(
            warned(
                CATEGORY,
                "dmarc.misplaced",
                f"{name} holds {kind} that is not DMARC: {text[:80]!r}",
                f"move it where it belongs (SPF at {ctx.domain} itself) and keep only the"
                " DMARC record at _dmarc",
            )
        )
    if any(t.startswith("v=DMARC1") for t in ctx.texts(ctx.domain, "TXT")):
        out.append(
            failed(
                CATEGORY,
                "dmarc.misplaced",
                f"{ctx.domain} itself holds a DMARC record: receivers only read {name}",
                f"publish it at {name} instead",
            )
        )
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


MAX_RUA = 2  # RFC 7489 section 6.2: receivers need to handle two destinations, no more


def _reports(ctx: Context, tags: dict[str, str]) -> list[Finding]:
    out: list[Finding] = []
    rua = [u.strip() for u in tags.get("rua", "").split(",") if u.strip()]
    if len(rua) > MAX_RUA:
        out.append(
            warned(
                CATEGORY,
                "dmarc.rua_count",
                f"rua lists {len(rua)} addresses: receivers need only send to the first {MAX_RUA}",
                f"keep {MAX_RUA} rua addresses at most (forward reports onward instead)",
            )
        )
    destinations = sorted(
        {u.split("@", 1)[1].split("!", 1)[0].lower().rstrip(".") for u in rua if "@" in u}
    )
    out += [_deliverable(ctx, d) for d in destinations]
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
            if "@" not in uri:
                continue
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


def _deliverable(ctx: Context, domain: str) -> Finding:
    """Whether mail to a report domain can be delivered: an MX (not Null MX), or an address."""
    hosts = [t.split()[-1].rstrip(".") for t in ctx.texts(domain, "MX")]
    if hosts and hosts != [""]:
        return passed(
            CATEGORY,
            "dmarc.rua_mx",
            f"reports to {domain} can be delivered (MX {', '.join(hosts)})",
        )
    if hosts == [""]:
        return failed(
            CATEGORY,
            "dmarc.rua_mx",
            f"the report domain {domain} has a Null MX: it accepts no reports",
            f"send reports to a domain that receives mail, not {domain}",
        )
    if ctx.texts(domain, "A") or ctx.texts(domain, "AAAA"):
        return warned(
            CATEGORY,
            "dmarc.rua_mx",
            f"the report domain {domain} has no MX: senders fall back to its address record",
            f"publish an MX for {domain}",
        )
    return failed(
        CATEGORY,
        "dmarc.rua_mx",
        f"the report domain {domain} has no MX and no address: no report can be delivered",
        f"publish an MX for {domain}, or send reports elsewhere",
    )
