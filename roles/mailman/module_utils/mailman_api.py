"""Mailman 3 core's REST API (version 3.1) for the `mailman` role's modules: requests with
HTTP basic auth, JSON bodies, every page of a collection, and errors that name what was being
done and the request, never the password.

Mailman's REST server (its `rest` runner) listens on the loopback, plain HTTP, by default
http://127.0.0.1:8001/3.1 with the user and password of mailman.cfg's [webservice]. It takes
JSON bodies (Content-Type: application/json) as well as forms; JSON keeps booleans booleans.
Its collections take `?count=N&page=P` (pages from 1) and answer
`{"start", "total_size", "entries"}`, with no `entries` at all on an empty page. Its errors
are JSON `{"title", "description"}`. Plain urllib: nothing beyond the standard library.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

# Entries asked for per page, and the most pages read from one collection: 200,000 entries.
PAGE = 200
PAGES = 1000


class MailmanError(Exception):
    """A refused request or a bad value: the message names the list and the request;
    `status` is Mailman's HTTP status when it answered with an error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MailmanClient:
    """Mailman core's REST API at `url` (`http://HOST:PORT/3.1`)."""

    def __init__(self, url: str, user: str, password: str, *, timeout: float = 30) -> None:
        self.base = url.rstrip("/")
        if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", self.base):
            raise MailmanError(f"url: {url!r} is not an http:// or https:// URL")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._authorization = f"Basic {token}"
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        query: dict[str, Any] | None = None,
        what: str,
    ) -> tuple[int, Any]:
        """Call the API: the status and the decoded JSON answer (None when it has no body).
        An HTTP error or an unreachable server raises MailmanError: `<what>: <METHOD> <path>:
        <reason>`."""
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode({k: _wire(v) for k, v in query.items()})
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", self._authorization)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        where = f"{what}: {method} {path}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raise MailmanError(
                f"{where}: refused by Mailman (HTTP {exc.code}): {_reason(exc)}", exc.code
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise MailmanError(f"{where}: cannot reach Mailman at {self.base}: {reason}") from None

    def get(self, path: str, *, what: str) -> Any:
        return self.request("GET", path, what=what)[1]

    def find(self, path: str, *, what: str) -> Any:
        """The resource at `path`, or None when Mailman answers 404."""
        try:
            return self.get(path, what=what)
        except MailmanError as exc:
            if exc.status == 404:
                return None
            raise

    def collection(self, path: str, *, what: str) -> list[dict[str, Any]]:
        """Every entry of a collection, page by page, at most PAGES pages."""
        entries: list[dict[str, Any]] = []
        for page in range(1, PAGES + 1):
            _, answer = self.request("GET", path, query={"count": PAGE, "page": page}, what=what)
            chunk = (answer or {}).get("entries") or []
            entries.extend(chunk)
            total = int((answer or {}).get("total_size", 0))
            if not chunk or len(entries) >= total:
                return entries
        raise MailmanError(f"{what}: GET {path}: more than {PAGE * PAGES} entries")


def _reason(exc: urllib.error.HTTPError) -> str:
    """Mailman's own words for an error: its JSON `description` (or `title`), else the
    status line's reason."""
    try:
        payload = json.loads(exc.read() or b"{}")
    except ValueError:
        payload = {}
    if isinstance(payload, dict) and (payload.get("description") or payload.get("title")):
        return str(payload.get("description") or payload.get("title")).strip()
    return str(exc.reason or "").strip()


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def quote(segment: str) -> str:
    """One path segment (a domain, a list id, a member id)."""
    return urllib.parse.quote(segment, safe="@")
