"""Mailing lists of the description made real in Mailman 3 core, through its REST API: the
wanted lists checked before any request, each list's configuration and rosters compared with
Mailman's, and only the differences written (or, in check mode, only reported).

What is managed, and nothing else:
- the domains (created when missing; never changed or deleted);
- each described list: created when missing; its configuration fields in CONFIG_FIELDS;
  its owners, moderators and members, each role's roster made equal to the description's
  (subscribers of other roles, nonmembers, are left alone);
- a list of a described domain that the description does not name: deleted only when the
  domain says `remove_absent`, otherwise reported as unmanaged (archives are data).

Members are added pre-verified, pre-confirmed and pre-approved, without a welcome message,
and removed pre-approved and pre-confirmed. Because the description decides who is a member,
each list's `send_welcome_message` and `send_goodbye_message` are off: Mailman's REST API
sends a goodbye on every removal when the list's flag is on, and has no per-request switch
for it. Every other setting keeps Mailman's default (or what an administrator set).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.mailman_api import MailmanClient, MailmanError, quote

# The description's words and Mailman's (SubscriptionPolicy, Action, ArchivePolicy,
# DMARCMitigateAction of mailman.interfaces).
SUBSCRIPTIONS = ("open", "confirm", "moderate", "confirm_then_moderate")
MEMBER_ACTIONS = ("accept", "hold", "reject", "discard", "defer")
NONMEMBER_ACTIONS = ("accept", "hold", "reject", "discard")
ARCHIVES = {"public": "public", "private": "private", "none": "never"}
DMARC_MITIGATIONS = ("munge_from", "wrap_message", "no_mitigation")
# The description's roster keys and Mailman's roles, in the order they are synced: owners
# first, so that a list is never left without the new owner while the old one goes.
ROLES = {"owners": "owner", "moderators": "moderator", "members": "member"}
# Every configuration field this module sets (Mailman's names, GET/PATCH /lists/<id>/config).
CONFIG_FIELDS = (
    "display_name",
    "description",
    "subscription_policy",
    "default_member_action",
    "default_nonmember_action",
    "archive_policy",
    "dmarc_mitigate_action",
    "dmarc_mitigate_unconditionally",
    "send_welcome_message",
    "send_goodbye_message",
)
DOMAIN_KEYS = {"name", "web_name", "remove_absent", "lists"}
LIST_KEYS = {
    "address",
    "name",
    "display_name",
    "description",
    "subscription",
    "moderation",
    "archive",
    "dmarc_mitigation",
    *ROLES,
}
# The roster keys are required: a missing one would empty a roster.
LIST_REQUIRED = ("address", "name", *ROLES)
# Flags of POST /members for a member added by the description (ISubscriptionManager's
# register(): no confirmation, no approval, no address verification, no welcome).
SUBSCRIBE_FLAGS = {
    "pre_verified": True,
    "pre_confirmed": True,
    "pre_approved": True,
    "send_welcome_message": False,
}
# And of DELETE /members/<id> (unregister(): no confirmation, no approval).
UNSUBSCRIBE_FLAGS = {"pre_confirmed": True, "pre_approved": True}

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"({_LABEL}\.)+{_LABEL}")
_LIST_NAME = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*")
_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def is_address(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at) and bool(_LOCAL.fullmatch(local)) and bool(_DOMAIN.fullmatch(domain))


@dataclass(frozen=True)
class WantedList:
    """One list as the description wants it: Mailman's configuration fields and, per role,
    the addresses (lower case)."""

    address: str
    config: dict[str, Any]
    rosters: dict[str, frozenset[str]]


@dataclass
class ListState:
    """One list as Mailman holds it: the managed configuration fields and, per role, each
    address's member id."""

    list_id: str
    config: dict[str, Any]
    rosters: dict[str, dict[str, str]] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        return {"config": self.config, **{r: sorted(a) for r, a in self.rosters.items()}}


