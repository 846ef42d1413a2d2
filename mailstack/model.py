"""The mail description: its typed model, read and validated from inventory data.

`parse(data)` takes the plain data of the inventory (`mailstack_domains` and the hosts of
the `mail` group, and of the `pmg` group: the Proxmox Mail Gateways in front of them) and
returns a `Description`, or raises `DescriptionError` with every problem, each with its path in
the description.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from mailstack import accounts, lists
from mailstack.fields import (
    NAME_LIMIT,
    Reader,
    check_name,
    check_network,
    check_text,
    exactly_one,
    first_time,
    is_dns_name,
    is_labels,
)
from mailstack.problems import DescriptionError, Problems
from mailstack.records import in_zone

Policy = Literal["none", "quarantine", "reject"]
POLICIES: tuple[Policy, ...] = ("none", "quarantine", "reject")
SPF_ALL = {"fail": "-", "softfail": "~", "neutral": "?"}
SPF_MECHANISMS = ("a", "mx", "ip4", "ip6", "include")
DKIM_ALGORITHMS = ("rsa", "ed25519")
DKIM_STATES = ("staged", "active", "retiring")
# The defaults of a selector that says nothing more than its name.
DKIM_DEFAULT_ALGORITHM = "rsa"
DKIM_DEFAULT_STATE = "active"
STS_MODES = ("enforce", "testing", "none")
# What an MX host is for its domain: the primary keeps its mailboxes (mailstack replicates no
# mailbox, so a domain has one), a backup queues the domain's mail and relays it to the primary.
MX_ROLES = ("primary", "backup")
# How long a backup keeps mail while the primary is unreachable: Postfix's time units.
BACKUP_QUEUE_LIFETIME = "5d"
_DURATION = re.compile(r"(?P<count>[1-9][0-9]{0,5})(?P<unit>[smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
QUEUE_LIFETIME_BOUNDS = (3600, 30 * 86400)
# RFC 6186 and RFC 8314 services, with their ports.
SERVICES = {
    "submission": 587,
    "submissions": 465,
    "imap": 143,
    "imaps": 993,
    "pop3": 110,
    "pop3s": 995,
}
CAA_TAGS = ("issue", "issuewild", "iodef", "issuemail", "issuevmc")
# S/MIME: who issues a domain's certificates, and the end-entity keys mailstack's CA makes.
SMIME_CAS = ("mailstack", "external")
SMIME_KEYS = ("rsa-3072", "ecdsa-p256")
# The CA/Browser Forum S/MIME Baseline Requirements' longest validity (strict profiles).
SMIME_MAX_DAYS = 825
# A mailto: report URI (RFC 7489 section 6.2): a conservative dot-atom local part, a host
# name, and a size limit such as `!10m`; matched whole (re.fullmatch), as every pattern here.
_MAILTO = re.compile(
    r"mailto:[A-Za-z0-9_+=-]+(?:\.[A-Za-z0-9_+=-]+)*@(?P<domain>[A-Za-z0-9.-]+)(?:![0-9]+[kmgt]?)?"
)
_HTTPS = re.compile(r'https://[^\s;,"\\]+')
MIN_TTL = 60


@dataclass(frozen=True)
class Host:
    name: str
    ipv4: ipaddress.IPv4Address | None = None
    ipv6: ipaddress.IPv6Address | None = None
    # A Proxmox Mail Gateway (group `pmg`): an MX edge that relays to a backend mail host.
    gateway: bool = False


@dataclass(frozen=True)
class Mx:
    host: str
    priority: int
    # `primary` (mailboxes, submission, IMAP and POP3) or `backup` (queues and relays).
    role: str = "primary"
    # A backup's queue lifetime, in seconds; None for a primary.
    queue_lifetime: int | None = None
    # A backup that also sends as the domain (SPF, DKIM keys); a primary always does.
    sends: bool = False

    @property
    def sender(self) -> bool:
        """Whether the host sends the domain's mail: its primary, or a backup told to."""
        return self.role == "primary" or self.sends


@dataclass(frozen=True)
class SpfSender:
    """One SPF mechanism: `value` is the domain of a/mx/include ("" for the domain itself)
    or the network of ip4/ip6; `who` says who sends through it."""

    mechanism: str
    value: str
    who: str | None = None

    def term(self) -> str:
        if self.mechanism in ("a", "mx") and not self.value:
            return self.mechanism
        return f"{self.mechanism}:{self.value}"


@dataclass(frozen=True)
class Spf:
    senders: tuple[SpfSender, ...]
    all: str = "fail"
    flatten: bool = False


@dataclass(frozen=True)
class DkimSelector:
    selector: str
    algorithm: str = "rsa"
    # staged, active or retiring (mailstack.dkimstate): published in all three; signs if active.
    state: str = "active"
    # When it began retiring (UTC, ISO 8601): it may be removed once the delay has passed.
    since: str | None = None


