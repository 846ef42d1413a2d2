"""Jinja filters of mailstack's playbooks: which part of the mail description a host serves."""

from __future__ import annotations

from typing import Any


def served_by(domains: list[dict[str, Any]], host: str) -> list[dict[str, Any]]:
    """The domains whose mail `host` receives: those that name it among their MX hosts."""
    return [d for d in domains if any(m.get("host") == host for m in d.get("mx") or [])]


class FilterModule:
    """mailstack's filters: `mailstack_domains | served_by(inventory_hostname)`."""

    def filters(self) -> dict[str, Any]:
        return {"served_by": served_by}
