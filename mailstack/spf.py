"""SPF (RFC 7208): build, count, check and flatten records.

`check` evaluates a record as a receiver would for a sender that matches nothing, so that every
term is reached: it counts the DNS lookups (include, a, mx, ptr, exists and redirect each cost
one, through every include; ip4, ip6, all and exp cost none) and the void lookups, and stops
where receivers stop, at the 11th lookup or the 3rd void one, with the chain that got there and
what each include had cost. Each name is asked once (the answers are kept for the walk), so
the work is bounded whatever the cache or the remote zones hold. On the way it checks each
record's syntax: ip4/ip6 values, repeated modifiers, a space missing before `all`, unknown
mechanisms, loops and includes with no or several SPF records.

`flatten` replaces includes by the addresses they stand for, merged, in `_spfN`
continuation records, to bring a record back under the limit; it follows at most
`FLATTEN_INCLUDES` distinct includes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailstack.dnssource import Answer, Source, SourceError

LOOKUP_LIMIT = 10
VOID_LIMIT = 2
# RFC 7208 section 4.6.4: an mx mechanism may name at most 10 hosts.
MX_HOST_LIMIT = 10
MAX_RECORD_BYTES = 450
MAX_STRING = 255
# The syntax problems reported for one record; more are summed up in one line.
SYNTAX_REPORTED = 5
# The distinct includes `flatten` follows below one of ours.
FLATTEN_INCLUDES = 50
_COUNTED = ("include", "a", "mx", "ptr", "exists")
_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_QUALIFIERS = "+-~?"
# A term whose end is a qualified `all` with no space before it: `include:x.example-all`.
_GLUED_ALL = re.compile(r"(?P<head>.+?)(?P<all>[-~?+]all)", re.IGNORECASE)
_MODIFIER = re.compile(r"[a-z][a-z0-9_.-]*=.*", re.IGNORECASE | re.DOTALL)
_CIDR = re.compile(r"0|[1-9][0-9]{0,2}")
SENDER_ID = re.compile(r"spf2\.0/.*", re.IGNORECASE | re.DOTALL)
FIX_SYNTAX = (
    "correct the record named (yours), or ask the owner of an included one to (or drop the"
    " include): receivers answer permerror and SPF fails for all your mail"
)
FIX_LOOKUPS = (
    "remove includes of services that no longer send for you, replace a/mx by ip4/ip6, or"
    " flatten the record (flatten: true in the description)"
)
FIX_SENDER_ID = "remove it: Sender ID (RFC 4406) is historic and no receiver uses it"


@dataclass
class Node:
    """One SPF record in the include tree: its own lookups and those it includes. `partial`
    marks the records the walk was inside of when it stopped at a limit, `stop` the include
    where it stopped, not looked up."""

    name: str
    via: str
    own: int = 0
    children: list[Node] = field(default_factory=list)
    partial: bool = False
    stop: bool = False

    @property
    def total(self) -> int:
        return self.own + sum(c.total for c in self.children)

    @property
    def cost(self) -> int:
        """What this record costs its parent: the include itself and all below it."""
        return self.total + (0 if self.via == "record" else 1)

    def lines(self, depth: int = 0) -> list[str]:
        pad = "  " * depth
        counted = "at least " if self.partial else ""
        if self.via == "record":
            text = f"{self.name}: {self.total} lookup(s), {self.own} in the record itself"
        else:
            text = f"{pad}{self.via}:{self.name} costs {counted}{self.cost} lookup(s)"
            text += ": the one over the limit, where receivers stop" if self.stop else ""
        return [text] + [line for c in self.children for line in c.lines(depth + 1)]


@dataclass
class Result:
    tree: Node
    voids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # How to fix a problem, by its message, when the message has its own advice.
    fixes: dict[str, str] = field(default_factory=dict)
    # The distinct DNS questions the walk asked its source.
    queries: int = 0

    @property
    def lookups(self) -> int:
        return self.tree.total

    def error(self, message: str, fix: str | None = None) -> None:
        self.errors.append(message)
        if fix is not None:
            self.fixes[message] = fix

    def warning(self, message: str, fix: str | None = None) -> None:
        self.warnings.append(message)
        if fix is not None:
            self.fixes[message] = fix


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


def sender_id(answer: Iterable[str] | None) -> list[str]:
    """A sentence for each old Sender ID record (`spf2.0/...`) among a name's TXT records."""
    return [
        f"an old Sender ID record is published: {text[:80]!r}"
        for text in answer or ()
        if SENDER_ID.fullmatch(text)
    ]


