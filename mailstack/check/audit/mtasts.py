"""MTA-STS (RFC 8461): the record, the policy fetched over validated HTTPS, its mode and
max_age, and every MX matched by one of its patterns. TLS-RPT (RFC 8460) is checked here too,
in its own category: it is where MTA-STS and DANE failures are reported."""

from __future__ import annotations

import re

from mailstack.check.audit.txtrecord import Expected, one
from mailstack.check.context import Context
from mailstack.check.facts import is_null_mx, mx_hosts
from mailstack.check.https import FetchError, fetch
from mailstack.check.report import Finding, failed, info, passed, warned

CATEGORY = "MTA-STS"
RECORD = Expected(
    CATEGORY,
    "mtasts.record",
    "v=STSv1",
    "senders without DANE may deliver without TLS or to a forged MX",
    "add an mta_sts section to the domain in the description (mode: enforce)",
)
MIN_MAX_AGE = 86400
GOOD_MAX_AGE = 604800
MAX_MAX_AGE = 31557600  # RFC 8461 section 3.2: about a year, at most
KEYS = ("version", "mode", "max_age", "mx")
_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_PATTERN = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{1,63}\.?")


def parse_policy(text: str) -> dict[str, list[str]]:
    """The policy's keys and their values (mx repeats); ValueError names a bad line."""
    out: dict[str, list[str]] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"the line {line!r} is not `key: value`")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def matches(pattern: str, host: str) -> bool:
    """RFC 8461, section 4.1: `*.example.com` covers exactly one more label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def audit(ctx: Context) -> list[Finding]:
    if is_null_mx(ctx):
        return [info(CATEGORY, "mtasts.null", "no MTA-STS needed: the domain receives no mail")]
    text = one(ctx, f"_mta-sts.{ctx.domain}", RECORD)
    if isinstance(text, Finding):
        return [text]
    problem = record_problem(text, "STSv1")
    if problem is None:
        tags = _tags(text)
        if not _ID.fullmatch(tags.get("id", "")):
            problem = f"id={tags.get('id', '')!r} is not 1 to 32 letters and digits"
    if problem is not None:
        out = [
            failed(
                CATEGORY,
                "mtasts.record",
                f"the MTA-STS record {text!r}: {problem}",
                "publish `v=STSv1; id=<1 to 32 letters and digits>` (RFC 8461, section 3.1)",
            )
        ]
    else:
        out = [passed(CATEGORY, "mtasts.record", f"MTA-STS record: {text}")]
    policy, fetched = _policy(ctx)
    out.append(fetched)
    if policy is not None:
        out += _keys(policy)
        out += _mode(policy)
        out += _max_age(policy)
        out += _patterns(ctx, policy)
    return out


def _tags(text: str) -> dict[str, str]:
    """The tags of a `v=...; k=v` record, the first of each."""
    out: dict[str, str] = {}
    for part in text.split(";"):
        key, _, value = part.partition("=")
        if key.strip():
            out.setdefault(key.strip(), value.strip())
    return out


def record_problem(text: str, version: str) -> str | None:
    """What breaks RFC 8461 / RFC 8460 record syntax (version first, tags once), or None."""
    parts = [p.strip() for p in text.split(";")]
    if parts and not parts[-1]:
        parts.pop()
    seen: list[str] = []
    for part in parts:
        key, sep, _ = part.partition("=")
        if not sep or not key.strip():
            return f"{part!r} is not key=value"
        if key.strip() in seen:
            return f"the tag {key.strip()} appears more than once"
        seen.append(key.strip())
    if not parts or parts[0].replace(" ", "") != f"v={version}":
        return f"it must begin with v={version}"
    return None


def _keys(policy: dict[str, list[str]]) -> list[Finding]:
    """Keys repeated (all but mx) or unknown."""
    out: list[Finding] = []
    for key, values in policy.items():
        if key != "mx" and len(values) > 1:
            out.append(
                failed(
                    CATEGORY,
                    "mtasts.syntax",
                    f"the policy gives {key} {len(values)} times: senders may take either",
                    f"give {key} once",
                )
            )
        elif key not in KEYS:
            out.append(
                warned(
                    CATEGORY,
                    "mtasts.syntax",
                    f"the policy has the unknown key {key!r}: senders ignore it",
                    f"remove {key!r} (keys: {', '.join(KEYS)})",
                )
            )
    for pattern in policy.get("mx", []):
        if not _PATTERN.fullmatch(pattern.lower()):
            out.append(
                failed(
                    CATEGORY,
                    "mtasts.syntax",
                    f"the policy line `mx: {pattern}` is not a host name or `*.` and a domain",
                    "give one MX host name (or *.domain) per mx line",
                )
            )
    return out


def _policy(ctx: Context) -> tuple[dict[str, list[str]] | None, Finding]:
    """The policy served over HTTPS, and the finding about fetching it."""
    url = f"https://mta-sts.{ctx.domain}/.well-known/mta-sts.txt"
    fix = (
        f"serve {url} over HTTPS with a valid certificate for mta-sts.{ctx.domain}"
        " (role mta_sts), as text/plain"
    )
    try:
        got = fetch(ctx, url)
    except FetchError as error:
        return None, failed(
            CATEGORY, "mtasts.policy", f"the policy cannot be fetched: {error}", fix
        )
    if got.status != 200 or not got.content_type.lower().startswith("text/plain"):
        return None, failed(
            CATEGORY,
            "mtasts.policy",
            f"{url} answered {got.status} with Content-Type {got.content_type!r}",
            fix,
        )
    try:
        policy = parse_policy(got.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        return None, failed(
            CATEGORY,
            "mtasts.policy",
            f"the policy does not parse: {error}",
            "serve a policy of `key: value` lines (RFC 8461, section 3.2)",
        )
    return policy, passed(CATEGORY, "mtasts.policy", f"policy fetched from {url}")


def _mode(policy: dict[str, list[str]]) -> list[Finding]:
    if policy.get("version") != ["STSv1"]:
        return [
            failed(
                CATEGORY,
                "mtasts.version",
                "the policy has no `version: STSv1`",
                "begin the policy with `version: STSv1`",
            )
        ]
    mode = (policy.get("mode") or [""])[0]
    if mode == "enforce":
        return [passed(CATEGORY, "mtasts.mode", "mode: enforce")]
    if mode == "testing":
        return [
            warned(
                CATEGORY,
                "mtasts.mode",
                "mode: testing: senders report failures but deliver anyway",
                "set mode: enforce once TLS-RPT reports are clean",
            )
        ]
    return [
        failed(
            CATEGORY,
            "mtasts.mode",
            f"mode: {mode or 'missing'}: the policy protects nothing",
            "set mode: enforce",
        )
    ]


def _max_age(policy: dict[str, list[str]]) -> list[Finding]:
    value = (policy.get("max_age") or [""])[0]
    if not value.isdigit():
        return [
            failed(
                CATEGORY,
                "mtasts.max_age",
                f"max_age {value!r} is not a number",
                f"set max_age: {GOOD_MAX_AGE}",
            )
        ]
    age = int(value)
    if age > MAX_MAX_AGE:
        return [
            failed(
                CATEGORY,
                "mtasts.max_age",
                f"max_age {age} s is over the {MAX_MAX_AGE} s RFC 8461 allows",
                f"set max_age: {GOOD_MAX_AGE} (a week) to {MAX_MAX_AGE}",
            )
        ]
    if age < MIN_MAX_AGE:
        return [
            warned(
                CATEGORY,
                "mtasts.max_age",
                f"max_age {age} s: senders forget the policy within a day",
                f"set max_age: {GOOD_MAX_AGE} or more",
            )
        ]
    return [passed(CATEGORY, "mtasts.max_age", f"max_age {age} s")]


def _patterns(ctx: Context, policy: dict[str, list[str]]) -> list[Finding]:
    patterns = policy.get("mx", [])
    out: list[Finding] = []
    if not patterns and (policy.get("mode") or [""])[0] != "none":
        out.append(
            failed(
                CATEGORY,
                "mtasts.mx",
                "the policy has no mx line: in enforce mode no MX can be used",
                "add one `mx:` line per MX host (the plan derives them from the MX list)",
            )
        )
    for _, host in mx_hosts(ctx):
        if any(matches(p, host) for p in patterns):
            out.append(passed(CATEGORY, "mtasts.mx", f"the MX {host} matches the policy"))
        else:
            out.append(
                failed(
                    CATEGORY,
                    "mtasts.mx",
                    f"the MX {host} matches no mx pattern of the policy"
                    f" ({', '.join(patterns) or 'none'}): enforcing senders refuse to deliver"
                    " to it",
                    f"add `mx: {host}` to the policy (the plan derives it from the MX list),"
                    " and change the id of the _mta-sts record",
                )
            )
    return out


def audit_tlsrpt(ctx: Context) -> list[Finding]:
    category = "TLS-RPT"
    expected = Expected(
        category,
        "tlsrpt.record",
        "v=TLSRPTv1",
        "nobody tells you when senders fail TLS to you",
        "add tls_rpt destinations to the domain in the description",
        mandatory=not is_null_mx(ctx),
    )
    text = one(ctx, f"_smtp._tls.{ctx.domain}", expected)
    if isinstance(text, Finding):
        return [text]
    problem = record_problem(text, "TLSRPTv1")
    if problem is not None:
        return [
            failed(
                category,
                "tlsrpt.record",
                f"the TLS-RPT record {text!r}: {problem}",
                "publish `v=TLSRPTv1; rua=mailto:...` (RFC 8460, section 3)",
            )
        ]
    rua = [
        u.strip()
        for part in text.split(";")
        if part.strip().startswith("rua=")
        for u in part.strip()[4:].split(",")
    ]
    bad = [u for u in rua if not u.startswith(("mailto:", "https:"))]
    if not rua or bad:
        return [
            failed(
                category,
                "tlsrpt.rua",
                f"the TLS-RPT record has no usable rua ({', '.join(bad) or 'none'})",
                "give rua=mailto:... or https://...",
            )
        ]
    return [passed(category, "tlsrpt.record", f"TLS-RPT: {text}")]
