"""Reports from an IMAP mailbox: every message, read-only, never changed or deleted.

    imaps://user:password@host[:port]/MAILBOX   TLS from the start (port 993)
    imap://user:password@host[:port]/MAILBOX    STARTTLS, required (port 143)

The password may be left out of the URL and given in $MAILSTACK_IMAP_PASSWORD; the mailbox
defaults to INBOX; user, password and mailbox are percent-decoded. The mailbox is opened
with EXAMINE (`select(readonly=True)`) and messages are fetched with BODY.PEEK[], so not even
the \\Seen flag changes. `read_mailbox` takes a logged-in connection, whatever made it.
"""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from mailstack.reports.messages import from_message
from mailstack.reports.sources import Item, Limits, Refusal, size_text

PASSWORD_ENV = "MAILSTACK_IMAP_PASSWORD"  # noqa: S105 (the variable's name)
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


class ImapError(Exception):
    """The mailbox could not be reached or read: the message says why."""


@dataclass(frozen=True, slots=True)
class ImapUrl:
    starttls: bool
    host: str
    port: int
    user: str
    # Never shown: not in the repr, nor in any message (`label` leaves it out).
    password: str | None = field(repr=False)
    mailbox: str

    @property
    def label(self) -> str:
        return f"{'imap' if self.starttls else 'imaps'}://{self.user}@{self.host}:{self.port}"


def parse_url(url: str) -> ImapUrl:
    """The parts of an `imaps://` or `imap://` URL; ValueError says what is wrong, and never
    repeats the URL, which may hold the password."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps"):
        shown = f"{parts.scheme}://..." if parts.scheme else "no scheme"
        raise ValueError(f"{shown}: the URL must start with imaps:// or imap://")
    if not parts.hostname or not parts.username:
        raise ValueError(f"{parts.scheme}://...: the URL needs a user and a host (user@host)")
    starttls = parts.scheme == "imap"
    mailbox = unquote(parts.path.lstrip("/")) or "INBOX"
    if not mailbox.isascii():
        raise ValueError(f"{mailbox!r}: the mailbox name must be ASCII (no modified UTF-7)")
    return ImapUrl(
        starttls=starttls,
        host=parts.hostname,
        port=parts.port or (143 if starttls else 993),
        user=unquote(parts.username),
        password=unquote(parts.password) if parts.password is not None else None,
        mailbox=mailbox,
    )


class _Imap(imaplib.IMAP4):
    """IMAP to a given address; STARTTLS still checks the certificate against the host name."""

    def __init__(self, host: str, port: int, address: str | None, timeout: float) -> None:
        self._address = address
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self._address or self.host, self.port), timeout)


class _ImapSsl(imaplib.IMAP4_SSL):
    """IMAPS to a given address, the certificate checked against the host name."""

    def __init__(
        self, host: str, port: int, address: str | None, context: ssl.SSLContext, timeout: float
    ) -> None:
        self._address = address
        super().__init__(host, port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        raw = socket.create_connection((self._address or self.host, self.port), timeout)
        wrapped: socket.socket = self.ssl_context.wrap_socket(raw, server_hostname=self.host)
        return wrapped


def connect(
    url: ImapUrl,
    password: str,
    *,
    cafile: str | None = None,
    timeout: float = 30.0,
    address: str | None = None,
) -> imaplib.IMAP4:
    """A logged-in connection over TLS (STARTTLS for imap://), the certificate verified
    against the URL's host; at `address` when given, else where the host name resolves."""
    context = ssl.create_default_context(cafile=cafile)
    try:
        if url.starttls:
            conn: imaplib.IMAP4 = _Imap(url.host, url.port, address, timeout)
            conn.starttls(ssl_context=context)
        else:
            conn = _ImapSsl(url.host, url.port, address, context, timeout)
        conn.login(url.user, password)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(f"{url.label}: {exc}") from None
    return conn


def quote(mailbox: str) -> str:
    """A mailbox name as an IMAP quoted string."""
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: list[Any]) -> str:
    return b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")


def _sizes(conn: imaplib.IMAP4) -> dict[bytes, int]:
    """Every message's size, by UID, in one command."""
    status, data = conn.uid("FETCH", "1:*", "(RFC822.SIZE)")
    if status != "OK":
        raise ImapError(f"UID FETCH RFC822.SIZE: {_text(data)}")
    sizes = {}
    for line in data:
        if isinstance(line, bytes) and (uid := _UID.search(line)) and (size := _SIZE.search(line)):
            sizes[uid.group(1)] = int(size.group(1))
    return sizes


def _body(conn: imaplib.IMAP4, uid: bytes) -> bytes | None:
    status, data = conn.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
    if status != "OK":
        return None
    return next((part[1] for part in data if isinstance(part, tuple)), None)


def read_mailbox(conn: imaplib.IMAP4, mailbox: str, limits: Limits) -> Iterator[Item]:
    """The reports attached to every message of `mailbox`, labelled `MAILBOX/UID n ...`."""
    status, data = conn.select(quote(mailbox), readonly=True)
    if status != "OK":
        yield Refusal(mailbox, f"cannot be opened: {_text(data)}")
        return
    status, data = conn.uid("SEARCH", "ALL")
    uids = data[0].split() if status == "OK" and data and data[0] else []
    sizes = _sizes(conn) if uids else {}
    for uid in uids:
        label = f"{mailbox}/UID {uid.decode()}"
        too_large = Refusal(label, f"is larger than {size_text(limits.max_size)} (--max-size)")
        if sizes.get(uid, 0) > limits.max_size:
            yield too_large
            continue
        body = _body(conn, uid)
        if body is None:
            yield Refusal(label, "could not be fetched")
        elif len(body) > limits.max_size:
            yield too_large
        else:
            yield from from_message(body, label, limits, strict=False)
