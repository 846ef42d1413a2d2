"""A mailbox password encrypted with ansible-vault, read from a real inventory file: accepted
without the vault's key (mailstack never decrypts it), and a vaulted value next to a hash is
refused. The encryption is ansible-vault's own."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from mailstack.inventory import load
from mailstack.problems import DescriptionError
from tests.conftest import hosts


def vaulted(text: str) -> str:
    secret = VaultSecret(b"test-only vault key")
    encrypted: bytes = VaultLib([("default", secret)]).encrypt(text)
    return encrypted.decode()


def inventory(tmp_path: Path, mailbox_fields: str) -> Path:
    root = tmp_path / "inv"
    (root / "group_vars" / "all").mkdir(parents=True)
    (root / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"mail": {"hosts": hosts("mx1.example.test")}}}})
    )
    description = textwrap.dedent(
        """\
        mailstack_domains:
          - name: example.test
            mx:
              - host: mx1.example.test
            mailboxes:
              - name: alice
        """
    ) + textwrap.indent(mailbox_fields, " " * 8)
    (root / "group_vars" / "all" / "mailstack.yml").write_text(description)
    return root


def vault_field(name: str, text: str) -> str:
    return f"{name}: !vault |\n" + textwrap.indent(vaulted(text), "  ") + "\n"


def test_a_vaulted_password_is_accepted_without_the_key(tmp_path: Path) -> None:
    inv = load(inventory(tmp_path, vault_field("password", "alice-secret")))
    mailbox = inv.description.domains[0].accounts.mailboxes[0]
    assert mailbox.name == "alice"
    assert mailbox.password_hash is None


def test_a_vaulted_password_and_a_hash_are_refused(tmp_path: Path) -> None:
    fields = vault_field("password", "alice-secret") + 'password_hash: "{SHA512-CRYPT}$6$x$y"\n'
    with pytest.raises(DescriptionError) as caught:
        load(inventory(tmp_path, fields))
    assert (
        "mailstack_domains[0].mailboxes[0].password: give password or password_hash, not both"
        in str(caught.value)
    )


def test_a_password_in_clear_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DescriptionError) as caught:
        load(inventory(tmp_path, "password: alice-secret\n"))
    assert "mailboxes[0].password: must be encrypted with ansible-vault" in str(caught.value)
