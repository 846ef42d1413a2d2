"""The pmg role's modules: what `ansible-doc` documents for each (its own options, and the
connection options of the shared fragment, roles/pmg/doc_fragments/pmg_connection.py) is exactly
the argument spec the module runs with (its own, and `connection_spec()` of pmg_api)."""

from __future__ import annotations

import sys
from typing import Any

import ansible.module_utils.basic
import pytest

from tests.conftest import ROOT, assert_documented, documented_options, load_file

LIBRARY = ROOT / "roles" / "pmg" / "library"
MODULES = sorted(p.stem for p in LIBRARY.glob("pmg_*.py"))
CONNECTION = {"api_url", "api_user", "api_password", "api_ca_file", "validate_certs", "timeout"}


class _Spec(Exception):
    def __init__(self, argument_spec: dict[str, Any]) -> None:
        super().__init__()
        self.argument_spec = argument_spec


def _module(argument_spec: dict[str, Any], **_: Any) -> None:
    """Stands in for AnsibleModule: stops main() with the spec it was given."""
    raise _Spec(argument_spec)


@pytest.fixture(scope="module")
def documented() -> dict[str, dict[str, Any]]:
    return documented_options(LIBRARY, *MODULES)


def argument_spec(name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The argument spec `name`'s main() gives AnsibleModule."""
    monkeypatch.setitem(
        sys.modules,
        "ansible.module_utils.pmg_api",
        load_file("roles/pmg/module_utils/pmg_api.py", "ansible.module_utils.pmg_api"),
    )
    monkeypatch.setattr(ansible.module_utils.basic, "AnsibleModule", _module)
    module = load_file(LIBRARY / f"{name}.py", f"pmg_module_{name}")
    monkeypatch.setattr(module, "AnsibleModule", _module, raising=False)
    with pytest.raises(_Spec) as caught:
        module.main()
    return caught.value.argument_spec


def test_the_modules_are_found() -> None:
    assert len(MODULES) == 7


@pytest.mark.parametrize("name", MODULES)
def test_the_documentation_is_the_argument_spec(
    name: str, documented: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = argument_spec(name, monkeypatch)
    doc = documented[name]
    assert_documented(spec, doc)
    # Every module that talks to PMG takes the connection options; pmg_validate talks to nobody.
    assert (set(spec) >= CONNECTION) == (name != "pmg_validate")


def test_the_connection_options_are_documented_once() -> None:
    for path in LIBRARY.glob("pmg_*.py"):
        text = path.read_text()
        assert "api_password:" not in text, path
        if path.stem != "pmg_validate":
            assert "extends_documentation_fragment:\n  - pmg_connection\n" in text, path
