"""A total deadline for a socket that a library reads with a per-read timeout (smtplib,
http.client): when the time is up, the socket is shut down, so the read under way returns at
once and the library raises. A server that sends one octet a second cannot hold it longer."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def deadline(sock: Callable[[], socket.socket | None], seconds: float) -> Iterator[None]:
    """Within the block, `sock()` (the socket, once there is one) is shut down after `seconds`."""

    def expire() -> None:
        current = sock()
        if current is not None:
            with contextlib.suppress(OSError):
                current.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
