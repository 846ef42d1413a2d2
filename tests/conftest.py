"""Shared test helpers: inventories written to a temporary directory, real keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

MakeInventory = Callable[..., Path]
# A real SHA512-CRYPT hash (`openssl passwd -6 -salt mailstacksalt secret`), for descriptions
# that need a mailbox with a password.
PASSWORD_HASH = (
    "{SHA512-CRYPT}$6$mailstacksalt$A/.L55IHOAr3HjJn3sSlMvSC737whB1YeYluBzMTPbbxfqUj2dScO"  # noqa: S105
    ".7yGP4PoRRW3/zfl6W3rHaA/3sCqN2nb."
)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The lab's description as the repository has it, without the keys that a running lab
    wrote back (inventories/lab/published/, not versioned): every test sees the same plan."""
    import shutil  # noqa: PLC0415

    copy = tmp_path_factory.mktemp("lab") / "lab"
    shutil.copytree(ROOT / "inventories" / "lab", copy, ignore=shutil.ignore_patterns("published"))
    return str(copy)


def load_file(relative: str | Path, name: str) -> ModuleType:
    """A Python file of the repository that is no package module (a role's program or
    plugin), imported under `name`; registered in sys.modules, where dataclasses look."""
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def mailstack(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `mailstack` command from the repository root, as a user does."""
    exe = str(Path(sys.executable).parent / "mailstack")
    return subprocess.run([exe, *args], capture_output=True, text=True, check=False, cwd=ROOT)


def documented_options(library: Path, *modules: str) -> dict[str, dict[str, Any]]:
    """The options that `ansible-doc` documents for each of `modules` of a role's library."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-doc"), "-M", str(library), "--json", *modules],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return {name: about["doc"]["options"] for name, about in json.loads(done.stdout).items()}


def assert_documented(spec: dict[str, Any], doc: dict[str, Any]) -> None:
    """A module's argument spec and its documentation have the same options, with the same
    types, required flags, defaults and element types."""
    assert set(doc) == set(spec)
    for option, rules in spec.items():
        about = doc[option]
        assert about["type"] == rules.get("type", "str"), option
        assert bool(about.get("required", False)) == bool(rules.get("required", False)), option
        assert about.get("default") == rules.get("default"), option
        assert about.get("elements") == rules.get("elements"), option


def public_pem(key: PrivateKeyTypes) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def domain(name: str = "example.test", **fields: Any) -> dict[str, Any]:
    """A minimal valid domain description, with `fields` replacing or adding fields."""
    base: dict[str, Any] = {
        "name": name,
        "mx": [{"host": f"mx1.{name}", "priority": 10}],
        "spf": {"senders": [{"mx": True}]},
        "dmarc": {"p": "reject", "rua": [f"mailto:dmarc@{name}"]},
    }
    base.update(fields)
    return base


def hosts(*names: str) -> dict[str, dict[str, Any]]:
    return {
        n: {"mailstack_ipv4": f"192.0.2.{i + 10}", "mailstack_ipv6": f"2001:db8::{i + 10:x}"}
        for i, n in enumerate(names)
    }


@pytest.fixture
def make_inventory(tmp_path: Path) -> MakeInventory:
    """Write an inventory (hosts.yml and group_vars/all/mailstack.yml) and return its path."""

    def make(
        domains: Any,
        host_vars: dict[str, dict[str, Any]] | None = None,
        name: str = "inv",
    ) -> Path:
        return write_inventory(tmp_path / name, domains, host_vars)

    return make


def write_inventory(
    root: Path, domains: Any, host_vars: dict[str, dict[str, Any]] | None = None
) -> Path:
    """hosts.yml (the mail group: `host_vars`, by default mx1.example.test) and
    group_vars/all/mailstack.yml (`domains`) at `root`."""
    (root / "group_vars" / "all").mkdir(parents=True)
    if host_vars is None:
        host_vars = hosts("mx1.example.test")
    inventory = {"all": {"children": {"mail": {"hosts": host_vars}}}}
    (root / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (root / "group_vars" / "all" / "mailstack.yml").write_text(
        yaml.safe_dump({"mailstack_domains": domains})
    )
    return root
