"""DANE and TLS on port 25 (RFC 7672), on every address of every MX: DNSSEC-validated TLSA
records, each well formed, STARTTLS offered, the certificate matching a TLSA record, a
rollover pair published, the certificate's expiry. And the same TLS state for the client
services (submission, IMAPS, POP3S) that the domain's SRV records announce (RFC 6186). The
quality of that TLS (versions, ciphers, certificate) is the `tlsquality` audit's."""

from __future__ import annotations

import datetime
from concurrent.futures import ThreadPoolExecutor

from mailstack.check.context import Context
from mailstack.check.facts import (
    addresses,
    chain,
    chain_finding,
    client_services,
    is_null_mx,
    mx_hosts,
    tls_handshake,
)
from mailstack.check.report import RETRY, Finding, failed, info, passed, warned
from mailstack.check.tlsprobe import Deferred, ProbeError, Starttls, Tlsa, tlsa_match
from mailstack.keys import tlsa_311

CATEGORY = "DANE and TLS"
CLIENT = "Client TLS"
EXPIRY_WARNING = datetime.timedelta(days=14)


def audit(ctx: Context) -> list[Finding]:
    if is_null_mx(ctx):
        return [info(CATEGORY, "dane.null", "no DANE needed: the domain receives no mail")]
    hosts = [host for _, host in mx_hosts(ctx)]
    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        results = list(pool.map(lambda h: _host(ctx, h), hosts))
    return [f for found in results for f in found]


def _host(ctx: Context, host: str) -> list[Finding]:
    name = f"_25._tcp.{host}"
    out: list[Finding] = []
    records: list[Tlsa] = []
    answer = ctx.ask(name, "TLSA")
    texts = answer.texts
    for problem in answer.malformed:
        out.append(
            failed(
                CATEGORY,
                "dane.syntax",
                f"{name}: a TLSA record cannot be read ({problem}): senders ignore it",
                "publish the digest the matching type calls for (mailstack dns plan derives"
                " it from published/tls/)",
            )
        )
    for text in texts:
        try:
            records.append(Tlsa.from_text(text))
        except ValueError as error:
            out.append(
                failed(
                    CATEGORY,
                    "dane.syntax",
                    f"{name}: {error}: senders ignore this record",
                    "publish the digest the matching type calls for (mailstack dns plan"
                    " derives it from published/tls/)",
                )
            )
    if not texts and not answer.malformed:
        out.append(
            failed(
                CATEGORY,
                "dane.tlsa",
                f"no TLSA record at {name}: senders cannot authenticate {host}",
                "publish the plan's TLSA records (the tls role writes the keys to published/tls/)",
            )
        )
    else:
        out.append(chain_finding(CATEGORY, "dane.tlsa", name, "TLSA", chain(ctx, name, "TLSA")))
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
    published = bool(texts or answer.malformed)
    for address in addresses(ctx, host):
        out += _address(ctx, host, address, records if published else None)
    return out


def _address(ctx: Context, host: str, address: str, records: list[Tlsa] | None) -> list[Finding]:
    """STARTTLS on one address, its certificate against the TLSA records (None: none published)."""
    where = f"{host} ({address}) port 25"
    try:
        got = tls_handshake(ctx, host, (address, 25, "smtp"))
    except Deferred as error:
        return [
            warned(
                CATEGORY, "tls.starttls", f"{where}: not tested: {error}", RETRY, mandatory=False
            )
        ]
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
    if records is not None:
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
    out.append(_expiry(where, got.not_after, CATEGORY))
    return out


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
    for service in client_services(ctx):
        if service.target is None:
            out.append(info(CLIENT, "client.srv", service.note))
            continue
        for address in addresses(ctx, service.target):
            out += _client(ctx, service.target, address, service.port, service.starttls)
    return out


def _client(ctx: Context, host: str, address: str, port: int, starttls: Starttls) -> list[Finding]:
    where = f"{host} ({address}) port {port}"
    try:
        got = tls_handshake(ctx, host, (address, port, starttls))
    except Deferred as error:
        return [
            warned(CLIENT, "client.tls", f"{where}: not tested: {error}", RETRY, mandatory=False)
        ]
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
        _expiry(where, got.not_after, CLIENT),
    ]
