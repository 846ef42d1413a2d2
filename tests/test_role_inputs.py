"""Bad input to a role fails the play before any task touches the host.

Each case runs the real role with ansible-playbook against localhost in check mode with no
fact gathering: a correct input would only be simulated, and a bad one must stop the play at
the argument-spec validation or at the role's own input checks, naming the variable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The tools of the environment that runs the tests, whatever PATH says.
BIN = Path(sys.executable).parent

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: {role}
"""


def run_role(
    role: str, tmp_path: Path, extra_vars: dict[str, object]
) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(role=role))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "--check",
            "--extra-vars",
            json.dumps(extra_vars),
            str(playbook),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=tmp_path,
    )


# The first task of each role that changes the host: a failure must come before it.
FIRST_CHANGE = {
    "common": "Install the base packages",
    "tls": "Install certbot",
    "lab_pebble": "Install Pebble",
    "postfix": "Install Postfix",
    "dovecot": "Install Dovecot",
    "opendkim": "Install OpenDKIM",
    "opendmarc": "Tell the OpenDMARC package not to ask for a database",
    "spamassassin": "Install SpamAssassin, spamd and the milter's library",
    "mta_sts": "Install nginx",
}


@pytest.mark.parametrize(
    ("role", "extra_vars", "field", "problem"),
    [
        (
            "common",
            {"common__fqdn": "mx1.example.test", "common__packages": "file"},
            "common__packages",
            "",
        ),
        (
            "common",
            {"common__fqdn": "mx1.example.test", "common__apt_cache_valid_time": "soon"},
            "common__apt_cache_valid_time",
            "",
        ),
        ("common", {"common__fqdn": "mx1"}, "common__fqdn", "at least two labels"),
        ("common", {"common__fqdn": "-mx1.example.test"}, "common__fqdn", "DNS names"),
        ("common", {"common__fqdn": "mx_1.example.test"}, "common__fqdn", "DNS names"),
        (
            "common",
            {"common__fqdn": "mx1.example.test", "common__timezone": "Paris; rm"},
            "common__timezone",
            "",
        ),
        ("tls", {"tls__names": "mx1.example.test"}, "tls__names", "lower-case DNS names"),
        ("tls", {"tls__names": ["MX1.example.test"]}, "tls__names", "lower-case DNS names"),
        (
            "tls",
            {"tls__names": ["mx1.example.test"], "tls__key_type": "dsa"},
            "tls__key_type",
            "ecdsa, rsa",
        ),
        (
            "tls",
            {"tls__names": ["mx1.example.test"], "tls__renew_before_days": "soon"},
            "tls__renew_before_days",
            "",
        ),
        ("lab_pebble", {"lab_pebble__port": "high"}, "lab_pebble__port", ""),
        (
            "common",
            {"common__fqdn": "mx1.example.test", "common__resolver_forward": ["resolver.lan"]},
            "common__resolver_forward",
            "is not an IP address",
        ),
        (
            "common",
            {
                "common__fqdn": "mx1.example.test",
                "common__resolver_stub_zones": [{"name": "lab.test", "addresses": ["ns1"]}],
            },
            "common__resolver_stub_zones (lab.test)",
            "is not an IP address",
        ),
        (
            "postfix",
            {"postfix__rate_limits": [{"messages": 0, "seconds": 60}]},
            "postfix__rate_limits",
            "positive integers messages and seconds",
        ),
        (
            "postfix",
            {"postfix__rate_limits_by_user": {"bob": [{"messages": 3, "seconds": 60}]}},
            "postfix__rate_limits_by_user[bob]",
            "must be a mail address",
        ),
        # Milters on TCP on the loopback would serve any local account: Unix sockets only.
        (
            "postfix",
            {"postfix__milters": ["inet:127.0.0.1:8891"]},
            "postfix__milters",
            "must be Unix sockets",
        ),
        # A route is one line of the transport table: no second line slipped into it.
        (
            "postfix",
            {"postfix__transports": {"outside.test": "smtp:[192.0.2.1]:25\nevil.test local:"}},
            "postfix__transports",
            "needs a domain name and a Postfix transport",
        ),
        # Port 25's milters are some of the others: no milter of its own slips in there.
        (
            "postfix",
            {"postfix__inbound_milters": ["unix:/tmp/other.sock"]},
            "postfix__inbound_milters",
            "some of postfix__milters",
        ),
        # An authserv-id goes into a regular expression: a host name, nothing else.
        (
            "postfix",
            {"postfix__authserv_ids": ["mx1.example.test|.*"]},
            "postfix__authserv_ids",
            "must be host names",
        ),
        (
            "postfix",
            {"postfix__authserv_ids": []},
            "postfix__authserv_ids",
            "must be host names (at least one)",
        ),
        # An address, not a network, and nothing a main.cf line could carry further.
        (
            "postfix",
            {"postfix__proxy_interfaces": ["192.0.2.1/24"]},
            "postfix__proxy_interfaces",
            "is not an IPv4 or IPv6 address",
        ),
        (
            "postfix",
            {"postfix__proxy_interfaces": ["192.0.2.1\nrelayhost = evil.test"]},
            "postfix__proxy_interfaces",
            "is not an IPv4 or IPv6 address",
        ),
        (
            "postfix",
            {"postfix__milter_groups": ["opendkim; rm"]},
            "postfix__milter_groups",
            "group names",
        ),
        (
            "postfix",
            {"postfix__from_milter_socket": "/var/spool/postfix/from-milter/milter.sock\n"},
            "postfix__from_milter_socket",
            "is not an absolute path of a Unix socket",
        ),
        (
            "postfix",
            {
                "postfix__rate_limits_by_user": {
                    "bob@example.test\n": [{"messages": 3, "seconds": 60}]
                }
            },
            "postfix__rate_limits_by_user[bob@example.test",
            "must be a mail address",
        ),
        (
            "opendkim",
            {"opendkim__socket": "inet:8891@127.0.0.1"},
            "opendkim__socket",
            "is not an absolute path of a Unix socket",
        ),
        (
            "opendkim",
            {"opendkim__ed25519_socket": "8892"},
            "opendkim__ed25519_socket",
            "is not an absolute path of a Unix socket",
        ),
        (
            "opendmarc",
            {"opendmarc__socket": "inet:8893@127.0.0.1"},
            "opendmarc__socket",
            "is not an absolute path of a Unix socket",
        ),
        ("dovecot", {"dovecot__quota": "2 GB"}, "dovecot__quota", "is not a size"),
        ("dovecot", {"dovecot__quota": "2G\n"}, "dovecot__quota", "is not a size"),
        (
            "dovecot",
            {"dovecot__spam_header": "X-Spam: Flag"},
            "dovecot__spam_header",
            "must be a header name",
        ),
        (
            "dovecot",
            {"dovecot__spam_value": "YES\nelse"},
            "dovecot__spam_value",
            "no control character",
        ),
        (
            "opendkim",
            {
                "opendkim__keys": [
                    {
                        "domain": "example.test",
                        "selector": "s1",
                        "algorithm": "dsa",
                        "state": "active",
                    }
                ]
            },
            "opendkim__keys",
            "must be one of: rsa, ed25519",
        ),
        ("opendkim", {"opendkim__rsa_bits": 1024}, "opendkim__rsa_bits", "2048"),
        (
            "spamassassin",
            {"spamassassin__required_score": 5.0, "spamassassin__reject_score": 4},
            "spamassassin__reject_score",
            "must be above",
        ),
        (
            "mta_sts",
            {"mta_sts__policies": [{"domain": "example.test"}]},
            "mta_sts__policies",
            "policy",
        ),
    ],
)
def test_bad_input_fails_before_any_change(
    role: str, tmp_path: Path, extra_vars: dict[str, object], field: str, problem: str
) -> None:
    result = run_role(role, tmp_path, extra_vars)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert field in out
    assert problem in out
    # The failure came from validation: no task that changes the host was reached.
    assert FIRST_CHANGE[role] not in out, out
