"""DMARC aggregate reports (RFC 7489 section 7.2) from OpenDMARC's history, with no database.

    python3 dmarc_reports.py --config /etc/mailstack/dmarc-reports.json [--dry-run DIR]

OpenDMARC appends one block of `key value` lines per message it judged to its history file
(`HistoryFile`), and opens that file anew for every message. Each run:

1. moves the history aside (to `<spool>/<time>.dat`), so OpenDMARC starts a new one;
2. reads every pending file of the spool, groups the verdicts by the policy domain, and
   builds one report per domain (rows grouped by source, verdicts and identifiers); a block
   with a value that cannot be read is left out and said, the others are still reported;
3. mails it, gzipped, to each of the domain's `rua` addresses that may receive it (a plain
   `local@domain` address, given to sendmail as an argument; an address
   outside the policy's organizational domain must be authorized by a
   `<policy>._report._dmarc.<its domain>` TXT record, RFC 7489 section 7.1);
4. moves a spool file to `<spool>/sent/` only when every report made from it was handed to
   the local sendmail. Anything that fails stays pending for the next run: nothing is lost.

Only the Python standard library and dnspython (Debian's python3-dnspython) are needed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

# OpenDMARC's codes in the history (its opendmarc-reports reads them the same way).
RESULTS = {
    "0": "pass",
    "2": "softfail",
    "3": "neutral",
    "4": "temperror",
    "5": "permerror",
    "6": "none",
    "7": "fail",
    "8": "policy",
    "9": "nxdomain",
    "10": "signed",
    "12": "discard",
}
ALIGNMENT = {"4": "pass", "5": "fail"}
DISPOSITIONS = {"0": "reject", "1": "reject", "2": "none", "4": "quarantine"}
# Policy tags are stored as the character codes of their first letter.
LETTERS = {str(ord(c)): c for c in "nqrs"}
POLICIES = {"n": "none", "q": "quarantine", "r": "reject"}
# RFC 7489 section 7.2.1.1: the size limit of a mailto: URI, such as `!10m`.
UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
# A mailto: rua URI as mailstack sends to it, matched whole: a conservative dot-atom local part
# that starts with a letter or digit (never an option of sendmail), a domain of host-name
# labels, and an optional size limit. Anything else (comments, quotes, routes, a second `@`)
# is refused rather than left to a header parser that may read it otherwise.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MAILTO = re.compile(
    r"mailto:(?P<address>[A-Za-z0-9][A-Za-z0-9_+=-]*(?:\.[A-Za-z0-9_+=-]+)*"
    rf"@(?P<domain>(?:{_LABEL}\.)+{_LABEL}))"
    r"(?:!(?P<size>[0-9]{1,15})(?P<unit>[kmgtKMGT]?))?",
    re.ASCII,
)


@dataclass
class Verdict:
    """What OpenDMARC recorded for one message."""

    received: int = 0
    ipaddr: str = ""
    header_from: str = ""
    envelope_from: str = ""
    spf: str = "none"
    policy_domain: str = ""
    rua: list[str] = field(default_factory=list)
    policy: dict[str, str] = field(default_factory=dict)
    align_dkim: str = "fail"
    align_spf: str = "fail"
    disposition: str = "none"
    dkim: list[tuple[str, str, str]] = field(default_factory=list)


def parse_history(text: str, skipped: list[str] | None = None) -> list[Verdict]:
    """The verdicts of a history file; a block starts at each `job` line. A block with a value
    that cannot be read is left out, and said in `skipped`: the others are still reported."""
    verdicts: list[Verdict] = []
    for job, lines in _blocks(text):
        verdict = Verdict()
        try:
            for key, rest in lines:
                _record(verdict, key, rest)
        except ValueError as exc:
            if skipped is not None:
                skipped.append(f"job {job}: {exc}: left out")
            continue
        if verdict.policy_domain and verdict.ipaddr:
            verdicts.append(verdict)
    return verdicts


def _blocks(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each `job` line's id and the `key rest` lines that follow it, up to the next one."""
    blocks: list[tuple[str, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key == "job":
            blocks.append((rest.strip(), []))
        elif blocks and key:
            blocks[-1][1].append((key, rest))
    return blocks


def _unix_time(value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"received {value[:40]!r} is not a Unix time")
    return int(value)


def _record(v: Verdict, key: str, rest: str) -> None:
    value = rest.split(" ", maxsplit=1)[0] if rest else ""
    if key in _FIELDS:
        attribute, convert = _FIELDS[key]
        setattr(v, attribute, convert(value))
    elif key == "rua" and value != "-":
        v.rua.extend(u for u in value.split(",") if u)
    elif key in {"p", "sp", "adkim", "aspf"}:
        v.policy[key] = LETTERS.get(value, "")
    elif key == "pct":
        v.policy["pct"] = value
    elif key == "dkim":
        parts = rest.split(" ")
        if len(parts) >= 3:
            v.dkim.append((parts[0].lower(), parts[1], RESULTS.get(parts[2], "none")))


# The history's single-valued keys: the Verdict attribute each sets, and how its value reads.
_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "received": ("received", _unix_time),
    "ipaddr": ("ipaddr", str),
    "from": ("header_from", str.lower),
    "mfrom": ("envelope_from", str.lower),
    "pdomain": ("policy_domain", str.lower),
    "spf": ("spf", lambda value: RESULTS.get(value, "none")),
    "align_dkim": ("align_dkim", lambda value: ALIGNMENT.get(value, "fail")),
    "align_spf": ("align_spf", lambda value: ALIGNMENT.get(value, "fail")),
    "action": ("disposition", lambda value: DISPOSITIONS.get(value, "none")),
}


@dataclass(frozen=True)
class Reporter:
    """Who signs the reports: RFC 7489's report_metadata."""

    org_name: str
    email: str


def report_xml(reporter: Reporter, domain: str, verdicts: list[Verdict], report_id: str) -> bytes:
    """The aggregate report of `domain` (RFC 7489 appendix C) for its `verdicts`."""
    root = ET.Element("feedback")
    ET.SubElement(root, "version").text = "1.0"
    meta = ET.SubElement(root, "report_metadata")
    _text(meta, "org_name", reporter.org_name)
    _text(meta, "email", reporter.email)
    _text(meta, "report_id", report_id)
    span = ET.SubElement(meta, "date_range")
    _text(span, "begin", str(min(v.received for v in verdicts)))
    _text(span, "end", str(max(v.received for v in verdicts)))
    published = ET.SubElement(root, "policy_published")
    last = verdicts[-1].policy
    _text(published, "domain", domain)
    _text(published, "adkim", last.get("adkim") or "r")
    _text(published, "aspf", last.get("aspf") or "r")
    _text(published, "p", POLICIES.get(last.get("p", ""), "none"))
    _text(published, "sp", POLICIES.get(last.get("sp") or last.get("p", ""), "none"))
    _text(published, "pct", last.get("pct") or "100")
    rows = Counter(_row_key(v) for v in verdicts)
    for key, count in sorted(rows.items()):
        _record_xml(root, key, count)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml


RowKey = tuple[str, str, str, str, str, str, str, tuple[tuple[str, str, str], ...]]


def _row_key(v: Verdict) -> RowKey:
    return (
        v.ipaddr,
        v.disposition,
        v.align_dkim,
        v.align_spf,
        v.header_from,
        v.envelope_from,
        v.spf,
        tuple(sorted(v.dkim)),
    )


def _record_xml(root: ET.Element, key: RowKey, count: int) -> None:
    ip, disposition, dkim, spf, header_from, envelope_from, spf_result, signatures = key
    record = ET.SubElement(root, "record")
    row = ET.SubElement(record, "row")
    _text(row, "source_ip", ip)
    _text(row, "count", str(count))
    evaluated = ET.SubElement(row, "policy_evaluated")
    _text(evaluated, "disposition", disposition)
    _text(evaluated, "dkim", dkim)
    _text(evaluated, "spf", spf)
    identifiers = ET.SubElement(record, "identifiers")
    _text(identifiers, "header_from", header_from)
    if envelope_from:
        _text(identifiers, "envelope_from", envelope_from)
    results = ET.SubElement(record, "auth_results")
    for domain, selector, result in signatures:
        signature = ET.SubElement(results, "dkim")
        _text(signature, "domain", domain)
        _text(signature, "selector", selector)
        _text(signature, "result", result)
    spf_node = ET.SubElement(results, "spf")
    _text(spf_node, "domain", envelope_from or header_from)
    _text(spf_node, "scope", "mfrom")
    _text(spf_node, "result", spf_result)


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = value


def mailto(uri: str) -> tuple[str, int | None] | None:
    """The address and size limit of a `mailto:` rua URI, or None for another scheme;
    ValueError when it is a mailto: URI but not of one plain address (see _MAILTO)."""
    # A list of URIs may have spaces and tabs around each (RFC 7489 section 6.4).
    uri = uri.strip(" \t")
    if not uri.lower().startswith("mailto:"):
        return None
    match = _MAILTO.fullmatch("mailto:" + uri[len("mailto:") :])
    if match is None:
        raise ValueError("not one plain address (local-part@domain)")
    size = match.group("size")
    limit = int(size) * UNITS[match.group("unit").lower()] if size else None
    return match.group("address"), limit


def organizational(domain: str, suffixes: frozenset[str]) -> str:
    """The organizational domain (RFC 7489 section 3.2): one label under the public suffix."""
    labels = domain.lower().rstrip(".").split(".")
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        wildcard = "*." + ".".join(labels[i + 1 :])
        if "!" + candidate in suffixes:
            return ".".join(labels[i:])
        if candidate in suffixes or wildcard in suffixes:
            return ".".join(labels[max(i - 1, 0) :])
    # No rule matched: the implicit rule `*` makes the last label the suffix.
    return ".".join(labels[-2:])


def read_suffixes(path: Path) -> frozenset[str]:
    """The rules of a public suffix list file, without comments."""
    if not path.is_file():
        return frozenset()
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(line for line in lines if line and not line.startswith("//"))


def authorized_by_dns(policy_domain: str, destination: str) -> bool:
    """RFC 7489 section 7.1: does `destination` accept reports about `policy_domain`?"""
    import dns.exception  # noqa: PLC0415 (only needed for reports to another organization)
    import dns.resolver  # noqa: PLC0415

    name = f"{policy_domain}._report._dmarc.{destination}"
    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=10)
    except dns.exception.DNSException:
        return False
    texts = (b"".join(r.strings).decode("ascii", "replace") for r in answer)
    return any(t.replace(" ", "").lower().startswith("v=dmarc1") for t in texts)


