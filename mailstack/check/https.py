"""HTTPS GET for `mailstack check`: the host resolved through the check's own resolver, the
certificate validated (system CAs, or --ca-file) for the host name, the body size bounded.

The whole fetch is bounded by the time the context gives one operation, not each read.

MTA-STS policies and BIMI logos are fetched this way: a client that trusted a bad
certificate would accept any policy, which is what MTA-STS exists to prevent.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from mailstack.check.context import Context
from mailstack.check.watchdog import deadline
from mailstack.dnsquery import DnsError

MAX_BODY = 64 * 1024


class FetchError(Exception):
    """The resource could not be had; the message says why, in a sentence."""


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    status: int
    content_type: str
    body: bytes


class _Connection(http.client.HTTPSConnection):
    """HTTPS to a given address, validating the certificate for the URL's host name."""

    def __init__(self, address: str, host: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, 443, timeout=timeout, context=context)
        self._address = address
        self._context = context
        # The socket, kept: http.client forgets its own once the response says the
        # connection closes after it, while the body is still being read from it.
        self.wrapped: ssl.SSLSocket | None = None

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self.wrapped = self._context.wrap_socket(sock, server_hostname=self.host)


def fetch(ctx: Context, url: str, xml: bytes | None = None) -> Fetched:
    """GET `url` (https only, no redirects followed: RFC 8461 forbids them for policies);
    with `xml`, POST it as text/xml instead (Outlook's autodiscover request)."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme != "https" or not host:
        raise FetchError(f"{url} is not an https URL")
    try:
        found = ctx.texts(host, "A") + ctx.texts(host, "AAAA")
    except DnsError as error:
        raise FetchError(f"{host} does not resolve: {error}") from error
    if not found:
        raise FetchError(f"{host} has no A or AAAA record")
    context = ssl.create_default_context(cafile=ctx.options.cafile)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    seconds = ctx.budget()
    connection = _Connection(found[0], host, context, seconds)
    try:
        headers = {"User-Agent": "mailstack-check"}
        if xml is not None:
            headers["Content-Type"] = "text/xml; charset=utf-8"
        with deadline(lambda: connection.wrapped, seconds) as expiry:
            connection.request("GET" if xml is None else "POST", path, body=xml, headers=headers)
            response = connection.getresponse()
            body = response.read(MAX_BODY + 1)
        if expiry.fired:
            # What was read before the socket was shut down is not the whole answer.
            raise FetchError(f"{url}: no complete answer within {seconds:g} s")
    except ssl.SSLCertVerificationError as error:
        raise FetchError(f"{host}'s certificate is not valid: {error.verify_message}") from error
    except (OSError, http.client.HTTPException) as error:
        raise FetchError(f"{url}: {error}") from error
    finally:
        connection.close()
    if len(body) > MAX_BODY:
        raise FetchError(f"{url} is larger than {MAX_BODY} octets")
    content_type = response.getheader("Content-Type", "") or ""
    return Fetched(url, response.status, content_type, body)
