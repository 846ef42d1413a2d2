"""Where a DMARC policy for a domain may be published, in the order to look (RFC 7489 section
6.6.3, RFC 9989 section 4.10).

With the Public Suffix List installed (Debian's `publicsuffix` package,
/usr/share/publicsuffix/public_suffix_list.dat), the organizational domain of RFC 7489: the
public suffix plus one label. Without it, the DNS tree walk of RFC 9989 (DMARCbis), which
needs no list: the domain, then each parent in turn (a name of more than eight labels jumps
to its last seven first), up to and including the top-level domain, eight names at most.
`policy_domains` says which of the two it used.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

PSL = Path("/usr/share/publicsuffix/public_suffix_list.dat")
MAX_WALK = 8
WALK = "the DNS tree walk of RFC 9989 (no public suffix list installed)"
BY_PSL = "the organizational domain of RFC 7489 (public suffix list)"


@dataclass(frozen=True)
class Suffixes:
    """The rules of a public suffix list: plain, wildcard (`*.ck`) and exception (`!www.ck`)."""

    rules: frozenset[str]
    wildcards: frozenset[str]
    exceptions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Suffixes:
        rules: set[str] = set()
        wildcards: set[str] = set()
        exceptions: set[str] = set()
        for raw in text.splitlines():
            line = raw.strip().split()[0].lower() if raw.strip() else ""
            if not line or line.startswith("//"):
                continue
            if line.startswith("!"):
                exceptions.add(line[1:])
            elif line.startswith("*."):
                wildcards.add(line[2:])
            else:
                rules.add(line)
        return cls(frozenset(rules), frozenset(wildcards), frozenset(exceptions))

    def public_suffix(self, domain: str) -> str:
        """The longest matching rule (an exception drops its first label; no match: the TLD)."""
        labels = domain.lower().rstrip(".").split(".")
        for i in range(len(labels)):  # the longest name first
            name = ".".join(labels[i:])
            if name in self.exceptions:
                return ".".join(labels[i + 1 :])
            if name in self.rules:
                return name
            if i > 0 and name in self.wildcards:
                return ".".join(labels[i - 1 :])
        return labels[-1]

    def organizational(self, domain: str) -> str:
        """The public suffix plus one label (the domain itself when it is a public suffix)."""
        labels = domain.lower().rstrip(".").split(".")
        suffix = self.public_suffix(domain)
        keep = len(suffix.split(".")) + 1
        return ".".join(labels[-keep:]) if keep <= len(labels) else domain.lower().rstrip(".")


@cache
def installed() -> Suffixes | None:
    """The system's public suffix list, or None when it is not installed or unreadable."""
    try:
        return Suffixes.parse(PSL.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None


def tree_walk(domain: str) -> list[str]:
    """The names RFC 9989's tree walk asks, in order."""
    labels = domain.lower().rstrip(".").split(".")
    out = [".".join(labels)]
    if len(labels) > MAX_WALK:
        labels = labels[-(MAX_WALK - 1) :]
        out.append(".".join(labels))
    while len(labels) > 1 and len(out) < MAX_WALK:
        labels = labels[1:]
        out.append(".".join(labels))
    return out


def policy_domains(domain: str, suffixes: Suffixes | bool | None = True) -> tuple[list[str], str]:
    """The domains whose `_dmarc` record may apply to `domain`, in order, and the method.

    `suffixes`: a list to use, None for none (the tree walk), True for the installed one."""
    psl = installed() if suffixes is True else suffixes
    domain = domain.lower().rstrip(".")
    if isinstance(psl, Suffixes):
        org = psl.organizational(domain)
        return ([domain] if org == domain else [domain, org]), BY_PSL
    return tree_walk(domain), WALK
