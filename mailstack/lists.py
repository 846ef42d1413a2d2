"""Mailing lists of a domain (Mailman 3): the `mailman` field, read and validated with paths.

A domain with `mailman` hosts mailing lists and nothing else: no mailbox, no alias. Its list
host is its primary MX, a mail host of the description (`Description.list_host`). Members
are listed (`members`) or come from one source (`members_from`): the mailboxes of a domain of
the description, the targets of one of its aliases, a file or a command. The description's
own sources are checked here; a file or a command is read only when the list host's share is
made (mailstack.listmembers), never while the description is validated or planned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailstack.fields import NAME_LIMIT, Reader, exactly_one, first_time, is_address
from mailstack.problems import Problems

if TYPE_CHECKING:
    from mailstack.model import Description, Domain

# The addresses Mailman 3 answers for each list, besides the list's own: a list's name must
# not end like one of them, or two lists would share an address.
SUFFIXES = (
    "bounces",
    "confirm",
    "join",
    "leave",
    "owner",
    "request",
    "subscribe",
    "unsubscribe",
)
# Names no list takes: every domain's postmaster (RFC 5321) is the mail host's.
RESERVED = ("postmaster",)
# Mailman's names: SubscriptionPolicy, the moderation actions, DMARCMitigateAction.
SUBSCRIPTIONS = ("open", "confirm", "moderate", "confirm_then_moderate")
MEMBER_ACTIONS = ("accept", "hold", "reject", "discard", "defer")
NONMEMBER_ACTIONS = ("accept", "hold", "reject", "discard")
# Mailman's archive policies are public, private and never: `none` here is `never` there.
ARCHIVES = ("public", "private", "none")
DMARC_MITIGATIONS = ("munge_from", "wrap_message", "no_mitigation")
SOURCES = ("mailboxes", "alias", "file", "command")
# Sources read only when the share is made: they may fail, and an empty result is refused.
GENERATED = ("file", "command")
# A list name: lower-case letters and digits in runs joined by one `.`, `-` or `_`.
_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
NAME_LONGEST = 64


@dataclass(frozen=True)
class Source:
    """Where a list's members come from: `kind` is one of SOURCES; `value` holds the domain
    (mailboxes), the alias's address (alias), the path (file) or the argv (command)."""

    kind: str
    value: tuple[str, ...]

    @property
    def generated(self) -> bool:
        return self.kind in GENERATED


@dataclass(frozen=True)
class MailingList:
    name: str
    # Its path in the description, for errors found when its members are read.
    path: str
    description: str = ""
    owners: tuple[str, ...] = ()
    moderators: tuple[str, ...] = ()
    subscription: str = "confirm"
    members_action: str = "accept"
    nonmembers_action: str = "hold"
    archive: str = "private"
    dmarc_mitigation: str = "munge_from"
    members: tuple[str, ...] = ()
    members_from: Source | None = None
    allow_empty: bool = False

    def address(self, domain: str) -> str:
        return f"{self.name}@{domain}"


@dataclass(frozen=True)
class Mailman:
    web_name: str
    remove_absent: bool = False
    lists: tuple[MailingList, ...] = ()


def addresses(domain: str, mailman: Mailman) -> list[str]:
    """Every address the domain's lists answer: each list's own and its Mailman suffixes."""
    return [
        f"{lst.name}{suffix}@{domain}"
        for lst in mailman.lists
        for suffix in ("", *(f"-{s}" for s in SUFFIXES))
    ]


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a list's name, or None when it can."""
    if len(name) > NAME_LONGEST or not _NAME.fullmatch(name):
        return (
            f"{name!r} is not a list name: lower-case letters and digits, joined by single"
            f" . - or _, {NAME_LONGEST} characters at most"
        )
    for suffix in SUFFIXES:
        if name.endswith(f"-{suffix}"):
            return f"{name!r} ends in -{suffix}, an address Mailman keeps for every list"
    if name in RESERVED:
        return f"{name!r} is reserved: the domain's {name} is the mail host's"
    return None


