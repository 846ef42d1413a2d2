"""Payloads, the bytes of one report each with a label that says where it was found
(`reports/google.zip member example.test!1.xml`, `INBOX/UID 7 attachment report.xml.gz`),
and the gzip and zip archives that hold them; `files` and `messages` find them in files,
directories and mail.

Everything is bounded, since archives and messages come from strangers: a file larger than
`Limits.max_size` is not read; gzip and zip members are decompressed in chunks and refused as
soon as one input's output passes `max_size`; an archive with more than `max_members`
members, or a message with more than `max_members` report attachments, is refused whole. A
zip inside an archive and a gzip inside a gzip are refused: reports never come that way.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

MIB = 1024 * 1024
CHUNK = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"

# Content types that carry a report (RFC 7489 section 7.2.1.1, RFC 8460 section 5.3), and
# the ones receivers use instead, where only the file name tells.
REPORT_TYPES = frozenset(
    {
        "application/gzip",
        "application/x-gzip",
        "application/zip",
        "application/x-zip-compressed",
        "application/xml",
        "text/xml",
        "application/tlsrpt+gzip",
        "application/tlsrpt+json",
    }
)
GUESSED_TYPES = frozenset({"application/octet-stream", "application/x-zip", "text/plain"})
REPORT_SUFFIXES = (".xml", ".xml.gz", ".gz", ".zip", ".json", ".json.gz")


@dataclass(frozen=True, slots=True)
class Limits:
    """`max_size`: octets read or decompressed per input; `max_members`: per archive or message."""

    max_size: int = 50 * MIB
    max_members: int = 10


@dataclass(frozen=True, slots=True)
class Payload:
    """The bytes of one report (decompressed), and where they were found."""

    label: str
    data: bytes


@dataclass(frozen=True, slots=True)
class _Note:
    label: str
    message: str

    def __str__(self) -> str:
        return f"{self.label}: {self.message}"


@dataclass(frozen=True, slots=True)
class Refusal(_Note):
    """An input, or part of one, that could not be read or parsed, and why."""


@dataclass(frozen=True, slots=True)
class Skipped(_Note):
    """An input with no report in it that is not an error (a message in a report mailbox)."""


Item = Payload | Refusal | Skipped


class _TooLarge(Exception):
    pass


class _Unreadable(Exception):
    """Says what is wrong with an archive or a member."""


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def size_text(octets: int) -> str:
    """`50 MiB`, `512 KiB`, `100 octets`."""
    for unit, factor in (("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", 1024)):
        if octets >= factor and octets % factor == 0:
            return f"{octets // factor} {unit}"
    return f"{octets} octets"


def _too_large(label: str, limit: int) -> Refusal:
    return Refusal(label, f"decompresses to more than {size_text(limit)} (--max-size)")


def _bounded_read(stream: _Readable, limit: int) -> bytes:
    """Everything `stream` gives, read in chunks; _TooLarge as soon as it passes `limit`."""
    out = bytearray()
    while chunk := stream.read(CHUNK):
        out += chunk
        if len(out) > limit:
            raise _TooLarge
    return bytes(out)


def _gunzip(data: bytes, limit: int) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            content = _bounded_read(stream, limit)
    except (OSError, EOFError, zlib.error) as exc:
        raise _Unreadable(f"not a valid gzip file: {exc or 'truncated'}") from None
    if content.startswith((GZIP_MAGIC, ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        raise _Unreadable("an archive inside a gzip file is refused")
    return content


def _member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> bytes:
    if member.flag_bits & 0x1:
        raise _Unreadable("is encrypted")
    try:
        with archive.open(member) as stream:
            content = _bounded_read(stream, limit)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, zlib.error) as exc:
        raise _Unreadable(f"cannot be decompressed: {exc}") from None
    if content.startswith(GZIP_MAGIC):
        return _gunzip(content, limit)
    if content.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        raise _Unreadable("a zip inside a zip is refused")
    return content


def _unzip(data: bytes, label: str, limits: Limits) -> Iterator[Item]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        yield Refusal(label, f"not a valid zip file: {exc}")
        return
    if len(members) > limits.max_members:
        yield Refusal(
            label, f"has {len(members)} members, more than {limits.max_members} (--max-members)"
        )
        return
    if not members:
        yield Refusal(label, "the zip file is empty")
        return
    budget = limits.max_size  # for all the members together
    for member in members:
        where = f"{label} member {member.filename}"
        try:
            content = _member(archive, member, budget)
        except _TooLarge:
            limit = size_text(limits.max_size)
            together = ", with the members before it," if budget < limits.max_size else ""
            yield Refusal(where, f"decompresses{together} to more than {limit} (--max-size)")
            return
        except _Unreadable as exc:
            yield Refusal(where, str(exc))
            continue
        budget -= len(content)
        yield Payload(where, content)


def unpack(data: bytes, label: str, limits: Limits) -> Iterator[Item]:
    """The reports in `data`: itself, or what its gzip or zip wrapping holds (by content)."""
    if data.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        yield from _unzip(data, label, limits)
        return
    if not data.startswith(GZIP_MAGIC):
        yield Payload(label, data)
        return
    try:
        yield Payload(label, _gunzip(data, limits.max_size))
    except _TooLarge:
        yield _too_large(label, limits.max_size)
    except _Unreadable as exc:
        yield Refusal(label, str(exc))
