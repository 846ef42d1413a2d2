"""The TLS quality of one service (address, port, how TLS starts), measured with hand-written
ClientHellos (`tlshello`) and graded as internet.nl grades it (the NCSC-NL TLS guidelines):
good, sufficient, phase-out or insufficient.

`scan(target, budget)` runs the probes, a few at a time, and returns a `Scan` of facts:

- the versions accepted (SSL 3.0 to TLS 1.3), each True, False, or None when the probe
  failed (a failure is never taken for a refusal);
- the cipher suites accepted that are phase-out or insufficient (found by offering only those
  and taking away each one the server picks, until it refuses), and TLS 1.3's;
- whether the server picks a phase-out suite when a better one it accepts is offered after
  it (the cipher order);
- the elliptic-curve groups accepted that are phase-out or insufficient, and the DH primes
  of its DHE suites;
- whether it signs the key exchange with SHA-1 or SHA-224 when offered only those;
- TLS compression, secure renegotiation (RFC 5746) and client-initiated renegotiation
  (`renegotiation.py`).

`budget()` gives the seconds each probe may take (the audit's deadline shortens it) and
raises once none are left.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import IntEnum

from mailstack.check import renegotiation, tlshello
from mailstack.check.tlshello import (
    SHA1_SIGALGS,
    SHA224_SIGALGS,
    SSL30,
    TLS10,
    TLS11,
    TLS12,
    TLS13,
    Offer,
    Reply,
    Suite,
)
from mailstack.check.tlsprobe import ProbeError, Starttls

Budget = Callable[[], float]
MAX_LISTED = 12  # suites or groups found per grade, at most (each costs one connection)
WORKERS = 4  # probes of one service at a time


class Grade(IntEnum):
    """internet.nl's grades, worst first."""

    INSUFFICIENT = 0
    PHASE_OUT = 1
    SUFFICIENT = 2
    GOOD = 3


_AEAD = ("aes-128-gcm", "aes-256-gcm", "chacha20-poly1305", "aes-128-ccm", "aes-256-ccm")


def grade(suite: Suite) -> Grade:  # noqa: PLR0911 (one return per rule)
    """A cipher suite's grade (NCSC-NL TLS guidelines, appendix B, as internet.nl applies it)."""
    if suite.tls13:
        if suite.cipher in ("aes-256-gcm", "chacha20-poly1305"):
            return Grade.GOOD
        return (
            Grade.SUFFICIENT
            if suite.cipher in ("aes-128-gcm", "aes-128-ccm")
            else Grade.INSUFFICIENT
        )
    if suite.kx not in ("ecdhe", "dhe") or suite.auth not in ("rsa", "ecdsa"):
        return Grade.INSUFFICIENT  # no forward secrecy, or no authentication
    if suite.mac in ("sha1", "md5") or suite.cipher.endswith("-8"):
        return Grade.INSUFFICIENT
    if suite.kx == "ecdhe" and suite.cipher in _AEAD:
        return Grade.SUFFICIENT
    if suite.cipher.startswith(("aes-", "camellia-", "aria-", "chacha20")):
        return Grade.PHASE_OUT
    return Grade.INSUFFICIENT


def group_grade(group: int) -> Grade:
    """An elliptic-curve group's grade: secp224r1 is phase-out, the rest not listed insufficient."""
    if group in tlshello.GOOD_GROUPS:
        return Grade.GOOD
    return Grade.PHASE_OUT if group == 0x0015 else Grade.INSUFFICIENT


def ffdhe_prime(bits: int) -> int:
    """The RFC 7919 group's prime of `bits` bits (2048 to 8192):
    p = 2^b - 2^{b-64} + {[2^{b-130} e] + X} * 2^64 - 1."""
    x = {2048: 560316, 3072: 2625351, 4096: 5736041, 6144: 15705020, 8192: 10965728}[bits]
    scale = bits - 130
    guard = 64
    # floor(2^scale * e), from the series e = sum 1/k!, with guard bits against rounding.
    one = 1 << (scale + guard)
    total, term, k = 0, one, 0
    while term:
        total += term
        k += 1
        term //= k
    e_scaled = total >> guard
    return (1 << bits) - (1 << (bits - 64)) + (e_scaled + x) * (1 << 64) - 1


def dh_grade(prime: int) -> tuple[Grade, str]:
    """A DHE prime's grade and name: RFC 7919's ffdhe3072 and larger are phase-out, every other
    group (ffdhe2048 included) insufficient."""
    bits = prime.bit_length()
    if bits in (2048, 3072, 4096, 6144, 8192) and prime == ffdhe_prime(bits):
        return (Grade.PHASE_OUT if bits >= 3072 else Grade.INSUFFICIENT), f"ffdhe{bits}"
    return Grade.INSUFFICIENT, f"a {bits}-bit group of its own"


