#!/usr/bin/python
"""Ansible module: Mailman 3's domains, lists and rosters made to match the description."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.mailman_api import MailmanClient, MailmanError
from ansible.module_utils.mailman_sync import sync

DOCUMENTATION = r"""
module: mailman_lists
short_description: Mailing lists of Mailman 3 core, their settings and rosters
description:
  - Makes Mailman 3 core (3.3) hold the given domains and lists through its REST API
    (version 3.1). Each domain is created when missing. Each list is created when missing;
    its description, subscription policy, moderation of members and nonmembers, archive
    policy and DMARC mitigation (and its display name, when given) are compared and only the
    fields that differ are written; its owners, moderators and members are made to be
    exactly the given ones (addresses compared in lower case). Subscribers of other roles and
    lists that are not described are not touched.
  - A list of a given domain that is not described is deleted only when the domain's
    I(remove_absent) is true; otherwise it is returned in C(unmanaged). Deleting a list in
    Mailman does not delete its HyperKitty archive.
  - Members are added pre-verified, pre-confirmed and pre-approved with no welcome message,
    and removed with no confirmation or approval. Because the description manages the
    members, every described list has C(send_welcome_message) and C(send_goodbye_message)
    off (Mailman sends a goodbye on every removal otherwise) and
    C(dmarc_mitigate_unconditionally) off (mitigation only for a sender whose domain
    publishes p=quarantine or p=reject). Every other setting is left as it is.
  - The whole input is checked before the first request; a bad value fails the task naming
    the list and the field. An HTTP error names the list and the request.
  - Supports check mode and diff (one before/after per changed list).
options:
  url:
    description: Mailman's REST API, with its version.
    type: str
    default: http://127.0.0.1:8001/3.1
  username:
    description: The REST user (C(admin_user) of mailman.cfg's C([webservice])).
    type: str
    default: restadmin
  password:
    description: Its password (C(admin_pass)).
    type: str
    required: true
  timeout:
    description: Seconds per request.
    type: int
    default: 30
  domains:
    description: >-
      The list domains, each C({name, web_name, remove_absent, lists}) (C(web_name) is
      Postorius' and is not used here). Each list is C({address, name, display_name,
      description, owners, moderators, members, subscription, moderation, archive,
      dmarc_mitigation}): C(address) is C(name@domain) and is required, and so are
      C(owners), C(moderators) and C(members) (lists of addresses, possibly empty);
      C(subscription) is one of open, confirm (default), moderate, confirm_then_moderate;
      C(moderation) is C({members, nonmembers}), each one of accept, hold, reject, discard
      (and defer for members; defaults accept and hold); C(archive) is public, private
      (default) or none; C(dmarc_mitigation) is munge_from (default), wrap_message or
      no_mitigation.
    type: list
    elements: dict
    required: true
author: mailstack
"""

RETURN = r"""
changes:
  description: >-
    What changed (or would in check mode), one line each, for example
    C(team@lists.example.test: member bob@peer.test added).
  type: list
  elements: str
  returned: always
unmanaged:
  description: The lists of the given domains that are not described and were left alone.
  type: list
  elements: str
  returned: always
"""

OPTIONS: dict[str, Any] = {
    "url": {"type": "str", "default": "http://127.0.0.1:8001/3.1"},
    "username": {"type": "str", "default": "restadmin"},
    "password": {"type": "str", "required": True, "no_log": True},
    "timeout": {"type": "int", "default": 30},
    "domains": {"type": "list", "elements": "dict", "required": True},
}


def run(params: dict[str, Any], *, check_mode: bool, diff: bool) -> dict[str, Any]:
    """The task's result for `params`; MailmanError when the input or Mailman refuses."""
    client = MailmanClient(
        params["url"], params["username"], params["password"], timeout=params["timeout"]
    )
    report = sync(client, params["domains"], check_mode=check_mode)
    result: dict[str, Any] = {
        "changed": bool(report.changes),
        "changes": report.changes,
        "unmanaged": report.unmanaged,
    }
    if diff:
        result["diff"] = report.diff
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=OPTIONS, supports_check_mode=True)
    try:
        result = run(module.params, check_mode=module.check_mode, diff=module._diff)
    except MailmanError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
