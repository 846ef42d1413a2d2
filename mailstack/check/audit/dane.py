"""DANE and TLS on port 25 (RFC 7672), on every address of every MX: DNSSEC-validated TLSA
records, STARTTLS offered, the certificate matching a TLSA record, a rollover pair published,
TLS 1.0 and 1.1 refused, the certificate's expiry. And the same TLS state for the client
services (submission, IMAPS, POP3S) that the domain's SRV records announce (RFC 6186)."""

from __future__ import annotations

import datetime
import ssl
from concurrent.futures import ThreadPoolExecutor

from mailstack.check.audit.dnssec import chain, finding
from mailstack.check.audit.mx import addresses, is_null_mx, mx_hosts
from mailstack.check.context import Context
from mailstack.check.report import Finding, failed, info, passed, warned
from mailstack.check.tlsprobe import (
    Handshake,
    ProbeError,
    Starttls,
    Tlsa,
    accepts,
    handshake,
    tlsa_match,
)
from mailstack.keys import tlsa_311

CATEGORY = "DANE and TLS"
CLIENT = "Client TLS"
EXPIRY_WARNING = datetime.timedelta(days=14)
OLD_VERSIONS = ((ssl.TLSVersion.TLSv1, "TLS 1.0"), (ssl.TLSVersion.TLSv1_1, "TLS 1.1"))
# RFC 6186 / RFC 8314 services: SRV name, port, how TLS starts.
SERVICES: tuple[tuple[str, Starttls], ...] = (
    ("_submissions._tcp", None),
    ("_submission._tcp", "smtp"),
    ("_imaps._tcp", None),
    ("_pop3s._tcp", None),
)


def audit(ctx: Context) -> list[Finding]:
    if is_null_mx(ctx):
        return [info(CATEGORY, "dane.null", "no DANE needed: the domain receives no mail")]
    hosts = [host for _, host in mx_hosts(ctx)]
    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        results = list(pool.map(lambda h: _host(ctx, h), hosts))
    return [f for found in results for f in found]


def _host(ctx: Context, host: str) -> list[Finding]:
    name = f"_25._tcp.{host}"
    records = [Tlsa.from_text(t) for t in ctx.texts(name, "TLSA")]
    out: list[Finding] = []
    if not records:
        out.append(
            failed(
                CATEGORY,
                "dane.tlsa",
                f"no TLSA record at {name}: senders cannot authenticate {host}",
                "publish the plan's TLSA records (the tls role writes the keys to published/tls/)",
            )
        )
    else:
        out.append(finding(CATEGORY, "dane.tlsa", name, "TLSA", chain(ctx, name, "TLSA")))
        usable = {r for r in records if r.usage in (2, 3)}
        if len(usable) >= 2:
            out.append(
                passed(
                    CATEGORY,
                    "dane.rollover",
                    f"{name}: {len(usable)} TLSA records, so a key can change without a gap",
                )
            )
        else:
            out.append(
                warned(
                    CATEGORY,
                    "dane.rollover",
                    f"{name}: one TLSA record, so the next key change breaks DANE until DNS"
                    " catches up",
                    "publish the next key's TLSA too (the tls role keeps a next key)",
                )
            )
    for address in addresses(ctx, host):
        out += _address(ctx, host, address, records)
    return out


def _address(ctx: Context, host: str, address: str, records: list[Tlsa]) -> list[Finding]:
    where = f"{host} ({address}) port 25"
    try:
        got = _connect(ctx, host, (address, 25, "smtp"))
    except ProbeError as error:
        return [
            failed(
                CATEGORY,
                "tls.starttls",
                f"{where}: {error}",
                "offer STARTTLS on port 25 (role postfix)",
            )
        ]
    out = [passed(CATEGORY, "tls.starttls", f"{where}: STARTTLS, {got.version} {got.cipher}")]
    if records:
        matched = tlsa_match(got.chain, records)
        if matched:
            out.append(
                passed(
                    CATEGORY,
                    "dane.match",
                    f"{where}: the certificate matches TLSA"
                    f" {matched[0].usage} {matched[0].selector} {matched[0].mtype}",
                )
            )
        else:
            out.append(
                failed(
                    CATEGORY,
                    "dane.match",
                    f"{where}: the certificate's key (SPKI SHA-256 {tlsa_311(got.chain[0])})"
                    " matches no TLSA record: DANE senders will not deliver (a key changed"
                    " before its TLSA was published?)",
                    "publish the TLSA of the key the server uses (mailstack dns plan, then"
                    " pulumi up), and roll keys over with ansible/tls-rollover.yml",
                )
            )
    out += _old_versions(ctx, where, (address, 25, "smtp"), CATEGORY)
    out.append(_expiry(where, got.not_after, CATEGORY))
    return out


