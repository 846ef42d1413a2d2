"""Reports in files and directories: each file read whole up to `--max-size`, as a report,
an archive, or (`.eml`, `.mbox`) mail.

Only regular files are read. Anything else named, or found in a directory (a FIFO, a
socket, a device), is refused by name without being opened for reading: a FIFO would block
the run until something wrote to it, and a device might never end.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from mailstack.reports.messages import from_mail
from mailstack.reports.sources import Item, Limits, Refusal, size_text, unpack

MAIL_SUFFIXES = (".eml", ".mbox")
NOT_A_FILE = "is not a regular file or a directory"


def _read(path: Path, limit: int) -> bytes:
    """Up to `limit` octets of a regular file; OSError, or ValueError when not a regular file.

    The file is opened without blocking (a FIFO opens at once) and checked on the open
    descriptor, so what is read is what was checked."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(NOT_A_FILE)
        return stream.read(limit)


def from_file(path: Path, limits: Limits) -> Iterator[Item]:
    """The reports in one file: a report, a gzip or zip archive, or mail."""
    label = str(path)
    try:
        data = _read(path, limits.max_size + 1)
    except ValueError as exc:
        yield Refusal(label, str(exc))
        return
    except OSError as exc:
        yield Refusal(label, f"cannot be read: {exc.strerror or exc}")
        return
    if len(data) > limits.max_size:
        yield Refusal(label, f"is larger than {size_text(limits.max_size)} (--max-size)")
    elif path.suffix.lower() in MAIL_SUFFIXES:
        yield from from_mail(data, label, limits)
    else:
        yield from unpack(data, label, limits)


def from_paths(paths: list[Path], limits: Limits) -> Iterator[Item]:
    """The reports in files and in directories (every entry below them that is not a
    directory, in name order)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if not p.is_dir()):
                yield from from_file(child, limits)
        else:
            yield from from_file(path, limits)
