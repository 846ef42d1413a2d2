"""The options and the output conventions that several `mailstack` commands share, each
defined here once: the inventory (`-i`, `$MAILSTACK_INVENTORY`), the resolver, a zone's name
server, `--json`, `--timeout`, and colour (on a terminal, unless `$NO_COLOR` is set).

Nothing defaults to an inventory: a command that needs a description and is given neither
`-i` nor `$MAILSTACK_INVENTORY` says which setting is missing and exits 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import NoReturn, TextIO

INVENTORY_ENV = "MAILSTACK_INVENTORY"
NO_INVENTORY = 2
_NEEDS_INVENTORY = "needs_inventory"

Paint = Callable[[str, str], str]


def add_inventory(p: argparse.ArgumentParser, *, needed: bool = True, help_: str = "") -> None:
    """`-i/--inventory DIR`. When `needed`, the command needs a description: without the
    option, `$MAILSTACK_INVENTORY` names it (see `inventory_missing`); otherwise the option is
    an extra that only the command line gives."""
    if needed:
        help_ = help_ or f"the inventory directory (default: ${INVENTORY_ENV}; nothing else)"
        p.set_defaults(**{_NEEDS_INVENTORY: True})
    p.add_argument("-i", "--inventory", metavar="INVENTORY", help=help_)
    if needed:
        p.add_argument(
            "--vault-password-file",
            metavar="FILE",
            help="the password of vars files encrypted with ansible-vault (default:"
            " $ANSIBLE_VAULT_PASSWORD_FILE, else the inventory's vault-password file)",
        )


def inventory_missing(args: argparse.Namespace, command: str) -> str | None:
    """Fill `args.inventory` from `$MAILSTACK_INVENTORY` when the command needs one and the
    command line gave none; the error to print when neither names it, else None."""
    if not getattr(args, _NEEDS_INVENTORY, False) or args.inventory:
        return None
    args.inventory = os.environ.get(INVENTORY_ENV) or None
    if args.inventory:
        return None
    return (
        f"{command}: error: no inventory: give -i/--inventory INVENTORY or set"
        f" {INVENTORY_ENV} (nothing defaults to the lab; it is -i inventories/lab)"
    )


def add_resolver(p: argparse.ArgumentParser, help_: str) -> None:
    """`--resolver IP` and `--resolver-port PORT`: the recursive resolver to ask."""
    p.add_argument("--resolver", metavar="IP", help=help_)
    p.add_argument("--resolver-port", type=int, default=53, metavar="PORT")


def add_nameserver(p: argparse.ArgumentParser, help_: str, *, required: bool = False) -> None:
    """`--nameserver NS` and `--port PORT`: a zone's own (authoritative) name server."""
    p.add_argument("--nameserver", required=required, metavar="NS", help=help_)
    p.add_argument("--port", type=int, default=53, metavar="PORT")


def add_json(p: argparse.ArgumentParser, help_: str = "machine-readable output") -> None:
    p.add_argument("--json", action="store_true", help=help_)


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage error is one line: `prog: error: message` (exit 2),
    as every other refusal of the CLI; `--help` gives the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


# The longest --timeout taken: an hour, far beyond any useful wait.
MAX_TIMEOUT = 3600.0


def seconds(text: str) -> float:
    """A --timeout: a finite number of seconds above zero, at most MAX_TIMEOUT."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise argparse.ArgumentTypeError(
            f"{text[:40]} is not a positive number of seconds (at most {MAX_TIMEOUT:g})"
        )
    return value


def add_timeout(p: argparse.ArgumentParser, default: float, what: str) -> None:
    """`--timeout SECONDS`, for `what` (e.g. "per network operation"), refusing nan, inf,
    zero, negatives and more than an hour."""
    p.add_argument(
        "--timeout",
        type=seconds,
        default=default,
        metavar="SECONDS",
        help=f"seconds {what} (default {default:g})",
    )


def colour(stream: TextIO) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def painter(stream: TextIO | None = None) -> Paint:
    """`paint(text, sgr)`: the text in the SGR colour code when `stream` takes colour."""
    on = colour(stream if stream is not None else sys.stdout)

    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if on else text

    return paint