@dataclass(frozen=True)
class Settings:
    reporter: Reporter
    spool: Path
    history: Path
    suffixes: frozenset[str]

    @classmethod
    def load(cls, path: Path) -> Settings:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            reporter=Reporter(data["org_name"], data["email"]),
            spool=Path(data["spool"]),
            history=Path(data["history"]),
            suffixes=read_suffixes(Path(data.get("public_suffix_list", ""))),
        )


def recipients(
    domain: str,
    uris: Iterable[str],
    size: int,
    suffixes: frozenset[str],
    authorized: Callable[[str, str], bool],
) -> tuple[list[str], list[str]]:
    """The addresses a report of `size` bytes about `domain` goes to, and why others do not."""
    to, skipped = [], []
    own = organizational(domain, suffixes)
    for uri in dict.fromkeys(uris):
        try:
            parsed = mailto(uri)
        except ValueError as exc:
            skipped.append(f"{uri!r}: {exc}")
            continue
        if parsed is None:
            skipped.append(f"{uri}: only mailto: is supported")
            continue
        address, limit = parsed
        target = address.partition("@")[2].lower()
        if limit is not None and size > limit:
            skipped.append(f"{uri}: the report ({size} bytes) is over its size limit")
        elif organizational(target, suffixes) != own and not authorized(domain, target):
            skipped.append(f"{uri}: {domain}._report._dmarc.{target} does not authorize it")
        else:
            to.append(address)
    return to, skipped


