"""DMARC aggregate reports: XML (RFC 7489 appendix C, or RFC 9990's `dmarc-2.0`) to the model.

The XML comes from strangers. It is parsed by defusedxml, which refuses every entity
declaration (no "billion laughs") and every external reference (no external entity, no
external DTD). The elements the summary needs are then checked against the schema, and a
report is refused with the path of the first element that is wrong:
`record 3: policy_evaluated.disposition 'blah' is not none, quarantine or reject`. Records
are numbered from 1; their `row` wrapper is left out of the path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import EntitiesForbidden, ExternalReferenceForbidden

from mailstack.reports.model import AggregateReport, AuthResult, Record, ReportError

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
            raise self.fail(f"{self.text(name)!r} is not {_choices(allowed)}", name)
        return value

    def number(self, name: str) -> int:
        value = self.text(name)
        if not value.isascii() or not value.isdigit():
            raise self.fail(f"{value!r} is not a whole number", name)
        return int(value)


def _xml(data: bytes) -> Element:
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
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
    seconds = node.number(name)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise node.fail(f"{seconds} is not a time (seconds since 1970)", name) from None


def _ip(node: _Node) -> str:
    text = node.text("source_ip")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise node.fail(f"{text!r} is not an IP address", "source_ip") from None


def _dkim_result(node: _Node) -> AuthResult:
    return AuthResult(
        node.text("domain", "").lower(),
        node.choice("result", DKIM_RESULTS),
        node.text("selector", ""),
    )


def _spf_result(node: _Node) -> AuthResult:
    return AuthResult(
        node.text("domain", "").lower(),
        node.choice("result", SPF_RESULTS, SPF_ALIASES),
        node.text("scope", "").lower(),
    )


def _record(node: _Node, dispositions: tuple[str, ...]) -> Record:
    # `row` is a wrapper, left out of the path: `record 3: policy_evaluated.disposition`.
    row = _Node(node.child("row").element, node.prefix, node.parts)
    evaluated = row.child("policy_evaluated")
    identifiers = node.child("identifiers")
    auth = node.find("auth_results")
    return Record(
        source_ip=_ip(row),
        count=row.number("count"),
        disposition=evaluated.choice("disposition", dispositions),
        dkim=evaluated.choice("dkim", DMARC_RESULTS),
        spf=evaluated.choice("spf", DMARC_RESULTS),
        header_from=identifiers.text("header_from").lower(),
        envelope_from=identifiers.text("envelope_from", "").lower(),
        dkim_results=tuple(_dkim_result(n) for n in auth.children("dkim")) if auth else (),
        spf_results=tuple(_spf_result(n) for n in auth.children("spf")) if auth else (),
        reasons=tuple(r.choice("type", REASONS) for r in evaluated.children("reason")),
    )


def parse(data: bytes, label: str) -> AggregateReport:
    """The aggregate report in `data`; ReportError says what is wrong with it."""
    element = _xml(data)
    namespace = _root(element)
    feedback = _Node(element)
    meta = feedback.child("report_metadata")
    dates = meta.child("date_range")
    published = feedback.child("policy_published")
    begin, end = _timestamp(dates, "begin"), _timestamp(dates, "end")
    if begin > end:
        raise dates.fail("begin is after its end")
    # RFC 9990 adds `pass`: no action, the message passed DMARC under an enforcing policy.
    dispositions = ("none", "pass", "quarantine", "reject") if namespace == DMARC2_NS else POLICIES
    records = [
        _record(_Node(r.element, f"record {i}"), dispositions)
        for i, r in enumerate(feedback.children("record"), 1)
    ]
    if not records:
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
        records=tuple(records),
    )