@dataclass(frozen=True)
class Dmarc:
    p: Policy = "reject"
    sp: Policy | None = None
    np: Policy | None = None
    adkim: str = "r"
    aspf: str = "r"
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    t: bool = False
    pct: int | None = None

    @property
    def effective_sp(self) -> Policy:
        return self.sp or self.p


@dataclass(frozen=True)
class MtaSts:
    mode: str = "enforce"
    max_age: int = 604800
    host: str | None = None
    mx: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bimi:
    logo: str
    authority: str | None = None


@dataclass(frozen=True)
class Autoconfig:
    host: str
    services: tuple[str, ...]
    # The domain's own name also points at the host, which answers
    # https://<domain>/.well-known/autoconfig/ (no other web site at the domain's name).
    well_known: bool = False


@dataclass(frozen=True)
class Smime:
    """S/MIME for the domain's mailboxes: mailstack's own CA for the domain issues their
    certificates, or (`external`) each user brings the .p12 a CA gave them."""

    ca: str = "mailstack"
    key: str = "rsa-3072"
    validity: int = 365
    ca_validity: int = 3650
    crl_days: int = 30
    # The name that serves the CA certificate and its CRL over HTTP (mailstack's CA only).
    pki_name: str | None = None
    # The mail host that serves them.
    host: str | None = None

    @property
    def own_ca(self) -> bool:
        return self.ca == "mailstack"


@dataclass(frozen=True)
class Domain:
    name: str
    zone: str
    path: str
    ttl: int = 3600
    dnssec: bool = True
    parked: bool = False
    mx: tuple[Mx, ...] = ()
    spf: Spf | None = None
    dkim: tuple[DkimSelector, ...] = ()
    dmarc: Dmarc = field(default_factory=Dmarc)
    mta_sts: MtaSts | None = None
    tls_rpt: tuple[str, ...] = ()
    bimi: Bimi | None = None
    caa: tuple[tuple[str, str], ...] = ()
    autoconfig: Autoconfig | None = None
    accounts: accounts.Accounts = field(default_factory=accounts.Accounts)
    # Behind gateways: the mail host (group `mail`) the gateways relay the domain's mail to.
    backend: str | None = None
    smime: Smime | None = None
    # Mailing lists (Mailman 3): a domain of lists has no mailbox or alias.
    mailman: lists.Mailman | None = None

    @property
    def sts_patterns(self) -> tuple[str, ...]:
        """The MX patterns of the domain's MTA-STS policy: those it names, else its MX hosts."""
        named = self.mta_sts.mx if self.mta_sts is not None else ()
        return named or tuple(m.host for m in self.mx)


@dataclass(frozen=True)
class Description:
    domains: tuple[Domain, ...]
    hosts: tuple[Host, ...]

    @property
    def zones(self) -> tuple[str, ...]:
        return tuple(sorted({d.zone for d in self.domains}))

    def host(self, name: str) -> Host | None:
        for host in self.hosts:
            if host.name == name:
                return host
        return None

    # -- who does what for a domain: the one place the topology is worked out -------------
    def gateways(self, domain: Domain) -> tuple[str, ...]:
        """The domain's MX hosts that are gateways (group `pmg`), in MX order."""
        return tuple(m.host for m in domain.mx if (h := self.host(m.host)) and h.gateway)

    def stores(self, domain: Domain) -> tuple[str, ...]:
        """The mail hosts that receive and keep the domain's mail: its backend when it is
        behind gateways, else its primary MX hosts that are ours and not gateways (backups
        keep no mailbox)."""
        if domain.backend is not None:
            return (domain.backend,)
        return tuple(m.host for m in self.own_mx(domain) if m.role == "primary")

    def backups(self, domain: Domain) -> tuple[str, ...]:
        """The domain's backup MX hosts that are ours (mail hosts, not gateways), in MX order:
        they queue its mail while the primary is unreachable and relay it there."""
        return tuple(m.host for m in self.own_mx(domain) if m.role == "backup")

    def signers(self, domain: Domain) -> tuple[str, ...]:
        """The mail hosts that send the domain's mail and sign it: those that keep it, and
        its backups that the description says send (`sends: true`)."""
        sending = tuple(m.host for m in self.own_mx(domain) if m.role == "backup" and m.sends)
        return self.stores(domain) + sending

    def own_mx(self, domain: Domain) -> tuple[Mx, ...]:
        """The domain's MX entries whose hosts are mail hosts of the description."""
        return tuple(m for m in domain.mx if (h := self.host(m.host)) and not h.gateway)

    def policy_host(self, domain: Domain) -> str | None:
        """The mail host that serves the domain's MTA-STS policy over HTTPS: the one it names,
        else its first MX that is a mail host (a gateway serves no HTTPS), else its backend."""
        if domain.mta_sts is None:
            return None
        name = domain.mta_sts.host or next(iter(self.stores(domain)), None)
        return name if name is not None and self.host(name) is not None else None

    def pki_host(self, domain: Domain) -> str | None:
        """The mail host that serves the domain's S/MIME CA certificate and CRL over HTTP: the
        one its `smime.host` names, else its first mail host that keeps its mail."""
        if domain.smime is None or not domain.smime.own_ca:
            return None
        name = domain.smime.host or next(iter(self.stores(domain)), None)
        return name if name is not None and self.host(name) is not None else None

    def list_host(self, domain: Domain) -> str | None:
        """The mail host that runs the domain's mailing lists (Mailman): its first MX, a
        primary that is a mail host of the description (not a gateway); None for a domain
        without lists."""
        if domain.mailman is None or not domain.mx:
            return None
        first = domain.mx[0]
        host = self.host(first.host)
        usable = host is not None and not host.gateway and first.role == "primary"
        return first.host if usable else None


