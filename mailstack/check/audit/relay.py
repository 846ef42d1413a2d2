"""The open relay probe (--relay-test), only against the MX hosts of the given inventory: a
recipient outside the domain, without authentication, must be refused at RCPT. No message is
sent: the session ends before DATA."""

from __future__ import annotations

import smtplib

from mailstack.check.context import Context
from mailstack.check.facts import addresses, is_null_mx, mx_hosts
from mailstack.check.report import Finding, failed, info, passed, warned
from mailstack.check.watchdog import deadline

CATEGORY = "Relay"
# A recipient in a domain reserved for documentation (RFC 2606): never a real mailbox.
OUTSIDE = "relay-test@example.net"


def audit(ctx: Context) -> list[Finding]:
    if not ctx.options.relay_test:
        return []
    if is_null_mx(ctx):
        return [info(CATEGORY, "relay.null", "no relay test: the domain receives no mail")]
    out: list[Finding] = []
    for _, host in mx_hosts(ctx):
        if host not in ctx.inventory_hosts:
            out.append(
                info(
                    CATEGORY,
                    "relay.skipped",
                    f"{host} is not a host of the inventory:"
                    " not probed (only your own servers are)",
                )
            )
            continue
        for address in addresses(ctx, host):
            out.append(_probe(ctx, host, address))
    return out


def _probe(ctx: Context, host: str, address: str) -> Finding:
    where = f"{host} ({address})"
    seconds = ctx.budget()
    smtp = smtplib.SMTP(local_hostname="mailstack-check.invalid", timeout=seconds)
    try:
        with deadline(lambda: getattr(smtp, "sock", None), seconds), smtp:
            smtp.connect(address, 25)
            smtp.ehlo()
            code, reply = smtp.mail("")
            if code >= 400:
                return warned(
                    CATEGORY,
                    "relay.probe",
                    f"{where} refused the null sender ({code}): relay not probed",
                    "accept MAIL FROM:<> (RFC 5321)",
                )
            code, reply = smtp.rcpt(OUTSIDE)
            smtp.rset()
    except (OSError, smtplib.SMTPException) as error:
        return failed(
            CATEGORY,
            "relay.probe",
            f"{where}: the probe failed: {error}",
            "check that port 25 answers",
        )
    text = reply.decode("utf-8", "replace")
    if 500 <= code < 600:
        return passed(
            CATEGORY,
            "relay.probe",
            f"{where} refuses to relay to {OUTSIDE} without AUTH ({code} {text})",
        )
    if 400 <= code < 500:
        return warned(
            CATEGORY,
            "relay.probe",
            f"{where} deferred relaying ({code} {text})",
            "refuse relaying permanently (reject_unauth_destination)",
        )
    return failed(
        CATEGORY,
        "relay.probe",
        f"{where} is an OPEN RELAY: it accepted {OUTSIDE} without AUTH ({code} {text})",
        "put reject_unauth_destination in smtpd_relay_restrictions at once",
    )