def syntax(terms: Sequence[str]) -> list[tuple[str, str]]:
    """The syntax problems of one record's terms, as (severity, sentence); severity is
    "error" for what makes receivers answer permerror."""
    found: list[tuple[str, str]] = []
    counts = {"all": 0, "redirect": 0, "exp": 0}
    after_all: list[str] = []
    for term in terms:
        problem = _term_problem(term)
        if problem is not None:
            found.append(("error", problem))
            continue
        _, name, _ = mechanism(term)
        if counts["all"] and name not in ("redirect", "exp") and "=" not in term:
            after_all.append(term)
        if name in counts:
            counts[name] += 1
    for name in ("redirect", "exp"):
        if counts[name] > 1:
            found.append(
                ("error", f"the {name}= modifier appears {counts[name]} times: once at most")
            )
    if counts["all"] > 1:
        found.append(("warning", f"all appears {counts['all']} times: only the first counts"))
    if after_all:
        found.append(("warning", f"terms after all are never evaluated: {' '.join(after_all)}"))
    if counts["all"] and counts["redirect"]:
        found.append(("warning", "redirect= is ignored: the record has an all mechanism"))
    return found


def _term_problem(term: str) -> str | None:
    glued = _GLUED_ALL.fullmatch(term)
    if glued is not None:
        return (
            f"{term!r}: a space is missing before {glued['all']} (receivers read"
            f" {glued['head']!r} and {glued['all']} as one term)"
        )
    _, name, arg = mechanism(term)
    if name in ("redirect", "exp", "include", "exists") and not arg:
        return f"{term!r}: {name} needs a domain"
    if name in ("ip4", "ip6"):
        return _address_problem(term, 4 if name == "ip4" else 6, arg)
    if name in _MECHANISMS or name in ("redirect", "exp"):
        return None
    if _MODIFIER.fullmatch(term):
        return None  # an unknown modifier: receivers ignore it
    return f"unknown mechanism {term!r}"


def _address_problem(term: str, version: int, arg: str) -> str | None:
    address, slash, cidr = arg.partition("/")
    longest = 32 if version == 4 else 128
    try:
        parsed = ipaddress.ip_address(address) if "%" not in address else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.version != version:
        return f"{term!r}: {address!r} is not an IPv{version} address"
    if slash and (_CIDR.fullmatch(cidr) is None or int(cidr) > longest):
        return f"{term!r}: /{cidr} is not a prefix length of 0 to {longest}"
    return None


