"""The `mailstack` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from mailstack import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `mailstack` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="mailstack",
        description="A whole self-hosted mail infrastructure as code, from one description.",
    )
    parser.add_argument("--version", action="version", version=f"mailstack {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return 0
