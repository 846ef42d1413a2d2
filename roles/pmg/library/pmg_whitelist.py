#!/usr/bin/python
"""Ansible module: PMG's SMTP whitelist (the greylisting and SMTP-check exclusions)."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pmg_api import (
    WHITELIST,
    check_whitelist,
    connect,
    run_module,
    text_diff,
)

DOCUMENTATION = r"""
module: pmg_whitelist
short_description: Entries of the SMTP whitelist of Proxmox Mail Gateway
description:
  - Makes C(/config/whitelist) hold the given sender addresses, domains, IP addresses and
    networks (PMG's who-objects of the whitelist group); missing entries are added, and with
    I(exclusive) the others are removed. Entries are checked before the first request.
  - Supports check mode and diff.
options:
  entries:
    description: >-
      Each one of C({email: ADDRESS}), C({domain: NAME}), C({ip: ADDRESS}),
      C({network: CIDR}).
    type: list
    elements: dict
    required: true
  exclusive:
    description: Remove the entries that are not listed.
    type: bool
    default: false
extends_documentation_fragment:
  - pmg_connection
author: mailstack
"""


BY_TYPE = {otype: (kind, attr) for kind, (otype, attr) in WHITELIST.items()}


def run(module: AnsibleModule) -> dict[str, Any]:
    entries = module.params["entries"]
    problems = [p for i, e in enumerate(entries) for p in check_whitelist(e, f"entries[{i}]")]
    if problems:
        module.fail_json(msg="SMTP whitelist: " + "; ".join(problems))
    want = {(k, str(v)) for e in entries for k, v in e.items()}
    client = connect(module.params)
    current: dict[tuple[str, str], int] = {}
    for obj in client.get("/config/whitelist/objects", what="list the SMTP whitelist"):
        if obj.get("otype") in BY_TYPE:
            kind, attr = BY_TYPE[obj["otype"]]
            current[(kind, str(obj.get(attr)))] = int(obj["id"])
    actions: list[str] = []
    for kind, value in sorted(want - set(current)):
        actions.append(f"add {kind} {value}")
        if not module.check_mode:
            client.request(
                "POST",
                f"/config/whitelist/{kind}",
                {WHITELIST[kind][1]: value},
                what=f"SMTP whitelist {kind} {value}",
            )
    extra = sorted(set(current) - want) if module.params["exclusive"] else []
    for kind, value in extra:
        actions.append(f"remove {kind} {value}")
        if not module.check_mode:
            client.request(
                "DELETE",
                f"/config/whitelist/objects/{current[(kind, value)]}",
                what=f"SMTP whitelist {kind} {value}",
            )
    after = (set(current) | want) - set(extra)
    result: dict[str, Any] = {"changed": bool(actions), "actions": actions}
    if module._diff:
        result["diff"] = {
            "before": text_diff(sorted(f"{k}: {v}" for k, v in current)),
            "after": text_diff(sorted(f"{k}: {v}" for k, v in after)),
        }
    return result


def main() -> None:
    run_module(
        {
            "entries": {"type": "list", "elements": "dict", "required": True},
            "exclusive": {"type": "bool", "default": False},
        },
        run,
    )


if __name__ == "__main__":
    main()