@dataclass(frozen=True)
class Report:
    """One aggregate report: its policy domain, id, period (Unix times) and XML."""

    domain: str
    report_id: str
    begin: int
    end: int
    xml: bytes


def report_message(reporter: Reporter, report: Report, to: list[str]) -> EmailMessage:
    """RFC 7489 section 7.2.1.1: the subject, and the gzipped report as the attachment."""
    domain, report_id, xml = report.domain, report.report_id, report.xml
    receiver = reporter.email.rpartition("@")[2]
    message = EmailMessage()
    message["From"] = reporter.email
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=receiver)
    message["Subject"] = (
        f"Report Domain: {domain} Submitter: {reporter.org_name} Report-ID: <{report_id}>"
    )
    message.set_content(f"DMARC aggregate report for {domain} from {reporter.org_name}.\n")
    message.add_attachment(
        gzip.compress(xml, mtime=0),
        maintype="application",
        subtype="gzip",
        filename=f"{receiver}!{domain}!{report.begin}!{report.end}.xml.gz",
    )
    return message


def take_history(settings: Settings, clock: Callable[[], float] = time.time) -> None:
    """Move the current history into the spool; OpenDMARC opens a new one for its next verdict."""
    if settings.history.is_file() and settings.history.stat().st_size > 0:
        settings.spool.mkdir(parents=True, exist_ok=True)
        target = settings.spool / f"{int(clock())}-{uuid.uuid4().hex[:8]}.dat"
        settings.history.rename(target)


