"""`mailstack check DOMAIN`: the command line of the audit, from its arguments to its exit code.

Exit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 the audit could not
run (bad arguments, an unreadable inventory or trust anchor file, a resolver that does not
answer).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mailstack import options

if TYPE_CHECKING:
    from mailstack.check.context import Context

COULD_NOT_RUN = 2
MAX_NAME = 253  # octets of a domain name in text, without the final dot
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_SELECTOR_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
PROBE_SECONDS = 2.0  # the first question to the resolver: it answers within this, or not at all


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("domain", help="the mail domain to audit")
    options.add_resolver(p, "the resolver to ask (default: the system's)")
    options.add_inventory(
        p,
        needed=False,
        help_="an inventory: its DKIM selectors and keys, its plan (drift), its hosts (relay"
        " test); only when given (not from $MAILSTACK_INVENTORY)",
    )
    p.add_argument(
        "--selector",
        action="append",
        default=[],
        metavar="S",
        help="a DKIM selector to check (repeat for more)",
    )
    p.add_argument(
        "--trust-anchor",
        metavar="FILE",
        help="DS records to validate DNSSEC from (default: the root zone's trust anchors)",
    )
    p.add_argument(
        "--ca-file",
        metavar="FILE",
        help="the CA certificates HTTPS and client TLS are checked against (default: the system's)",
    )
    p.add_argument(
        "--relay-test",
        action="store_true",
        help="probe the inventory's own MX hosts for open relaying (needs -i)",
    )
    from mailstack.smime.command import address_argument  # noqa: PLC0415

    p.add_argument(
        "--smime",
        action="append",
        default=[],
        type=address_argument,
        metavar="ADDRESS",
        help="check the address's SMIMEA record: DNSSEC, the certificate, its expiry (repeat)",
    )
    p.add_argument(
        "--smime-cert",
        action="append",
        default=[],
        metavar="FILE",
        help="a certificate (PEM) that the SMIMEA record of its address must match (repeat)",
    )
    options.add_timeout(
        p,
        5.0,
        "per network operation (a DNS question, a connection and its handshake, a fetch);"
        " the whole audit ends within 3 times this",
    )
    options.add_json(p)


def _fail(message: str) -> int:
    print(f"mailstack check: error: {message}", file=sys.stderr)
    return COULD_NOT_RUN


def domain_problem(  # noqa: PLR0911 (one return per rule)
    text: str, label_pattern: re.Pattern[str] = _LABEL
) -> str | None:
    """Why `text` is not a domain name to audit (empty, the root, too long, a bad label), or
    None."""
    name = text.lower().removesuffix(".")
    if not name:
        return (
            "is empty (the root is not a mail domain)"
            if not text
            else "is the root, not a mail domain"
        )
    try:
        ascii_name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        return "is not a valid internationalized domain name"
    if len(ascii_name) > MAX_NAME:
        return f"is {len(ascii_name)} characters long, over the {MAX_NAME} a domain name allows"
    for label in ascii_name.split("."):
        if not label:
            return "has an empty label (two dots in a row, or a leading dot)"
        if len(label) > 63:
            return f"has a label of {len(label)} characters, over the 63 allowed: {label[:20]}..."
        if not label_pattern.fullmatch(label):
            return f"has the label {label!r}: letters, digits and inner hyphens only"
    return None


def argument_problem(args: argparse.Namespace) -> str | None:
    """One sentence naming the first bad argument, or None."""
    problem = domain_problem(args.domain)
    if problem:
        return f"argument DOMAIN {args.domain[:80]!r} {problem}"
    for selector in args.selector:
        problem = domain_problem(selector, _SELECTOR_LABEL)
        if problem:
            return f"argument --selector {selector[:80]!r} {problem}"
    if args.resolver is not None:
        try:
            ipaddress.ip_address(args.resolver)
        except ValueError:
            return f"argument --resolver {args.resolver[:80]!r} is not an IP address"
    if not 1 <= args.resolver_port <= 65535:
        return f"argument --resolver-port {args.resolver_port} is not a port (1 to 65535)"
    return None


def cmd_check(args: argparse.Namespace) -> int:  # noqa: PLR0911 (each stop exits 2)
    # Imported here: the other commands of the CLI do not pay for the audit's modules.
    from mailstack.check import dnssec  # noqa: PLC0415
    from mailstack.check.context import Context, Options  # noqa: PLC0415
    from mailstack.check.runner import run  # noqa: PLC0415
    from mailstack.dnsquery import Dns, DnsError  # noqa: PLC0415

    problem = argument_problem(args)
    if problem:
        return _fail(problem)
    domain = args.domain.lower().removesuffix(".")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    if args.relay_test and not args.inventory:
        return _fail("--relay-test probes only the hosts of an inventory: give -i INVENTORY")
    try:
        anchor_text = (
            Path(args.trust_anchor).read_text() if args.trust_anchor else dnssec.ROOT_ANCHORS
        )
        anchors = dnssec.load_anchors(anchor_text)
    except (OSError, ValueError) as error:
        return _fail(f"--trust-anchor {args.trust_anchor}: {error}")
    try:
        resolver = Dns(args.resolver, args.resolver_port, args.timeout)
    except DnsError as error:
        return _fail(str(error))
    settings = Options(
        selectors=tuple(args.selector),
        cafile=args.ca_file,
        relay_test=args.relay_test,
        timeout=args.timeout,
        smime=tuple(args.smime),
        smime_certs=tuple(args.smime_cert),
    )
    ctx = Context(domain, resolver, anchors, settings)
    if args.inventory:
        problem = _with_inventory(ctx, Path(args.inventory))
        if problem:
            return _fail(problem)
    try:
        # A first question with a short deadline: a resolver that does not answer is said at
        # once, not after every audit has waited for it.
        resolver.message(".", "NS", timeout=min(args.timeout, PROBE_SECONDS))
    except DnsError as error:
        return _fail(f"could not run: {error} (give --resolver IP of a resolver that answers)")
    terminal = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int, name: str) -> None:
        end = "\n" if done == total else ""
        print(
            f"\rchecking {domain}: {done}/{total} ({name} done)\033[K",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    report = run(ctx, progress=progress if terminal else None)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(report.text(options.painter(sys.stdout)))
    return report.exit_code


def _with_inventory(ctx: Context, path: Path) -> str | None:
    """Fill the context from an inventory; a sentence saying what is wrong, or None."""
    from mailstack.inventory import load  # noqa: PLC0415
    from mailstack.plan import build  # noqa: PLC0415
    from mailstack.problems import DescriptionError  # noqa: PLC0415

    try:
        inventory = load(path)
    except DescriptionError as error:
        return f"the inventory {path} has errors:\n" + "\n".join(
            str(p) for p in error.problems.errors
        )
    description = inventory.description
    domain = next((d for d in description.domains if d.name == ctx.domain), None)
    if domain is None:
        return f"{ctx.domain} is not a domain of the inventory {path}"
    ctx.plan = build(inventory)
    ctx.inventory_hosts = frozenset(h.name for h in description.hosts)
    ctx.inventory_selectors = tuple(s.selector for s in domain.dkim)
    for s in domain.dkim:
        key = inventory.published.dkim(domain.name, s.selector)
        if key.exists():
            ctx.published_dkim[s.selector] = key.read_bytes()
    return None
