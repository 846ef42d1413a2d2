"""Where SPF checks get the DNS answers of names outside our own plan.

Every source answers `query(name, rdtype)` with the records' text (TXT as the joined
strings), None for a void answer (NXDOMAIN or no data), or raises `SourceError` when it
cannot tell. Sources:

- `DnsSource`: live DNS through a resolver (the system's, or one given by address);
- `CacheSource`: the offline answers kept in the inventory (`spf-cache.json`);
- `RecordingSource`: live DNS that also refreshes the cache and notes what changed upstream;
- `PlanSource`: our own zones, answered from the planned records, before any other source.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import dns.exception
import dns.resolver

from mailstack import dnsquery, txt
from mailstack.records import Record, zone_of

Answer = tuple[str, ...] | None
CACHE_VERSION = 1
# The largest cache mailstack reads: far more than the answers of any real description.
CACHE_LIMIT = 4 * 1024 * 1024


class SourceError(Exception):
    """A DNS answer could not be had (timeout, SERVFAIL, not in the offline cache)."""


class Source(Protocol):
    def query(self, name: str, rdtype: str) -> Answer: ...


class DnsSource:
    """Live DNS, through the system's resolver or the one at `nameserver`."""

    def __init__(self, nameserver: str | None = None, port: int = 53, timeout: float = 5.0) -> None:
        try:
            self.resolver = dnsquery.resolver(nameserver, port=port, lifetime=timeout)
        except dnsquery.DnsError as exc:
            raise SourceError(str(exc)) from exc

    def query(self, name: str, rdtype: str) -> Answer:
        try:
            answer = self.resolver.resolve(name, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return None
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise SourceError(f"{name} {rdtype}: no answer from the resolver ({exc})") from exc
        if answer.rrset is None:
            return None
        if rdtype == "TXT":
            return tuple(sorted(b"".join(r.strings).decode("ascii", "replace") for r in answer))
        return tuple(sorted(r.to_text() for r in answer))


@dataclass
class CacheSource:
    """Answers kept in a JSON file of the inventory, for offline and reproducible plans."""

    path: Path
    answers: dict[str, list[str] | None] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> CacheSource:
        """The cache at `path` (empty when there is none); SourceError says why it cannot be
        read: not a file, over CACHE_LIMIT, not JSON, not the cache's shape."""
        if not path.exists():
            return cls(path)
        fix = "correct it, or delete it and run `mailstack spf refresh`"
        try:
            if not path.is_file():
                raise SourceError(f"{path}: is not a file")
            if path.stat().st_size > CACHE_LIMIT:
                raise SourceError(f"{path}: is over {CACHE_LIMIT} bytes: {fix}")
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SourceError(f"{path}: cannot be read: {exc.strerror}") from exc
        except ValueError as exc:  # JSON and UTF-8 errors
            raise SourceError(f"{path}: is not JSON ({exc}): {fix}") from exc
        if not isinstance(data, dict):
            raise SourceError(f"{path}: is not an SPF cache (an object of version and answers)")
        if data.get("version") != CACHE_VERSION:
            raise SourceError(f"{path}: unknown cache version {data.get('version')!r}: {fix}")
        answers = data.get("answers", {})
        if not isinstance(answers, dict) or not all(_an_answer(v) for v in answers.values()):
            raise SourceError(
                f"{path}: answers must map each question to a list of strings or null: {fix}"
            )
        return cls(path, dict(answers))

    @staticmethod
    def key(name: str, rdtype: str) -> str:
        return f"{name} {rdtype}"

    def query(self, name: str, rdtype: str) -> Answer:
        key = self.key(name, rdtype)
        if key not in self.answers:
            raise SourceError(
                f"{name} {rdtype} is not in the offline cache {self.path}:"
                " refresh it with `mailstack spf refresh` where DNS can be reached"
            )
        value = self.answers[key]
        return None if value is None else tuple(value)

    def save(self) -> None:
        """Write the cache whole or not at all: a new file beside it, then renamed over it."""
        data = {"version": CACHE_VERSION, "answers": dict(sorted(self.answers.items()))}
        text = json.dumps(data, indent=2) + "\n"
        mode = self.path.stat().st_mode & 0o777 if self.path.is_file() else 0o644
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            Path(temporary).chmod(mode)
            Path(temporary).replace(self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _an_answer(value: object) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value))


@dataclass
class RecordingSource:
    """Live answers that also go into the cache; `changes` lists what differs from it, and
    `failures` the questions that got no answer. After the first failure, nothing more is
    asked: the refresh has failed, and each question would wait for the resolver again."""

    upstream: Source
    cache: CacheSource
    changes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def query(self, name: str, rdtype: str) -> Answer:
        if self.failures:
            raise SourceError(f"{name} {rdtype}: not asked, after {self.failures[0]}")
        try:
            answer = self.upstream.query(name, rdtype)
        except SourceError as exc:
            self.failures.append(str(exc))
            raise
        key = CacheSource.key(name, rdtype)
        new = None if answer is None else list(answer)
        if key in self.cache.answers and self.cache.answers[key] != new:
            self.changes.append(f"{key} changed upstream: was {self.cache.answers[key]}, now {new}")
        self.cache.answers[key] = new
        return answer


class PlanSource:
    """Our own zones answer from the plan; other names go to `fallback`."""

    def __init__(self, records: Iterable[Record], zones: Iterable[str], fallback: Source) -> None:
        self.zones = frozenset(zones)
        self.fallback = fallback
        self.data: dict[tuple[str, str], list[str]] = {}
        for record in records:
            self.add(record)

    def add(self, record: Record) -> None:
        value = txt.joined(record.rdata) if record.rtype == "TXT" else record.rdata
        self.data.setdefault((record.name, record.rtype), []).append(value)

    def query(self, name: str, rdtype: str) -> Answer:
        if zone_of(name, self.zones) is None:
            return self.fallback.query(name, rdtype)
        values = self.data.get((name, rdtype))
        return tuple(sorted(values)) if values else None
