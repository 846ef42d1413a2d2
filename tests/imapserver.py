"""A small real IMAP server for tests: one mailbox of given messages, on 127.0.0.1, plain TCP.

    with ImapServer([message_1, message_2]) as server:
        conn = imaplib.IMAP4("127.0.0.1", server.port)
        conn.login("user", "password")
        ...  # EXAMINE, UID SEARCH ALL, UID FETCH (RFC822.SIZE), UID FETCH (BODY.PEEK[])

It answers what `mailstack.reports.imap.read_mailbox` asks, and no more: CAPABILITY, LOGIN
(any user and password), SELECT or EXAMINE (of any mailbox name: the one mailbox), UID SEARCH
ALL, UID FETCH of RFC822.SIZE or BODY.PEEK[] (a UID, or `1:*`), and LOGOUT; anything else
gets BAD. Message n has UID n. One thread serves one connection at a time; leaving the
`with` block stops it and closes the sockets.
"""

from __future__ import annotations

import re
import socket
import threading
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"
_COMMAND = re.compile(rb"(\S+) (\S+)(?: (.*))?")
_FETCH = re.compile(rb"FETCH (\S+) \((RFC822\.SIZE|BODY\.PEEK\[\])\)", re.IGNORECASE)


class ImapServer:
    """A mailbox of `messages` (UID 1, 2, ...) served on 127.0.0.1, a port the OS chose."""

    def __init__(self, messages: list[bytes]) -> None:
        self.messages = messages
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn, conn.makefile("rb") as lines:
                conn.settimeout(5)
                try:
                    conn.sendall(b"* OK IMAP4rev1 test server ready\r\n")
                    for line in lines:
                        if not self._answer(conn, line.rstrip(b"\r\n")):
                            break
                except OSError:  # the client went away, or stayed silent 5 s
                    continue

    def _uids(self, wanted: bytes) -> list[int]:
        if wanted == b"1:*":
            return list(range(1, len(self.messages) + 1))
        uid = int(wanted)
        return [uid] if 1 <= uid <= len(self.messages) else []

    def _fetch(self, conn: socket.socket, arguments: bytes) -> bool:
        match = _FETCH.fullmatch(arguments)
        if match is None:
            return False
        for uid in self._uids(match.group(1)):
            data = self.messages[uid - 1]
            if match.group(2).upper() == b"RFC822.SIZE":
                conn.sendall(b"* %d FETCH (UID %d RFC822.SIZE %d)\r\n" % (uid, uid, len(data)))
            else:
                conn.sendall(b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (uid, uid, len(data)))
                conn.sendall(data + b")\r\n")
        return True

    def _answer(self, conn: socket.socket, line: bytes) -> bool:
        """Answer one command; False once the client logged out."""
        match = _COMMAND.fullmatch(line)
        if match is None:
            conn.sendall(b"* BAD no tag\r\n")
            return True
        tag, command, arguments = match.group(1), match.group(2).upper(), match.group(3) or b""
        ok = True
        if command == b"CAPABILITY":
            conn.sendall(b"* CAPABILITY IMAP4rev1\r\n")
        elif command in (b"SELECT", b"EXAMINE"):
            conn.sendall(b"* %d EXISTS\r\n" % len(self.messages))
        elif command == b"UID" and arguments.upper() == b"SEARCH ALL":
            uids = b" ".join(b"%d" % uid for uid in self._uids(b"1:*"))
            conn.sendall(b"* SEARCH " + uids + b"\r\n" if uids else b"* SEARCH\r\n")
        elif command == b"UID":
            ok = self._fetch(conn, arguments)
        elif command == b"LOGOUT":
            conn.sendall(b"* BYE\r\n" + tag + b" OK LOGOUT completed\r\n")
            return False
        else:
            ok = command == b"LOGIN"
        conn.sendall(tag + (b" OK done\r\n" if ok else b" BAD not understood\r\n"))
        return True