def read(data: object, path: str, domain: str | None, problems: Problems) -> Mailman | None:
    """The `mailman` field of the domain `domain`, at `path`."""
    r = Reader(data, path, problems)
    web_name = r.name("web_name", host=True) or domain
    remove_absent = r.flag("remove_absent", False)
    seen: dict[str, str] = {}
    lists = []
    for i, item in enumerate(r.items("lists")):
        lst = _list(item, f"{r.at('lists')}[{i}]", problems)
        if lst is not None and first_time(lst.name, f"{lst.path}.name", seen, problems):
            lists.append(lst)
    r.done()
    if web_name is None:
        return None
    return Mailman(web_name, remove_absent, tuple(lists))


def _list(data: object, path: str, problems: Problems) -> MailingList | None:
    r = Reader(data, path, problems)
    name = r.text("name", required=True, longest=NAME_LIMIT)
    if name is not None and (problem := name_problem(name)) is not None:
        problems.error(r.at("name"), problem)
        name = None
    description = r.text("description", "") or ""
    owners = _addresses(r, "owners", problems)
    if r.ok and not r.data.get("owners"):
        problems.error(r.at("owners"), "is required: one address at least (a list has an owner)")
    moderators = _addresses(r, "moderators", problems)
    subscription = r.text("subscription", "confirm", choices=SUBSCRIPTIONS) or "confirm"
    members_action, nonmembers_action = (
        _moderation(r.raw("moderation"), r.at("moderation"), problems)
        if r.has("moderation")
        else ("accept", "hold")
    )
    archive = r.text("archive", "private", choices=ARCHIVES) or "private"
    dmarc_mitigation = (
        r.text("dmarc_mitigation", "munge_from", choices=DMARC_MITIGATIONS) or "munge_from"
    )
    members = _addresses(r, "members", problems)
    source = _source(r.raw("members_from"), r.at("members_from"), problems)
    allow_empty = r.flag("allow_empty", False)
    if r.has("allow_empty") and (source is None or not source.generated):
        problems.error(
            r.at("allow_empty"),
            "is only for members_from.file or members_from.command, whose empty result is"
            " otherwise refused",
        )
    r.done()
    if name is None:
        return None
    return MailingList(
        name=name,
        path=path,
        description=description,
        owners=tuple(sorted(set(owners))),
        moderators=tuple(sorted(set(moderators))),
        subscription=subscription,
        members_action=members_action,
        nonmembers_action=nonmembers_action,
        archive=archive,
        dmarc_mitigation=dmarc_mitigation,
        members=tuple(sorted(set(members))),
        members_from=source,
        allow_empty=allow_empty,
    )


def _addresses(r: Reader, key: str, problems: Problems) -> tuple[str, ...]:
    out = []
    for i, value in enumerate(r.texts(key, longest=NAME_LIMIT)):
        address = value.lower()
        if is_address(address):
            out.append(address)
        else:
            problems.error(f"{r.at(key)}[{i}]", f"{value!r} is not a mail address")
    return tuple(out)


def _moderation(data: object, path: str, problems: Problems) -> tuple[str, str]:
    m = Reader(data, path, problems)
    members = m.text("members", "accept", choices=MEMBER_ACTIONS) or "accept"
    nonmembers = m.text("nonmembers", "hold", choices=NONMEMBER_ACTIONS) or "hold"
    m.done()
    return members, nonmembers


def _source(data: object, path: str, problems: Problems) -> Source | None:
    if data is None:
        return None
    r = Reader(data, path, problems)
    if not r.ok:
        return None
    domain = r.name("mailboxes")
    values = {
        "mailboxes": (domain,) if domain else None,
        "alias": _alias(r, problems),
        "file": _file(r, problems),
        "command": _command(r, problems),
    }
    kind = exactly_one([k for k in SOURCES if r.has(k)], SOURCES, path, problems)
    r.done()
    value = values[kind] if kind is not None else None
    return Source(kind, value) if kind is not None and value else None


def _alias(r: Reader, problems: Problems) -> tuple[str, ...] | None:
    alias = r.text("alias", longest=NAME_LIMIT)
    if alias is None:
        return None
    if not is_address(alias.lower()):
        problems.error(r.at("alias"), f"{alias!r} is not the address of an alias")
        return None
    return (alias.lower(),)


