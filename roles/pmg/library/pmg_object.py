#!/usr/bin/python
"""Ansible module: PMG's keyed configuration objects made to match a list."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pmg_api import (
    KINDS,
    check_item,
    connect,
    normalize,
    quote,
    run_module,
    text_diff,
    wanted,
)

DOCUMENTATION = r"""
module: pmg_object
short_description: >-
  Relay domains, DKIM signing domains, transports, trusted networks or TLS policies of
  Proxmox Mail Gateway
description:
  - Makes one collection of PMG's configuration (C(/config/domains), C(/config/dkim/domains),
    C(/config/transport), C(/config/mynetworks) or C(/config/tlspolicy)) hold the given
    objects, through PMG's API. Objects are compared first and only differences are written.
    Every object is checked before the first request; a bad one fails the task naming it.
  - Supports check mode and diff.
options:
  kind:
    description: The collection.
    type: str
    required: true
    choices: [relay_domain, dkim_domain, transport, network, tls_policy]
  objects:
    description: >-
      The objects, each a mapping: C(domain) and C(comment) (relay_domain, dkim_domain);
      C(domain), C(host), C(port), C(protocol), C(use_mx), C(comment) (transport); C(cidr)
      and C(comment) (network); C(destination) and C(policy) (tls_policy).
    type: list
    elements: dict
    required: true
  exclusive:
    description: Delete the objects of the collection that are not listed.
    type: bool
    default: false
extends_documentation_fragment:
  - pmg_connection
author: mailstack
"""


def run(module: AnsibleModule) -> dict[str, Any]:
    kind = KINDS[module.params["kind"]]
    items = module.params["objects"]
    problems = [
        p
        for i, o in enumerate(items)
        for p in check_item(module.params["kind"], o, f"objects[{i}]")
    ]
    if problems:
        module.fail_json(msg=f"{kind.label}: " + "; ".join(problems))
    want = {o[kind.key]: wanted(module.params["kind"], o) for o in items}
    if len(want) != len(items):
        module.fail_json(msg=f"{kind.label}: an object is listed twice")
    client = connect(module.params)
    current = {
        str(o[kind.key]): {f: normalize(o.get(f)) for f in [kind.key, *kind.fields]}
        for o in client.get(kind.path, what=f"list the {kind.label}s")
    }
    actions: list[str] = []
    after = dict(current)
    for key, obj in want.items():
        what = f"{kind.label} {key}"
        have = current.get(key)
        if have is None:
            actions.append(f"create {key}")
            body = {k: v for k, v in obj.items() if v is not None}
            if not module.check_mode:
                client.request("POST", kind.path, body, what=f"create {what}")
        else:
            changes = {f: v for f, v in obj.items() if f != kind.key and v != have.get(f)}
            if not changes:
                continue
            actions.append(f"update {key}: {', '.join(sorted(changes))}")
            if not module.check_mode:
                client.request("PUT", f"{kind.path}/{quote(key)}", changes, what=f"update {what}")
        after[key] = obj
    if module.params["exclusive"]:
        for key in sorted(set(current) - set(want)):
            actions.append(f"delete {key}")
            del after[key]
            if not module.check_mode:
                client.request(
                    "DELETE", f"{kind.path}/{quote(key)}", what=f"delete {kind.label} {key}"
                )
    result: dict[str, Any] = {
        "changed": bool(actions),
        "actions": actions,
        "objects": list(after.values()),
    }
    if module._diff:
        result["diff"] = {"before": text_diff(current), "after": text_diff(after)}
    return result


def main() -> None:
    run_module(
        {
            "kind": {"type": "str", "required": True, "choices": sorted(KINDS)},
            "objects": {"type": "list", "elements": "dict", "required": True},
            "exclusive": {"type": "bool", "default": False},
        },
        run,
    )


if __name__ == "__main__":
    main()
