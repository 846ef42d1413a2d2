"""mailstack's SpamAssassin milter: spamd's verdict inside Postfix's SMTP dialogue.

Managed by mailstack (role spamassassin). Postfix hands every message that comes in on port
25 to this milter before it accepts it; the milter asks spamd (the HEADERS command of the
spamc protocol) and answers:
- spamd cannot be reached, or fails: 451 4.7.1, the sender keeps the message and retries,
  so no message passes unscanned;
- the score reaches the reject score: 550 5.7.1, refused during the dialogue (no backscatter);
- otherwise the message goes on with spamd's X-Spam-* headers, any that the sender wrote
  having been removed.
Mail of authenticated clients and of the loopback is not scanned.

spamd is sent the message with a Received header for the client on top, as Postfix writes it
(Postfix adds its own after the milters), with the envelope sender in it, where SpamAssassin
looks for it. Without it SpamAssassin finds no relay (NO_RELAYS), so that every rule about the
client that handed the message over (its reverse DNS, its address in a DNS blocklist,
trusted_networks) goes unchecked, and no envelope sender for its SPF check.

A message larger than --max-size (512000 bytes, 500 KB, as spamc's -s) is not scanned, as
spamc does not send it: it goes on with an X-Spam-Skipped header that says so (the sender's
X-Spam-* headers removed all the same). The milter keeps at most --max-size bytes of a message
in memory: beyond it, what it had kept is dropped and Postfix is told to skip the rest of the
body, so a few large messages can neither fill the memory nor hold spamd's children while
other mail waits.

    python3 spamd_milter.py --socket unix:/path --reject 12 [--spamd 127.0.0.1:783]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import socket
import syslog
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import formatdate
from typing import Any

# spamc's default -s: messages larger than this are passed on unscanned.
MAX_SIZE = 500 * 1024

_SPAM_LINE = re.compile(rb"^Spam: (True|False|Yes|No) ; (-?[0-9.]+) / (-?[0-9.]+)\s*$", re.I | re.M)


class SpamdError(Exception):
    """spamd answered, but not with a verdict."""


@dataclass(frozen=True)
class Verdict:
    spam: bool
    score: float
    required: float
    # spamd's X-Spam-* headers, (name, value) with folding kept as "\n\t".
    headers: tuple[tuple[str, str], ...]


class Message:
    """A message as the milter receives it, kept only while it is at most `limit` bytes."""

    def __init__(self, limit: int = MAX_SIZE) -> None:
        self.limit = limit
        self.size = 0
        self.data = bytearray()

    @property
    def oversized(self) -> bool:
        return self.size > self.limit

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.oversized:
            # Not scanned: nothing more is kept, and what was kept is let go.
            self.data = bytearray()
        else:
            self.data += chunk


# An envelope sender as MAIL FROM gives it, the null sender included.
_SENDER = re.compile(r"<[!-;=?-~]{0,254}>")
# A host name, and a HELO argument (a host name or an address literal), as the Received header
# may carry them; anything else (spaces, line breaks, parentheses: a client's HELO is its own
# text; Postfix names a client without a verified name "unknown" or "[address]") is written
# "unknown".
_HOST = r"[A-Za-z0-9._-]{1,253}"
_NAME = re.compile(_HOST)
_HELO = re.compile(rf"{_HOST}|\[[A-Za-z0-9.:]{{1,60}}\]")


@dataclass(frozen=True)
class Client:
    """An SMTP client over IPv4 or IPv6, as the milter protocol gives it."""

    # Its IP address.
    address: str
    # Its verified host name, as Postfix gives it.
    name: str = "unknown"
    # The argument of its HELO or EHLO.
    helo: str = "unknown"


def trace(client: Client, sender: str, by: str, queue_id: str, when: str) -> bytes:
    """The Received header Postfix writes for `client` (without its TLS comment), received by
    `by` with `queue_id` at `when` (an RFC 5322 date), with the envelope sender `sender` (as
    MAIL FROM gave it; left out unless it is a plain <address>)."""
    ip = ipaddress.ip_address(client.address)
    shown = f"IPv6:{ip.compressed}" if ip.version == 6 else ip.compressed
    helo = client.helo if _HELO.fullmatch(client.helo) else "unknown"
    name = client.name if _NAME.fullmatch(client.name) else "unknown"
    envelope = f"\r\n\t(envelope-from {sender})" if _SENDER.fullmatch(sender) else ""
    return (
        f"Received: from {helo} ({name} [{shown}])\r\n"
        f"\tby {by} (Postfix) with ESMTP id {queue_id}{envelope};\r\n\t{when}\r\n"
    ).encode()


def skipped_header(message: Message) -> tuple[str, str]:
    """The header that tells the recipient a message was not scanned, and why."""
    return (
        "X-Spam-Skipped",
        f"larger than {message.limit} bytes, not scanned by SpamAssassin",
    )


def request(message: bytes, user: str) -> bytes:
    """The spamc protocol's HEADERS request for `message`, scored with `user`'s settings."""
    head = f"HEADERS SPAMC/1.5\r\nContent-length: {len(message)}\r\nUser: {user}\r\n\r\n"
    return head.encode() + message


def headers_of(block: bytes) -> list[tuple[str, str]]:
    """The header fields of a message's header block, folded lines joined with "\\n\\t"."""
    fields: list[tuple[str, str]] = []
    for line in block.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        if not line:
            break
        if line[0] in " \t" and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value}\n\t{line.strip()}")
        elif ":" in line:
            name, value = line.split(":", 1)
            fields.append((name.strip(), value.strip()))
    return fields