def parse(
    domains: object, hosts: Mapping[str, Mapping[str, Any]], gateways: Collection[str] = ()
) -> Description:
    """Validate `mailstack_domains` and the hosts' variables; raise on any error. `gateways`
    names the hosts of `hosts` that are Proxmox Mail Gateways (group `pmg`)."""
    problems = Problems()
    description = read(domains, hosts, problems, gateways)
    if problems.errors:
        raise DescriptionError(problems)
    return description


def read(
    domains: object,
    hosts: Mapping[str, Mapping[str, Any]],
    problems: Problems,
    gateways: Collection[str] = (),
) -> Description:
    """Like `parse`, but record the problems and return what could be read."""
    parsed_hosts = tuple(
        _host(name, hv, problems, gateway=name in gateways) for name, hv in sorted(hosts.items())
    )
    parsed_domains: list[Domain] = []
    if not isinstance(domains, list):
        problems.error("mailstack_domains", "must be a list of mail domains")
    elif not domains:
        problems.error(
            "mailstack_domains",
            "is empty: a mail system with no domain (describe one, or a parked domain)",
        )
    else:
        seen: dict[str, str] = {}
        for i, item in enumerate(domains):
            domain = _domain(item, f"mailstack_domains[{i}]", problems)
            if domain is None:
                continue
            if first_time(domain.name, f"{domain.path}.name", seen, problems):
                parsed_domains.append(domain)
    description = Description(tuple(parsed_domains), parsed_hosts)
    _cross_checks(description, problems)
    _report_addresses_delivered(description, problems)
    return description


def _host(
    name: str, hostvars: Mapping[str, Any], problems: Problems, *, gateway: bool = False
) -> Host:
    path = f"hosts.{name}"
    checked = check_name(name, path, problems, host=True) or name
    ipv4 = ipv6 = None
    for key, version in (("mailstack_ipv4", 4), ("mailstack_ipv6", 6)):
        value = hostvars.get(key)
        if value is None or (
            isinstance(value, str) and not check_text(value, f"{path}.{key}", problems, NAME_LIMIT)
        ):
            continue
        try:
            address = ipaddress.ip_address(value) if isinstance(value, str) else None
        except ValueError:
            address = None
        if address is None or address.version != version:
            problems.error(f"{path}.{key}", f"{value!r} is not an IPv{version} address")
            continue
        if isinstance(address, ipaddress.IPv4Address):
            ipv4 = address
        else:
            ipv6 = address
    return Host(checked, ipv4, ipv6, gateway)


