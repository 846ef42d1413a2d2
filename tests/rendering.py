"""A role's template rendered as the role renders it, with Ansible's own templating: the
role's defaults, under the variables given (the play's and what the playbook passes the
role), under its vars/main.yml."""

from __future__ import annotations

import functools
from typing import Any

from tests.conftest import ROOT


@functools.cache
def loader() -> Any:
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415
    from ansible.plugins.loader import init_plugin_loader  # noqa: PLC0415

    init_plugin_loader()
    return DataLoader()


def render(role: str, template: str, given: dict[str, Any]) -> str:
    """ROLE's TEMPLATE (a path under its templates/) on a host named mx1.example.test unless
    `given` names another."""
    from ansible.template import Templar, trust_as_template  # noqa: PLC0415

    files = loader()
    given = {"inventory_hostname": "mx1.example.test", **given}
    base = ROOT / "roles" / role
    layers = []
    for part in ("defaults", "vars"):
        path = base / part / "main.yml"
        found = files.load_from_file(str(path), trusted_as_template=True) if path.exists() else {}
        layers.append(found or {})
    variables = {**layers[0], **given, **layers[1]}
    source = trust_as_template((base / "templates" / template).read_text())
    # As the template action renders a file: its backslashes are its own, not YAML escapes.
    return str(
        Templar(loader=files, variables=variables).template(source, escape_backslashes=False)
    )