def parse(reply: bytes) -> Verdict:
    """spamd's answer to a HEADERS request; SpamdError when it is not a verdict."""
    head, _, body = reply.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split(None, 2)
    if len(status) < 2 or not status[0].startswith(b"SPAMD/") or status[1] != b"0":
        raise SpamdError(f"spamd answered {head[:80]!r}")
    match = _SPAM_LINE.search(head)
    if match is None:
        raise SpamdError(f"spamd's answer has no Spam line: {head[:80]!r}")
    spam_headers = tuple(
        (name, value) for name, value in headers_of(body) if name.lower().startswith("x-spam-")
    )
    return Verdict(
        spam=match.group(1).lower() in (b"true", b"yes"),
        score=float(match.group(2)),
        required=float(match.group(3)),
        headers=spam_headers,
    )


def ask(message: bytes, spamd: tuple[str, int], user: str, timeout: float) -> Verdict:
    """spamd's verdict on `message`; OSError when spamd cannot be reached."""
    with socket.create_connection(spamd, timeout=timeout) as conn:
        conn.sendall(request(message, user))
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return parse(b"".join(chunks))


def scan(
    message: Message, spamd: tuple[str, int], user: str, timeout: float, top: bytes = b""
) -> Verdict | None:
    """spamd's verdict on `message` with the header `top` on top (`trace`), or None when
    it is too large to be scanned (spamd is then not asked); OSError or SpamdError as `ask`."""
    if message.oversized:
        return None
    return ask(top + bytes(message.data), spamd, user, timeout)


