"""What .gitignore keeps out of commits: Pulumi stack settings, vault password files and the
S/MIME CA stores."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)


def ignored(path: str) -> bool:
    """Would `git add` leave `path` out (whether or not it exists or is tracked)?"""
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "--quiet", path], cwd=ROOT, check=False
    )
    return done.returncode == 0


@pytest.mark.parametrize(
    "path",
    [
        "pulumi/Pulumi.prod.yaml",
        "pulumi/Pulumi.dev.yaml",
        "inventories/prod/vault-password",
        "vault-password",
        ".vault-pass",
        ".vault_pass.txt",
        "inventories/prod/.mailstack-vault",
        "inventories/prod.smime/example.org/ca-key.pem",
        "inventories/lab.smime/example.test/keys/1f.pem",
    ],
)
def test_secrets_are_ignored(path: str) -> None:
    assert ignored(path)


@pytest.mark.parametrize(
    "path",
    [
        "pulumi/Pulumi.yaml",
        "pulumi/Pulumi.example.yaml",
        "inventories/lab/vault-password",
        "molecule/mail/vault-password",
        "inventories/prod/published/smime/example.org/mailboxes/alice.pem",
    ],
)
def test_committed_files_are_not_ignored(path: str) -> None:
    assert not ignored(path)
