"""Reading the mail description from an Ansible inventory, as Ansible itself reads it.

The description is `mailstack_domains` (in `group_vars/all/`) and, for every host of the
`mail` group and of the `pmg` group (Proxmox Mail Gateways, the MX edge in front of the mail
hosts), `mailstack_ipv4` and `mailstack_ipv6`. Ansible's own inventory code reads the
files, so what mailstack plans is what the playbooks see.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailstack.accounts import Vaulted
from mailstack.keys import PublishedKeys
from mailstack.model import Description, read
from mailstack.problems import DescriptionError, Problems

MAIL_GROUP = "mail"
GATEWAY_GROUP = "pmg"
# What mailstack keeps in an inventory directory that is not Ansible inventory: Ansible must
# not try to parse it (ansible/ansible.cfg says the same for ansible-playbook).
NOT_INVENTORY = r"^published$,^spf-cache\.json$"
HOST_VARS = ("mailstack_ipv4", "mailstack_ipv6")


@dataclass(frozen=True)
class Inventory:
    path: Path
    description: Description
    problems: Problems

    @property
    def published(self) -> PublishedKeys:
        return PublishedKeys(self.path / "published")

    @property
    def spf_cache(self) -> Path:
        return self.path / "spf-cache.json"


def plain(value: Any) -> Any:
    """Ansible's tagged strings, lists and mappings as plain Python values; a vaulted value
    (`!vault`, still encrypted or already decrypted by Ansible's templating) as Vaulted, which
    holds it as Ansible gave it."""
    from ansible.parsing.vault import VaultHelper  # noqa: PLC0415 (slow import)

    if VaultHelper.get_ciphertext(value, with_tags=False) is not None:
        return Vaulted(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    for kind in (bool, str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value


def read_vars(path: Path) -> tuple[Any, dict[str, dict[str, Any]], set[str]]:
    """`mailstack_domains`, each host's description variables (mail hosts and gateways), and
    the names of the gateways."""
    os.environ.setdefault("ANSIBLE_INVENTORY_IGNORE_REGEX", NOT_INVENTORY)
    from ansible.inventory.manager import InventoryManager  # noqa: PLC0415 (slow import)
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415
    from ansible.vars.manager import VariableManager  # noqa: PLC0415

    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(path)])
    variables = VariableManager(loader=loader, inventory=inventory)
    group = inventory.groups.get(MAIL_GROUP)
    hosts = sorted(group.get_hosts(), key=lambda h: h.name) if group else []
    gateway_group = inventory.groups.get(GATEWAY_GROUP)
    gateways = sorted(gateway_group.get_hosts(), key=lambda h: h.name) if gateway_group else []
    per_host = {h.name: variables.get_vars(host=h) for h in [*hosts, *gateways]}
    return description_vars(per_host, [h.name for h in hosts], [g.name for g in gateways])


def description_vars(
    per_host: Mapping[str, Mapping[str, Any]], mail: Sequence[str], gateways: Sequence[str]
) -> tuple[Any, dict[str, dict[str, Any]], set[str]]:
    """What the description is made of, from each host's variables as Ansible sees them:
    `mailstack_domains` (the same for all hosts: group_vars/all), the addresses of the mail
    hosts (`mail`) and of the gateways (`gateways`), and the gateways' names."""
    domains: Any = None
    host_vars: dict[str, dict[str, Any]] = {}
    for name in [*mail, *(g for g in gateways if g not in mail)]:
        hv = per_host[name]
        host_vars[name] = {k: plain(hv[k]) for k in HOST_VARS if k in hv}
        if domains is None and "mailstack_domains" in hv:
            domains = plain(hv["mailstack_domains"])
    return domains, host_vars, set(gateways)


def describe(
    where: str, domains: Any, hosts: dict[str, dict[str, Any]], gateways: set[str]
) -> tuple[Description, Problems]:
    """The validated description made of `description_vars`' parts; DescriptionError lists
    the errors. `where` names the inventory in messages."""
    problems = Problems()
    if not set(hosts) - gateways:
        problems.error(f"{where}: groups.{MAIL_GROUP}", "has no host: the description needs one")
    if domains is None:
        problems.error("mailstack_domains", f"is not set for the hosts of {where} (group_vars/all)")
        raise DescriptionError(problems)
    description = read(domains, hosts, problems, gateways)
    if problems.errors:
        raise DescriptionError(problems)
    return description, problems


def load(path: Path) -> Inventory:
    """The validated description of the inventory at `path`; DescriptionError lists errors."""
    if not path.is_dir():
        problems = Problems()
        problems.error(str(path), "is not an inventory directory")
        raise DescriptionError(problems)
    description, problems = describe(str(path), *read_vars(path))
    return Inventory(path, description, problems)
