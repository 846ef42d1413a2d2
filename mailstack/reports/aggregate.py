"""DMARC aggregate reports: XML (RFC 7489 appendix C, or RFC 9990's `dmarc-2.0`) to the model.

The XML comes from strangers. It is parsed by defusedxml, which refuses every entity
declaration (no "billion laughs") and every external reference (no external entity, no
external DTD). The elements the summary needs are then checked against the schema, and a
report is refused with the path of the first element that is wrong:
`record 3: policy_evaluated.disposition 'blah' is not none, quarantine or reject`. Records
are numbered from 1; their `row` wrapper is left out of the path.

Memory stays proportional to the records kept, not to the XML: the document is read as a
stream (`iterparse`), each record turned into the model and dropped from the tree as soon as
it ends, the strings and results that repeat kept once. Bounds, each refused by name: more
than `max_records` records (what the whole run may still read), more than `MAX_ELEMENTS`
elements in one record (or other part of the report), a text longer than `MAX_TEXT`
characters, a count above `MAX_COUNT`, a time beyond the year 9999.
"""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TypeVar
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import EntitiesForbidden, ExternalReferenceForbidden

from mailstack.reports.model import (
    MAX_COUNT,
    MAX_TEXT,
    AggregateReport,
    AuthResult,
    Record,
    RecordLimit,
    ReportError,
)

MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z
MAX_ELEMENTS = 1000  # elements in one record, or in another child of <feedback>
KEPT = ("report_metadata", "policy_published")  # the children of <feedback> kept whole

RFC7489_NS = "http://dmarc.org/dmarc-xml/0.1"
DMARC2_NS = "urn:ietf:params:xml:ns:dmarc-2.0"
NAMESPACES = ("", RFC7489_NS, DMARC2_NS)

POLICIES = ("none", "quarantine", "reject")
DMARC_RESULTS = ("pass", "fail")
DKIM_RESULTS = ("none", "pass", "fail", "policy", "neutral", "temperror", "permerror")
# RFC 7489's schema notes that temperror and permerror are "commonly implemented" as these.
SPF_RESULTS = ("none", "neutral", "pass", "fail", "softfail", "temperror", "permerror")
SPF_ALIASES = {"unknown": "temperror", "error": "permerror"}
REASONS = (
    "forwarded",
    "sampled_out",
    "trusted_forwarder",
    "mailing_list",
    "local_policy",
    "other",
)


