"""What every audit of `mailstack check` shares: the domain, the resolver, the options, the
clock, and the values already had (each DNS answer asked once, whichever audit asks first;
thread-safe).

The clock: `--timeout` bounds each network operation, and the whole audit has
DEADLINE_FACTOR times that from `start()`. `budget()` is the time the next operation may
take: the timeout, or less as the deadline nears, and OutOfTime once it has passed, so every
operation (and so every audit) ends by the deadline.

A validating resolver answers SERVFAIL for data that does not validate. `ask` then asks again
with the CD bit, so that the audits still see the records (marked `unvalidated`) and the
DNSSEC audit can say which link of the chain is broken, instead of every audit giving up.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dns.name
import dns.rcode
import dns.rdtypes.ANY.DS

from mailstack.dnsquery import Answer, Dns, RcodeError
from mailstack.plan import Plan

Anchors = dict[dns.name.Name, list[dns.rdtypes.ANY.DS.DS]]
DEADLINE_FACTOR = 3


class CouldNotRun(Exception):
    """An audit cannot judge the domain (the report's error, exit 2), for the reason given."""


class OutOfTime(CouldNotRun):
    """The audit's deadline has passed: no more network operations."""


@dataclass(frozen=True)
class Options:
    """The command line's choices."""

    selectors: tuple[str, ...] = ()
    cafile: str | None = None
    relay_test: bool = False
    timeout: float = 5.0
    nameserver_port: int = 53  # where the domain's name servers are asked (tests change it)


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

    def matching(self, condition: Callable[[Any], bool]) -> list[str]:
        """The keys (name, type) whose values had meet `condition`, as "name type"."""
        with self._guard:
            items = list(self._values.items())
        return sorted(
            f"{key[0]} {key[1]}"
            for key, (ok, value) in items
            if ok and isinstance(key, tuple) and len(key) == 2 and condition(value)
        )


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
    deadline: float = math.inf
    _memo: _Memo = field(default_factory=_Memo)

    def start(self) -> float:
        """Start the clock: the audit ends DEADLINE_FACTOR x the timeout from now. The bound."""
        bound = DEADLINE_FACTOR * self.options.timeout
        self.deadline = time.monotonic() + bound
        return bound

    def budget(self) -> float:
        """The seconds the next network operation may take; OutOfTime past the deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime(
                f"the audit's time ran out ({DEADLINE_FACTOR} x --timeout"
                f" {self.options.timeout:g} s)"
            )
        return min(self.options.timeout, left)

    def ask(self, name: str, rtype: str) -> Answer:
        """The resolver's answer for (name, type), asked once per run; DnsError as raised.
        On SERVFAIL, the answer had with the CD bit (marked unvalidated)."""
        key = (name.lower().rstrip(".") + ".", rtype.upper())

        def make() -> Answer:
            try:
                return self.dns.ask(*key, timeout=self.budget())
            except RcodeError as error:
                if error.rcode != dns.rcode.SERVFAIL:
                    raise
                return self.dns.ask(*key, cd=True, timeout=self.budget())

        answer: Answer = self._memo.get(key, make)
        return answer

    def unvalidated(self) -> list[str]:
        """The questions the resolver answered only with the CD bit, "name type" each."""
        return self._memo.matching(lambda value: isinstance(value, Answer) and value.unvalidated)

    def texts(self, name: str, rtype: str) -> list[str]:
        return self.ask(name, rtype).texts

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """A value computed once per run under `key` (the MX hosts, the MTA-STS policy...)."""
        return self._memo.get(("once", key), make)
