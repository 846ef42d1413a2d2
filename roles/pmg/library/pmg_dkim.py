#!/usr/bin/python
"""Ansible module: PMG's DKIM selector and its key, made through the API."""

from __future__ import annotations

import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pmg_api import connect, dkim_public_pem, run_module

DOCUMENTATION = r"""
module: pmg_dkim
short_description: The DKIM selector of Proxmox Mail Gateway and its key
description:
  - >-
    Makes PMG sign with the given selector: when the configured selector or its key size
    differ, C(POST /config/dkim/selector) makes PMG generate the key (an existing key of the
    selector is kept, PMG refuses one of another size). Returns the public key as PEM, read
    from C(GET /config/dkim/selector), for the DNS record.
  - Supports check mode (then nothing is generated and the key is returned only if it exists).
options:
  selector:
    description: The selector (a DNS label, e.g. C(mailgw)).
    type: str
    required: true
  keysize:
    description: RSA key size in bits (1024 at least; 2048 recommended).
    type: int
    default: 2048
extends_documentation_fragment:
  - pmg_connection
author: mailstack
"""


_LABEL = re.compile(
    r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$"
)


def run(module: AnsibleModule) -> dict[str, Any]:
    selector, keysize = module.params["selector"], module.params["keysize"]
    if not _LABEL.match(selector):
        module.fail_json(msg=f"selector: {selector!r} is not a DNS name")
    if keysize < 1024:
        module.fail_json(msg=f"keysize: {keysize} is below 1024 bits")
    client = connect(module.params)
    current = client.get("/config/dkim/selector", what="read the DKIM selector")
    before = {"selector": current.get("selector"), "keysize": current.get("keysize")}
    changed = before != {"selector": selector, "keysize": keysize} or not current.get("record")
    if changed and not module.check_mode:
        client.request(
            "POST",
            "/config/dkim/selector",
            {"selector": selector, "keysize": keysize},
            what=f"DKIM selector {selector}",
        )
        current = client.get("/config/dkim/selector", what="read the DKIM selector")
    record = current.get("record") if current.get("selector") == selector else None
    result: dict[str, Any] = {
        "changed": changed,
        "selector": selector,
        "keysize": keysize,
        "record": record,
        "public_key_pem": dkim_public_pem(record) if record else None,
    }
    if module._diff:
        result["diff"] = {
            "before": f"selector: {before['selector']}\nkeysize: {before['keysize']}\n",
            "after": f"selector: {selector}\nkeysize: {keysize}\n",
        }
    return result


def main() -> None:
    run_module(
        {
            "selector": {"type": "str", "required": True},
            "keysize": {"type": "int", "default": 2048},
        },
        run,
    )


if __name__ == "__main__":
    main()