def _local(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _shown(value: str) -> str:
    """A value from the report for a message: quoted, and cut when long."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _choices(allowed: Iterable[str]) -> str:
    items = list(allowed)
    return ", ".join(items[:-1]) + " or " + items[-1]


class _Node:
    """An element and its path in the report, for error messages."""

    def __init__(self, element: Element, prefix: str = "", parts: tuple[str, ...] = ()) -> None:
        self.element = element
        self.prefix = prefix
        self.parts = parts

    def where(self, name: str | None = None) -> str:
        dotted = ".".join((*self.parts, name) if name else self.parts)
        if self.prefix:
            return f"{self.prefix}: {dotted}" if dotted else self.prefix
        return dotted

    def fail(self, message: str, name: str | None = None) -> ReportError:
        return ReportError(f"{self.where(name)} {message}")

    def children(self, name: str) -> list[_Node]:
        return [
            _Node(e, self.prefix, (*self.parts, name))
            for e in self.element
            if isinstance(e.tag, str) and _local(e.tag)[1] == name
        ]

    def find(self, name: str) -> _Node | None:
        found = self.children(name)
        if len(found) > 1:
            raise self.fail(f"appears {len(found)} times, once at most", name)
        return found[0] if found else None

    def child(self, name: str) -> _Node:
        found = self.find(name)
        if found is None:
            raise self.fail("is missing", name)
        return found

    def value(self) -> str:
        return (self.element.text or "").strip()

    def text(self, name: str, default: str | None = None) -> str:
        found = self.find(name)
        value = found.value() if found is not None else ""
        if len(value) > MAX_TEXT:
            raise self.fail(f"is longer than {MAX_TEXT} characters", name)
        if value:
            return value
        if default is not None:
            return default
        raise self.fail("is empty" if found is not None else "is missing", name)

    def choice(
        self, name: str, allowed: tuple[str, ...], aliases: dict[str, str] | None = None
    ) -> str:
        value = self.text(name).lower()
        value = (aliases or {}).get(value, value)
        if value not in allowed:
            raise self.fail(f"{_shown(self.text(name))} is not {_choices(allowed)}", name)
        return allowed[allowed.index(value)]  # the constant: one string for every record

    def number(self, name: str, maximum: int) -> int:
        """A whole number up to `maximum`, checked before it is converted (Python refuses to
        convert more than 4,300 digits, and a huge count would overflow the percentages)."""
        value = self.text(name)
        if not value.isascii() or not value.isdigit():
            raise self.fail(f"{_shown(value)} is not a whole number", name)
        digits = value.lstrip("0") or "0"
        if len(digits) > len(str(maximum)) or int(digits) > maximum:
            raise self.fail(f"{_shown(value)} is more than {maximum}", name)
        return int(digits)


_T = TypeVar("_T")


class _Shared:
    """One object for each value that repeats: a domain in every record, the same results."""

    def __init__(self) -> None:
        self._seen: dict[object, object] = {}

    def __call__(self, value: _T) -> _T:
        kept: _T = self._seen.setdefault(value, value)  # type: ignore[assignment]
        return kept


def _events(data: bytes) -> Iterator[tuple[str, Element]]:
    """The start and end events of the document, parsed safely; ReportError if it is not."""
    try:
        yield from SafeET.iterparse(
            io.BytesIO(data),
            ("start", "end"),
            forbid_dtd=False,
            forbid_entities=True,
            forbid_external=True,
        )
    except EntitiesForbidden as exc:
        if exc.sysid or exc.pubid:
            raise ReportError(
                f"the external entity {exc.name!r} ({exc.sysid or exc.pubid}) is refused:"
                " a report never needs one, and it could read files or fetch URLs"
            ) from None
        raise ReportError(
            f"the entity declaration {exc.name!r} is refused: a report never needs one,"
            " and entity expansion can blow up (billion laughs)"
        ) from None
    except ExternalReferenceForbidden as exc:
        raise ReportError(f"the external reference {exc.sysid!r} is refused") from None
    except ParseError as exc:
        raise ReportError(f"not well-formed XML: {exc}") from None


def _root(element: Element) -> str:
    """The report's namespace, after checking that it is a DMARC `feedback` element."""
    ns, name = _local(element.tag)
    if name != "feedback":
        raise ReportError(
            f"the root element is <{name}>, not <feedback>: not a DMARC aggregate report"
        )
    if ns not in NAMESPACES:
        raise ReportError(
            f"the namespace {ns!r} is not DMARC's ({RFC7489_NS}, {DMARC2_NS}, or none)"
        )
    return ns


def _timestamp(node: _Node, name: str) -> datetime:
    seconds = node.number(name, MAX_TIME)
    return datetime.fromtimestamp(seconds, UTC)


def _ip(node: _Node) -> str:
    text = node.text("source_ip")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise node.fail(f"{_shown(text)} is not an IP address", "source_ip") from None


def _dkim_result(node: _Node, shared: _Shared) -> AuthResult:
    return shared(
        AuthResult(
            shared(node.text("domain", "").lower()),
            node.choice("result", DKIM_RESULTS),
            shared(node.text("selector", "")),
        )
    )


def _spf_result(node: _Node, shared: _Shared) -> AuthResult:
    return shared(
        AuthResult(
            shared(node.text("domain", "").lower()),
            node.choice("result", SPF_RESULTS, SPF_ALIASES),
            shared(node.text("scope", "").lower()),
        )
    )


def _record(node: _Node, dispositions: tuple[str, ...], shared: _Shared) -> Record:
    # `row` is a wrapper, left out of the path: `record 3: policy_evaluated.disposition`.
    row = _Node(node.child("row").element, node.prefix, node.parts)
    evaluated = row.child("policy_evaluated")
    identifiers = node.child("identifiers")
    auth = node.find("auth_results")
    dkim = tuple(_dkim_result(n, shared) for n in auth.children("dkim")) if auth else ()
    spf = tuple(_spf_result(n, shared) for n in auth.children("spf")) if auth else ()
    reasons = tuple(r.choice("type", REASONS) for r in evaluated.children("reason"))
    return Record(
        source_ip=shared(_ip(row)),
        count=row.number("count", MAX_COUNT),
        disposition=evaluated.choice("disposition", dispositions),
        dkim=evaluated.choice("dkim", DMARC_RESULTS),
        spf=evaluated.choice("spf", DMARC_RESULTS),
        header_from=shared(identifiers.text("header_from").lower()),
        envelope_from=shared(identifiers.text("envelope_from", "").lower()),
        dkim_results=shared(dkim),
        spf_results=shared(spf),
        reasons=shared(reasons),
    )


class _Stream:
    """The children of <feedback> as they end: records turned into the model and dropped from
    the tree, report_metadata and policy_published kept, anything else dropped."""

    def __init__(self, max_records: int | None) -> None:
        self.max_records = max_records
        self.shared = _Shared()
        self.records: list[Record] = []
        self.root: Element | None = None
        self.dispositions: tuple[str, ...] = POLICIES

    def read(self, data: bytes) -> Element:
        """The root, with only the parts kept."""
        depth, elements, part = 0, 0, ""
        for event, element in _events(data):
            if event == "start":
                depth += 1
                if depth == 1:
                    self.root = element
                    # RFC 9990 adds `pass`: no action, the message passed DMARC under an
                    # enforcing policy.
                    if _root(element) == DMARC2_NS:
                        self.dispositions = ("none", "pass", "quarantine", "reject")
                elif depth == 2:
                    name = _local(element.tag)[1]
                    part = f"record {len(self.records) + 1}" if name == "record" else name
                    elements = 0
                else:
                    elements += 1
                    if elements > MAX_ELEMENTS:
                        raise ReportError(f"{part} has more than {MAX_ELEMENTS} elements")
                continue
            depth -= 1
            if depth == 1 and self.root is not None:
                self._end(self.root, element)
        if self.root is None:  # the parser refuses an empty document: this is for mypy
            raise ReportError("the document has no root element")
        return self.root

    def _end(self, root: Element, element: Element) -> None:
        name = _local(element.tag)[1]
        if name == "record":
            if self.max_records is not None and len(self.records) >= self.max_records:
                raise RecordLimit(f"more than {self.max_records} records")
            node = _Node(element, f"record {len(self.records) + 1}")
            self.records.append(_record(node, self.dispositions, self.shared))
        if name not in KEPT:
            root.remove(element)


def parse(data: bytes, label: str, max_records: int | None = None) -> AggregateReport:
    """The aggregate report in `data`; ReportError says what is wrong with it, RecordLimit
    that it has more than `max_records` records."""
    stream = _Stream(max_records)
    feedback = _Node(stream.read(data))
    meta = feedback.child("report_metadata")
    dates = meta.child("date_range")
    published = feedback.child("policy_published")
    begin, end = _timestamp(dates, "begin"), _timestamp(dates, "end")
    if begin > end:
        raise dates.fail("begin is after its end")
    if not stream.records:
        raise ReportError("the report has no <record>")
    return AggregateReport(
        label=label,
        org_name=meta.text("org_name"),
        email=meta.text("email", ""),
        report_id=meta.text("report_id"),
        begin=begin,
        end=end,
        domain=published.text("domain").lower(),
        policy=published.choice("p", POLICIES),
        records=tuple(stream.records),
    )
