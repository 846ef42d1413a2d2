#!/usr/bin/python
"""Ansible module: the role's whole input checked before anything reaches PMG."""

from __future__ import annotations

import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pmg_api import KINDS, check_item, check_spam_level, check_whitelist

DOCUMENTATION = r"""
module: pmg_validate
short_description: Check the pmg role's objects before any request
description:
  - >-
    Checks every relay domain, DKIM signing domain, transport, trusted network, TLS policy,
    whitelist entry and spam score level the role is given, with PMG's own formats, and fails
    listing each bad value with its variable and field (for example
    C(pmg__networks[1].cidr: '10.0.0.0/33' is not a network in CIDR notation)). Talks to nobody.
options:
  objects:
    description: Mappings C({var, kind, items}); I(kind) as in M(pmg_object).
    type: list
    elements: dict
    default: []
  whitelist:
    description: The whitelist entries, as in M(pmg_whitelist).
    type: list
    elements: dict
    default: []
  whitelist_var:
    description: The variable that holds them, for the messages.
    type: str
    default: whitelist
  spam_levels:
    description: >-
      The spam score levels, as in M(pmg_spam_level): C({group, level, var, group_var}).
    type: list
    elements: dict
    default: []
  selector:
    description: The DKIM selector, if one is set.
    type: str
author: mailstack
"""


_LABELS = re.compile(
    r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$"
)


def problems(params: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for group in params["objects"]:
        var, kind, items = group.get("var", "objects"), group.get("kind"), group.get("items")
        if kind not in KINDS:
            found.append(f"{var}: unknown kind {kind!r}")
            continue
        if not isinstance(items, list):
            found.append(f"{var}: must be a list")
            continue
        key = KINDS[kind].key
        seen: set[str] = set()
        for i, item in enumerate(items):
            found += check_item(kind, item, f"{var}[{i}]")
            value = item.get(key) if isinstance(item, dict) else None
            if isinstance(value, str) and value in seen:
                found.append(f"{var}[{i}].{key}: {value} is listed twice")
            seen.add(str(value))
    for i, entry in enumerate(params["whitelist"]):
        found += check_whitelist(entry, f"{params['whitelist_var']}[{i}]")
    groups: set[str] = set()
    for i, entry in enumerate(params["spam_levels"]):
        found += check_spam_level(entry, f"spam_levels[{i}]")
        group = entry.get("group") if isinstance(entry, dict) else None
        if isinstance(group, str) and group in groups:
            found.append(f"{entry.get('group_var') or 'group'}: {group!r} is given twice")
        groups.add(str(group))
    selector = params.get("selector")
    if selector is not None and not _LABELS.match(selector):
        found.append(f"selector: {selector!r} is not a DNS name")
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "objects": {"type": "list", "elements": "dict", "default": []},
            "whitelist": {"type": "list", "elements": "dict", "default": []},
            "whitelist_var": {"type": "str", "default": "whitelist"},
            "spam_levels": {"type": "list", "elements": "dict", "default": []},
            "selector": {"type": "str"},
        },
        supports_check_mode=True,
    )
    found = problems(module.params)
    if found:
        module.fail_json(msg="the PMG description is invalid: " + "; ".join(found), problems=found)
    module.exit_json(changed=False)


if __name__ == "__main__":
    main()