def _file(r: Reader, problems: Problems) -> tuple[str, ...] | None:
    file = r.text("file")
    if file == "":
        problems.error(r.at("file"), "is empty: give the path of the member file")
    return (file,) if file else None


def _command(r: Reader, problems: Problems) -> tuple[str, ...] | None:
    """The argv of a member command: a list, never a shell line."""
    if isinstance(r.data.get("command"), str):
        r.raw("command")
        problems.error(
            r.at("command"), "must be a list, the program and its arguments: never a shell line"
        )
        return None
    command = r.texts("command")
    if isinstance(r.data.get("command"), list) and not (command and command[0]):
        problems.error(
            r.at("command"), "needs the program to run, then its arguments (an argv list)"
        )
        return None
    return tuple(command) if command else None


def check(description: Description, domain: Domain, problems: Problems) -> None:
    """What a list domain must be within the description: a domain of lists alone, its list
    host a mail host of the description, its description sources there."""
    mailman = domain.mailman
    if mailman is None:
        return
    for key, present in (
        ("mailboxes", domain.accounts.mailboxes),
        ("aliases", domain.accounts.aliases),
        ("catch_all", domain.accounts.catch_all),
    ):
        if present:
            problems.error(
                f"{domain.path}.{key}",
                f"{domain.name} hosts mailing lists (mailman): it has no {key}; lists live on"
                f" a domain of their own (such as lists.<domain>), mailboxes on another",
            )
    _list_host_checks(description, domain, problems)
    for lst in mailman.lists:
        _source_checks(description, domain, lst, problems)


def _list_host_checks(description: Description, domain: Domain, problems: Problems) -> None:
    at = f"{domain.path}.mx"
    first = domain.mx[0] if domain.mx else None
    host = description.host(first.host) if first is not None else None
    if first is None:
        return
    if host is None:
        problems.error(
            at,
            f"{first.host}, the first MX of {domain.name}, hosts its lists: it must be a host"
            " of the mail group",
        )
    elif host.gateway:
        problems.error(
            at,
            f"{first.host} is a gateway (group pmg): the lists of {domain.name} need their MX to"
            " be the mail host that runs Mailman",
        )
    elif first.role != "primary":
        problems.error(
            at,
            f"{first.host}, the first MX of {domain.name}, is a backup: the list host is its"
            " primary MX",
        )
    mailman = domain.mailman
    if mailman is not None and mailman.web_name != first.host:
        other = description.host(mailman.web_name)
        if other is not None:
            problems.error(
                f"{domain.path}.mailman.web_name",
                f"{mailman.web_name} is another host of the inventory: the web name points at"
                f" the list host, {first.host}",
            )


def _source_checks(
    description: Description, domain: Domain, lst: MailingList, problems: Problems
) -> None:
    source = lst.members_from
    if source is None or source.generated:
        return
    at = f"{lst.path}.members_from.{source.kind}"
    if source.kind == "mailboxes":
        target = next((d for d in description.domains if d.name == source.value[0]), None)
        if target is None:
            problems.error(at, f"{source.value[0]} is not a domain of the description")
        elif not target.accounts.mailboxes:
            problems.warning(at, f"{target.name} has no mailbox: the list has no member from it")
        return
    local, _, name = source.value[0].partition("@")
    target = next((d for d in description.domains if d.name == name), None)
    if target is None:
        problems.error(at, f"{name} is not a domain of the description")
    elif not any(a.name == local for a in target.accounts.aliases):
        problems.error(at, f"{source.value[0]} is not an alias of {name} in the description")


def from_description(description: Description, source: Source) -> list[str]:
    """The members a description source stands for (mailboxes or alias), as checked."""
    if source.kind == "mailboxes":
        for d in description.domains:
            if d.name == source.value[0]:
                return [f"{m.name}@{d.name}" for m in d.accounts.mailboxes]
        return []
    local, _, name = source.value[0].partition("@")
    for d in description.domains:
        if d.name == name:
            return [t for a in d.accounts.aliases if a.name == local for t in a.to]
    return []
