"""The `mailstack` command line."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from mailstack import __version__, options, share
from mailstack.check import command as check_command
from mailstack.dnssource import CacheSource, DnsSource, RecordingSource, Source, SourceError
from mailstack.fields import is_dns_name
from mailstack.inventory import Inventory, NotAnInventory, load
from mailstack.plan import Plan, build
from mailstack.problems import DescriptionError, Problem, Problems
from mailstack.reports import command as report_command
from mailstack.smime import command as smime_command
from mailstack.zonefile import MAX_SERIAL

_DIGITS = re.compile(r"[0-9]{1,10}")
_LOCAL_PART = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*")


class Output:
    """Plain text when piped, colour on a terminal (unless NO_COLOR is set)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.paint = options.painter(stream)

    def problem(self, p: Problem) -> None:
        label = self.paint(p.severity, "31;1" if p.severity == "error" else "33")
        print(f"{label}: {p.path}: {p.message}", file=self.stream)

    def problems(self, problems: Problems) -> None:
        for p in problems.items:
            self.problem(p)


# The status of a command whose output was cut short by its reader (`| head`): 128 + SIGPIPE,
# as a shell reports a Unix tool that the signal ended.
BROKEN_PIPE = 141


class UsageError(Exception):
    """A command line that names something wrong: one line, exit 2."""


def _inventory(args: argparse.Namespace) -> Inventory:
    """The inventory of `-i`; UsageError when it is no inventory, DescriptionError when its
    description has errors."""
    vault = getattr(args, "vault_password_file", None)
    try:
        return load(Path(args.inventory), Path(vault) if vault else None)
    except NotAnInventory as exc:
        raise UsageError("; ".join(f"{p.path}: {p.message}" for p in exc.problems.errors)) from None


def _resolver(args: argparse.Namespace) -> DnsSource:
    try:
        return DnsSource(args.resolver, args.resolver_port)
    except (SourceError, ValueError) as exc:
        raise UsageError(f"--resolver {args.resolver}: {exc}") from None


def _cache(inventory: Inventory) -> CacheSource | None:
    """The inventory's SPF cache; None after saying why it cannot be read."""
    try:
        return CacheSource.load(inventory.spf_cache)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _source(
    args: argparse.Namespace, inventory: Inventory
) -> tuple[Source, RecordingSource | None] | None:
    cache = _cache(inventory)
    if cache is None:
        return None
    if getattr(args, "resolver", None) is None:
        return cache, None
    recording = RecordingSource(_resolver(args), cache)
    return recording, recording


def _plan(args: argparse.Namespace, err: Output) -> tuple[Inventory, Plan] | None:
    """Load and plan; print every problem; None when there are errors."""
    try:
        inventory = _inventory(args)
    except DescriptionError as exc:
        err.problems(exc.problems)
        return None
    sources = _source(args, inventory)
    if sources is None:
        return None
    source, recording = sources
    plan = build(inventory, source)
    problems = Problems()
    problems.extend(inventory.problems)
    if recording is not None:
        for change in recording.changes:
            problems.warning(str(inventory.spf_cache), change)
    problems.extend(plan.problems)
    plan.problems = problems
    err.problems(problems)
    if problems.errors:
        return None
    return inventory, plan


def cmd_validate(args: argparse.Namespace) -> int:
    err = Output(sys.stderr)
    result = _plan(args, err)
    if result is None:
        return 1
    inventory, plan = result
    d = inventory.description
    print(
        f"{args.inventory}: valid: {len(d.domains)} domain(s), {len(d.hosts)} host(s),"
        f" {len(plan.zones)} zone(s), {len(plan.records)} record(s),"
        f" {len(plan.problems.warnings)} warning(s)"
    )
    return 0