@dataclass(frozen=True)
class Target:
    address: str
    port: int
    starttls: Starttls
    server_name: str

    @property
    def where(self) -> str:
        return f"{self.server_name} ({self.address}) port {self.port}"


@dataclass
class Scan:
    """What the probes found; None where a probe failed, with the reason in `errors`."""

    versions: dict[int, bool | None] = field(default_factory=dict)
    suites: dict[Grade, list[int]] = field(default_factory=dict)  # phase-out and insufficient
    suites_tested: bool = False
    order_violation: tuple[int, int] | None = None  # (chosen, the better one offered after it)
    order_tested: bool = False
    groups: dict[Grade, list[int]] = field(default_factory=dict)
    groups_tested: bool = False
    dh_primes: list[int] = field(default_factory=list)
    kex_hash: list[int] | None = None  # the weak signature schemes it used; None: not tested
    compression: bool | None = None
    secure_renegotiation: bool | None = None
    client_renegotiation: bool | None = None
    client_renegotiation_note: str = ""
    errors: list[str] = field(default_factory=list)

    def accepts(self, version: int) -> bool:
        return self.versions.get(version) is True


class _Prober:
    """The hellos of one scan, each bounded by the budget, failures noted, not raised."""

    def __init__(self, target: Target, budget: Budget, scan: Scan) -> None:
        self.target, self.budget, self.scan = target, budget, scan

    def hello(self, offer: Offer) -> Reply | None:
        """The server's reply; None when it refuses. ProbeError when the probe fails."""
        return tlshello.hello(
            self.target.address,
            self.target.port,
            offer,
            starttls=self.target.starttls,
            timeout=self.budget(),
            server_name=self.target.server_name,
        )

    def noted(self, what: str, error: ProbeError) -> None:
        self.scan.errors.append(f"{what}: {error}")

    def enumerate(
        self, version: int, offered: list[int], pick: Callable[[Reply], int | None]
    ) -> list[int]:
        """What the server picks from `offered`, one value at a time, taking each away."""
        found: list[int] = []
        left = list(offered)
        for _ in range(MAX_LISTED):
            if not left:
                break
            reply = self.hello(Offer(version, tuple(left)))
            chosen = pick(reply) if reply is not None and reply.version == version else None
            if chosen is None or chosen not in left:
                break
            found.append(chosen)
            left.remove(chosen)
        return found


def _codes(condition: Callable[[Suite], bool]) -> list[int]:
    return [code for code, suite in tlshello.suites().items() if condition(suite)]


def scan(target: Target, budget: Budget) -> Scan:
    """Every probe of the module docstring against `target`."""
    found = Scan()
    prober = _Prober(target, budget, found)
    legacy = _codes(lambda s: not s.tls13)
    modern = _codes(lambda s: s.tls13)

    def version(v: int) -> tuple[int, Reply | None]:
        offer = Offer(v, tuple(modern if v == TLS13 else legacy), compression=v < TLS13)
        return v, prober.hello(offer)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(version, v) for v in (SSL30, TLS10, TLS11, TLS12, TLS13)]
        replies: dict[int, Reply] = {}
        for future, v in zip(futures, (SSL30, TLS10, TLS11, TLS12, TLS13), strict=True):
            try:
                _, reply = future.result()
            except ProbeError as error:
                found.versions[v] = None
                prober.noted(tlshello.VERSION_NAMES[v], error)
                continue
            found.versions[v] = reply is not None and reply.version == v
            if reply is not None and reply.version == v:
                replies[v] = reply
        best_legacy = next((replies[v] for v in (TLS12, TLS11, TLS10, SSL30) if v in replies), None)
        if best_legacy is not None:
            found.compression = best_legacy.compression != 0
            found.secure_renegotiation = best_legacy.renegotiation_info
        tasks: list[Callable[[], None]] = []
        if found.accepts(TLS12) or found.accepts(TLS13):
            tasks += [lambda: _suites(prober, legacy, modern), lambda: _groups(prober)]
        if found.accepts(TLS12):
            tasks += [lambda: _dh(prober), lambda: _kex_hash(prober)]
            tasks.append(lambda: _client_renegotiation(target, budget, found))
        for task_future in [pool.submit(task) for task in tasks]:
            task_future.result()
    if found.accepts(TLS12):
        _order(prober, legacy)
    return found


