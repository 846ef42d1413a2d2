"""`mailstack dmarc report PATH... [--imap URL]`: read DMARC and TLS reports, and summarise.

Exit codes: 0 every input was read, 1 some input was refused (the rest is summarised), 2
nothing could be read (or no input was given).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from mailstack import options
from mailstack.reports.model import MAX_RECORDS

if TYPE_CHECKING:
    from mailstack.reports.reverse import Names
    from mailstack.reports.sources import Item, Limits

NOTHING_READ = 2
MIB = 1024 * 1024
_SIZE = re.compile(r"(\d+)\s*([KMG]?)(?:i?B)?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}


def size(text: str) -> int:
    """A size in octets from `52428800`, `512K`, `50M`, `1G` (binary units)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 50M, 512K or 1000")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def count(text: str) -> int:
    """A whole number of at least 1."""
    if not re.fullmatch(r"[0-9]+", text.strip()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def output_problem(path: Path) -> str | None:
    """Why `path` cannot be written, checked before any input is read; None when it can."""
    folder = path.parent
    if path.is_dir():
        return "is a directory"
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "cannot be written (permission denied)"
    return None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="a report (.xml, .xml.gz, .zip, .json, .json.gz), a message (.eml) or a directory",
    )
    p.add_argument(
        "--imap",
        metavar="URL",
        help="imaps://user[:password]@host[:port]/MAILBOX, or imap://... with STARTTLS:"
        " every message of the mailbox, read-only (password also from $MAILSTACK_IMAP_PASSWORD)",
    )
    p.add_argument("--imap-cafile", metavar="FILE", help="the CA certificates of a private CA")
    p.add_argument("--html", metavar="FILE", help="also write the summary as an HTML page")
    options.add_json(p)
    p.add_argument("--no-resolve", action="store_true", help="do not look up reverse names")
    options.add_resolver(p, "the resolver for reverse names and the IMAP server's name")
    options.add_timeout(p, 2.0, "per reverse name, and 5 times that for all of them")
    p.add_argument(
        "--max-size",
        type=size,
        default=50 * MIB,
        metavar="SIZE",
        help="the most an input may be, read or decompressed (default 50M)",
    )
    p.add_argument(
        "--max-members",
        type=count,
        default=10,
        metavar="N",
        help="the most members of an archive, or report attachments of a message (10)",
    )
    p.add_argument(
        "--max-records",
        type=count,
        default=MAX_RECORDS,
        metavar="N",
        help="the most DMARC records, TLS policies and failure details read in all"
        f" ({MAX_RECORDS})",
    )


def _mailbox(args: argparse.Namespace, limits: Limits) -> Iterator[Item]:
    import imaplib  # noqa: PLC0415

    from mailstack.reports import imap  # noqa: PLC0415
    from mailstack.reports.reverse import address_of  # noqa: PLC0415
    from mailstack.reports.sources import Refusal  # noqa: PLC0415

    try:
        url = imap.parse_url(args.imap)
    except ValueError as exc:
        yield Refusal("--imap", str(exc))
        return
    where = f"{url.label}/{url.mailbox}"
    password = url.password or os.environ.get(imap.PASSWORD_ENV)
    if not password:
        yield Refusal(where, f"no password: give it in the URL or in ${imap.PASSWORD_ENV}")
        return
    try:
        # With --resolver, the server's name is found there too (a lab's private DNS).
        address = (
            address_of(url.host, nameserver=args.resolver, port=args.resolver_port)
            if args.resolver
            else None
        )
        conn = imap.connect(url, password, cafile=args.imap_cafile, address=address)
        try:
            yield from imap.read_mailbox(conn, url.mailbox, limits)
        finally:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                conn.logout()
    except (imap.ImapError, OSError, imaplib.IMAP4.error) as exc:
        yield Refusal(where, str(exc))


def _usage(message: str) -> int:
    print(f"mailstack dmarc report: error: {message}", file=sys.stderr)
    return NOTHING_READ


def _reverse_names(args: argparse.Namespace, ips: list[str]) -> Names:
    from mailstack.reports.reverse import reverse_names  # noqa: PLC0415

    return reverse_names(
        ips, nameserver=args.resolver, port=args.resolver_port, timeout=args.timeout
    )


def cmd_report(args: argparse.Namespace) -> int:
    from mailstack.reports import html, render  # noqa: PLC0415
    from mailstack.reports.files import from_paths  # noqa: PLC0415
    from mailstack.reports.intake import Intake  # noqa: PLC0415
    from mailstack.reports.reverse import DEADLINE_FACTOR, Names  # noqa: PLC0415
    from mailstack.reports.sources import Limits  # noqa: PLC0415
    from mailstack.reports.summary import source_ips, summarise  # noqa: PLC0415

    if not args.paths and not args.imap:
        return _usage("give a PATH or --imap URL")
    if args.html and (problem := output_problem(Path(args.html))):
        return _usage(f"--html {args.html}: {problem}")
    limits = Limits(max_size=args.max_size, max_members=args.max_members)
    intake = Intake(max_records=args.max_records)
    intake.extend(from_paths(args.paths, limits))
    if args.imap:
        intake.extend(_mailbox(args, limits))
    for refusal in intake.refused:
        print(f"refused: {render.clean(str(refusal))}", file=sys.stderr)
    for warning in intake.warnings:
        print(f"warning: {render.clean(warning)}", file=sys.stderr)
    if intake.exit_code == NOTHING_READ:
        return _usage("no report could be read")
    names = Names() if args.no_resolve else _reverse_names(args, source_ips(intake))
    if names.late:
        warning = (
            f"reverse names: {names.late} of {len(names.names)} addresses not answered within"
            f" {DEADLINE_FACTOR * args.timeout:g} s, the bound for all of them"
            f" ({DEADLINE_FACTOR} x --timeout): shown without a name"
        )
        print(f"warning: {warning}", file=sys.stderr)
        intake.warnings.append(warning)
    summary = summarise(intake, names.names)
    if args.html:
        try:
            Path(args.html).write_text(html.page(summary), encoding="utf-8")
        except OSError as exc:
            return _usage(f"--html {args.html}: {exc.strerror or exc}")
        print(f"wrote {args.html}", file=sys.stderr)
    if args.json:
        # Written as it is encoded: the text of a large summary is never held whole.
        json.dump(render.as_json(summary), sys.stdout, indent=2)
        print()
    else:
        print(render.text(summary))
    return intake.exit_code
