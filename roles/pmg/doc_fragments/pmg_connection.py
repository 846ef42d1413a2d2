"""The options every API module of the `pmg` role takes to reach Proxmox Mail Gateway,
documented once (`extends_documentation_fragment: [pmg_connection]`); their argument spec is
`connection_spec()` in module_utils/pmg_api.py."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  api_url:
    description: PMG's API, C(https://HOST:8006) (C(/api2/json) is added).
    type: str
    required: true
  api_user:
    description: The user, C(name@pam) or C(name@pmg), with the Administrator role.
    type: str
    required: true
  api_password:
    description: Its password (PMG 8 has no API tokens).
    type: str
    required: true
  api_ca_file:
    description: A CA file for PMG's API certificate (PMG's own CA by default).
    type: path
  validate_certs:
    description: Check PMG's API certificate.
    type: bool
    default: true
  timeout:
    description: Seconds per request.
    type: int
    default: 30
"""
