"""Every DNS record of the described mail domains, and the checks made before publishing.

`build(inventory)` derives the records from the description and from the public keys the
servers published into the inventory, then checks the whole: SPF lookups through includes,
duplicate records, unique keys. Nothing here talks to a DNS provider.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mailstack import autoconfig as clients
from mailstack import dmarc, mtasts, spf, txt
from mailstack.dnssource import CacheSource, PlanSource, Source, SourceError
from mailstack.fields import DNS_NAME_LIMIT, is_labels
from mailstack.inventory import Inventory
from mailstack.keys import KeyError_, PublishedKeys, dkim_value, tlsa_311
from mailstack.model import SERVICES, SPF_ALL, Description, Domain, Host, SpfSender
from mailstack.problems import Problems
from mailstack.records import Record, in_zone, zone_of
from mailstack.smime import smimea

# The largest published key file read: a PEM public key or certificate chain is far smaller.
KEY_FILE_LIMIT = 256 * 1024


@dataclass
class Plan:
    records: list[Record]
    zones: tuple[str, ...]
    dnssec: set[str]
    policies: dict[str, str] = field(default_factory=dict)
    problems: Problems = field(default_factory=Problems)

    def zone_records(self, zone: str) -> list[Record]:
        return [r for r in self.records if r.zone == zone]


def build(inventory: Inventory, source: Source | None = None) -> Plan:
    """The plan of an inventory; SPF includes outside our zones resolve through `source`
    (by default the offline cache kept in the inventory)."""
    broken = None
    if source is None:
        try:
            source = CacheSource.load(inventory.spf_cache)
        except SourceError as exc:
            broken, source = str(exc), CacheSource(inventory.spf_cache)
    result = plan(inventory.description, inventory.published, source)
    if broken is not None:
        result.problems.error(str(inventory.spf_cache), broken)
    return result


def plan(description: Description, keys: PublishedKeys, source: Source) -> Plan:
    builder = _Builder(description, keys, source)
    for domain in description.domains:
        builder.domain(domain)
    builder.hosts()
    builder.check()
    return builder.result


class _Builder:
    def __init__(self, description: Description, keys: PublishedKeys, source: Source) -> None:
        self.d = description
        self.keys = keys
        self.source = source
        zones = description.zones
        self.ttl = {z: min(d.ttl for d in description.domains if d.zone == z) for z in zones}
        dnssec = {d.zone for d in description.domains if d.dnssec}
        self.result = Plan([], zones, dnssec)
        self.zone_set = frozenset(zones)
        self.problems = self.result.problems
        self.spf_checks: list[tuple[Domain, str]] = []

    # -- helpers ---------------------------------------------------------------------------
    def add(self, name: str, rtype: str, rdata: str, ttl: int, key: str) -> None:
        zone = zone_of(name, self.zone_set)
        if zone is None:
            return
        if not is_labels(name) or len(name) > DNS_NAME_LIMIT:
            self.problems.error(
                name[:80] + ("..." if len(name) > 80 else ""),
                f"the {rtype} record's name is {len(name)} characters long: a DNS name is"
                f" {DNS_NAME_LIMIT} at most (shorten the domain or the name it is built from)",
            )
            return
        self.result.records.append(Record(zone, name, rtype, rdata, ttl, f"{rtype}:{name}:{key}"))

    def add_txt(self, name: str, value: str, ttl: int, key: str) -> None:
        self.add(name, "TXT", txt.presentation(value), ttl, key)

    def addresses(self, name: str, host: Host, ttl: int) -> None:
        if host.ipv4 is not None:
            self.add(name, "A", str(host.ipv4), ttl, "address")
        if host.ipv6 is not None:
            self.add(name, "AAAA", str(host.ipv6), ttl, "address")

    def read_key(self, path: Path, at: str) -> bytes | None:
        """A published key file's bytes; None after an error when it is no readable file or
        larger than any key."""
        try:
            if not path.is_file():
                raise OSError(0, "not a file")
            if path.stat().st_size > KEY_FILE_LIMIT:
                raise OSError(0, f"over {KEY_FILE_LIMIT} bytes: not a public key")
            return path.read_bytes()
        except OSError as exc:
            self.problems.error(at, f"{path}: {exc.strerror}")
            return None

    def ours(self, name: str) -> bool:
        return zone_of(name, self.zone_set) is not None

    # -- one domain ------------------------------------------------------------------------
    def domain(self, d: Domain) -> None:
        if d.parked:
            self.add(d.name, "MX", "0 .", d.ttl, "null")
            self.add_txt(d.name, "v=spf1 -all", d.ttl, "spf")
            self.dmarc(d)
            return
        for mx in d.mx:
            self.add(d.name, "MX", f"{mx.priority} {mx.host}.", d.ttl, mx.host)
        self.spf(d)
        self.dkim(d)
        self.dmarc(d)
        self.mta_sts(d)
        if d.tls_rpt:
            self.add_txt(
                f"_smtp._tls.{d.name}", "v=TLSRPTv1; rua=" + ",".join(d.tls_rpt), d.ttl, "tlsrpt"
            )
        if d.bimi is not None:
            value = f"v=BIMI1; l={d.bimi.logo};"
            if d.bimi.authority:
                value += f" a={d.bimi.authority};"
            self.add_txt(f"default._bimi.{d.name}", value, d.ttl, "bimi")
        for tag, value in d.caa:
            self.add(d.name, "CAA", f'0 {tag} "{value}"', d.ttl, f"{tag}:{value}")
        self.autoconfig(d)
        self.smime(d)
        self.mailman(d)

    def spf(self, d: Domain) -> None:
        if d.spf is None:
            self.problems.warning(
                f"{d.path}.spf", "no SPF record: receivers cannot tell your senders"
            )
            return
        terms = [term for s in d.spf.senders for term in self.spf_terms(d, s)]
        all_ = SPF_ALL[d.spf.all] + "all"
        if d.spf.flatten:
            flat = spf.flatten(d.name, terms, all_, self.source)
            for warning in flat.warnings:
                self.problems.warning(f"{d.path}.spf.flatten", warning)
            for name, value in flat.continuations:
                self.add_txt(name, value, d.ttl, "spf")
            record = flat.main
        else:
            record = " ".join(["v=spf1", *terms, all_])
        self.add_txt(d.name, record, d.ttl, "spf")
        self.spf_checks.append((d, record))

    def spf_terms(self, d: Domain, sender: SpfSender) -> list[str]:
        """The sender's SPF terms. `mx` of the domain itself would authorise every MX host: when
        one is a backup that does not send, the sending MX hosts are listed instead, the
        addresses of the described ones and `a:` of the others, so that SPF names exactly the
        hosts that send."""
        if sender.mechanism != "mx" or sender.value or all(m.sender for m in d.mx):
            return [sender.term()]
        terms: list[str] = []
        for mx in d.mx:
            host = self.d.host(mx.host)
            if not mx.sender:
                continue
            if host is None:
                terms.append(f"a:{mx.host}")
            else:
                terms += [f"ip4:{host.ipv4}"] if host.ipv4 is not None else []
                terms += [f"ip6:{host.ipv6}"] if host.ipv6 is not None else []
        return terms

    def dkim(self, d: Domain) -> None:
        for i, selector in enumerate(d.dkim):
            path = self.keys.dkim(d.name, selector.selector)
            at = f"{d.path}.dkim[{i}]"
            if not path.exists():
                self.problems.warning(
                    at, f"no public key at {path} yet: the DKIM role writes it, then plan again"
                )
                continue
            data = self.read_key(path, at)
            if data is None:
                continue
            try:
                value, warning = dkim_value(data, selector.algorithm)
            except (KeyError_, ValueError) as exc:
                self.problems.error(at, f"{path}: {exc}")
                continue
            if warning:
                self.problems.warning(at, warning)
            self.add_txt(f"{selector.selector}._domainkey.{d.name}", value, d.ttl, "dkim")

    def dmarc(self, d: Domain) -> None:
        value = dmarc.build(d.dmarc)
        try:
            dmarc.parse(value)  # what receivers will read back
        except ValueError as exc:
            self.problems.error(f"{d.path}.dmarc", f"the record {value!r} is invalid: {exc}")
            return
        self.add_txt(f"_dmarc.{d.name}", value, d.ttl, "dmarc")
        for dest in dmarc.report_domains(d.dmarc):
            if in_zone(dest, d.name) or in_zone(d.name, dest):
                continue
            name = f"{d.name}._report._dmarc.{dest}"
            if self.ours(dest):
                self.add_txt(
                    name,
                    "v=DMARC1",
                    self.ttl[zone_of(dest, self.zone_set) or ""],
                    "dmarc-report",
                )
            else:
                self.problems.warning(
                    f"{d.path}.dmarc.rua",
                    f"reports go to {dest}, a domain we do not control: it must publish"
                    f' {name} TXT "v=DMARC1" or receivers will not send them',
                )

    def mta_sts(self, d: Domain) -> None:
        text = mtasts.policy_of(d)
        if text is None:
            return
        self.result.policies[d.name] = text
        self.add_txt(f"_mta-sts.{d.name}", mtasts.txt_value(text), d.ttl, "mta-sts")
        host_name = self.d.policy_host(d)
        host = self.d.host(host_name) if host_name else None
        if host is None:
            self.problems.error(
                f"{d.path}.mta_sts.host", "needs a host of the mail group to serve the policy"
            )
            return
        self.addresses(f"mta-sts.{d.name}", host, d.ttl)

    def autoconfig(self, d: Domain) -> None:
        ac = d.autoconfig
        if ac is None:
            return
        for service, port in SERVICES.items():
            target = f"0 1 {port} {ac.host}." if service in ac.services else "0 0 0 ."
            self.add(f"_{service}._tcp.{d.name}", "SRV", target, d.ttl, "srv")
        self.add(
            f"_autodiscover._tcp.{d.name}", "SRV", f"0 1 443 autodiscover.{d.name}.", d.ttl, "srv"
        )
        host = self.d.host(ac.host)
        if host is not None:
            for name in clients.site_names(d.name, ac.well_known):
                self.addresses(name, host, d.ttl)

    def smime(self, d: Domain) -> None:
        """An SMIMEA record for each mailbox's published certificate, and the addresses of
        the name that serves the domain's CA certificate and CRL."""
        if d.smime is None:
            return
        for i, mailbox in enumerate(d.accounts.mailboxes):
            path = self.keys.smime(d.name, mailbox.name)
            if not path.exists():
                continue
            address = f"{mailbox.name}@{d.name}"
            found = smimea.published(path, address)
            at = f"{d.path}.mailboxes[{i}]"
            if found.problem is not None:
                self.problems.warning(at, f"{path}: {found.problem}: no SMIMEA record")
                continue
            self.add(smimea.owner(address), "SMIMEA", found.rdata, d.ttl, "smimea")
        host_name = self.d.pki_host(d)
        host = self.d.host(host_name) if host_name else None
        name = d.smime.pki_name
        if host is not None and name is not None and self.d.host(name) is None:
            self.addresses(name, host, d.ttl)

    def mailman(self, d: Domain) -> None:
        """The addresses of the name of the lists' web interfaces, at the list host (a host's
        own name has them already)."""
        if d.mailman is None:
            return
        name = d.mailman.web_name
        host_name = self.d.list_host(d)
        host = self.d.host(host_name) if host_name else None
        if host is None or self.d.host(name) is not None:
            return
        if not self.ours(name):
            self.problems.warning(
                f"{d.path}.mailman.web_name",
                f"{name} is in none of the described zones: point it at {host.name} where its"
                " zone is served, or the lists' web pages and their certificate fail",
            )
            return
        self.addresses(name, host, d.ttl)

    # -- hosts -----------------------------------------------------------------------------
    def hosts(self) -> None:
        mx_hosts = {m.host for d in self.d.domains for m in d.mx}
        domain_names = {d.name for d in self.d.domains}
        for host in self.d.hosts:
            zone = zone_of(host.name, self.zone_set)
            if zone is None:
                continue
            ttl = self.ttl[zone]
            self.addresses(host.name, host, ttl)
            if host.name not in domain_names:
                # The HELO identity: only this host sends as itself (RFC 7208 section 2.3).
                self.add_txt(host.name, "v=spf1 a -all", ttl, "spf")
            if host.name in mx_hosts:
                self.tlsa(host, ttl)

    def tlsa(self, host: Host, ttl: int) -> None:
        at = f"hosts.{host.name}"
        found: list[str] = []
        for which in ("current", "next"):
            path = self.keys.tls(host.name, which)
            if not path.exists():
                continue
            data = self.read_key(path, at)
            if data is None:
                continue
            try:
                digest = tlsa_311(data)
            except (KeyError_, ValueError) as exc:
                self.problems.error(at, f"{path}: {exc}")
                continue
            if digest not in found:
                found.append(digest)
                self.add(f"_25._tcp.{host.name}", "TLSA", f"3 1 1 {digest}", ttl, digest[:16])
        if not found:
            self.problems.warning(
                at,
                f"no TLS key published under {self.keys.tls(host.name, 'current').parent}:"
                " no TLSA, so no DANE for this MX until the tls role runs",
            )
        elif len(found) == 1:
            self.problems.warning(
                at, "one TLSA only: publish the next key (next.pem) too, before it is used"
            )

    # -- checks over the whole plan --------------------------------------------------------
    def check(self) -> None:
        records = self.result.records
        by_key: dict[tuple[str, str], Record] = {}
        spf_at: dict[str, int] = defaultdict(int)
        for record in records:
            if (record.zone, record.key) in by_key:
                self.problems.error(record.name, f"two records would share the key {record.key}")
            by_key[(record.zone, record.key)] = record
            if record.rtype == "TXT" and txt.joined(record.rdata).lower().startswith("v=spf1"):
                spf_at[record.name] += 1
        for name, count in spf_at.items():
            if count > 1:
                self.problems.error(
                    name, f"{count} SPF records at one name: receivers answer permerror"
                )
        source = PlanSource(records, self.result.zones, self.source)
        for d, text in self.spf_checks:
            result = spf.check(d.name, text, source)
            for message in result.errors:
                self.problems.error(f"{d.path}.spf", message)
            for message in result.warnings:
                self.problems.warning(f"{d.path}.spf", message)
        self.result.records.sort(key=lambda r: (r.zone, r.name, r.rtype, r.rdata))
