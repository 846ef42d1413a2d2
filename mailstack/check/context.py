"""What every audit of `mailstack check` shares: the domain, the resolver, the options, and
the values already had (each DNS answer asked once, whichever audit asks first; thread-safe).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dns.name
import dns.rdtypes.ANY.DS

from mailstack.dnsquery import Answer, Dns
from mailstack.plan import Plan

Anchors = dict[dns.name.Name, list[dns.rdtypes.ANY.DS.DS]]


@dataclass(frozen=True)
class Options:
    """The command line's choices."""

    selectors: tuple[str, ...] = ()
    cafile: str | None = None
    relay_test: bool = False
    timeout: float = 5.0
    # Addresses whose S/MIME certificate is checked (--smime), and certificates (PEM files)
    # that their SMIMEA records must match (--smime-cert).
    smime: tuple[str, ...] = ()
    smime_certs: tuple[str, ...] = ()


class _Memo:
    """Values computed once per key, by the first thread that asks; errors kept and re-raised."""

    def __init__(self) -> None:
        self._values: dict[object, tuple[bool, Any]] = {}
        self._locks: dict[object, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: object, make: Callable[[], Any]) -> Any:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                try:
                    self._values[key] = (True, make())
                except Exception as error:  # kept, and raised to every asker
                    self._values[key] = (False, error)
        ok, value = self._values[key]
        if not ok:
            raise value
        return value


@dataclass
class Context:
    domain: str
    dns: Dns
    anchors: Anchors
    options: Options = field(default_factory=Options)
    # With -i: the plan of the inventory, its host names and the domain's DKIM public keys.
    plan: Plan | None = None
    inventory_hosts: frozenset[str] = frozenset()
    inventory_selectors: tuple[str, ...] = ()
    published_dkim: dict[str, bytes] = field(default_factory=dict)
    _memo: _Memo = field(default_factory=_Memo)

    def ask(self, name: str, rtype: str) -> Answer:
        """The resolver's answer for (name, type), asked once per run; DnsError as raised."""
        key = (name.lower().rstrip(".") + ".", rtype.upper())
        answer: Answer = self._memo.get(key, lambda: self.dns.ask(*key))
        return answer

    def texts(self, name: str, rtype: str) -> list[str]:
        return self.ask(name, rtype).texts

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """A value computed once per run under `key` (the MX hosts, the MTA-STS policy...)."""
        return self._memo.get(("once", key), make)
