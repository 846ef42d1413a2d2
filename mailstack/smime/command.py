"""`mailstack smime issue|renew|revoke|import|export|list|crl`: the command line of
mailstack.smime.actions. Exit codes: 0 done, 1 refused (nothing written; the reason on
stderr) or an invalid description, 2 a usage error."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mailstack import options
from mailstack.smime.errors import SmimeError

PASSWORD_ENV = "MAILSTACK_SMIME_P12_PASSWORD"  # noqa: S105 (a variable's name)
USAGE = 2

if TYPE_CHECKING:
    from mailstack.smime.actions import Smime

T = TypeVar("T")
Handler = Callable[[argparse.Namespace], int]


def address_argument(text: str) -> str:
    """An argparse type: a mail address, lower-cased (argparse exits 2 on anything else)."""
    from mailstack.fields import is_address  # noqa: PLC0415

    address = text.strip().lower()
    if not is_address(address):
        raise argparse.ArgumentTypeError(f"{text!r} is not a mail address")
    return address


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `mailstack smime` and its subcommands."""
    smime = commands.add_parser("smime", help="S/MIME certificates of the mailboxes")
    sub = smime.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    options.add_inventory(common)
    common.add_argument(
        "--store",
        metavar="DIR",
        help="the CA store (default: $MAILSTACK_SMIME_STORE, else INVENTORY.smime beside the"
        " inventory)",
    )

    def command(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, parents=[common])
        p.set_defaults(handler=handler, command_name=p.prog)
        return p

    p = command("issue", cmd_issue, "a key and certificate from mailstack's CA for each mailbox")
    p.add_argument("addresses", nargs="+", metavar="ADDRESS")
    options.add_json(p)
    p = command("renew", cmd_renew, "a new key and certificate for each mailbox")
    p.add_argument("addresses", nargs="+", metavar="ADDRESS")
    options.add_json(p)
    p = command("revoke", cmd_revoke, "revoke a mailbox's certificate: onto the CRL, out of DNS")
    p.add_argument("address", metavar="ADDRESS")
    from mailstack.smime.revocation import REASONS  # noqa: PLC0415

    p.add_argument("--reason", choices=list(REASONS), default="unspecified")
    options.add_json(p)
    p = command("import", cmd_import, "bring in a user's .p12 from an external CA, checked")
    p.add_argument("address", metavar="ADDRESS")
    p.add_argument("file", metavar="FILE.p12")
    p.add_argument(
        "--password-file",
        metavar="FILE",
        help=f"the .p12's password (default: ${PASSWORD_ENV}, else asked on the terminal)",
    )
    options.add_json(p)
    p = command(
        "export",
        cmd_export,
        "a mailbox's .p12 in both encodings (modern, compatible), and how to import them",
    )
    p.add_argument("address", metavar="ADDRESS")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write the files")
    p.add_argument(
        "--password-file",
        metavar="FILE",
        help="write the generated password here (0600; must not exist) instead of showing it",
    )
    from mailstack.smime.instructions import CLIENTS  # noqa: PLC0415

    p.add_argument(
        "--client",
        action="append",
        choices=CLIENTS,
        help="instructions for this client only (repeat for more; default: every client)",
    )
    options.add_json(p)
    p = command("list", cmd_list, "the certificates of a domain, or of every domain")
    p.add_argument("domain", nargs="?")
    options.add_json(p)
    p = command("crl", cmd_crl, "sign a domain's CRL anew (before smime.crl_days run out)")
    p.add_argument("domain")


def _session(args: argparse.Namespace) -> Smime | None:
    """The actions on the inventory, or None after printing why the description is invalid."""
    from mailstack.inventory import load  # noqa: PLC0415
    from mailstack.problems import DescriptionError  # noqa: PLC0415
    from mailstack.smime.actions import Smime, now_utc  # noqa: PLC0415
    from mailstack.smime.store import root_of  # noqa: PLC0415

    try:
        inventory = load(Path(args.inventory))
    except DescriptionError as exc:
        for problem in exc.problems.items:
            print(f"{problem.severity}: {problem.path}: {problem.message}", file=sys.stderr)
        return None
    return Smime(inventory, root_of(Path(args.inventory), args.store), now_utc())


def _refused(args: argparse.Namespace, error: SmimeError) -> int:
    print(f"{args.command_name}: error: {error}", file=sys.stderr)
    return 1


def _step(args: argparse.Namespace, step: Callable[[Smime], T]) -> T | None:
    """What `step` gives on the inventory; None once it said why it could not (an invalid
    description, or a step refused)."""
    session = _session(args)
    if session is None:
        return None
    try:
        return step(session)
    except SmimeError as exc:
        _refused(args, exc)
        return None


