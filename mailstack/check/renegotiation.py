"""Client-initiated renegotiation: does a server let a client start a new TLS 1.2 handshake on
an established connection (a cheap way to load the server)?

Python's ssl module cannot start a renegotiation, so this asks the `openssl s_client` command:
it connects (with its own STARTTLS for SMTP, IMAP and POP3), completes a TLS 1.2 handshake,
and is told `R`, which starts a renegotiation. What it prints next says which way it went: a
second handshake (the server allowed it), or an alert / "no renegotiation" (refused). The
whole exchange is bounded by `timeout`; without the command, or with an answer that says
neither, the result is None with a note, never a pass.
"""

from __future__ import annotations

import ipaddress
import os
import re
import selectors
import shutil
import subprocess
import time
from dataclasses import dataclass

from mailstack.check.tlsprobe import ProbeError, Starttls

_HANDSHAKE = re.compile(r"New, [^,\n]+, Cipher is (?!\(NONE\))")
HANDSHAKE_DONE = ("verify return:", "Verification", "depth=")
REFUSED = ("no renegotiation", "alert", "handshake failure", "errno=")


@dataclass(frozen=True)
class Result:
    allowed: bool | None
    note: str = ""


def _argv(address: str, port: int, starttls: Starttls, server_name: str) -> list[str]:
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    argv = ["openssl", "s_client", "-connect", f"{host}:{port}", "-tls1_2", "-no_ign_eof"]
    argv += ["-servername", server_name]
    if starttls is not None:
        argv += ["-starttls", starttls]
        if starttls == "smtp":
            argv += ["-name", "mailstack-check.invalid"]
    return argv


def client_initiated(  # noqa: PLR0912 (one branch per answer s_client can give)
    address: str, port: int, *, starttls: Starttls, server_name: str, timeout: float
) -> Result:
    """Whether the server accepts a renegotiation the client starts; ProbeError when the
    connection or the first handshake fails."""
    if shutil.which("openssl") is None:
        return Result(None, "not tested: the openssl command is not installed here")
    where = f"{address} port {port}"
    end = time.monotonic() + timeout
    process = subprocess.Popen(
        _argv(address, port, starttls, server_name),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "LC_ALL": "C"},
    )
    if process.stdin is None or process.stdout is None:  # pragma: no cover - PIPE gives both
        raise ProbeError(f"{address} port {port}: openssl s_client has no pipes")
    output = b""
    sent = closed = False
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while (left := end - time.monotonic()) > 0:
                if not selector.select(left):
                    continue
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    closed = True
                    break
                output += chunk
                text = output.decode("utf-8", "replace")
                if not sent and _HANDSHAKE.search(text):
                    process.stdin.write(b"R\n")
                    process.stdin.flush()
                    sent = True
                if sent and "RENEGOTIATING" in text:
                    after = text.split("RENEGOTIATING", 1)[1]
                    if any(mark in after for mark in REFUSED):
                        return Result(False)
                    if any(mark in after for mark in HANDSHAKE_DONE):
                        return Result(True)
                if len(output) > 1 << 20:
                    break
    finally:
        process.kill()
        process.wait()
    text = output.decode("utf-8", "replace")
    if not sent:
        last = text.strip().splitlines()[-1:] or ["no output"]
        raise ProbeError(
            f"{where}: openssl s_client could not complete a TLS 1.2 handshake ({last[0]})"
        )
    if "RENEGOTIATING" in text and closed:
        return Result(False)  # the server hung up on the new hello
    return Result(None, f"not tested: openssl s_client gave no answer within {timeout:g} s")