def _domain(data: object, path: str, problems: Problems) -> Domain | None:
    r = Reader(data, path, problems)
    if not r.ok:
        return None
    name = r.name("name", required=True)
    zone = r.name("zone") or name
    ttl = r.integer("ttl", 3600, low=MIN_TTL, high=86400 * 7)
    dnssec = r.flag("dnssec", True)
    parked = r.flag("parked", False)
    if name and zone and not (name == zone or name.endswith("." + zone)):
        problems.error(r.at("zone"), f"{name} is not in the zone {zone}")
    mx = _mx_list(r, problems)
    spf = _spf(r.raw("spf"), r.at("spf"), problems) if r.has("spf") else None
    dkim = _dkim(r, problems)
    dmarc = _dmarc(r.raw("dmarc"), r.at("dmarc"), problems) if r.has("dmarc") else Dmarc()
    mta_sts = _mta_sts(r.raw("mta_sts"), r.at("mta_sts"), problems) if r.has("mta_sts") else None
    tls_rpt = _tls_rpt(r.raw("tls_rpt"), r.at("tls_rpt"), problems) if r.has("tls_rpt") else ()
    bimi = _bimi(r.raw("bimi"), r.at("bimi"), problems) if r.has("bimi") else None
    caa = _caa(r.raw("caa"), r.at("caa"), problems) if r.has("caa") else ()
    autoconfig = (
        _autoconfig(r.raw("autoconfig"), r.at("autoconfig"), problems)
        if r.has("autoconfig")
        else None
    )
    mail_accounts = accounts.read(r, problems)
    backend = r.name("backend", host=True)
    smime = _smime(r.raw("smime"), r.at("smime"), name, problems) if r.has("smime") else None
    mailman = (
        lists.read(r.raw("mailman"), r.at("mailman"), name, problems) if r.has("mailman") else None
    )
    r.done()
    if name is None or zone is None:
        return None
    if parked:
        for key in (
            "mx",
            "spf",
            "dkim",
            "mta_sts",
            "tls_rpt",
            "bimi",
            "autoconfig",
            "mailboxes",
            "backend",
            "smime",
        ):
            if r.has(key):
                problems.error(r.at(key), "a parked domain sends and receives no mail: remove it")
        if r.has("mailman"):
            problems.error(
                r.at("mailman"),
                f"a parked domain receives no mail, and lists do: they live on a domain of their"
                f" own (such as lists.{name})",
            )
        dmarc = Dmarc(p="reject", sp="reject", adkim="s", aspf="s", rua=dmarc.rua)
    else:
        if not mx:
            problems.error(
                r.at("mx"), "is required (or set parked: true for a domain with no mail)"
            )
        if bimi is not None and (
            dmarc.p == "none" or dmarc.effective_sp == "none" or _pct(dmarc) < 100
        ):
            problems.error(
                r.at("bimi"),
                "BIMI needs DMARC enforcement: dmarc.p and dmarc.sp must be quarantine or reject"
                f" and pct 100 (now p={dmarc.p}, sp={dmarc.effective_sp}, pct={_pct(dmarc)})",
            )
    return Domain(
        name=name,
        zone=zone,
        path=path,
        ttl=ttl,
        dnssec=dnssec,
        parked=parked,
        mx=mx,
        spf=spf,
        dkim=dkim,
        dmarc=dmarc,
        mta_sts=mta_sts,
        tls_rpt=tls_rpt,
        bimi=bimi,
        caa=caa,
        autoconfig=autoconfig,
        accounts=mail_accounts,
        backend=backend,
        smime=None if parked else smime,
        mailman=None if parked else mailman,
    )


def _pct(dmarc: Dmarc) -> int:
    """The share of mail the policy applies to: pct, 100 when not given."""
    return 100 if dmarc.pct is None else dmarc.pct


def _mx_list(r: Reader, problems: Problems) -> tuple[Mx, ...]:
    out: list[Mx] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(r.items("mx")):
        m = Reader(item, f"{r.at('mx')}[{i}]", problems)
        host = m.name("host", required=True, host=True)
        priority = m.integer("priority", 10, low=0, high=65535)
        role = m.text("role", "primary", choices=MX_ROLES) or "primary"
        lifetime = _queue_lifetime(m, problems)
        sends = m.flag("sends", False)
        if role == "primary":
            for key in ("queue_lifetime", "sends"):
                if m.has(key):
                    problems.error(m.at(key), "is only for a backup MX (role: backup)")
        m.done()
        if host is not None and host.rsplit(".", 1)[-1].isdigit():
            problems.error(
                m.at("host"),
                f"{host} is an address, not a host name: an MX names a host (give its name,"
                " and its address in the inventory)",
            )
        elif host is not None and first_time(host, m.at("host"), seen, problems):
            backup = role == "backup"
            out.append(Mx(host, priority, role, lifetime if backup else None, sends and backup))
    return tuple(sorted(out, key=lambda m: (m.priority, m.host)))


def _queue_lifetime(m: Reader, problems: Problems) -> int:
    """A backup's queue lifetime, in seconds, from Postfix's form (`5d`, `36h`)."""
    text = m.text("queue_lifetime", BACKUP_QUEUE_LIFETIME, longest=16) or BACKUP_QUEUE_LIFETIME
    seconds = seconds_of(text)
    low, high = QUEUE_LIFETIME_BOUNDS
    if seconds is None or not low <= seconds <= high:
        problems.error(
            m.at("queue_lifetime"),
            f"{text!r} is not a duration from 1h to 30d: a number and a unit, s, m, h, d or w"
            " (such as 5d or 36h)",
        )
        return seconds_of(BACKUP_QUEUE_LIFETIME) or 0
    return seconds


def seconds_of(text: str) -> int | None:
    """The seconds of a duration in Postfix's form (`5d`), or None for anything else."""
    match = _DURATION.fullmatch(text)
    return int(match["count"]) * _UNIT_SECONDS[match["unit"]] if match else None


