"""SPF (RFC 7208): build, count, check and flatten records.

`check` walks a record and every record it includes, counting the DNS lookups the receiver
will make (include, a, mx, ptr, exists and redirect each cost one, recursively; ip4, ip6 and
all cost none), the void lookups, loops and duplicate records, and reports the chain of
includes with what each costs when the limit of 10 is passed.

`flatten` replaces includes by the addresses they stand for, merged, in `_spfN`
continuation records, to bring a record back under the limit.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailstack.dnssource import Source, SourceError

LOOKUP_LIMIT = 10
VOID_LIMIT = 2
MAX_RECORD_BYTES = 450
MAX_STRING = 255
_COUNTED = ("include", "a", "mx", "ptr", "exists")
_QUALIFIERS = "+-~?"


@dataclass
class Node:
    """One SPF record in the include tree: its own lookups and those it includes."""

    name: str
    via: str
    own: int = 0
    children: list[Node] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.own + sum(c.total for c in self.children)

    @property
    def cost(self) -> int:
        """What this record costs its parent: the include itself and all below it."""
        return self.total + (0 if self.via == "record" else 1)

    def lines(self, depth: int = 0) -> list[str]:
        pad = "  " * depth
        if self.via == "record":
            text = f"{self.name}: {self.total} lookup(s), {self.own} in the record itself"
        else:
            text = f"{pad}{self.via}:{self.name} costs {self.cost} lookup(s)"
        return [text] + [line for c in self.children for line in c.lines(depth + 1)]


@dataclass
class Result:
    tree: Node
    voids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def lookups(self) -> int:
        return self.tree.total


def split_terms(record: str) -> list[str]:
    """The terms after `v=spf1`."""
    parts = record.split()
    if not parts or parts[0].lower() != "v=spf1":
        raise ValueError(f"not an SPF record: {record!r}")
    return parts[1:]


def mechanism(term: str) -> tuple[str, str, str]:
    """(qualifier, name, argument) of a term: `-ip4:192.0.2.1` -> ('-', 'ip4', '192.0.2.1')."""
    qualifier = term[0] if term[0] in _QUALIFIERS else "+"
    body = term[1:] if term[0] in _QUALIFIERS else term
    if body.lower().startswith("redirect=") or body.lower().startswith("exp="):
        name, _, arg = body.partition("=")
        return "", name.lower(), arg
    name, _, arg = body.partition(":")
    if "/" in name and not arg:
        name, _, cidr = name.partition("/")
        arg = "/" + cidr
    return qualifier, name.lower(), arg


def spf_records(answer: Sequence[str] | None) -> list[str]:
    return [t for t in (answer or ()) if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


def check(domain: str, record: str, source: Source) -> Result:
    """Check our own `record` for `domain`, following includes through `source`."""
    root = Node(domain, "record")
    result = Result(root)
    if len(record.encode()) > MAX_RECORD_BYTES:
        result.errors.append(
            f"the record is {len(record.encode())} bytes; keep it under {MAX_RECORD_BYTES}"
            " so that answers fit a UDP packet (flatten: true splits it)"
        )
    _Walker(source, result).walk(domain, record, root, (domain,))
    if root.total > LOOKUP_LIMIT:
        result.errors.append(
            f"{root.total} DNS lookups, over the limit of {LOOKUP_LIMIT} (receivers answer"
            " permerror and SPF fails for all your mail). The includes and what each costs:\n"
            + "\n".join("    " + line for line in root.lines())
        )
    if len(result.voids) > VOID_LIMIT:
        result.errors.append(
            f"{len(result.voids)} void lookups, over the limit of {VOID_LIMIT}: "
            + ", ".join(result.voids)
        )
    return result


@dataclass
class _Walker:
    source: Source
    result: Result

    def walk(self, name: str, record: str, node: Node, chain: tuple[str, ...]) -> None:
        result = self.result
        for term in split_terms(record):
            _, mech, arg = mechanism(term)
            if mech in ("ip4", "ip6", "all", "exp"):
                continue
            if mech not in (*_COUNTED, "redirect"):
                if "=" not in term:
                    result.errors.append(f"{' -> '.join(chain)}: unknown mechanism {term!r}")
                continue
            node.own += 1
            target = (arg.split("/")[0] if mech in ("a", "mx") else arg) or name
            if mech == "ptr":
                result.warnings.append(f"{' -> '.join(chain)}: ptr is slow and deprecated")
            elif "%" in target:
                continue  # a macro: known only when mail arrives
            elif mech in ("include", "redirect"):
                self.follow(mech, target, node, chain)
            elif mech == "a":
                if self.void(target, "A") and self.void(target, "AAAA"):
                    result.voids.append(f"a:{target}")
            elif mech == "mx":
                if self.void(target, "MX"):
                    result.voids.append(f"mx:{target}")
            elif mech == "exists" and self.void(target, "A"):
                result.voids.append(f"exists:{target}")

    def follow(self, mech: str, target: str, node: Node, chain: tuple[str, ...]) -> None:
        result = self.result
        path = " -> ".join((*chain, target))
        if target in chain:
            result.errors.append(f"include loop: {path}")
            return
        try:
            answer = self.source.query(target, "TXT")
        except SourceError as exc:
            result.errors.append(f"{path}: {exc}")
            return
        found = spf_records(answer)
        if not found:
            if answer is None:
                result.voids.append(f"{mech}:{target}")
            result.errors.append(f"{path}: no SPF record there ({mech} of it is a permerror)")
            return
        if len(found) > 1:
            result.errors.append(f"{path}: {len(found)} SPF records, at most one is allowed")
            return
        child = Node(target, mech)
        node.children.append(child)
        self.walk(target, found[0], child, (*chain, target))

    def void(self, name: str, rdtype: str) -> bool:
        try:
            return self.source.query(name, rdtype) is None
        except SourceError:
            return False


@dataclass
class Flattened:
    """The main record and its continuation records, as (owner name, value) pairs."""

    main: str
    continuations: list[tuple[str, str]]
    warnings: list[str]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def flatten(domain: str, terms: Sequence[str], all_: str, source: Source) -> Flattened:
    """Replace the includes among `terms` by the networks they allow, merged, moved into
    `_spf1.<domain>`, `_spf2.<domain>`... (each one string of at most 255 octets).

    An include that cannot be flattened without changing its meaning (macros, exists, ptr,
    redirect, or terms with a qualifier other than +) stays as it is, with a warning.
    """
    kept: list[str] = []
    networks: list[Network] = []
    warnings: list[str] = []
    for term in terms:
        qualifier, mech, arg = mechanism(term)
        if mech != "include" or qualifier != "+":
            kept.append(term)
            continue
        try:
            networks.extend(_addresses(arg, source, (domain, arg)))
        except _Unflattenable as exc:
            warnings.append(f"include:{arg} is kept as it is: {exc}")
            kept.append(term)
    merged = _merge(networks)
    chunks = _pack([_net_term(n) for n in merged], prefix="v=spf1", limit=MAX_STRING)
    continuations = [(f"_spf{i}.{domain}", chunk) for i, chunk in enumerate(chunks, 1)]
    main = " ".join(["v=spf1", *kept, *(f"include:{n}" for n, _ in continuations), all_])
    return Flattened(main, continuations, warnings)


class _Unflattenable(Exception):
    pass


def _addresses(name: str, source: Source, chain: tuple[str, ...]) -> list[Network]:
    try:
        found = spf_records(source.query(name, "TXT"))
    except SourceError as exc:
        raise _Unflattenable(str(exc)) from exc
    if len(found) != 1:
        raise _Unflattenable(f"{name} has {len(found)} SPF records")
    out: list[Network] = []
    for term in split_terms(found[0]):
        qualifier, mech, arg = mechanism(term)
        if mech in {"all", "exp"}:
            continue
        if qualifier != "+":
            raise _Unflattenable(f"{name} has {term!r}, whose qualifier flattening would lose")
        if mech in ("ip4", "ip6"):
            out.append(ipaddress.ip_network(arg, strict=False))
        elif mech == "include":
            if arg in chain:
                raise _Unflattenable(f"include loop: {' -> '.join((*chain, arg))}")
            out.extend(_addresses(arg, source, (*chain, arg)))
        elif mech in ("a", "mx") and "%" not in arg:
            out.extend(_resolve(mech, arg or name, source))
        else:
            raise _Unflattenable(f"{name} has {term!r}, known only when mail arrives")
    return out


def _resolve(mech: str, spec: str, source: Source) -> list[Network]:
    target, _, cidr = spec.partition("/")
    hosts = [target]
    if mech == "mx":
        answer = source.query(target, "MX") or ()
        hosts = [r.split()[-1].rstrip(".") for r in answer]
    out: list[Network] = []
    for host in hosts:
        for rdtype in ("A", "AAAA"):
            for address in source.query(host, rdtype) or ():
                net = ipaddress.ip_network(address)
                if cidr and rdtype == "A":
                    net = net.supernet(new_prefix=int(cidr))
                out.append(net)
    return out


def _merge(networks: list[Network]) -> list[Network]:
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def _net_term(net: Network) -> str:
    kind = "ip4" if net.version == 4 else "ip6"
    if net.prefixlen == net.max_prefixlen:
        return f"{kind}:{net.network_address}"
    return f"{kind}:{net}"


def _pack(terms: list[str], prefix: str, limit: int) -> list[str]:
    """Greedy packing of terms into `prefix term term...` strings of at most `limit` octets."""
    chunks: list[str] = []
    current = prefix
    for term in terms:
        if len(current) + 1 + len(term) > limit:
            chunks.append(current)
            current = prefix
        current += " " + term
    if current != prefix:
        chunks.append(current)
    return chunks