def main() -> None:  # pragma: no cover (runs under Postfix, verified by Molecule)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--socket", required=True, help="unix:/path or inet:port@host")
    parser.add_argument("--reject", type=float, required=True, help="score that refuses")
    parser.add_argument("--spamd", default="127.0.0.1:783", help="spamd's address:port")
    parser.add_argument("--user", default="debian-spamd", help="whose settings spamd uses")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for spamd")
    # The unit gives it in the environment (roles/spamassassin: spamassassin__max_scan_size).
    max_size = int(os.environ.get("MAILSTACK_SPAMD_MAX_SIZE", MAX_SIZE))
    parser.add_argument(
        "--max-size", type=int, default=max_size, help="bytes above which no scan is made"
    )
    args = parser.parse_args()
    host, _, port = args.spamd.rpartition(":")
    spamd = (host, int(port))

    import Milter  # noqa: PLC0415 (Debian's python3-milter, on the mail host only)

    syslog.openlog("mailstack-spamd-milter", syslog.LOG_PID, syslog.LOG_MAIL)

    # The callbacks before the body always answer CONTINUE: Milter.noreply tells Postfix not
    # to wait for their answers (milter protocol 6), a round trip saved for each header.
    noreply: Callable[[Callable[..., int]], Callable[..., int]] = Milter.noreply

    class SpamdMilter(Milter.Base):  # type: ignore[misc]
        def __init__(self) -> None:
            self.local = False
            self.skip = False
            # A client over IPv4 or IPv6, for the Received header spamd is sent (`trace`).
            self.client: Client | None = None
            self.by = "unknown"
            self.sender = "<>"
            self.message = Message(args.max_size)
            self.seen: dict[str, int] = {}

        @noreply
        def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
            inet = family in (socket.AF_INET, socket.AF_INET6)
            self.local = inet and ipaddress.ip_address(hostaddr[0]).is_loopback
            self.client = Client(hostaddr[0], hostname) if inet else None
            self.by = self.getsymval("j") or "unknown"
            return int(Milter.CONTINUE)

        @noreply
        def hello(self, helo: str) -> int:
            if self.client is not None:
                self.client = replace(self.client, helo=helo)
            return int(Milter.CONTINUE)

        @noreply
        def envfrom(self, mailfrom: str, *params: str) -> int:
            self.skip = self.local or bool(self.getsymval("{auth_authen}"))
            self.sender = mailfrom
            self.message = Message(args.max_size)
            self.seen = {}
            return int(Milter.CONTINUE)

        @noreply
        def header(self, name: str, value: str) -> int:
            self.message.add(f"{name}: {value}\r\n".encode("utf-8", "surrogateescape"))
            if name.lower().startswith("x-spam-"):
                self.seen[name] = self.seen.get(name, 0) + 1
            return int(Milter.CONTINUE)

        @noreply
        def eoh(self) -> int:
            self.message.add(b"\r\n")
            return int(Milter.CONTINUE)

        def body(self, chunk: bytes) -> int:
            self.message.add(chunk)
            # Beyond the bound the rest of the body is of no use: Postfix is told to skip it
            # (milter protocol 6), not to send it here chunk after chunk.
            if self.message.oversized and self._protocol & Milter.P_SKIP:
                return int(Milter.SKIP)
            return int(Milter.CONTINUE)

        def eom(self) -> int:
            if self.skip:
                return int(Milter.ACCEPT)
            queue_id = self.getsymval("i") or "-"
            top = b""
            if self.client is not None:
                top = trace(self.client, self.sender, self.by, queue_id, formatdate())
            try:
                verdict = scan(self.message, spamd, args.user, args.timeout, top)
            except (OSError, SpamdError) as exc:
                syslog.syslog(syslog.LOG_WARNING, f"{queue_id}: spamd failed ({exc}): 451")
                self.setreply("451", "4.7.1", "The spam filter is unavailable; try again later")
                return int(Milter.TEMPFAIL)
            if verdict is None:
                syslog.syslog(f"{queue_id}: over {self.message.limit} bytes, not scanned")
                self.replace_headers((skipped_header(self.message),))
                return int(Milter.ACCEPT)
            syslog.syslog(f"{queue_id}: score {verdict.score}/{verdict.required}")
            if verdict.score >= args.reject:
                self.setreply("550", "5.7.1", f"Refused as spam by SpamAssassin ({verdict.score})")
                return int(Milter.REJECT)
            self.replace_headers(verdict.headers)
            return int(Milter.ACCEPT)

        def replace_headers(self, headers: tuple[tuple[str, str], ...]) -> None:
            """The sender's X-Spam-* headers removed, `headers` added."""
            for name, count in self.seen.items():
                for index in range(count, 0, -1):
                    self.chgheader(name, index, None)
            for name, value in headers:
                self.addheader(name, value)

    Milter.factory = SpamdMilter
    Milter.set_flags(Milter.ADDHDRS + Milter.CHGHDRS)
    Milter.runmilter("mailstack-spamd-milter", args.socket, 240)


if __name__ == "__main__":
    main()