def _spf(data: object, path: str, problems: Problems) -> Spf:
    r = Reader(data, path, problems)
    senders: list[SpfSender] = []
    for i, item in enumerate(r.items("senders")):
        sender = _spf_sender(item, f"{r.at('senders')}[{i}]", problems)
        if sender is not None:
            senders.append(sender)
    all_ = r.text("all", "fail", choices=tuple(SPF_ALL))
    flatten = r.flag("flatten", False)
    r.done()
    return Spf(tuple(senders), all_ or "fail", flatten)


def _spf_sender(data: object, path: str, problems: Problems) -> SpfSender | None:
    r = Reader(data, path, problems)
    if not r.ok:
        return None
    present = [m for m in SPF_MECHANISMS if m in r.data]
    who = r.text("who")
    for m in SPF_MECHANISMS:
        r.raw(m)
    r.done()
    mechanism = exactly_one(present, SPF_MECHANISMS, path, problems)
    if mechanism is None:
        return None
    return _spf_mechanism(mechanism, r.data[mechanism], who, path, problems)


def _spf_mechanism(
    mechanism: str, value: object, who: str | None, path: str, problems: Problems
) -> SpfSender | None:
    at = f"{path}.{mechanism}"
    if mechanism in ("ip4", "ip6"):
        net = check_network(value, 4 if mechanism == "ip4" else 6, at, problems)
        if net is None:
            return None
        text = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
        return SpfSender(mechanism, text, who)
    if mechanism in ("a", "mx") and value is True:
        return SpfSender(mechanism, "", who)
    if mechanism == "include" and not who:
        problems.error(
            f"{path}.who",
            "is required for an include: say who sends for you through it"
            " (a forgotten cloud sender is the first SPF pitfall)",
        )
    if not isinstance(value, str):
        what = "true (this domain) or a domain name" if mechanism != "include" else "a domain name"
        problems.error(at, f"must be {what}")
        return None
    name = check_name(value, at, problems)
    return SpfSender(mechanism, name, who) if name else None


def _dkim(r: Reader, problems: Problems) -> tuple[DkimSelector, ...]:
    out: list[DkimSelector] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(r.items("dkim")):
        s = Reader(item, f"{r.at('dkim')}[{i}]", problems)
        selector = s.text("selector", required=True, longest=NAME_LIMIT)
        algorithm = s.text("algorithm", DKIM_DEFAULT_ALGORITHM, choices=DKIM_ALGORITHMS)
        state = s.text("state", DKIM_DEFAULT_STATE, choices=DKIM_STATES) or DKIM_DEFAULT_STATE
        since = _since(s, state, problems)
        s.done()
        if selector is None:
            continue
        if not is_labels(selector, host=True):
            problems.error(s.at("selector"), f"{selector!r} is not a selector (lower-case labels)")
        elif first_time(selector, s.at("selector"), seen, problems):
            out.append(
                DkimSelector(
                    selector,
                    algorithm or DKIM_DEFAULT_ALGORITHM,
                    state,
                    since,
                )
            )
    _one_signer_per_algorithm(r.at("dkim"), out, problems)
    return tuple(out)


def _one_signer_per_algorithm(at: str, dkim: list[DkimSelector], problems: Problems) -> None:
    """One active selector per algorithm signs, and Ed25519 never alone (RFC 8463): most
    receivers still know only RSA, and would see mail signed with Ed25519 only as unsigned."""
    active = {
        a: [d.selector for d in dkim if d.algorithm == a and d.state == "active"]
        for a in DKIM_ALGORITHMS
    }
    if dkim and not any(active.values()):
        problems.warning(at, "no selector is active: nothing signs this domain's mail")
    for algorithm, selectors in active.items():
        if len(selectors) > 1:
            problems.error(
                at,
                f"{', '.join(selectors[:-1])} and {selectors[-1]} are"
                f" {'both' if len(selectors) == 2 else 'all'} active {algorithm}"
                " selectors: one signs at a time (a rotation makes the new one active and the old"
                " one retiring)",
            )
    if active["ed25519"] and not active["rsa"]:
        problems.error(
            at,
            f"the ed25519 selector {active['ed25519'][0]} is active but no rsa selector is:"
            " receivers that know only RSA would see the mail as unsigned (RFC 8463)",
        )


def _since(s: Reader, state: str, problems: Problems) -> str | None:
    since = s.text("since")
    if since is None:
        return None
    if state != "retiring":
        problems.error(s.at("since"), "only a retiring selector has a since date")
        return None
    try:
        parsed = datetime.fromisoformat(since)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        problems.error(s.at("since"), f"{since!r} is not a date and time with its zone (ISO 8601)")
        return None
    return since