def _suites(prober: _Prober, legacy: list[int], modern: list[int]) -> None:
    scan = prober.scan
    table = tlshello.suites()
    try:
        for bad in (Grade.INSUFFICIENT, Grade.PHASE_OUT):
            if scan.accepts(TLS12):
                codes = [c for c in legacy if grade(table[c]) == bad]
                scan.suites.setdefault(bad, []).extend(
                    prober.enumerate(TLS12, codes, lambda r: r.cipher)
                )
            if scan.accepts(TLS13):
                codes = [c for c in modern if grade(table[c]) == bad]
                if codes:
                    scan.suites.setdefault(bad, []).extend(
                        prober.enumerate(TLS13, codes, lambda r: r.cipher)
                    )
        scan.suites_tested = True
    except ProbeError as error:
        prober.noted("cipher suites", error)


def _groups(prober: _Prober) -> None:
    scan = prober.scan
    ecdhe = tuple(_codes(lambda s: s.kx == "ecdhe"))
    modern = tuple(_codes(lambda s: s.tls13))
    try:
        for bad in (Grade.INSUFFICIENT, Grade.PHASE_OUT):
            groups = [g for g in tlshello.EC_GROUPS if group_grade(g) == bad]
            for version, ciphers in ((TLS12, ecdhe), (TLS13, modern)):
                if not scan.accepts(version):
                    continue
                found: list[int] = []
                left = list(groups)
                for _ in range(MAX_LISTED):
                    if not left:
                        break
                    reply = prober.hello(Offer(version, ciphers, groups=tuple(left)))
                    if reply is None or reply.group not in left:
                        break
                    found.append(reply.group)
                    left.remove(reply.group)
                listed = scan.groups.setdefault(bad, [])
                listed.extend(g for g in found if g not in listed)
        scan.groups_tested = True
    except ProbeError as error:
        prober.noted("key exchange groups", error)


def _dh(prober: _Prober) -> None:
    dhe = tuple(_codes(lambda s: s.kx == "dhe" and s.auth in ("rsa", "dss")))
    try:
        reply = prober.hello(Offer(TLS12, dhe))
    except ProbeError as error:
        prober.noted("DH parameters", error)
        return
    if reply is not None and reply.dh_prime is not None:
        prober.scan.dh_primes.append(reply.dh_prime)


def _kex_hash(prober: _Prober) -> None:
    kx = tuple(_codes(lambda s: s.kx in ("ecdhe", "dhe") and not s.tls13))
    used: list[int] = []
    try:
        for sigalgs in (SHA1_SIGALGS, SHA224_SIGALGS):
            reply = prober.hello(Offer(TLS12, kx, sigalgs=sigalgs))
            if reply is not None and reply.sigalg in sigalgs:
                used.append(reply.sigalg)
    except ProbeError as error:
        prober.noted("key exchange hash", error)
        return
    prober.scan.kex_hash = used


def _order(prober: _Prober, legacy: list[int]) -> None:
    """Offer the phase-out suites it accepts first, then a better one it accepts: the server
    must pick the better one (its own order, not the client's)."""
    scan = prober.scan
    weaker = scan.suites.get(Grade.PHASE_OUT, [])
    table = tlshello.suites()
    better = [c for c in legacy if grade(table[c]) >= Grade.SUFFICIENT]
    if not weaker or not scan.suites_tested:
        scan.order_tested = scan.suites_tested
        return
    try:
        accepted = prober.hello(Offer(TLS12, tuple(better)))
        if accepted is None or accepted.version != TLS12:
            scan.order_tested = True  # nothing better to prefer
            return
        reply = prober.hello(Offer(TLS12, (*weaker, accepted.cipher)))
    except ProbeError as error:
        prober.noted("cipher order", error)
        return
    scan.order_tested = True
    if reply is not None and reply.cipher in weaker:
        scan.order_violation = (reply.cipher, accepted.cipher)


def _client_renegotiation(target: Target, budget: Budget, scan: Scan) -> None:
    try:
        result = renegotiation.client_initiated(
            target.address,
            target.port,
            starttls=target.starttls,
            server_name=target.server_name,
            timeout=budget(),
        )
    except ProbeError as error:
        scan.errors.append(f"client-initiated renegotiation: {error}")
        return
    scan.client_renegotiation = result.allowed
    scan.client_renegotiation_note = result.note


VERSION_ORDER = (SSL30, TLS10, TLS11, TLS12, TLS13)
OLD_VERSIONS = (SSL30, TLS10, TLS11)
