"""The playbooks' way to mailstack's model: each host's share of the mail description.

    mailstack_share: "{{ hostvars | mailstack_share(groups, inventory_hostname) }}"

reads `mailstack_domains` and the addresses of the hosts of the `mail` and `pmg` groups as
Ansible sees them, validates them with the model (an invalid description fails the task with
every problem listed) and returns `mailstack.share.of` for the host; for a list host, that
reads the lists' member files and runs their member commands in the host's `inventory_dir`
(a failing source fails the task, naming the list). `mailstack_mailboxes`
gives the dovecot role its mailboxes with their passwords, and is the only filter that does.
A playbook whose hosts are not named as in the description (a test's containers) calls
`mailstack_share_of` and `mailstack_mailboxes_of` with the description's hosts given.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

from mailstack import share
from mailstack.inventory import GATEWAY_GROUP, MAIL_GROUP, describe, description_vars, plain
from mailstack.model import Description
from mailstack.problems import DescriptionError


def _from_inventory(hostvars: Mapping[str, Any], groups: Mapping[str, list[str]]) -> Description:
    mail = list(groups.get(MAIL_GROUP, []))
    gateways = list(groups.get(GATEWAY_GROUP, []))
    per_host = {name: hostvars[name] for name in [*mail, *gateways]}
    return _checked("the inventory", *description_vars(per_host, mail, gateways))


def _given(domains: Any, hosts: Mapping[str, Any], gateways: list[str]) -> Description:
    host_vars = {str(name): plain(dict(v)) for name, v in hosts.items()}
    return _checked("the given hosts", plain(domains), host_vars, set(gateways))


def _checked(where: str, domains: Any, hosts: dict[str, Any], gateways: set[str]) -> Description:
    try:
        description, _ = describe(where, domains, hosts, gateways)
    except DescriptionError as exc:
        raise AnsibleFilterError(
            "the mail description is invalid (mailstack spec validate says the same):\n"
            + "\n".join(str(p) for p in exc.problems.errors)
        ) from None
    return description


def _share(description: Description, host: str, inventory_dir: Any) -> dict[str, Any]:
    where = Path(str(inventory_dir)) if inventory_dir else None
    try:
        return share.of(description, _known(description, host), where)
    except DescriptionError as exc:
        raise AnsibleFilterError(
            f"the share of {host} cannot be made:\n"
            + "\n".join(str(p) for p in exc.problems.errors)
        ) from None


def _known(description: Description, host: str) -> str:
    if description.host(host) is None:
        raise AnsibleFilterError(f"{host} is not a host of the mail or pmg group")
    return host


def mailstack_share(
    hostvars: Mapping[str, Any], groups: Mapping[str, list[str]], host: str
) -> dict[str, Any]:
    description = _from_inventory(hostvars, groups)
    return _share(description, host, hostvars[host].get("inventory_dir"))


def mailstack_mailboxes(
    hostvars: Mapping[str, Any], groups: Mapping[str, list[str]], host: str
) -> list[dict[str, Any]]:
    description = _from_inventory(hostvars, groups)
    return share.mailboxes(description, _known(description, host))


def mailstack_share_of(
    domains: Any,
    host: str,
    hosts: Mapping[str, Any],
    gateways: list[str] | None = None,
    inventory_dir: str | None = None,
) -> dict[str, Any]:
    description = _given(domains, hosts, gateways or [])
    return _share(description, host, inventory_dir)


def mailstack_mailboxes_of(
    domains: Any, host: str, hosts: Mapping[str, Any], gateways: list[str] | None = None
) -> list[dict[str, Any]]:
    description = _given(domains, hosts, gateways or [])
    return share.mailboxes(description, _known(description, host))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "mailstack_share": mailstack_share,
            "mailstack_mailboxes": mailstack_mailboxes,
            "mailstack_share_of": mailstack_share_of,
            "mailstack_mailboxes_of": mailstack_mailboxes_of,
        }