def cmd_share(args: argparse.Namespace) -> int:
    """Each host's share of the description, as the playbooks hand it to the roles."""
    err = Output(sys.stderr)
    try:
        inventory = _inventory(args)
    except DescriptionError as exc:
        err.problems(exc.problems)
        return 1
    description = inventory.description
    names = [h.name for h in description.hosts]
    unknown = [h for h in args.hosts if h not in names]
    if unknown:
        print(
            f"{args.command_name}: error: {', '.join(unknown)}: not a host of the mail or pmg"
            f" group (hosts: {', '.join(names)})",
            file=sys.stderr,
        )
        return 1
    try:
        shares = {name: share.of(description, name, inventory.path) for name in args.hosts or names}
    except DescriptionError as exc:
        err.problems(exc.problems)
        return 1
    json.dump(shares, sys.stdout, indent=2)
    print()
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    err = Output(sys.stderr)
    result = _plan(args, err)
    if result is None:
        return 1
    inventory, plan = result
    if args.json:
        data = {
            "zones": list(plan.zones),
            "dnssec": sorted(plan.dnssec),
            "records": [
                {
                    "zone": r.zone,
                    "name": r.name,
                    "subdomain": r.subdomain,
                    "type": r.rtype,
                    "ttl": r.ttl,
                    "data": r.rdata,
                    "key": r.key,
                }
                for r in plan.records
            ],
            "mta_sts_policies": plan.policies,
            "mta_sts": share.served_policies(inventory.description),
            "warnings": [{"path": p.path, "message": p.message} for p in plan.problems.warnings],
        }
        json.dump(data, sys.stdout, indent=2)
        print()
        return 0
    width = max((len(r.name) for r in plan.records), default=10)
    for zone in plan.zones:
        dnssec = "DNSSEC on" if zone in plan.dnssec else "DNSSEC off"
        print(f"zone {zone} ({len(plan.zone_records(zone))} records, {dnssec})")
        for r in plan.zone_records(zone):
            print(f"  {r.name:<{width}}  {r.ttl:>6}  {r.rtype:<5}  {r.rdata}")
    return 0


def _zone(args: argparse.Namespace) -> tuple[str, Plan] | None:
    """The plan and the zone named on the command line, or None after saying what is wrong."""
    result = _plan(args, Output(sys.stderr))
    if result is None:
        return None
    _, plan = result
    zone = args.zone.lower().removesuffix(".")
    if zone not in plan.zones:
        print(f"error: {zone} is not one of the zones: {', '.join(plan.zones)}", file=sys.stderr)
        return None
    return zone, plan


def _zone_file(args: argparse.Namespace, plan: Plan, zone: str) -> str:
    """The zone file of one zone, with SOA and NS records when --nameserver names a server."""
    from mailstack.zonefile import Soa, render  # noqa: PLC0415

    soa = None
    if args.nameserver:
        soa = Soa(
            primary_ns=args.nameserver[0],
            hostmaster=args.hostmaster or f"hostmaster.{zone}",
            serial=args.serial,
            nameservers=tuple(args.nameserver),
        )
    return render(zone, plan.zone_records(zone), soa=soa)


def cmd_zone(args: argparse.Namespace) -> int:
    found = _zone(args)
    if found is None:
        return 1
    zone, plan = found
    sys.stdout.write(_zone_file(args, plan, zone))
    return 0


def cmd_zones(args: argparse.Namespace) -> int:
    result = _plan(args, Output(sys.stderr))
    if result is None:
        return 1
    _, plan = result
    json.dump({zone: _zone_file(args, plan, zone) for zone in plan.zones}, sys.stdout, indent=2)
    print()
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from mailstack.verify import VerifyError, verify  # noqa: PLC0415

    found = _zone(args)
    if found is None:
        return 1
    zone, plan = found
    records = plan.zone_records(zone)
    try:
        findings = verify(records, args.nameserver, port=args.port)
    except VerifyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for finding in findings:
        print(finding)
    names = len({(r.name, r.rtype) for r in records})
    if findings:
        print(
            f"{zone}: {len(findings)} of {names} record sets missing or different"
            f" at {args.nameserver}"
        )
        return 1
    print(f"{zone}: all {names} record sets served as planned by {args.nameserver}")
    return 0


def cmd_tlsa(args: argparse.Namespace) -> int:
    from mailstack.keys import KeyError_, tlsa_311  # noqa: PLC0415

    status = 0
    for path in args.files:
        try:
            print(f"3 1 1 {tlsa_311(Path(path).read_bytes())}")
        except (OSError, KeyError_) as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            status = 1
    return status


