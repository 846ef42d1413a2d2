#!/usr/bin/python
"""Ansible module: the spam score levels of PMG's rules (spamfilter what-objects)."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pmg_api import connect, run_module, spam_levels

DOCUMENTATION = r"""
module: pmg_spam_level
short_description: Spam score levels of the spam rules of Proxmox Mail Gateway
description:
  - PMG's spam thresholds live in its rule database, not in its configuration - each spam rule
    (C(Quarantine/Mark Spam (Level 3)), C(Quarantine/Mark Spam (Level 5)),
    C(Block Spam (Level 10)), C(Block outgoing Spam)) matches through a what-object group
    (C(Spam (Level 3)), C(Spam (Level 5)), C(Spam (Level 10))) that holds a spamfilter object
    with a C(spamlevel). This module finds each group by name (C(GET /config/ruledb/what)),
    sets the C(spamlevel) of its spamfilter objects
    (C(PUT /config/ruledb/what/{ogroup}/spamfilter/{id})), and creates one in a group that has
    none (C(POST /config/ruledb/what/{ogroup}/spamfilter)). A group that PMG does not have
    fails the task, naming it. Levels are checked before the first request.
  - Supports check mode and diff.
options:
  levels:
    description: >-
      Each C({group, level}) with an optional C(var), the variable that holds the level, for
      the messages. I(level) is an integer of 0 or more.
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - pmg_connection
author: mailstack
"""


def lines(levels: dict[str, list[int]]) -> str:
    """One line per group, for --diff: `Spam (Level 5): spamlevel 5`."""
    return "".join(
        f"{name}: " + (", ".join(f"spamlevel {v}" for v in values) or "no spamfilter") + "\n"
        for name, values in levels.items()
    )


def run(module: AnsibleModule) -> dict[str, Any]:
    client = connect(module.params)
    found = spam_levels(client, module.params["levels"], check_mode=module.check_mode)
    result: dict[str, Any] = {"changed": found["changed"], "actions": found["actions"]}
    if module._diff:
        result["diff"] = {
            "before_header": "spam levels (what-object groups)",
            "after_header": "spam levels (what-object groups)",
            "before": lines(found["before"]),
            "after": lines(found["after"]),
        }
    return result


def main() -> None:
    run_module({"levels": {"type": "list", "elements": "dict", "required": True}}, run)


if __name__ == "__main__":
    main()
