"""The facts several audits of `mailstack check` need, each gathered once per run through the
context (whichever audit asks first) and handed to the others: the MX hosts and their
addresses, the DNSSEC chain of a name, the DMARC record that applies to the domain, and the
TLS handshake with a service. Audits read these; they never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailstack import dmarc
from mailstack.check import dnssec
from mailstack.check.context import Context
from mailstack.check.orgdomain import policy_domains
from mailstack.check.report import Finding, failed, info, passed
from mailstack.check.tlsprobe import Handshake, Starttls, handshake


def mx_hosts(ctx: Context) -> list[tuple[int, str]]:
    """(priority, host) of the domain's MX records, lowest priority first; the Null MX is
    `(0, "")`."""

    def make() -> list[tuple[int, str]]:
        out = []
        for text in ctx.texts(ctx.domain, "MX"):
            priority, host = text.split()
            out.append((int(priority), host.rstrip(".").lower()))
        return sorted(out)

    hosts: list[tuple[int, str]] = ctx.once("mx", make)
    return hosts


def is_null_mx(ctx: Context) -> bool:
    """True when the domain says it receives no mail (RFC 7505: one MX `0 .`)."""
    return mx_hosts(ctx) == [(0, "")]


def addresses(ctx: Context, host: str) -> list[str]:
    """The host's IPv4 then IPv6 addresses."""

    def make() -> list[str]:
        return sorted(ctx.texts(host, "A")) + sorted(ctx.texts(host, "AAAA"))

    found: list[str] = ctx.once(f"addresses {host}", make)
    return found


def chain(ctx: Context, name: str, rtype: str) -> dnssec.Chain:
    """The validated chain for (name, type), computed once per run."""

    def make() -> dnssec.Chain:
        return dnssec.validate(
            name,
            rtype,
            lambda n, t: ctx.dns.message(n, t, cd=True, timeout=ctx.budget()),
            ctx.anchors,
        )

    found: dnssec.Chain = ctx.once(f"chain {name} {rtype}", make)
    return found


CHAIN_FIXES = {
    "insecure": "sign the zone and publish its DS record at the parent (at OVH: DNSSEC on the"
    " zone)",
    "bogus": "re-sign the zone (expired or wrong signatures), or correct the DS record at the"
    " parent to match the zone's key",
    "indeterminate": "check that the zone's name servers answer, and give --trust-anchor for a"
    " zone outside the public tree",
}


def reaches_anchor(result: dnssec.Chain) -> bool:
    """False when the walk stopped before validating the trust anchor's own DNSKEY because the
    resolver gave none (no answer, an error, or no DNSKEY where the anchor says there is one),
    or because no anchor covers the name: nothing can then be judged."""
    if result.steps or result.status in ("secure", "insecure"):
        return True
    return not (result.status == "indeterminate" or "has no DNSKEY" in (result.problem or ""))


def chain_finding(
    category: str, check: str, name: str, rtype: str, result: dnssec.Chain
) -> Finding:
    """A pass for a secure chain; a note when no chain can be validated at all (the DNSSEC
    audit reports why); else a failure that says where the chain breaks."""
    if not reaches_anchor(result):
        return info(category, check, f"{name} {rtype}: not validated: {result.problem}")
    if result.status == "secure":
        return passed(category, check, f"{name} {rtype}: validated from the trust anchor")
    return failed(
        category,
        check,
        f"{name} {rtype}: {result.status}: {result.problem or 'no reason given'}",
        CHAIN_FIXES[result.status],
    )


@dataclass(frozen=True)
class Policy:
    """The DMARC record that applies to the domain and where it was found: at `_dmarc` of the
    domain itself, or of a parent (`inherited`), the one RFC 7489 / RFC 9989 fall back to."""

    name: str  # the _dmarc name that holds it
    text: str
    tags: dict[str, str]
    inherited: bool
    method: str  # how the parent was found


def dmarc_policy(ctx: Context) -> Policy | None:
    """The applicable DMARC record (the first valid one found, in discovery order), or None."""

    def make() -> Policy | None:
        names, method = policy_domains(ctx.domain)
        for domain in names:
            name = f"_dmarc.{domain}"
            found = [t for t in ctx.texts(name, "TXT") if t.startswith("v=DMARC1")]
            if len(found) != 1:
                continue  # none, or several (which count as none, RFC 7489 section 6.6.3)
            try:
                tags = dmarc.parse(found[0])
            except ValueError:
                return None
            return Policy(name, found[0], tags, domain != ctx.domain, method)
        return None

    policy: Policy | None = ctx.once("dmarc", make)
    return policy


def tls_handshake(ctx: Context, host: str, target: tuple[str, int, Starttls]) -> Handshake:
    """The TLS handshake with (address, port, starttls), checked for the host's name; once."""
    address, port, starttls = target

    def make() -> Handshake:
        return handshake(
            address,
            port,
            starttls=starttls,
            server_name=host,
            cafile=ctx.options.cafile,
            timeout=ctx.budget(),
        )

    got: Handshake = ctx.once(f"handshake {host} {address} {port}", make)
    return got


# RFC 6186 / RFC 8314 services: SRV name, how TLS starts.
SERVICES: tuple[tuple[str, Starttls], ...] = (
    ("_submissions._tcp", None),
    ("_submission._tcp", "smtp"),
    ("_imaps._tcp", None),
    ("_pop3s._tcp", None),
)


@dataclass(frozen=True)
class Service:
    """A client service an SRV record announces; `target` None when not offered or absent."""

    srv: str
    port: int
    starttls: Starttls
    target: str | None
    note: str = ""


def client_services(ctx: Context) -> list[Service]:
    """The domain's client services, from its SRV records, in SERVICES order."""

    def make() -> list[Service]:
        out: list[Service] = []
        for srv, starttls in SERVICES:
            name = f"{srv}.{ctx.domain}"
            found = ctx.texts(name, "SRV")
            if not found:
                out.append(Service(name, 0, starttls, None, f"no SRV record at {name}"))
            for text in found:
                _, _, port, target = text.split()
                target = target.rstrip(".").lower()
                if not target:
                    note = f"{name}: not offered (RFC 6186 `.`)"
                    out.append(Service(name, int(port), starttls, None, note))
                else:
                    out.append(Service(name, int(port), starttls, target))
        return out

    services: list[Service] = ctx.once("services", make)
    return services