def cmd_dkim_state(args: argparse.Namespace) -> int:
    from mailstack import dkimstate  # noqa: PLC0415

    inventory = Path(args.inventory)
    try:
        if args.selector is None:
            selectors = dkimstate.current(inventory, args.domain)
            if args.json:
                file = str(dkimstate.description_file(inventory))
                print(json.dumps({"file": file, "selectors": selectors}, indent=2))
            for selector, about in selectors.items() if not args.json else ():
                since = f", since {about['since']}" if "since" in about else ""
                print(f"{args.domain}/{selector}: {about['state']} ({about['algorithm']}{since})")
            return 0
        if args.state is None:
            print("error: give the STATE the selector moves to", file=sys.stderr)
            return 2
        if args.state == "active" and args.nameserver is None:
            print(
                "error: --nameserver is required: a selector becomes active only once the"
                " zone's name server serves its key",
                file=sys.stderr,
            )
            return 2
        served = dkimstate.served_by(args.nameserver, args.port) if args.nameserver else None
        print(
            dkimstate.change(
                inventory,
                dkimstate.Step(args.domain, args.selector, args.state, args.algorithm, args.after),
                served,
            )
        )
    except dkimstate.StateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_spf_refresh(args: argparse.Namespace) -> int:
    """Ask every SPF question of the plan live; replace the cache only when every one was
    answered, atomically; else leave it as it was and say what failed."""
    err = Output(sys.stderr)
    try:
        inventory = _inventory(args)
    except DescriptionError as exc:
        err.problems(exc.problems)
        return 1
    old = _cache(inventory)
    if old is None:
        return 1
    cache = CacheSource(inventory.spf_cache)
    recording = RecordingSource(_resolver(args), cache)
    plan = build(inventory, recording)
    if recording.failures:
        more = f" (and {len(recording.failures) - 1} more)" if len(recording.failures) > 1 else ""
        print(
            f"error: the refresh failed, {inventory.spf_cache} is left as it was:"
            f" {recording.failures[0]}{more}",
            file=sys.stderr,
        )
        return 1
    changed = [k for k in cache.answers if old.answers.get(k, "absent") != cache.answers[k]]
    try:
        cache.save()
    except OSError as exc:
        print(f"error: {inventory.spf_cache} cannot be written: {exc.strerror}", file=sys.stderr)
        return 1
    err.problems(plan.problems)
    print(f"{inventory.spf_cache}: {len(cache.answers)} answers, {len(changed)} new or changed")
    for key in changed:
        print(f"  {key}: {old.answers.get(key, 'absent')} -> {cache.answers[key]}")
    return 1 if plan.problems.errors else 0


def cmd_check(args: argparse.Namespace) -> int:
    return check_command.cmd_check(args)


def cmd_dmarc_report(args: argparse.Namespace) -> int:
    return report_command.cmd_report(args)


def _sub(
    group: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Callable[[argparse.Namespace], int],
    help_: str,
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """A subcommand of GROUP that runs HANDLER, with the options of PARENTS."""
    p = group.add_parser(name, help=help_, description=help_, parents=list(parents))
    p.set_defaults(handler=handler, command_name=p.prog)
    return p


def _server_name(text: str) -> str:
    """A name server's host name (a final dot allowed), for `--nameserver`."""
    name = text.lower().removesuffix(".")
    if not is_dns_name(name, host=True):
        raise argparse.ArgumentTypeError(f"{text!r} is not a host name")
    return name


def _hostmaster(text: str) -> str:
    """The SOA mailbox, `hostmaster@example.org` or `hostmaster.example.org`."""
    local, at, domain = text.rpartition("@")
    if at and not _LOCAL_PART.fullmatch(local):
        raise argparse.ArgumentTypeError(f"{text!r} is not a mail address or a domain name")
    try:
        return (local + at if at else "") + _server_name(domain)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a mail address or a domain name"
        ) from None


def _serial(text: str) -> int:
    """An SOA serial: an integer from 0 to 2^32 - 1."""
    if not _DIGITS.fullmatch(text) or int(text) > MAX_SERIAL:
        raise argparse.ArgumentTypeError(f"{text!r} is not a serial from 0 to {MAX_SERIAL}")
    return int(text)


