"""Reports attached to mail: one message (RFC 5322), or every message of an mbox file.

Messages come from strangers too. A message whose MIME parts nest more than `MAX_DEPTH`
deep is refused by name (report messages nest two or three deep; a thousand levels would
otherwise exhaust Python's recursion in the parser). A file that starts with an mbox `From `
line is split into its messages, each read and labelled `FILE message N`: none is dropped.
Messages of an mbox or a mailbox without a report are skipped, counted in one warning each.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email.message import Message

from mailstack.reports.sources import (
    GUESSED_TYPES,
    REPORT_SUFFIXES,
    REPORT_TYPES,
    Item,
    Limits,
    Refusal,
    Skipped,
    unpack,
)

MAX_DEPTH = 20
NO_REPORT = "no DMARC or TLS report attached"
MBOX_START = b"From "
# An mbox separator: a `From ` line at the start, or after an empty line (mboxo and mboxrd
# quote a body line that starts with `From `, and unquoted ones follow text, not a blank).
_SEPARATOR = re.compile(rb"(?:\r?\n)\r?\n(?=From )")


class _TooDeep(Exception):
    pass


def _is_report_part(part: Message) -> bool:
    kind = part.get_content_type()
    if kind in REPORT_TYPES:
        return True
    name = (part.get_filename() or "").lower()
    return kind in GUESSED_TYPES and name.endswith(REPORT_SUFFIXES)


def _leaves(message: Message) -> Iterator[Message]:
    """The parts that are not multipart, depth first, without recursion; _TooDeep beyond
    MAX_DEPTH levels."""
    stack = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _TooDeep
        if not part.is_multipart():
            yield part
            continue
        children = part.get_payload()
        if isinstance(children, list):
            stack.extend(
                (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
            )


def attachments(message: Message) -> list[tuple[str, bytes]]:
    """The report attachments of a message: (file name or content type, decoded bytes)."""
    found = []
    for part in _leaves(message):
        if not _is_report_part(part):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            found.append((part.get_filename() or part.get_content_type(), payload))
    return found


def _parse(data: bytes) -> list[tuple[str, bytes]]:
    """The attachments of the message in `data`; _TooDeep when its parts nest too deep."""
    try:
        return attachments(email.message_from_bytes(data))
    except RecursionError:  # the parser recurses once per level, long before MAX_DEPTH
        raise _TooDeep from None


def from_message(data: bytes, label: str, limits: Limits, *, strict: bool = True) -> Iterator[Item]:
    """The reports attached to a message (RFC 5322). A message without one is refused, or,
    when not `strict`, skipped."""
    try:
        found = _parse(data)
    except _TooDeep:
        yield Refusal(label, f"its MIME parts nest more than {MAX_DEPTH} deep")
        return
    if not found:
        yield Refusal(label, NO_REPORT) if strict else Skipped(label, NO_REPORT)
        return
    if len(found) > limits.max_members:
        yield Refusal(
            label,
            f"has {len(found)} report attachments, more than {limits.max_members} (--max-members)",
        )
        return
    for name, payload in found:
        yield from unpack(payload, f"{label} attachment {name}", limits)


def from_mbox(data: bytes, label: str, limits: Limits) -> Iterator[Item]:
    """The reports attached to every message of an mbox file, labelled `LABEL message N`;
    the messages without one are counted in one warning. An mbox of one message is read as
    that message."""
    messages = _SEPARATOR.split(data)
    if len(messages) == 1:
        yield from from_message(data, label, limits)
        return
    skipped = 0
    for number, message in enumerate(messages, 1):
        for item in from_message(message, f"{label} message {number}", limits, strict=False):
            if isinstance(item, Skipped):
                skipped += 1
            else:
                yield item
    if skipped:
        yield Skipped(label, f"{skipped} of {len(messages)} messages have no report attached")


def from_mail(data: bytes, label: str, limits: Limits) -> Iterator[Item]:
    """A `.eml` or `.mbox` file: one message, or every message of an mbox."""
    if data.startswith(MBOX_START):
        yield from from_mbox(data, label, limits)
    else:
        yield from from_message(data, label, limits)
