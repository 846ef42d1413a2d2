"""What each role of ansible/site.yml receives on each mail host, worked out by Ansible itself.

Run as a program (`python -m tests.role_inputs_probe INVENTORY`, with ANSIBLE_CONFIG set) by
tests/test_share.py: it reads the inventory with Ansible's own classes, templates the
playbook's share expression and each role's `vars:` as ansible-playbook would, and prints
them as JSON, per host and role. Passwords are printed as `"<vaulted>"` only.

`--set MODULE:NAME=JSON` first replaces a module constant (a default of the model), and
`--render ROLE:TEMPLATE` also renders a template of a role (tests/rendering.py) with what it
receives, so that a test can follow a default from the model to a configuration file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from mailstack.accounts import Vaulted
from mailstack.inventory import plain
from tests.rendering import render

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "ansible" / "site.yml"


def _patch(spec: str) -> None:
    target, _, value = spec.partition("=")
    module, _, name = target.partition(":")
    setattr(importlib.import_module(module), name, json.loads(value))


def _shown(value: Any) -> str:
    """How a vaulted value (mailstack's Vaulted, from `plain`) is printed: never its text."""
    if isinstance(value, Vaulted):
        return "<vaulted>"
    raise TypeError(f"{type(value).__name__} is not JSON")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("inventory")
    parser.add_argument("--vault-password-file")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--render", action="append", default=[])
    args = parser.parse_args()
    for spec in args.set:
        _patch(spec)

    from ansible.inventory.manager import InventoryManager  # noqa: PLC0415
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415
    from ansible.parsing.vault import VaultSecret, VaultSecretsContext  # noqa: PLC0415
    from ansible.plugins.loader import init_plugin_loader  # noqa: PLC0415
    from ansible.template import Templar  # noqa: PLC0415
    from ansible.vars.hostvars import HostVars  # noqa: PLC0415
    from ansible.vars.manager import VariableManager  # noqa: PLC0415

    init_plugin_loader()
    loader = DataLoader()
    secrets = []
    if args.vault_password_file:
        secrets = [("default", VaultSecret(Path(args.vault_password_file).read_bytes().strip()))]
    loader.set_vault_secrets(secrets)
    VaultSecretsContext.initialize(VaultSecretsContext(secrets))
    inventory = InventoryManager(loader=loader, sources=[args.inventory])
    variables = VariableManager(loader=loader, inventory=inventory)
    # What ansible-playbook's task queue does, so that templates see `hostvars`.
    variables._hostvars = HostVars(inventory, variables, loader)
    site = loader.load_from_file(str(SITE), trusted_as_template=True)
    share_task = next(t for t in site[0]["tasks"] if "ansible.builtin.set_fact" in t)
    share_expr = share_task["ansible.builtin.set_fact"]["mailstack_share"]

    out: dict[str, Any] = {}
    for host in inventory.groups["mail"].get_hosts():
        hv = variables.get_vars(host=host, include_hostvars=True)
        share = Templar(loader=loader, variables=hv).template(share_expr)
        hv["mailstack_share"] = share
        received: dict[str, Any] = {}
        for entry in site[1]["roles"]:
            # The role variables that come from the description (the others are settings).
            role_vars = {k: v for k, v in (entry.get("vars") or {}).items() if "mailstack_" in v}
            templar = Templar(loader=loader, variables={**hv, **role_vars})
            received[entry["role"]] = {k: templar.template(v) for k, v in role_vars.items()}
        rendered = {}
        for spec in args.render:
            role, _, template = spec.partition(":")
            rendered[spec] = render(role, template, {**hv, **received.get(role, {})})
        out[host.name] = {
            "share": plain(share),
            "roles": plain(received),
            "rendered": rendered,
        }
    json.dump(out, sys.stdout, indent=1, sort_keys=True, default=_shown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