# -- the description, checked --------------------------------------------------------------
def check_domains(domains: Any) -> list[str]:
    """Every problem of the wanted domains and lists, each naming the list (or the domain)
    and the field."""
    if not isinstance(domains, list):
        return ["domains: must be a list"]
    problems: list[str] = []
    names: set[str] = set()
    for i, domain in enumerate(domains):
        where = f"domains[{i}]"
        if not isinstance(domain, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        name = domain.get("name")
        if not isinstance(name, str) or not _DOMAIN.fullmatch(name):
            problems.append(f"{where}.name: {name!r} is not a domain name (lower case)")
            continue
        if name in names:
            problems.append(f"domain {name}: listed twice")
        names.add(name)
        problems += [
            f"domain {name}: unknown field {k!r}" for k in sorted(set(domain) - DOMAIN_KEYS)
        ]
        if not isinstance(domain.get("remove_absent", False), bool):
            problems.append(f"domain {name}: remove_absent: must be true or false")
        lists = domain.get("lists", [])
        if not isinstance(lists, list):
            problems.append(f"domain {name}: lists: must be a list")
            continue
        addresses: set[str] = set()
        for j, item in enumerate(lists):
            found = check_list(item, name, f"domain {name}: lists[{j}]")
            problems += found
            address = item.get("address") if isinstance(item, dict) else None
            if not found and address in addresses:
                problems.append(f"{address}: listed twice")
            addresses.add(str(address))
    return problems


def check_list(item: Any, domain: str, where: str) -> list[str]:
    """The problems of one wanted list, as `<list address>: <field>: <problem>`."""
    if not isinstance(item, dict):
        return [f"{where}: must be a mapping"]
    address = item.get("address")
    name = item.get("name")
    if isinstance(address, str) and address:
        where = address
    missing = [k for k in LIST_REQUIRED if k not in item]
    problems = [f"{where}: {k}: is required" for k in missing]
    problems += [f"{where}: unknown field {k!r}" for k in sorted(set(item) - LIST_KEYS)]
    if not isinstance(name, str) or not _LIST_NAME.fullmatch(name):
        problems.append(f"{where}: name: {name!r} is not a list name")
    elif address != f"{name}@{domain}":
        problems.append(f"{where}: address: must be {name}@{domain} (its name at its domain)")
    for key in ("display_name", "description"):
        value = item.get(key, "")
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            problems.append(f"{where}: {key}: must be one line of text")
    choices = {
        "subscription": SUBSCRIPTIONS,
        "archive": tuple(ARCHIVES),
        "dmarc_mitigation": DMARC_MITIGATIONS,
    }
    for key, allowed in choices.items():
        if key in item and item[key] not in allowed:
            problems.append(f"{where}: {key}: {item[key]!r} is not one of {', '.join(allowed)}")
    problems += _check_moderation(item.get("moderation", {}), where)
    for key in ROLES:
        values = item.get(key, [])
        if not isinstance(values, list):
            problems.append(f"{where}: {key}: must be a list of addresses")
            continue
        problems += [
            f"{where}: {key}[{k}]: {v!r} is not a mail address"
            for k, v in enumerate(values)
            if not isinstance(v, str) or not is_address(v.lower())
        ]
    return problems


def _check_moderation(moderation: Any, where: str) -> list[str]:
    if not isinstance(moderation, dict):
        return [f"{where}: moderation: must be a mapping {{members, nonmembers}}"]
    problems = [
        f"{where}: moderation: unknown field {k!r}"
        for k in sorted(set(moderation) - {"members", "nonmembers"})
    ]
    for key, allowed in (("members", MEMBER_ACTIONS), ("nonmembers", NONMEMBER_ACTIONS)):
        if key in moderation and moderation[key] not in allowed:
            problems.append(
                f"{where}: moderation.{key}: {moderation[key]!r} is not one of {', '.join(allowed)}"
            )
    return problems


def wanted_list(item: dict[str, Any]) -> WantedList:
    """A checked list of the description as Mailman's fields and rosters."""
    moderation = item.get("moderation", {})
    config: dict[str, Any] = {
        "description": item.get("description", ""),
        "subscription_policy": item.get("subscription", "confirm"),
        "default_member_action": moderation.get("members", "accept"),
        "default_nonmember_action": moderation.get("nonmembers", "hold"),
        "archive_policy": ARCHIVES[item.get("archive", "private")],
        "dmarc_mitigate_action": item.get("dmarc_mitigation", "munge_from"),
        "dmarc_mitigate_unconditionally": False,
        "send_welcome_message": False,
        "send_goodbye_message": False,
    }
    if "display_name" in item:
        config["display_name"] = item["display_name"]
    rosters = {role: frozenset(a.lower() for a in item[key]) for key, role in ROLES.items()}
    ordered = {k: config[k] for k in CONFIG_FIELDS if k in config}
    return WantedList(item["address"], ordered, rosters)


# -- the plan: pure comparisons ------------------------------------------------------------
def config_changes(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The wanted fields whose current value differs (a missing one always does)."""
    return {k: v for k, v in wanted.items() if k not in current or current[k] != v}


def roster_changes(current: set[str], wanted: frozenset[str]) -> tuple[list[str], list[str]]:
    """The addresses to add and those to remove, each sorted."""
    return sorted(wanted - current), sorted(current - wanted)


def config_lines(address: str, current: dict[str, Any], changes: dict[str, Any]) -> list[str]:
    return [
        f"{address}: {k} {current[k]!r} -> {v!r}"
        if k in current
        else f"{address}: {k} set to {v!r}"
        for k, v in changes.items()
    ]


def text_diff(state: dict[str, Any] | None) -> str:
    """A list's state for Ansible's --diff: stable, readable JSON (empty when absent)."""
    return "" if state is None else json.dumps(state, indent=2, sort_keys=True) + "\n"


# -- the sync -----------------------------------------------------------------------------
@dataclass
class Report:
    changes: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    diff: list[dict[str, str]] = field(default_factory=list)

    def add_diff(self, address: str, before: dict[str, Any] | None, after: Any) -> None:
        self.diff.append(
            {
                "before_header": address,
                "after_header": address,
                "before": text_diff(before),
                "after": text_diff(after),
            }
        )


def sync(client: MailmanClient, domains: list[dict[str, Any]], *, check_mode: bool) -> Report:
    """Make Mailman hold the described domains and lists; in check mode, only report."""
    problems = check_domains(domains)
    if problems:
        raise MailmanError("mailing lists: " + "; ".join(problems))
    report = Report()
    for domain in domains:
        _sync_domain(client, domain, report, check_mode=check_mode)
    return report


def _sync_domain(
    client: MailmanClient, domain: dict[str, Any], report: Report, *, check_mode: bool
) -> None:
    name = domain["name"]
    what = f"domain {name}"
    present: dict[str, dict[str, Any]] = {}
    if client.find(f"/domains/{quote(name)}", what=what) is None:
        report.changes.append(f"{what}: created")
        if not check_mode:
            client.request("POST", "/domains", {"mail_host": name}, what=f"create {what}")
    else:
        for entry in client.collection(f"/domains/{quote(name)}/lists", what=f"lists of {what}"):
            present[str(entry["fqdn_listname"]).lower()] = entry
    wanted = [wanted_list(item) for item in domain.get("lists", [])]
    for want in wanted:
        _sync_list(client, want, present.get(want.address), report, check_mode=check_mode)
    for address in sorted(set(present) - {w.address for w in wanted}):
        if not domain.get("remove_absent", False):
            report.unmanaged.append(address)
            continue
        list_id = str(present[address]["list_id"])
        before = read_state(client, list_id, address)
        report.changes.append(f"{address}: deleted (not in the description)")
        report.add_diff(address, before.view(), None)
        if not check_mode:
            client.request("DELETE", f"/lists/{quote(list_id)}", what=f"{address}: delete")


def read_state(client: MailmanClient, list_id: str, address: str) -> ListState:
    """A list's managed configuration fields and its owners, moderators and members."""
    config = client.get(f"/lists/{quote(list_id)}/config", what=f"{address}: read config")
    state = ListState(list_id, {k: config[k] for k in CONFIG_FIELDS if k in config})
    for role in ROLES.values():
        entries = client.collection(
            f"/lists/{quote(list_id)}/roster/{role}", what=f"{address}: read {role}s"
        )
        state.rosters[role] = {str(e["email"]).lower(): str(e["member_id"]) for e in entries}
    return state


def _sync_list(
    client: MailmanClient,
    want: WantedList,
    entry: dict[str, Any] | None,
    report: Report,
    *,
    check_mode: bool,
) -> None:
    address = want.address
    if entry is None:
        report.changes.append(f"{address}: created")
        state = ListState("", {}, {role: {} for role in ROLES.values()})
        if not check_mode:
            client.request("POST", "/lists", {"fqdn_listname": address}, what=f"{address}: create")
            created = client.get(f"/lists/{quote(address)}", what=f"{address}: read")
            state.list_id = str(created["list_id"])
        before = None
    else:
        state = read_state(client, str(entry["list_id"]), address)
        before = state.view()
    lines: list[str] = []
    changes = config_changes(state.config, want.config)
    lines += config_lines(address, state.config, changes)
    if changes and not check_mode:
        client.request(
            "PATCH",
            f"/lists/{quote(state.list_id)}/config",
            changes,
            what=f"{address}: set {', '.join(changes)}",
        )
    for role, wanted in want.rosters.items():
        lines += _sync_roster(client, address, state, role, wanted, check_mode=check_mode)
    report.changes += lines
    if entry is None or lines:
        after: dict[str, Any] = {"config": {**state.config, **want.config}}
        after.update({r: sorted(a) for r, a in want.rosters.items()})
        report.add_diff(address, before, after)


def _sync_roster(  # noqa: PLR0913 (the list, its state, the role and the wanted addresses)
    client: MailmanClient,
    address: str,
    state: ListState,
    role: str,
    wanted: frozenset[str],
    *,
    check_mode: bool,
) -> list[str]:
    current = state.rosters[role]
    add, remove = roster_changes(set(current), wanted)
    lines = [f"{address}: {role} {a} added" for a in add]
    lines += [f"{address}: {role} {a} removed" for a in remove]
    if check_mode:
        return lines
    for subscriber in add:
        body: dict[str, Any] = {"list_id": state.list_id, "subscriber": subscriber, "role": role}
        if role == "member":
            body.update(SUBSCRIBE_FLAGS)
        what = f"{address}: add {role} {subscriber}"
        status, answer = client.request("POST", "/members", body, what=what)
        if status != 201:
            raise MailmanError(f"{what}: POST /members: left pending by Mailman: {answer}")
    for subscriber in remove:
        what = f"{address}: remove {role} {subscriber}"
        path = f"/members/{quote(current[subscriber])}"
        status, answer = client.request(
            "DELETE", path, query=UNSUBSCRIBE_FLAGS if role == "member" else None, what=what
        )
        if status != 204:
            raise MailmanError(f"{what}: DELETE {path}: left pending by Mailman: {answer}")
    return lines
