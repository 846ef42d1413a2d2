"""No decrypted mailbox password reaches Ansible's output, even at -vvv.

The lab's description holds vaulted passwords (test-only key). Only the dovecot role receives
them; the share that every other role gets carries none. Each case runs the real playbook or
role with ansible-playbook at -vvv and looks for every lab password in what it printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
LAB = ROOT / "inventories" / "lab"


def _vault_constructor(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    secret = VaultSecret((LAB / "vault-password").read_bytes().strip())
    text = loader.construct_scalar(node)  # type: ignore[arg-type]
    plain: bytes = VaultLib([("default", secret)]).decrypt(str(text))
    return plain.decode()


class _VaultLoader(yaml.SafeLoader):
    """YAML's safe loader, decrypting `!vault` values with the lab's test-only key."""


_VaultLoader.add_constructor("!vault", _vault_constructor)


def lab_passwords() -> list[str]:
    """The lab's mailbox passwords, decrypted here with its test-only key."""
    text = (LAB / "group_vars" / "all" / "mailstack.yml").read_text()
    data = yaml.load(text, Loader=_VaultLoader)  # noqa: S506 (a SafeLoader with one constructor)
    found = [m["password"] for d in data["mailstack_domains"] for m in d.get("mailboxes", [])]
    assert found and all(len(p) >= 8 for p in found)
    return found


def run(args: list[str], tmp_path: Path) -> str:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_VAULT_PASSWORD_FILE": str(LAB / "vault-password"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
    }
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-vvv", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    return result.stdout + result.stderr


@pytest.fixture
def lab_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "lab"
    shutil.copytree(LAB, copy, ignore=shutil.ignore_patterns("published"))
    return copy


def test_the_share_of_site_yml_carries_no_password(lab_copy: Path, tmp_path: Path) -> None:
    # The mail hosts are closed ports on loopback: the description is validated and each host
    # given its share, then the first task that needs a host fails, unreachable.
    hosts = yaml.safe_load((lab_copy / "hosts.yml").read_text())
    closed = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh"}
    for host in hosts["all"]["children"]["mail"]["hosts"].values():
        host.update(closed)
    (lab_copy / "hosts.yml").write_text(yaml.safe_dump(hosts))
    out = run(["-i", str(lab_copy), str(ROOT / "ansible" / "site.yml")], tmp_path)
    assert "Give each host its share of the description" in out
    assert "mailstack_share" in out
    for password in lab_passwords():
        assert password not in out


PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: dovecot
      vars:
        dovecot__mailboxes: "{{ hostvars | mailstack_mailboxes(groups, 'mx1.example.test') }}"
"""


def test_the_dovecot_role_prints_no_password(lab_copy: Path, tmp_path: Path) -> None:
    # Check mode on this machine, with a bad quota setting so that the role's own assert fails
    # too: whatever it prints at -vvv, on the way and in the failure, holds no password.
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    hosts = yaml.safe_load((lab_copy / "hosts.yml").read_text())
    hosts["all"]["hosts"] = {"localhost": {"ansible_python_interpreter": sys.executable}}
    (lab_copy / "hosts.yml").write_text(yaml.safe_dump(hosts))
    out = run(
        ["-i", str(lab_copy), "--check", "-e", "dovecot__quota='2 GB'", str(playbook)], tmp_path
    )
    assert "dovecot__quota (2 GB) is not a size" in out
    assert "Validating arguments against arg spec" in out
    for password in lab_passwords():
        assert password not in out
