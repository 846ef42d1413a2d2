"""MX: the domain's mail hosts resolve (IPv4 and IPv6), each address has a PTR that resolves back
to it."""

from __future__ import annotations

import dns.reversename

from mailstack.check.context import Context
from mailstack.check.facts import addresses, is_null_mx, mx_hosts
from mailstack.check.report import Finding, failed, info, passed, warned
from mailstack.dnsquery import DnsError

CATEGORY = "MX"


def audit(ctx: Context) -> list[Finding]:
    hosts = mx_hosts(ctx)
    if not hosts:
        return [
            failed(
                CATEGORY,
                "mx.present",
                f"{ctx.domain} has no MX record: senders fall back to its address record,"
                " or bounce",
                "publish the MX records of the plan (mailstack dns plan), or a Null MX"
                " (`0 .`) if the domain receives no mail",
            )
        ]
    if is_null_mx(ctx):
        return [info(CATEGORY, "mx.null", f"{ctx.domain} receives no mail (Null MX, RFC 7505)")]
    if any(host == "" for _, host in hosts):
        return [
            failed(
                CATEGORY,
                "mx.null",
                "a Null MX (`0 .`) is mixed with other MX records",
                "keep either the Null MX alone or only real mail hosts (RFC 7505, section 3)",
            )
        ]
    out = [
        passed(
            CATEGORY,
            "mx.present",
            "MX: " + ", ".join(f"{host} (priority {p})" for p, host in hosts),
        )
    ]
    for _, host in hosts:
        out += _host(ctx, host)
    return out


def _host(ctx: Context, host: str) -> list[Finding]:
    found = addresses(ctx, host)
    if not found:
        return [
            failed(
                CATEGORY,
                "mx.address",
                f"the MX host {host} has no A or AAAA record",
                f"publish the addresses of {host}, or remove it from the MX records",
            )
        ]
    out = [passed(CATEGORY, "mx.address", f"{host} has the address(es) {', '.join(found)}")]
    if not any(":" in a for a in found):
        out.append(
            warned(
                CATEGORY,
                "mx.ipv6",
                f"{host} has no IPv6 address (AAAA): IPv6-only senders cannot reach it",
                f"give {host} an IPv6 address and publish its AAAA record",
            )
        )
    for address in found:
        out.append(_reverse(ctx, host, address))
    return out


def _reverse(ctx: Context, host: str, address: str) -> Finding:
    try:
        return _confirmed(ctx, host, address)
    except DnsError as error:
        # A reverse zone, or the zone of a PTR's name, that fails (REFUSED, SERVFAIL, no
        # answer) leaves the rest of the audit to run: only this address's check is unknown.
        return warned(
            CATEGORY,
            "mx.ptr",
            f"the reverse DNS of {address} ({host}) could not be checked: {error}",
            f"ask whoever owns {address} (the hosting provider) why the lookup fails, then"
            " check again",
        )


def _confirmed(ctx: Context, host: str, address: str) -> Finding:
    """Whether `address` has a PTR whose name resolves back to it; DnsError as raised."""
    reverse = dns.reversename.from_address(address).to_text()
    names = [n.rstrip(".").lower() for n in ctx.texts(reverse, "PTR")]
    if not names:
        return failed(
            CATEGORY,
            "mx.ptr",
            f"{address} ({host}) has no PTR record: many receivers refuse mail from an address"
            " without one",
            f"ask whoever owns {address} (the hosting provider) to set its PTR to {host}",
        )
    for name in names:
        if address in addresses(ctx, name):
            return passed(
                CATEGORY,
                "mx.fcrdns",
                f"{address} has the PTR {name}, which resolves back to it (forward-confirmed)",
            )
    return failed(
        CATEGORY,
        "mx.fcrdns",
        f"{address} ({host}) has the PTR {', '.join(names)}, which does not resolve back to"
        f" {address}: the reverse DNS is not forward-confirmed",
        f"set the PTR of {address} to {host}, or give {names[0]} the address {address}",
    )