# Hands a message to the mail system for the given envelope recipients.
Send = Callable[[EmailMessage, list[str]], None]


def run(
    settings: Settings,
    send: Send,
    authorized: Callable[[str, str], bool] = authorized_by_dns,
) -> list[str]:
    """One run (see the module's text); what it did, one line each."""
    take_history(settings)
    pending = sorted(settings.spool.glob("*.dat"))
    said: list[str] = []
    if not pending:
        return ["no verdicts since the last run"]
    by_domain: dict[str, list[Verdict]] = {}
    for path in pending:
        skipped: list[str] = []
        text = path.read_text(encoding="utf-8", errors="replace")
        for verdict in parse_history(text, skipped):
            by_domain.setdefault(verdict.policy_domain, []).append(verdict)
        said.extend(f"{path.name}: {note}" for note in skipped)
    for domain, verdicts in sorted(by_domain.items()):
        said.append(_report_one(settings, domain, verdicts, send, authorized))
    sent = settings.spool / "sent"
    sent.mkdir(exist_ok=True)
    for path in pending:
        path.rename(sent / path.name)
    return said


def _report_one(
    settings: Settings,
    domain: str,
    verdicts: list[Verdict],
    send: Send,
    authorized: Callable[[str, str], bool],
) -> str:
    uris = [u for v in verdicts for u in v.rua]
    messages = len(verdicts)
    if not uris:
        return f"{domain}: {messages} messages, no rua: no report"
    begin = min(v.received for v in verdicts)
    end = max(v.received for v in verdicts)
    # The same verdicts give the same id: a report sent again after a failed run is a duplicate
    # that readers recognize, not new traffic.
    digest = hashlib.sha256(repr(sorted(_row_key(v) for v in verdicts)).encode()).hexdigest()
    report_id = f"{settings.reporter.org_name}.{domain}.{begin}.{end}.{digest[:12]}"
    report = Report(
        domain, report_id, begin, end, report_xml(settings.reporter, domain, verdicts, report_id)
    )
    size = len(gzip.compress(report.xml, mtime=0))
    to, skipped = recipients(domain, uris, size, settings.suffixes, authorized)
    notes = "".join(f"; not sent to {s}" for s in skipped)
    if not to:
        return f"{domain}: {messages} messages, no address may receive it{notes}"
    send(report_message(settings.reporter, report, to), to)
    return f"{domain}: {messages} messages reported to {', '.join(to)}{notes}"


def sendmail(sender: str) -> Send:
    """Hand each message to the local Postfix, the reporter's address as the envelope sender
    (so that SPF passes aligned where the report is received). The recipients are arguments,
    the checked addresses themselves: never read back from the headers (`-t`), which a header
    parser may split otherwise. None starts with `-` (_MAILTO)."""

    def send(message: EmailMessage, to: list[str]) -> None:
        command = ["/usr/sbin/sendmail", "-oi", "-f", sender, *to]
        subprocess.run(command, input=message.as_bytes(), check=True, timeout=120)

    return send


def save_to(directory: Path) -> Send:
    """--dry-run: write each message as an .eml file instead of sending it."""

    def save(message: EmailMessage, to: list[str]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        name = str(message["Message-ID"]).strip("<>").replace("/", "_")
        (directory / f"{name}.eml").write_bytes(message.as_bytes())

    return save


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("/etc/mailstack/dmarc-reports.json"))
    parser.add_argument("--dry-run", type=Path, metavar="DIR", help="write .eml files to DIR")
    args = parser.parse_args(argv)
    settings = Settings.load(args.config)
    send = save_to(args.dry_run) if args.dry_run else sendmail(settings.reporter.email)
    try:
        for line in run(settings, send):
            print(line)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"dmarc reports: {exc}; the verdicts stay pending", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.umask(0o027)
    sys.exit(main())