def _each(args: argparse.Namespace, renew: bool) -> int:
    """Issue or renew for every address given: all of them, or none."""
    done = _step(args, lambda s: s.issue_all(args.addresses, renew=renew))
    if done is None:
        return 1
    if args.json:
        print(json.dumps([asdict(e) for e in done], indent=2))
        return 0
    verb = "renewed" if renew else "issued"
    for entry in done:
        print(f"{entry.address}: {verb}, serial {entry.serial}, valid until {entry.not_after}")
    return 0


def cmd_issue(args: argparse.Namespace) -> int:
    return _each(args, renew=False)


def cmd_renew(args: argparse.Namespace) -> int:
    return _each(args, renew=True)


def cmd_revoke(args: argparse.Namespace) -> int:
    entry = _step(args, lambda s: s.revoke(args.address, args.reason))
    if entry is None:
        return 1
    if args.json:
        print(json.dumps(asdict(entry), indent=2))
    elif entry.state == "revoked":
        print(
            f"{entry.address}: serial {entry.serial} revoked; the CRL lists it. Publish the"
            " zone again (pulumi up, or mailstack dns zone) to withdraw its SMIMEA record."
        )
    else:
        print(
            f"{entry.address}: serial {entry.serial} withdrawn from DNS once the zone is"
            " published again; only the CA that issued it can revoke it: ask it to."
        )
    return 0


def _p12_password(args: argparse.Namespace) -> str | None:
    if args.password_file:
        return Path(args.password_file).read_text().rstrip("\n")
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if sys.stdin.isatty():
        return getpass.getpass(f"password of {args.file}: ")
    return None


def cmd_import(args: argparse.Namespace) -> int:
    try:
        password = _p12_password(args)
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"{args.command_name}: error: {exc}", file=sys.stderr)
        return 1
    if password is None:
        print(
            f"{args.command_name}: error: no password: give --password-file FILE or set"
            f" {PASSWORD_ENV}",
            file=sys.stderr,
        )
        return USAGE
    entry = _step(args, lambda s: s.import_p12(args.address, data, password))
    if entry is None:
        return 1
    if args.json:
        print(json.dumps(asdict(entry), indent=2))
    else:
        print(
            f"{entry.address}: imported serial {entry.serial}, valid until {entry.not_after};"
            " its SMIMEA record comes with the next publication of the zone"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from mailstack.smime import instructions, pkcs12  # noqa: PLC0415
    from mailstack.smime.store import write_secret  # noqa: PLC0415

    password_file = Path(args.password_file) if args.password_file else None
    if password_file is not None and password_file.exists():
        print(
            f"{args.command_name}: error: {password_file} exists: name a new file for the password",
            file=sys.stderr,
        )
        return 1
    password = pkcs12.new_password()
    files = _step(args, lambda s: s.export(args.address, Path(args.out), password))
    if files is None:
        return 1
    if password_file is not None:
        write_secret(password_file, (password + "\n").encode())
    clients = tuple(args.client) if args.client else instructions.CLIENTS
    if args.json:
        data = {
            "address": files.address,
            "modern": str(files.modern),
            "compatible": str(files.compatible),
            "ca": str(files.ca) if files.ca else None,
            "password_file": str(password_file) if password_file else None,
            "instructions": instructions.text(files, clients),
        }
        if password_file is None:
            data["password"] = password
        print(json.dumps(data, indent=2))
        return 0
    print(f"{files.modern}  ({pkcs12.MODERN.who})")
    print(f"{files.compatible}  ({pkcs12.COMPATIBLE.who})")
    if files.ca is not None:
        print(f"{files.ca}  (the CA's certificate, to trust)")
    if password_file is not None:
        print(f"the password of both files is in {password_file} (0600)")
    else:
        print(f"the password of both files, shown this once (never send it by mail): {password}")
    print()
    print(instructions.text(files, clients), end="")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    entries = _step(args, lambda s: s.entries(args.domain))
    if entries is None:
        return 1
    if args.json:
        print(json.dumps([asdict(e) for e in entries], indent=2))
        return 0
    for e in entries:
        print(f"{e.address:<32} {e.state:<10} {e.source:<9} until {e.not_after[:10]}  {e.serial}")
    return 0


def cmd_crl(args: argparse.Namespace) -> int:
    number = _step(args, lambda s: s.sign_crl(args.domain))
    if number is None:
        return 1
    print(f"{args.domain}: CRL number {number} signed; serve it (docs/smime.md)")
    return 0