class _Stop(Exception):
    """A limit of RFC 7208 is reached: receivers stop here, and so does the walk."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def check(domain: str, record: str, source: Source) -> Result:
    """Check our own `record` for `domain`, following includes through `source`."""
    root = Node(domain, "record")
    result = Result(root)
    if len(record.encode()) > MAX_RECORD_BYTES:
        result.error(
            f"the record is {len(record.encode())} bytes; keep it under {MAX_RECORD_BYTES}"
            " so that answers fit a UDP packet (flatten: true splits it)"
        )
    walker = _Walker(source, result)
    try:
        walker.walk(domain, record, root, (domain,))
    except _Stop as stop:
        result.error(str(stop), stop.fix)
    result.queries = len(walker.answers)
    return result


@dataclass
class _Walker:
    source: Source
    result: Result
    # Every answer (or failure) had, by question: each name is asked once.
    answers: dict[tuple[str, str], Answer | SourceError] = field(default_factory=dict)
    # The records the walk is inside of, from ours down.
    path: list[Node] = field(default_factory=list)

    def ask(self, name: str, rdtype: str) -> Answer:
        key = (name.lower(), rdtype)
        if key not in self.answers:
            try:
                self.answers[key] = self.source.query(name, rdtype)
            except SourceError as exc:
                self.answers[key] = exc
        answer = self.answers[key]
        if isinstance(answer, SourceError):
            raise answer
        return answer

    def walk(self, name: str, record: str, node: Node, chain: tuple[str, ...]) -> None:
        self.path.append(node)
        terms = split_terms(record)
        self.report_syntax(chain, terms)
        redirect = None
        has_all = False
        for term in terms:
            _, mech, arg = mechanism(term)
            has_all = has_all or mech == "all"
            if mech == "redirect":
                redirect = redirect or arg
            elif mech in _COUNTED and _term_problem(term) is None:
                self.term(mech, arg, name, node, chain)
        if redirect is not None and not has_all:
            self.term("redirect", redirect, name, node, chain)
        self.path.pop()

    def report_syntax(self, chain: tuple[str, ...], terms: Sequence[str]) -> None:
        where = " -> ".join(chain)
        found = syntax(terms)
        for severity, sentence in found[:SYNTAX_REPORTED]:
            if severity == "error":
                self.result.error(f"{where}: {sentence}", FIX_SYNTAX)
            else:
                self.result.warning(f"{where}: {sentence}", FIX_SYNTAX)
        if len(found) > SYNTAX_REPORTED:
            self.result.error(
                f"{where}: {len(found) - SYNTAX_REPORTED} more syntax problem(s)", FIX_SYNTAX
            )

    def term(self, mech: str, arg: str, name: str, node: Node, chain: tuple[str, ...]) -> None:
        """One term that costs a DNS lookup: count it, stop past the limit, else look."""
        node.own += 1
        target = (arg.split("/", maxsplit=1)[0] if mech in ("a", "mx") else arg) or name
        if self.result.tree.total > LOOKUP_LIMIT:
            if mech in ("include", "redirect"):
                node.children.append(Node(target, mech, stop=True))
            for inside in self.path:
                inside.partial = True
            raise _Stop(
                f"{self.result.tree.total} DNS lookups, over the limit of {LOOKUP_LIMIT}:"
                f" receivers stop at {mech}:{target} (in {' -> '.join(chain)}) and answer"
                " permerror, and SPF fails for all your mail. The lookups counted up to there,"
                " include by include:\n" + "\n".join("    " + s for s in self.result.tree.lines()),
                FIX_LOOKUPS,
            )
        where = " -> ".join(chain)
        if mech == "ptr":
            self.result.warning(
                f"{where}: ptr is slow and deprecated", "remove ptr; list addresses"
            )
        elif "%" in target:
            return  # a macro: known only when mail arrives
        elif mech in ("include", "redirect"):
            self.follow(mech, target, node, chain)
        elif mech == "a":
            if self.void(target, "A") and self.void(target, "AAAA"):
                self.add_void(f"a:{target}")
        elif mech == "mx":
            self.mx(target, where)
        elif mech == "exists" and self.void(target, "A"):
            self.add_void(f"exists:{target}")

    def mx(self, target: str, where: str) -> None:
        try:
            answer = self.ask(target, "MX")
        except SourceError:
            return
        if answer is None:
            self.add_void(f"mx:{target}")
        elif len(answer) > MX_HOST_LIMIT:
            self.result.error(
                f"{where}: mx:{target} names {len(answer)} hosts; receivers look up at most"
                f" {MX_HOST_LIMIT} and answer permerror",
                "list the senders' addresses with ip4/ip6 instead of mx",
            )

    def add_void(self, what: str) -> None:
        voids = self.result.voids
        voids.append(what)
        if len(voids) > VOID_LIMIT:
            raise _Stop(
                f"{len(voids)} void lookups, over the limit of {VOID_LIMIT}: {', '.join(voids)};"
                " receivers stop at the third and answer permerror",
                "remove the mechanisms and includes of names that do not exist",
            )

    def follow(self, mech: str, target: str, node: Node, chain: tuple[str, ...]) -> None:
        path = " -> ".join((*chain, target))
        if target in chain:
            self.result.error(f"include loop: {path}")
            return
        try:
            answer = self.ask(target, "TXT")
        except SourceError as exc:
            self.result.error(f"{path}: {exc}")
            return
        found = spf_records(answer)
        if not found:
            self.result.error(f"{path}: no SPF record there ({mech} of it is a permerror)")
            if answer is None:
                self.add_void(f"{mech}:{target}")
            return
        if len(found) > 1:
            self.result.error(f"{path}: {len(found)} SPF records, at most one is allowed")
            return
        child = Node(target, mech)
        node.children.append(child)
        self.walk(target, found[0], child, (*chain, target))

    def void(self, name: str, rdtype: str) -> bool:
        try:
            return self.ask(name, rdtype) is None
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
    redirect, or terms with a qualifier other than +), or that cannot be read whole (a bad
    address, an answer missing, more than `FLATTEN_INCLUDES` includes below it), stays as it
    is, with a warning.
    """
    kept: list[str] = []
    networks: set[Network] = set()
    warnings: list[str] = []
    flattener = _Flattener(source)
    for term in terms:
        qualifier, mech, arg = mechanism(term)
        if mech != "include" or qualifier != "+":
            kept.append(term)
            continue
        try:
            networks |= flattener.addresses(arg, (domain, arg))
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


