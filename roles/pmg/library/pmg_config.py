#!/usr/bin/python
"""Ansible module: the options of one section of PMG's configuration (pmg.conf)."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pmg_api import connect, normalize, run_module, text_diff

DOCUMENTATION = r"""
module: pmg_config
short_description: Options of one configuration section of Proxmox Mail Gateway
description:
  - Sets options of C(/config/<section>) (admin, mail, spam, clamav, spamquar, virusquar)
    through PMG's API; only the options that differ are written, in one request carrying the
    configuration's digest, so a concurrent change is refused rather than overwritten. An
    option given as null is deleted (PMG's default applies again). Options not given are left
    as they are. PMG checks names, types and ranges; a refused option is named in the error.
  - Supports check mode and diff.
options:
  section:
    description: The section.
    type: str
    required: true
    choices: [admin, mail, spam, clamav, spamquar, virusquar]
  options:
    description: Option names as PMG spells them (e.g. C(maxsize), C(dkim-use-domain)) and values.
    type: dict
    required: true
extends_documentation_fragment:
  - pmg_connection
author: mailstack
"""


SECTIONS = ["admin", "clamav", "mail", "spam", "spamquar", "virusquar"]


def run(module: AnsibleModule) -> dict[str, Any]:
    section = module.params["section"]
    options = module.params["options"]
    bad = [k for k, v in options.items() if isinstance(v, dict | list)]
    if bad:
        module.fail_json(msg=f"section {section}: option {bad[0]}: must be a single value")
    client = connect(module.params)
    current = client.get(f"/config/{section}", what=f"read section {section}")
    digest = current.pop("digest", None)
    current = {k: normalize(v) for k, v in current.items()}
    changes = {
        k: normalize(v)
        for k, v in options.items()
        if v is not None and normalize(v) != current.get(k)
    }
    deletes = sorted(k for k, v in options.items() if v is None and k in current)
    after = {**{k: v for k, v in current.items() if k not in deletes}, **changes}
    if (changes or deletes) and not module.check_mode:
        body: dict[str, Any] = dict(changes)
        if deletes:
            body["delete"] = ",".join(deletes)
        if digest:
            body["digest"] = digest
        client.request("PUT", f"/config/{section}", body, what=f"section {section}")
    result: dict[str, Any] = {
        "changed": bool(changes or deletes),
        "changes": changes,
        "deleted": deletes,
        "options": after,
    }
    if module._diff:
        result["diff"] = {"before": text_diff(current), "after": text_diff(after)}
    return result


def main() -> None:
    run_module(
        {
            "section": {"type": "str", "required": True, "choices": SECTIONS},
            "options": {"type": "dict", "required": True},
        },
        run,
    )


if __name__ == "__main__":
    main()