def _add_dns_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    inv: argparse.ArgumentParser,
    resolver: argparse.ArgumentParser,
) -> None:
    """`mailstack dns plan|zone|zones|verify`."""
    dns = commands.add_parser("dns", help="the DNS records derived from the description")
    dns_cmds = dns.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    p = _sub(dns_cmds, "plan", cmd_plan, "the records that would be published", [inv, resolver])
    options.add_json(p)
    zone_file = argparse.ArgumentParser(add_help=False)
    zone_file.add_argument(
        "--nameserver",
        action="append",
        type=_server_name,
        metavar="NAME",
        help="add SOA and NS records naming this server (repeat for more), to serve the file",
    )
    zone_file.add_argument(
        "--hostmaster", type=_hostmaster, help="SOA mailbox (default hostmaster.ZONE)"
    )
    zone_file.add_argument(
        "--serial", type=_serial, default=1, help=f"SOA serial, 0 to {MAX_SERIAL} (default 1)"
    )
    p = _sub(
        dns_cmds,
        "zone",
        cmd_zone,
        "one zone as an RFC 1035 zone file",
        [inv, resolver, zone_file],
    )
    p.add_argument("zone")
    _sub(
        dns_cmds,
        "zones",
        cmd_zones,
        "every zone's file, as JSON: {zone: zone file}",
        [inv, resolver, zone_file],
    )
    p = _sub(
        dns_cmds, "verify", cmd_verify, "ask a zone's name server for every planned record", [inv]
    )
    p.add_argument("zone")
    options.add_nameserver(p, "address or name of the server", required=True)
    p = _sub(
        dns_cmds,
        "tlsa",
        cmd_tlsa,
        "the TLSA 3 1 1 data of public keys or certificates (PEM), one line each",
    )
    p.add_argument("files", nargs="+", metavar="FILE")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `mailstack` and its subcommands."""
    parser: argparse.ArgumentParser = options.Parser(
        prog="mailstack",
        description="A whole self-hosted mail infrastructure as code, from one description.",
    )
    parser.add_argument("--version", action="version", version=f"mailstack {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    inv = argparse.ArgumentParser(add_help=False)
    options.add_inventory(inv)
    resolver = argparse.ArgumentParser(add_help=False)
    options.add_resolver(
        resolver, "resolve SPF includes live through this resolver instead of the offline cache"
    )

    spec = commands.add_parser("spec", help="the mail description")
    spec_cmds = spec.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    _sub(
        spec_cmds,
        "validate",
        cmd_validate,
        "check the description and every record it implies",
        [inv, resolver],
    )
    share_ = _sub(
        spec_cmds,
        "share",
        cmd_share,
        "each host's share of the description, as its roles receive it (JSON; no password)",
        [inv],
    )
    share_.add_argument("hosts", nargs="*", metavar="HOST", help="only these hosts")

    _add_dns_commands(commands, inv, resolver)

    spf_ = commands.add_parser("spf", help="SPF includes and their offline cache")
    spf_cmds = spf_.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    p = _sub(
        spf_cmds,
        "refresh",
        cmd_spf_refresh,
        "resolve every SPF include live and save the answers in the inventory's cache",
        [inv],
    )
    options.add_resolver(p, "resolver address (default: the system's)")

    dkim = commands.add_parser("dkim", help="DKIM selectors and their rotation")
    dkim_cmds = dkim.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    p = _sub(
        dkim_cmds,
        "state",
        cmd_dkim_state,
        "show a domain's selectors, or move one a step: staged, active, retiring, removed",
        [inv],
    )
    p.add_argument("domain")
    p.add_argument("selector", nargs="?")
    p.add_argument("state", nargs="?", choices=["staged", "active", "retiring", "removed"])
    p.add_argument("--algorithm", choices=["rsa", "ed25519"], default="rsa")
    p.add_argument(
        "--after",
        type=int,
        default=0,
        metavar="SECONDS",
        help="remove a retiring selector only this long after it began retiring",
    )
    options.add_nameserver(p, "the zone's name server, which must serve the key")
    options.add_json(p, "the selectors, machine-readable")

    p = _sub(
        commands, "check", cmd_check, "audit a mail domain from outside: DNS, DNSSEC, DANE, TLS"
    )
    check_command.add_arguments(p)

    dmarc = commands.add_parser("dmarc", help="DMARC aggregate and TLS reports received")
    dmarc_cmds = dmarc.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    p = _sub(
        dmarc_cmds,
        "report",
        cmd_dmarc_report,
        "summarise DMARC aggregate and TLS-RPT reports from files, messages or a mailbox",
    )
    report_command.add_arguments(p)
    smime_command.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit status. Output cut short by its reader (a pipe
    into `head`) ends the command quietly, as it ends a Unix tool."""
    try:
        status = _run(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # Nothing more reaches the reader; the interpreter's last flush must not fail either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return BROKEN_PIPE
    return status


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    missing = options.inventory_missing(args, args.command_name)
    if missing:
        print(missing, file=sys.stderr)
        return options.NO_INVENTORY
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        print(f"{args.command_name}: error: {exc}", file=sys.stderr)
        return 2