def _connect(ctx: Context, host: str, target: tuple[str, int, Starttls]) -> Handshake:
    """A TLS handshake with (address, port, starttls), checked for the host's name."""
    address, port, starttls = target
    return handshake(
        address,
        port,
        starttls=starttls,
        server_name=host,
        cafile=ctx.options.cafile,
        timeout=ctx.options.timeout,
    )


def _old_versions(
    ctx: Context, where: str, target: tuple[str, int, Starttls], category: str
) -> list[Finding]:
    """Whether the service refuses TLS 1.0 and 1.1; `target` is (address, port, starttls)."""
    address, port, starttls = target
    accepted = []
    for version, label in OLD_VERSIONS:
        try:
            if accepts(address, port, version, starttls=starttls, timeout=ctx.options.timeout):
                accepted.append(label)
        except ProbeError:
            continue
    if not accepted:
        return [passed(category, "tls.versions", f"{where}: refuses TLS 1.0 and 1.1")]
    versions = " and ".join(accepted)
    if port == 25:
        # Between MTAs TLS is opportunistic: a sender that has only an old version would
        # send in clear text if refused, so old versions are to be phased out, not a failure
        # (as internet.nl grades them).
        return [
            warned(
                category,
                "tls.versions",
                f"{where}: accepts {versions}, to be phased out (RFC 8996)",
                "allow TLS 1.2 and 1.3 only once your correspondents have them"
                " (Postfix: smtpd_tls_protocols = >=TLSv1.2)",
            )
        ]
    return [
        failed(
            category,
            "tls.versions",
            f"{where}: accepts {versions}: clients can be made to use them",
            "allow TLS 1.2 and 1.3 only (Mozilla intermediate)",
        )
    ]


def _expiry(where: str, not_after: datetime.datetime, category: str) -> Finding:
    left = not_after - datetime.datetime.now(datetime.UTC)
    day = not_after.date().isoformat()
    if left <= datetime.timedelta(0):
        return failed(
            category,
            "tls.expiry",
            f"{where}: the certificate expired on {day}",
            "renew it (role tls: mailstack-tls-renew)",
        )
    if left < EXPIRY_WARNING:
        return warned(
            category,
            "tls.expiry",
            f"{where}: the certificate expires on {day}",
            "check that renewal runs (systemctl list-timers mailstack-tls-renew)",
        )
    return passed(category, "tls.expiry", f"{where}: the certificate is valid until {day}")


def audit_clients(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for srv, starttls in SERVICES:
        name = f"{srv}.{ctx.domain}"
        found = ctx.texts(name, "SRV")
        if not found:
            out.append(info(CLIENT, "client.srv", f"no SRV record at {name}"))
            continue
        for text in found:
            _, _, port, target = text.split()
            target = target.rstrip(".").lower()
            if not target:
                out.append(info(CLIENT, "client.srv", f"{name}: not offered (RFC 6186 `.`)"))
                continue
            for address in addresses(ctx, target):
                out += _client(ctx, target, address, int(port), starttls)
    return out


def _client(ctx: Context, host: str, address: str, port: int, starttls: Starttls) -> list[Finding]:
    where = f"{host} ({address}) port {port}"
    try:
        got = _connect(ctx, host, (address, port, starttls))
    except ProbeError as error:
        return [
            failed(
                CLIENT,
                "client.tls",
                f"{where}: {error}",
                "offer TLS on the port the SRV record announces (roles postfix, dovecot)",
            )
        ]
    if got.verify_error:
        return [
            failed(
                CLIENT,
                "client.tls",
                f"{where}: {got.verify_error}",
                "serve a certificate from a public CA for the host name (role tls)",
            )
        ]
    return [
        passed(CLIENT, "client.tls", f"{where}: {got.version}, certificate valid for {host}"),
        *_old_versions(ctx, where, (address, port, starttls), CLIENT),
        _expiry(where, got.not_after, CLIENT),
    ]
