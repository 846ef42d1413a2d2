"""A total deadline for a socket that a library reads with a per-read timeout (smtplib,
http.client): when the time is up, the socket is shut down, so the read under way returns at
once and the library raises. A server that sends one octet a second cannot hold it longer."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator


class Expiry:
    """Whether the deadline passed: a library may take the shut-down socket for the end of a
    short answer, so the caller must ask this before trusting what it read."""

    def __init__(self) -> None:
        self.fired = False


@contextlib.contextmanager
def deadline(sock: Callable[[], socket.socket | None], seconds: float) -> Iterator[Expiry]:
    """Within the block, `sock()` (the socket, once there is one) is shut down after `seconds`;
    the block gets an `Expiry` that says whether it was."""
    expiry = Expiry()

    def expire() -> None:
        expiry.fired = True
        current = sock()
        if current is not None:
            with contextlib.suppress(OSError):
                current.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield expiry
    finally:
        timer.cancel()