def _report_uris(
    r: Reader, key: str, problems: Problems, *, https: bool = False
) -> tuple[str, ...]:
    out = []
    for i, uri in enumerate(r.texts(key)):
        if is_mailto(uri) or (https and is_https(uri)):
            out.append(uri)
        else:
            allowed = "mailto:address or https:// URL" if https else "mailto:address"
            problems.error(f"{r.at(key)}[{i}]", f"{uri!r} is not a {allowed}")
    return tuple(out)


def is_mailto(uri: str) -> bool:
    """A `mailto:` URI of one address, its domain a host name, with an optional size limit."""
    match = _MAILTO.fullmatch(uri)
    return match is not None and is_dns_name(match.group("domain").lower(), host=True)


def is_https(uri: str) -> bool:
    """An `https://` URL of printable ASCII, with no quote, backslash, comma or semicolon."""
    return uri.isascii() and _HTTPS.fullmatch(uri) is not None


def _dmarc(data: object, path: str, problems: Problems) -> Dmarc:
    r = Reader(data, path, problems)
    dmarc = Dmarc(
        p=_policy(r.text("p", "reject", choices=POLICIES)),
        sp=_policy(r.text("sp", choices=POLICIES)) if r.has("sp") else None,
        np=_policy(r.text("np", choices=POLICIES)) if r.has("np") else None,
        adkim=_align(r.text("adkim", "r", choices=("r", "s", "relaxed", "strict"))),
        aspf=_align(r.text("aspf", "r", choices=("r", "s", "relaxed", "strict"))),
        rua=_report_uris(r, "rua", problems),
        ruf=_report_uris(r, "ruf", problems),
        t=r.flag("t", False),
        pct=r.integer("pct", 100, low=0, high=100) if r.has("pct") else None,
    )
    r.done()
    if not dmarc.rua:
        problems.warning(
            f"{path}.rua", "no aggregate report address: you will not see who sends as you"
        )
    return dmarc


def _policy(value: str | None) -> Policy:
    for p in POLICIES:
        if value == p:
            return p
    return "reject"


def _align(value: str | None) -> str:
    return "s" if value in ("s", "strict") else "r"


def _mta_sts(data: object, path: str, problems: Problems) -> MtaSts:
    r = Reader(data, path, problems)
    mode = r.text("mode", "enforce", choices=STS_MODES) or "enforce"
    max_age = r.integer("max_age", 604800, low=1, high=31557600)
    host = r.name("host", host=True)
    patterns = []
    for i, pattern in enumerate(r.texts("mx")):
        at = f"{r.at('mx')}[{i}]"
        bare = pattern.lower().removeprefix("*.")
        if "*" in bare or check_name(bare, at, problems, host=True) is None:
            if "*" in bare:
                problems.error(at, f"{pattern!r}: a wildcard may only be the leftmost label")
            continue
        patterns.append(pattern.lower())
    r.done()
    if max_age < 604800:
        problems.warning(r.at("max_age"), f"{max_age} s is short: RFC 8461 suggests a week or more")
    return MtaSts(mode, max_age, host, tuple(patterns))


def _tls_rpt(data: object, path: str, problems: Problems) -> tuple[str, ...]:
    r = Reader(data, path, problems)
    rua = _report_uris(r, "rua", problems, https=True)
    r.done()
    if not rua:
        problems.error(r.at("rua"), "needs at least one mailto: or https:// address")
    return rua


def _bimi(data: object, path: str, problems: Problems) -> Bimi | None:
    r = Reader(data, path, problems)
    logo = r.text("logo", required=True)
    authority = r.text("authority")
    r.done()
    for key, value in (("logo", logo), ("authority", authority)):
        if value is not None and not is_https(value):
            problems.error(r.at(key), f"{value!r} must be an https:// URL")
    if logo is not None and not logo.lower().endswith(".svg"):
        problems.error(r.at("logo"), "must point at an SVG Tiny PS file (.svg)")
    return Bimi(logo, authority) if logo else None


def _caa(data: object, path: str, problems: Problems) -> tuple[tuple[str, str], ...]:
    r = Reader(data, path, problems)
    out = []
    for tag in CAA_TAGS:
        for i, value in enumerate(r.texts(tag)):
            at = f"{r.at(tag)}[{i}]"
            if tag == "iodef" and not (is_mailto(value) or is_https(value)):
                problems.error(at, f"{value!r} must be a mailto: or https:// URL")
            elif '"' in value or not value.isascii():
                problems.error(at, f"{value!r} must be ASCII with no quote")
            else:
                out.append((tag, value))
    r.done()
    return tuple(out)


