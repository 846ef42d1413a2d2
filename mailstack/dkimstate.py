"""The life of a DKIM selector, changed in the description file itself (comments kept).

A selector is `staged` (its key made on the hosts and published in DNS, nothing signs with
it), `active` (published, and mail is signed with it) or `retiring` (still published, so that
mail signed before the switch still verifies, but no longer signing); removed from the
description, it is no longer published. The only ways forward:

    (new) -> staged -> active -> retiring -> (removed)

with `retiring -> active` to go back, and a staged selector may be dropped. A selector becomes
active only when the zone's name server serves its exact published key: nothing signs with a
key that DNS does not serve. One selector per algorithm is active: the one that becomes active
makes the other of its algorithm retiring, in the same change. `ansible/dkim-rotate.yml` walks
these steps; `mailstack dkim state` is each step.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mailstack.inventory import load
from mailstack.model import DKIM_STATES
from mailstack.plan import build
from mailstack.problems import DescriptionError

STATES = DKIM_STATES
REMOVED = "removed"
# (from, to): allowed; None is a selector the description does not have.
STEPS = {
    (None, "staged"),
    ("staged", "active"),
    ("active", "retiring"),
    ("retiring", "active"),
    ("retiring", REMOVED),
    ("staged", REMOVED),
}
NEXT = {None: "staged", "staged": "active", "active": "retiring", "retiring": REMOVED}


class StateError(Exception):
    """A step the rules refuse; the message says which and why."""


def description_file(inventory: Path) -> Path:
    """The group_vars file of `inventory` that sets `mailstack_domains`."""
    group_vars = inventory / "group_vars"
    candidates = sorted(group_vars.glob("*.yml")) + sorted(group_vars.glob("*/*.yml"))
    for path in candidates:
        if any(line.startswith("mailstack_domains:") for line in path.read_text().splitlines()):
            return path
    raise StateError(f"{group_vars}: no file sets mailstack_domains")


def _yaml() -> Any:
    from ruamel.yaml import YAML  # noqa: PLC0415 (only this command edits YAML)

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.explicit_start = True
    return yaml


def _selectors(data: Any, domain: str, path: Path) -> list[Any]:
    for entry in data.get("mailstack_domains") or []:
        if entry.get("name") == domain:
            selectors: list[Any] = entry.setdefault("dkim", [])
            return selectors
    raise StateError(f"{path}: mailstack_domains has no domain {domain}")


def current(inventory: Path, domain: str) -> dict[str, dict[str, str]]:
    """Each selector of `domain` with its state, algorithm and (retiring) since."""
    path = description_file(inventory)
    data = _yaml().load(path.read_text())
    return {
        str(s["selector"]): {
            "state": str(s.get("state", "active")),
            "algorithm": str(s.get("algorithm", "rsa")),
            **({"since": str(s["since"])} if "since" in s else {}),
        }
        for s in _selectors(data, domain, path)
    }


@dataclass(frozen=True)
class Step:
    """`selector` of `domain` moves to `state` (a new one is made with `algorithm`)."""

    domain: str
    selector: str
    state: str
    algorithm: str = "rsa"
    # A retiring selector is removed only this many seconds after it began retiring.
    after: int = 0


def change(
    inventory: Path,
    step: Step,
    served: Callable[[Path, str, str], str | None] | None = None,
) -> str:
    """Take `step` in the description file; what was done.

    `served(inventory, domain, selector)` says why DNS does not serve the selector's key, or
    None when it does: it is asked before any selector becomes active. The file is written only
    when the description it makes is valid, else left as it was.
    """
    domain, selector, state = step.domain, step.selector, step.state
    path = description_file(inventory)
    yaml = _yaml()
    original = path.read_text()
    data = yaml.load(original)
    selectors = _selectors(data, domain, path)
    found = next((s for s in selectors if s.get("selector") == selector), None)
    replaced: list[str] = []
    before = None if found is None else str(found.get("state", "active"))
    if before == state:
        return f"{domain}/{selector} is already {state}"
    if (before, state) not in STEPS:
        allowed = NEXT.get(before)
        raise StateError(
            f"{domain}/{selector}: {before or 'a new selector'} cannot become {state}"
            f" (the next step is {allowed})"
        )
    if state == "active" and served is not None:
        why = served(inventory, domain, selector)
        if why is not None:
            raise StateError(f"{domain}/{selector} stays {before}: {why}")
    if state == REMOVED and found is not None and before == "retiring":
        _old_enough(step, found.get("since"))
    if found is None:
        selectors.append({"selector": selector, "algorithm": step.algorithm, "state": state})
    elif state == REMOVED:
        selectors.remove(found)
    elif state == "active":
        found.pop("state", None)
        found.pop("since", None)
        replaced = _retire_the_others(selectors, found)
    else:
        found["state"] = state
        if state == "retiring":
            found["since"] = _now()
    out = io.StringIO()
    yaml.dump(data, out)
    path.write_text(out.getvalue())
    try:
        load(inventory)
    except DescriptionError as exc:
        path.write_text(original)
        raise StateError(f"{path} left as it was: {exc}") from None
    also = "".join(f"; {domain}/{name}: active -> retiring" for name in replaced)
    return f"{domain}/{selector}: {before or 'new'} -> {state}{also} ({path})"


def _retire_the_others(selectors: list[Any], new: Any) -> list[str]:
    """The selectors of `new`'s algorithm that were active, now retiring: one signs at a time."""
    algorithm = str(new.get("algorithm", "rsa"))
    replaced = []
    for other in selectors:
        if other is new or str(other.get("algorithm", "rsa")) != algorithm:
            continue
        if str(other.get("state", "active")) == "active":
            other["state"] = "retiring"
            other["since"] = _now()
            replaced.append(str(other["selector"]))
    return replaced


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _old_enough(step: Step, since: object) -> None:
    """Refuse to remove a retiring selector before `step.after` seconds have passed."""
    if step.after <= 0:
        return
    if since is None:
        raise StateError(f"{step.domain}/{step.selector} has no since date: set one, or --after 0")
    until = datetime.fromisoformat(str(since)) + timedelta(seconds=step.after)
    if datetime.now(UTC) < until:
        raise StateError(
            f"{step.domain}/{step.selector} retiring since {since}: it stays published until"
            f" {until.isoformat(timespec='seconds')}, so that mail signed before the switch"
            " still verifies"
        )


def served_by(nameserver: str, port: int = 53) -> Callable[[Path, str, str], str | None]:
    """The check that `nameserver` serves the selector's TXT record exactly as planned."""

    def check(inventory: Path, domain: str, selector: str) -> str | None:
        from mailstack.verify import VerifyError, verify  # noqa: PLC0415

        name = f"{selector}._domainkey.{domain}"
        plan = build(load(inventory))
        records = [r for r in plan.records if r.name == name and r.rtype == "TXT"]
        if not records:
            return f"no key is published for it yet (published/dkim/{domain}/{selector}.pem)"
        try:
            findings = verify(records, nameserver, port=port)
        except VerifyError as exc:
            return str(exc)
        return "; ".join(str(f) for f in findings) or None

    return check