class _Flattener:
    """The networks of includes, each include read once (a shared include is not walked
    again), at most FLATTEN_INCLUDES of them."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.done: dict[str, frozenset[Network]] = {}
        self.seen: set[str] = set()

    def ask(self, name: str, rdtype: str) -> Answer:
        try:
            return self.source.query(name, rdtype)
        except SourceError as exc:
            raise _Unflattenable(str(exc)) from exc

    def addresses(self, name: str, chain: tuple[str, ...]) -> frozenset[Network]:
        if name in self.done:
            return self.done[name]
        self.seen.add(name)
        if len(self.seen) > FLATTEN_INCLUDES:
            raise _Unflattenable(f"more than {FLATTEN_INCLUDES} includes below it")
        found = spf_records(self.ask(name, "TXT"))
        if len(found) != 1:
            raise _Unflattenable(f"{name} has {len(found)} SPF records")
        out: set[Network] = set()
        for term in split_terms(found[0]):
            out |= self.term(name, term, chain)
        self.done[name] = frozenset(out)
        return self.done[name]

    def term(self, name: str, term: str, chain: tuple[str, ...]) -> set[Network]:
        qualifier, mech, arg = mechanism(term)
        problem = _term_problem(term)
        if problem is not None:
            raise _Unflattenable(f"{name} has {problem}")
        if mech in {"all", "exp"}:
            return set()
        if qualifier != "+":
            raise _Unflattenable(f"{name} has {term!r}, whose qualifier flattening would lose")
        if mech in ("ip4", "ip6"):
            return {ipaddress.ip_network(arg, strict=False)}
        if mech == "include":
            if arg in chain:
                raise _Unflattenable(f"include loop: {' -> '.join((*chain, arg))}")
            return set(self.addresses(arg, (*chain, arg)))
        if mech in ("a", "mx") and "%" not in arg:
            return self.resolve(mech, arg or name)
        raise _Unflattenable(f"{name} has {term!r}, known only when mail arrives")

    def resolve(self, mech: str, spec: str) -> set[Network]:
        target, _, cidr = spec.partition("/")
        hosts = [target]
        if mech == "mx":
            answer = self.ask(target, "MX") or ()
            if len(answer) > MX_HOST_LIMIT:
                raise _Unflattenable(f"mx:{target} names more than {MX_HOST_LIMIT} hosts")
            hosts = [r.split()[-1].rstrip(".") for r in answer if r.split()]
        out: set[Network] = set()
        for host in hosts:
            for rdtype in ("A", "AAAA"):
                for address in self.ask(host, rdtype) or ():
                    try:
                        net = ipaddress.ip_network(address)
                        if cidr and rdtype == "A":
                            net = net.supernet(new_prefix=int(cidr))
                    except ValueError as exc:
                        raise _Unflattenable(f"{host} {rdtype}: {exc}") from exc
                    out.add(net)
        return out


def _merge(networks: Iterable[Network]) -> list[Network]:
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