def _autoconfig(data: object, path: str, problems: Problems) -> Autoconfig | None:
    r = Reader(data, path, problems)
    host = r.name("host", required=True, host=True)
    services = []
    for i, service in enumerate(r.texts("services")):
        if service not in SERVICES:
            problems.error(
                f"{r.at('services')}[{i}]",
                f"{service!r} is not one of {', '.join(SERVICES)}",
            )
        else:
            services.append(service)
    well_known = r.flag("well_known", False)
    r.done()
    return Autoconfig(host, tuple(services), well_known) if host else None


def _smime(data: object, path: str, domain: str | None, problems: Problems) -> Smime:
    r = Reader(data, path, problems)
    ca = r.text("ca", "mailstack", choices=SMIME_CAS) or "mailstack"
    key = r.text("key", "rsa-3072", choices=SMIME_KEYS) or "rsa-3072"
    validity = r.integer("validity", 365, low=1, high=SMIME_MAX_DAYS)
    ca_validity = r.integer("ca_validity", 3650, low=SMIME_MAX_DAYS, high=9125)
    crl_days = r.integer("crl_days", 30, low=1, high=365)
    pki_name = r.name("pki_name", host=True)
    host = r.name("host", host=True)
    r.done()
    if ca != "mailstack":
        for own in ("key", "validity", "ca_validity", "crl_days", "pki_name", "host"):
            if r.has(own):
                problems.error(
                    r.at(own),
                    f"is only for ca: mailstack (with ca: {ca}, each user brings the .p12"
                    " their CA issued)",
                )
        return Smime(ca)
    if pki_name is None and domain is not None:
        pki_name = f"pki.{domain}"
    return Smime(ca, key, validity, ca_validity, crl_days, pki_name, host)


def _cross_checks(description: Description, problems: Problems) -> None:
    """Checks across domains and hosts."""
    names = {h.name for h in description.hosts if not h.gateway}
    zones = description.zones
    for domain in description.domains:
        for i, mx in enumerate(domain.mx):
            host = description.host(mx.host)
            in_ours = any(mx.host == z or mx.host.endswith("." + z) for z in zones)
            if in_ours and host is None:
                problems.error(
                    f"{domain.path}.mx[{i}].host",
                    f"{mx.host} is in our zones but is not a host of the mail or pmg group",
                )
            elif host is not None and host.ipv4 is None and host.ipv6 is None:
                problems.error(
                    f"hosts.{host.name}",
                    f"serves as MX for {domain.name} but has no address"
                    " (mailstack_ipv4, mailstack_ipv6)",
                )
        for key, target in (
            ("mta_sts.host", domain.mta_sts.host if domain.mta_sts else None),
            ("autoconfig.host", domain.autoconfig.host if domain.autoconfig else None),
            ("smime.host", domain.smime.host if domain.smime else None),
        ):
            if target is not None and target not in names:
                problems.error(f"{domain.path}.{key}", f"{target} is not a host of the mail group")
        _gateway_checks(description, domain, names, problems)
        lists.check(description, domain, problems)
        _outside_mx(description, domain, problems)
        _mx_role_checks(description, domain, problems)
        if domain.mta_sts is not None and domain.mx:
            for i, mx in enumerate(domain.mx):
                if not any(sts_match(p, mx.host) for p in domain.sts_patterns):
                    problems.error(
                        f"{domain.path}.mta_sts.mx",
                        f"no pattern covers the MX {mx.host} (mx[{i}]): senders would refuse it",
                    )


def _outside_mx(description: Description, domain: Domain, problems: Problems) -> None:
    """Warn of an MX outside the inventory whose name looks like ours: the same registrable
    name, or one a typo away (`mx2.exmaple.org` for example.org), since a misspelled backup MX
    silently hands the domain's mail to whoever holds that name."""
    ours = {_registrable(n) for d in description.domains for n in (d.name, d.zone)}
    zones = description.zones
    for i, mx in enumerate(domain.mx):
        if description.host(mx.host) is not None or any(in_zone(mx.host, z) for z in zones):
            continue
        theirs = _registrable(mx.host)
        alike = [o for o in sorted(ours) if o == theirs or _typo_away(o, theirs)]
        if not alike:
            continue
        how = "shares the name" if alike[0] == theirs else "is a typo away from"
        problems.warning(
            f"{domain.path}.mx[{i}].host",
            f"{mx.host} {how} {alike[0]} of our domains but is not a host of the inventory:"
            f" {domain.name}'s mail would go to whoever runs it. Correct the name, or add the"
            " host to the mail or pmg group if it is ours",
        )


def _registrable(name: str) -> str:
    """The registrable-looking part of a name: its last two labels, or three under a
    two-letter country code whose second-level label is short (`example.co.uk`)."""
    labels = name.split(".")
    short = len(labels) > 2 and len(labels[-1]) == 2 and len(labels[-2]) <= 3
    return ".".join(labels[-3:] if short else labels[-2:])


