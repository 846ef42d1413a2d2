"""Reading the mail description from an Ansible inventory, as Ansible itself reads it.

The description is `mailstack_domains` (in `group_vars/all/`) and, for every host of the
`mail` group and of the `pmg` group (Proxmox Mail Gateways, the MX edge in front of the mail
hosts), `mailstack_ipv4` and `mailstack_ipv6`. Ansible's own inventory code reads the
files, so what mailstack plans is what the playbooks see.

An inventory is data, never a program: mailstack reads the YAML inventory files at the top of
the directory (`*.yml`, `*.yaml`, and `hosts`) with Ansible's `yaml` inventory plugin alone,
so that no inventory script or other plugin runs, and the `group_vars`/`host_vars` beside
them. A vars file
encrypted with ansible-vault is opened with the password given the usual ways:
`--vault-password-file`, `ANSIBLE_VAULT_PASSWORD_FILE` (or ansible.cfg's
`vault_password_file`), or the inventory's own `vault-password` file, which is read as text
and never run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailstack.accounts import Vaulted
from mailstack.keys import PublishedKeys
from mailstack.model import Description, read
from mailstack.problems import DescriptionError, Problems

MAIL_GROUP = "mail"
GATEWAY_GROUP = "pmg"
HOST_VARS = ("mailstack_ipv4", "mailstack_ipv6")
# The inventory files mailstack reads, at the top of the directory.
INVENTORY_SUFFIXES = (".yml", ".yaml")
# A YAML inventory file without a suffix, as Ansible's yaml plugin reads it too: `hosts`, the
# name Molecule gives its link to a scenario's inventory (other files without one, such as
# vault-password, are not inventories).
INVENTORY_NAMES = ("hosts",)
# The inventory's own vault password file (the lab's test-only key is one).
VAULT_FILE = "vault-password"
VAULT_HOW = (
    "give its password with --vault-password-file, ANSIBLE_VAULT_PASSWORD_FILE, or a"
    f" {VAULT_FILE} file in the inventory"
)


class NotAnInventory(DescriptionError):
    """The path given is no inventory directory: the command line is wrong (exit 2)."""

    def __init__(self, path: Path, why: str) -> None:
        problems = Problems()
        problems.error(str(path), why)
        super().__init__(problems)


@dataclass(frozen=True)
class Inventory:
    path: Path
    description: Description
    problems: Problems

    @property
    def published(self) -> PublishedKeys:
        return PublishedKeys(self.path / "published")

    @property
    def spf_cache(self) -> Path:
        return self.path / "spf-cache.json"


def plain(value: Any) -> Any:
    """Ansible's tagged strings, lists and mappings as plain Python values; a vaulted value
    (`!vault`, still encrypted or already decrypted by Ansible's templating) as Vaulted, which
    holds it as Ansible gave it."""
    from ansible.parsing.vault import VaultHelper  # noqa: PLC0415 (slow import)

    if VaultHelper.get_ciphertext(value, with_tags=False) is not None:
        return Vaulted(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    for kind in (bool, str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value


def inventory_files(path: Path) -> list[Path]:
    """The YAML inventory files at the top of the directory `path`; NotAnInventory when it is
    no directory or holds none."""
    if not path.is_dir():
        raise NotAnInventory(path, "is not an inventory directory")
    try:
        files = sorted(
            p
            for p in path.iterdir()
            if (p.suffix in INVENTORY_SUFFIXES or p.name in INVENTORY_NAMES)
            and not p.name.startswith(".")
            and p.is_file()
        )
    except OSError as exc:
        raise NotAnInventory(path, f"cannot be read: {exc.strerror}") from exc
    if not files:
        raise NotAnInventory(
            path,
            "is not an inventory directory: no YAML inventory file (hosts.yml) at its top"
            " (mailstack reads YAML inventories only, and runs no inventory script)",
        )
    return files


def read_vars(
    path: Path, vault_password_file: Path | None = None
) -> tuple[Any, dict[str, dict[str, Any]], set[str]]:
    """`mailstack_domains`, each host's description variables (mail hosts and gateways), and
    the names of the gateways. DescriptionError names the file that cannot be read."""
    files = inventory_files(path)
    from ansible.errors import AnsibleError  # noqa: PLC0415 (slow import)

    tried: list[str] = []
    try:
        return _read_vars(path, files, vault_password_file, tried)
    except _NotYaml as exc:
        problems = Problems()
        problems.error(str(exc), "is not a YAML inventory (Ansible's warning above says why)")
        raise DescriptionError(problems) from None
    except AnsibleError as exc:
        problems = Problems()
        where, message = _ansible_problem(exc, tried)
        problems.error(where or str(path), message)
        raise DescriptionError(problems) from None


def _read_vars(
    path: Path, files: list[Path], vault_password_file: Path | None, tried: list[str]
) -> tuple[Any, dict[str, dict[str, Any]], set[str]]:
    from ansible.inventory.manager import InventoryManager  # noqa: PLC0415 (slow import)
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415
    from ansible.plugins.loader import inventory_loader  # noqa: PLC0415
    from ansible.vars.manager import VariableManager  # noqa: PLC0415

    class YamlInventory(InventoryManager):  # type: ignore[misc]
        """Ansible's inventory with the `yaml` plugin alone: no script, no other plugin."""

        def _fetch_inventory_plugins(self) -> list[Any]:
            return [inventory_loader.get("yaml")]

        def parse_source(self, source: str, cache: bool = False) -> bool:
            parsed = bool(super().parse_source(source, cache=cache))
            if not parsed:
                raise _NotYaml(source)
            return parsed

    loader = DataLoader()
    loader.set_vault_secrets(_vault_secrets(path, vault_password_file, loader, tried))
    for file in files:
        loader.load_from_file(str(file))  # a syntax error, with its file and line
    inventory = YamlInventory(loader=loader, sources=[str(f) for f in files])
    variables = VariableManager(loader=loader, inventory=inventory)
    group = inventory.groups.get(MAIL_GROUP)
    hosts = sorted(group.get_hosts(), key=lambda h: h.name) if group else []
    gateway_group = inventory.groups.get(GATEWAY_GROUP)
    gateways = sorted(gateway_group.get_hosts(), key=lambda h: h.name) if gateway_group else []
    per_host = {h.name: variables.get_vars(host=h) for h in [*hosts, *gateways]}
    return description_vars(per_host, [h.name for h in hosts], [g.name for g in gateways])


class _NotYaml(Exception):
    """An inventory file that Ansible's yaml plugin could not read (its warning says why)."""


def _vault_secrets(
    path: Path, given: Path | None, loader: Any, tried: list[str]
) -> list[tuple[str, Any]]:
    """The vault passwords to try, from where they are given: the option, Ansible's setting
    (ANSIBLE_VAULT_PASSWORD_FILE, ansible.cfg), the inventory's own file (read, never run).
    `tried` gets the name of each."""
    import ansible.constants  # noqa: PLC0415
    from ansible.parsing.vault import VaultSecret, get_file_vault_secret  # noqa: PLC0415

    secrets: list[tuple[str, Any]] = []
    for file, name in (
        (given, "--vault-password-file"),
        (ansible.constants.DEFAULT_VAULT_PASSWORD_FILE, "ANSIBLE_VAULT_PASSWORD_FILE"),
    ):
        if file:
            secret = get_file_vault_secret(filename=str(file), vault_id="default", loader=loader)
            secret.load()
            secrets.append(("default", secret))
            tried.append(f"{name} {file}")
    own = path / VAULT_FILE
    if own.is_file():
        secrets.append(("default", VaultSecret(own.read_bytes().strip())))
        tried.append(str(own))
    return secrets


def _ansible_problem(exc: BaseException, tried: list[str]) -> tuple[str | None, str]:
    """Where (file:line) and what an Ansible error says, from the first exception of its chain
    that knows the file; a vault error says how to give the password. `tried` names where the
    vault passwords came from."""
    where = None
    message = str(getattr(exc, "message", "") or exc).splitlines()[0]
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None:
            break
        file, line = _origin(getattr(cause, "obj", None))
        if file is not None:
            where = f"{file}:{line}" if line else file
            message = str(getattr(cause, "message", "") or message).splitlines()[0]
            break
        cause = cause.__cause__ or cause.__context__
    if "vault" in message.lower() and "decrypt" in message.lower():
        if tried:
            message = (
                f"is encrypted with ansible-vault and the password given ({', '.join(tried)})"
                " does not open it"
            )
        else:
            message = f"is encrypted with ansible-vault and no password is given: {VAULT_HOW}"
    return where, message


def _origin(value: object) -> tuple[str | None, int | None]:
    """The file and line a value of Ansible's came from (its Origin, or what it is tagged
    with), when Ansible knows them."""
    try:
        from ansible._internal._datatag._tags import Origin  # noqa: PLC0415
    except ImportError:  # another ansible-core: say less
        return None, None
    origin = value if isinstance(value, Origin) else Origin.get_tag(value)
    if origin is None or not isinstance(origin.path, str):
        return None, None
    return origin.path, origin.line_num


def description_vars(
    per_host: Mapping[str, Mapping[str, Any]], mail: Sequence[str], gateways: Sequence[str]
) -> tuple[Any, dict[str, dict[str, Any]], set[str]]:
    """What the description is made of, from each host's variables as Ansible sees them:
    `mailstack_domains` (the same for all hosts: group_vars/all), the addresses of the mail
    hosts (`mail`) and of the gateways (`gateways`), and the gateways' names."""
    domains: Any = None
    host_vars: dict[str, dict[str, Any]] = {}
    for name in [*mail, *(g for g in gateways if g not in mail)]:
        hv = per_host[name]
        host_vars[name] = {k: plain(hv[k]) for k in HOST_VARS if k in hv}
        if domains is None and "mailstack_domains" in hv:
            domains = plain(hv["mailstack_domains"])
    return domains, host_vars, set(gateways)


def describe(
    where: str, domains: Any, hosts: dict[str, dict[str, Any]], gateways: set[str]
) -> tuple[Description, Problems]:
    """The validated description made of `description_vars`' parts; DescriptionError lists
    the errors. `where` names the inventory in messages."""
    problems = Problems()
    if not set(hosts) - gateways:
        problems.error(f"{where}: groups.{MAIL_GROUP}", "has no host: the description needs one")
    if domains is None:
        problems.error("mailstack_domains", f"is not set for the hosts of {where} (group_vars/all)")
        raise DescriptionError(problems)
    description = read(domains, hosts, problems, gateways)
    if problems.errors:
        raise DescriptionError(problems)
    return description, problems


def load(path: Path, vault_password_file: Path | None = None) -> Inventory:
    """The validated description of the inventory at `path`; DescriptionError lists errors
    (NotAnInventory when `path` is no inventory directory)."""
    description, problems = describe(str(path), *read_vars(path, vault_password_file))
    return Inventory(path, description, problems)
