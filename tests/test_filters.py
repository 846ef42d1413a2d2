"""The Jinja filters of mailstack's playbooks (ansible/filter_plugins)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.conftest import ROOT


def load() -> ModuleType:
    path = ROOT / "ansible/filter_plugins/mailstack_hosts.py"
    spec = importlib.util.spec_from_file_location("mailstack_hosts", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


filters = load().FilterModule().filters()

DOMAINS = [
    {"name": "example.test", "mx": [{"host": "mx1.example.test"}, {"host": "mx2.example.test"}]},
    {"name": "peer.test", "mx": [{"host": "mx1.peer.test"}]},
    {"name": "noreply.example.test", "parked": True},
    {"name": "old.example.test", "mx": None},
]


def test_a_host_serves_the_domains_that_name_it_as_mx() -> None:
    served = filters["served_by"](DOMAINS, "mx2.example.test")
    assert [d["name"] for d in served] == ["example.test"]
    assert [d["name"] for d in filters["served_by"](DOMAINS, "mx1.peer.test")] == ["peer.test"]


def test_a_host_named_by_no_domain_serves_none() -> None:
    assert filters["served_by"](DOMAINS, "dns.lab.test") == []