def _typo_away(a: str, b: str) -> bool:
    """Whether `b` is `a` with one or two typos (one for a short name): letters changed,
    added, dropped or swapped."""
    limit = 1 if min(len(a), len(b)) < 8 else 2
    return 0 < _edits(a, b, limit) <= limit


def _edits(a: str, b: str, limit: int) -> int:
    """The optimal-string-alignment distance of `a` and `b`, or `limit + 1` once it is
    known to be over `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        previous, row = row, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], before[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        before = previous
    return row[-1]


def _gateway_checks(
    description: Description, domain: Domain, mail_hosts: set[str], problems: Problems
) -> None:
    """A domain whose MX are gateways names its backend, a mail host; no other does."""
    gateways = description.gateways(domain)
    at = f"{domain.path}.backend"
    if domain.backend is not None and domain.backend not in mail_hosts:
        problems.error(at, f"{domain.backend} is not a host of the mail group")
    if gateways and domain.backend is None:
        problems.error(
            at,
            f"is required: the MX {gateways[0]} is a gateway (group pmg); name the mail host"
            " it relays this domain's mail to",
        )
    if domain.backend is not None and not gateways:
        problems.error(at, "is only for a domain whose MX are gateways (group pmg)")


def _mx_role_checks(description: Description, domain: Domain, problems: Problems) -> None:
    """One primary among the domain's own mail hosts (mailstack replicates no mailbox), a
    primary for every backup to relay to, never a gateway as a backup, and every backup after
    every primary in MX order: a backup's Postfix drops its own and worse preferences, so a
    primary there would leave it nowhere to relay to."""
    at = f"{domain.path}.mx"
    own = {m.host for m in description.own_mx(domain)}
    primaries = [m for m in domain.mx if m.role == "primary"]
    own_primaries = [m.host for m in primaries if m.host in own]
    if len(own_primaries) > 1:
        problems.error(
            at,
            f"{', '.join(own_primaries[:-1])} and {own_primaries[-1]} are primary MX of"
            f" {domain.name}: mailstack does not replicate mailboxes, so one host keeps them;"
            " make the others role: backup",
        )
    for mx in domain.mx:
        if mx.role != "backup":
            continue
        host = description.host(mx.host)
        if host is not None and host.gateway:
            problems.error(
                at,
                f"{mx.host} is a gateway (group pmg) and cannot be a backup MX of {domain.name}:"
                " a gateway relays to the backend",
            )
        elif not primaries:
            problems.error(
                at, f"{mx.host} is a backup MX of {domain.name}, which has no primary MX"
            )
        elif any(p.priority >= mx.priority for p in primaries):
            problems.error(
                at,
                f"the backup MX {mx.host} of {domain.name} has priority {mx.priority}: give it a"
                f" higher number than its primary's ({max(p.priority for p in primaries)}),"
                " or it would be tried first and find no primary to relay to",
            )


def _report_addresses_delivered(description: Description, problems: Problems) -> None:
    """Every mailto: report address in a domain whose accounts the description holds is one of
    its mailboxes or aliases, or one of its lists' addresses (a domain with none is delivered
    elsewhere, not by mailstack)."""
    ours = {
        d.name: d
        for d in description.domains
        if not d.parked and (_has_accounts(d.accounts) or d.mailman is not None)
    }
    for domain in description.domains:
        for key, uris in (
            ("dmarc.rua", domain.dmarc.rua),
            ("dmarc.ruf", domain.dmarc.ruf),
            ("tls_rpt.rua", domain.tls_rpt),
        ):
            for i, uri in enumerate(uris):
                if not uri.lower().startswith("mailto:"):
                    continue
                address = uri[len("mailto:") :].partition("!")[0].lower()
                local, _, name = address.rpartition("@")
                target = ours.get(name)
                if target is not None and not _receives(target, local):
                    problems.error(
                        f"{domain.path}.{key}[{i}]",
                        f"{address} is neither a mailbox nor an alias of {name}: add one,"
                        " or the reports sent there bounce"
                        if target.mailman is None
                        else f"{address} is no list of {name}: add one, or the reports sent"
                        " there bounce",
                    )


def _has_accounts(a: accounts.Accounts) -> bool:
    return bool(a.mailboxes or a.aliases or a.catch_all)


def _receives(domain: Domain, local: str) -> bool:
    a = domain.accounts
    names = {m.name for m in a.mailboxes} | {x.name for x in a.aliases}
    if domain.mailman is not None:
        names |= {x.partition("@")[0] for x in lists.addresses(domain.name, domain.mailman)}
    return local in names or a.catch_all is not None


def sts_match(pattern: str, host: str) -> bool:
    """RFC 8461 section 4.1: a leftmost `*` matches exactly one label."""
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host
