"""mailstack's From milter: the From: header of submitted mail bound to the SASL login.

Managed by mailstack (role postfix). Postfix binds the envelope sender to the login
(smtpd_sender_login_maps with reject_sender_login_mismatch) but not the From: header, which
receivers show, which DKIM signs and DMARC checks. On submission (587 and 465) Postfix hands
every message to this milter first, before any milter signs it. For a client logged in with
SASL ({auth_authen}), the message must have one From: header naming only addresses that the
login owns in Postfix's sender_logins table (the same table as the envelope's: the mailbox's
own address and the aliases that deliver to it), compared without regard to case; else it is
refused with 550 5.7.1, saying which address is not the login's. An address anywhere in the
header counts, in a display name or a comment too, decoded from RFC 2047 encoded words: what a
reader or another parser could take for the sender must be the login's as well. A header that
cannot be read without doubt (a defect of its syntax) is refused. Mail without a login (port
25, local programs) is not looked at. When the table cannot be read, the message is deferred
(451 4.3.0): nothing passes unchecked.

    python3 from_milter.py --socket unix:/path [--logins /etc/postfix/sender_logins]
"""

from __future__ import annotations

import argparse
import re
import syslog
import threading
from collections.abc import Mapping, Sequence
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.headerregistry import Address, HeaderRegistry
from pathlib import Path

# An address as a reader would take it from any text: something@something, with none of the
# characters that delimit addresses in a header around the @.
_ADDRESS_LIKE = re.compile(r"[^\s<>()\[\]\",;:\\@]+@[^\s<>()\[\]\",;:\\@]+")
# From: headers longer than this are refused unread (the parser's cost grows with them).
MAX_FROM = 4096
_REGISTRY = HeaderRegistry()


def read_logins(text: str) -> dict[str, frozenset[str]]:
    """Each login's addresses, from a Postfix texthash table of `address owner[, owner...]`
    (smtpd_sender_login_maps): lines starting with white space continue the previous one,
    blank lines and lines starting with # are skipped. Everything is lower case."""
    logical: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t" and logical:
            logical[-1] += " " + line.strip()
        else:
            logical.append(line.strip())
    owned: dict[str, set[str]] = {}
    for entry in logical:
        address, _, owners = entry.partition(" ")
        for owner in re.split(r"[\s,]+", owners.strip()):
            if owner:
                owned.setdefault(owner.lower(), set()).add(address.lower())
    return {login: frozenset(addresses) for login, addresses in owned.items()}


def _unfold(value: str) -> str:
    """The header value unfolded (RFC 5322, 2.2.3): line breaks removed."""
    return value.replace("\r", "").replace("\n", "")


def _decoded(value: str) -> str:
    """The value with every RFC 2047 encoded word decoded, as a reader would see it."""
    return str(make_header(decode_header(value)))


def shown(text: str, limit: int = 80) -> str:
    """Text fit for an SMTP reply: printable ASCII without %, which libmilter would take for
    a format, cut at `limit` characters."""
    safe = "".join(c if " " <= c <= "~" and c != "%" else "?" for c in text)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def addresses(value: str) -> list[str] | None:
    """Every address a reader could take from a From: header value: those its syntax names,
    and whatever looks like one in it, in its display names and comments too, with RFC 2047
    encoded words decoded. None when the header cannot be read without doubt."""
    try:
        header = _REGISTRY("From", value)
        decoded = _decoded(value)
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return None
    found: tuple[Address, ...] = getattr(header, "addresses", ())
    if header.defects or not found or any(not a.username or not a.domain for a in found):
        return None
    named = [address.addr_spec for address in found]
    for text in (value, decoded, *(address.display_name for address in found)):
        named += [match.rstrip(".") for match in _ADDRESS_LIKE.findall(text)]
    return named


def refusal(
    login: str, from_fields: Sequence[str], owned: Mapping[str, frozenset[str]]
) -> str | None:
    """Why a message of `login` with these From: header values must be refused, or None
    when every address they name is one the login owns (`owned`, from read_logins)."""
    who = login.lower()
    mine = owned.get(who, frozenset())
    if not from_fields:
        return f"The message has no From: header (login {shown(who)})"
    if len(from_fields) > 1:
        return f"The message has {len(from_fields)} From: headers; one is allowed"
    value = _unfold(from_fields[0])
    if len(value) > MAX_FROM:
        return "The From: header is too long"
    named = addresses(value)
    if named is None:
        return f"The From: header cannot be read without doubt (login {shown(who)})"
    for address in named:
        if address.lower() not in mine:
            return f"From: header {shown(address)} is not an address of login {shown(who)}"
    return None


class Logins:
    """The sender_logins table, read again when the file changes (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._owned: dict[str, frozenset[str]] = {}

    def owned(self) -> dict[str, frozenset[str]]:
        """Each login's addresses; OSError when the table cannot be read."""
        with self._lock:
            info = self.path.stat()
            seen = (info.st_ino, info.st_size, info.st_mtime_ns)
            if seen != self._seen:
                self._owned = read_logins(self.path.read_text(encoding="utf-8"))
                self._seen = seen
            return self._owned


def main() -> None:  # pragma: no cover (runs under Postfix, verified by Molecule)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--socket", required=True, help="unix:/path")
    parser.add_argument("--logins", default="/etc/postfix/sender_logins", type=Path)
    args = parser.parse_args()
    logins = Logins(args.logins)

    import Milter  # noqa: PLC0415 (Debian's python3-milter, on the mail host only)

    syslog.openlog("mailstack-from-milter", syslog.LOG_PID, syslog.LOG_MAIL)

    class FromMilter(Milter.Base):  # type: ignore[misc]
        def __init__(self) -> None:
            self.login = ""
            self.from_fields: list[str] = []

        def envfrom(self, mailfrom: str, *params: str) -> int:
            self.login = self.getsymval("{auth_authen}") or ""
            self.from_fields = []
            # Without a login the message is not submission's: not looked at.
            return int(Milter.CONTINUE if self.login else Milter.ACCEPT)

        def header(self, name: str, value: str) -> int:
            if name.lower() == "from":
                self.from_fields.append(value)
            return int(Milter.CONTINUE)

        def eoh(self) -> int:
            queue_id = self.getsymval("i") or "-"
            try:
                owned = logins.owned()
            except (OSError, UnicodeError) as exc:
                syslog.syslog(syslog.LOG_ERR, f"{queue_id}: {args.logins}: {exc}: 451")
                self.setreply("451", "4.3.0", "The sender check is unavailable; try again later")
                return int(Milter.TEMPFAIL)
            why = refusal(self.login, self.from_fields, owned)
            if why is None:
                return int(Milter.ACCEPT)
            syslog.syslog(syslog.LOG_NOTICE, f"{queue_id}: refused: {why}")
            self.setreply("550", "5.7.1", why)
            return int(Milter.REJECT)

    Milter.factory = FromMilter
    Milter.set_flags(0)
    Milter.runmilter("mailstack-from-milter", args.socket, 240)


if __name__ == "__main__":
    main()
