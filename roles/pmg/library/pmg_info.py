#!/usr/bin/python
"""Ansible module: what the role reads from PMG (version, node, SMTP certificate)."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pmg_api import connect, quote, run_module

DOCUMENTATION = r"""
module: pmg_info
short_description: Version, node name and SMTP certificate of Proxmox Mail Gateway
description:
  - Logs in, and returns PMG's version (C(/version)), its node (C(/nodes)) and the certificate
    its SMTP service presents (C(pmg-tls.pem) in C(/nodes/NODE/certificates/info)), whose key
    the TLSA record of the gateway is made from. Changes nothing.
extends_documentation_fragment:
  - pmg_connection
author: mailstack
"""


def run(module: AnsibleModule) -> dict[str, Any]:
    client = connect(module.params)
    version = client.get("/version", what="read PMG's version")
    nodes = client.get("/nodes", what="list the nodes")
    node = str(nodes[0]["node"]) if nodes else None
    smtp = None
    if node is not None:
        for cert in client.get(f"/nodes/{quote(node)}/certificates/info", what=f"node {node}"):
            if cert.get("filename") == "pmg-tls.pem":
                smtp = cert.get("pem")
    return {"changed": False, "version": version, "node": node, "smtp_certificate": smtp}


def main() -> None:
    run_module({}, run)


if __name__ == "__main__":
    main()
