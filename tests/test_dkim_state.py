"""DKIM selector states changed in the description file (mailstack.dkimstate, `mailstack dkim
state`): only the allowed steps, comments kept, a selector active only once a real name server
on 127.0.0.1 serves its key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailstack import dkimstate
from mailstack.dkimstate import StateError, Step
from mailstack.inventory import load
from mailstack.plan import build
from mailstack.problems import DescriptionError
from mailstack.zonefile import render
from tests.conftest import MakeInventory, domain, mailstack, public_pem, rsa_key
from tests.dnsserver import ZoneServer

COMMENT = "# The selectors, oldest first.\n"


@pytest.fixture
def inventory(make_inventory: MakeInventory) -> Path:
    root = make_inventory([domain(dkim=[{"selector": "s1"}])])
    path = root / "group_vars/all/mailstack.yml"
    path.write_text(COMMENT + path.read_text())
    for selector in ("s1", "s2"):
        key = root / f"published/dkim/example.test/{selector}.pem"
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(public_pem(rsa_key()))
    return root


def states(inventory: Path) -> dict[str, str]:
    return {s.selector: s.state for s in load(inventory).description.domains[0].dkim}


def serving(inventory: Path) -> ZoneServer:
    """example.test as its plan says, at this moment."""
    plan = build(load(inventory))
    zone = render("example.test", plan.zone_records("example.test"), soa=None)
    return ZoneServer(zone, "example.test")


def test_a_full_rotation(inventory: Path) -> None:
    dkimstate.change(inventory, Step("example.test", "s2", "staged"))
    assert states(inventory) == {"s1": "active", "s2": "staged"}
    with serving(inventory) as server:
        check = dkimstate.served_by("127.0.0.1", server.port)
        done = dkimstate.change(inventory, Step("example.test", "s2", "active"), check)
    # The switch: one selector of an algorithm signs at a time, so s1 retires with it.
    assert "example.test/s2: staged -> active; example.test/s1: active -> retiring" in done
    assert states(inventory) == {"s1": "retiring", "s2": "active"}
    done = dkimstate.change(inventory, Step("example.test", "s1", "retiring"))
    assert done == "example.test/s1 is already retiring"
    dkimstate.change(inventory, Step("example.test", "s1", "removed"))
    assert states(inventory) == {"s2": "active"}
    text = (inventory / "group_vars/all/mailstack.yml").read_text()
    assert COMMENT in text


def test_a_selector_the_name_server_does_not_serve_stays_staged(inventory: Path) -> None:
    with serving(inventory) as server:  # before s2 is in the plan: its TXT is not served
        dkimstate.change(inventory, Step("example.test", "s2", "staged"))
        check = dkimstate.served_by("127.0.0.1", server.port)
        with pytest.raises(StateError, match=r"s2 stays staged: .*s2\._domainkey\.example\.test"):
            dkimstate.change(inventory, Step("example.test", "s2", "active"), check)
    assert states(inventory)["s2"] == "staged"


def test_a_selector_without_a_published_key_cannot_become_active(
    inventory: Path,
) -> None:
    dkimstate.change(inventory, Step("example.test", "s3", "staged"))
    check = dkimstate.served_by("127.0.0.1", 9)
    with pytest.raises(StateError, match="no key is published for it yet"):
        dkimstate.change(inventory, Step("example.test", "s3", "active"), check)


@pytest.mark.parametrize(
    ("selector", "state", "message"),
    [
        ("s2", "active", "a new selector cannot become active (the next step is staged)"),
        ("s2", "retiring", "a new selector cannot become retiring"),
        ("s1", "staged", "active cannot become staged (the next step is retiring)"),
        ("s1", "removed", "active cannot become removed (the next step is retiring)"),
    ],
)
def test_steps_out_of_order_are_refused(
    inventory: Path, selector: str, state: str, message: str
) -> None:
    before = (inventory / "group_vars/all/mailstack.yml").read_text()
    with pytest.raises(StateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dkimstate.change(inventory, Step("example.test", selector, state))
    assert (inventory / "group_vars/all/mailstack.yml").read_text() == before


def test_an_invalid_result_leaves_the_file_as_it_was(inventory: Path) -> None:
    before = (inventory / "group_vars/all/mailstack.yml").read_text()
    with pytest.raises(StateError, match="left as it was"):
        dkimstate.change(inventory, Step("example.test", "Not_A_Label", "staged"))
    assert (inventory / "group_vars/all/mailstack.yml").read_text() == before


def test_an_unknown_domain(inventory: Path) -> None:
    with pytest.raises(StateError, match=r"no domain other\.test"):
        dkimstate.change(inventory, Step("other.test", "s1", "staged"))


def test_the_command(inventory: Path) -> None:
    done = mailstack("dkim", "state", "-i", str(inventory), "example.test", "s2", "staged")
    assert done.returncode == 0, done.stderr
    assert "example.test/s2: new -> staged" in done.stdout
    done = mailstack("dkim", "state", "-i", str(inventory), "example.test", "s2", "active")
    assert done.returncode == 2
    assert "--nameserver is required" in done.stderr
    done = mailstack("dkim", "state", "-i", str(inventory), "example.test")
    assert done.stdout.splitlines() == [
        "example.test/s1: active (rsa)",
        "example.test/s2: staged (rsa)",
    ]


def test_no_active_selector_is_a_warning(make_inventory: MakeInventory) -> None:
    root = make_inventory([domain(dkim=[{"selector": "s1", "state": "staged"}])])
    warnings = [f"{p.path}: {p.message}" for p in load(root).problems.warnings]
    assert "mailstack_domains[0].dkim: no selector is active: nothing signs this domain's mail" in (
        warnings
    )


def test_a_retiring_selector_stays_published_for_the_delay(inventory: Path) -> None:
    dkimstate.change(inventory, Step("example.test", "s2", "staged"))
    with serving(inventory) as server:
        check = dkimstate.served_by("127.0.0.1", server.port)
        dkimstate.change(inventory, Step("example.test", "s2", "active"), check)
    since = load(inventory).description.domains[0].dkim[0].since
    assert since is not None
    with pytest.raises(
        StateError, match=re.escape(f"retiring since {since}: it stays published until")
    ):
        dkimstate.change(inventory, Step("example.test", "s1", "removed", after=3600))
    dkimstate.change(inventory, Step("example.test", "s1", "removed", after=0))
    assert states(inventory) == {"s2": "active"}


def test_since_belongs_to_retiring_selectors(make_inventory: MakeInventory) -> None:
    with pytest.raises(DescriptionError) as exc:
        load(
            make_inventory(
                [
                    domain(
                        dkim=[
                            {"selector": "s1", "since": "2026-01-01T00:00:00+00:00"},
                            {"selector": "s2", "state": "retiring", "since": "yesterday"},
                        ]
                    )
                ]
            )
        )
    assert [f"{p.path}: {p.message}" for p in exc.value.problems.errors] == [
        "mailstack_domains[0].dkim[0].since: only a retiring selector has a since date",
        "mailstack_domains[0].dkim[1].since: 'yesterday' is not a date and time with its zone"
        " (ISO 8601)",
    ]


def test_going_back_retires_the_new_one(inventory: Path) -> None:
    """retiring -> active undoes a switch: the selector that replaced it retires in turn."""
    dkimstate.change(inventory, Step("example.test", "s2", "staged"))
    with serving(inventory) as server:
        check = dkimstate.served_by("127.0.0.1", server.port)
        dkimstate.change(inventory, Step("example.test", "s2", "active"), check)
        dkimstate.change(inventory, Step("example.test", "s1", "active"), check)
    assert states(inventory) == {"s1": "active", "s2": "retiring"}


def test_a_switch_leaves_the_other_algorithm_alone(make_inventory: MakeInventory) -> None:
    root = make_inventory(
        [domain(dkim=[{"selector": "r1"}, {"selector": "e1", "algorithm": "ed25519"}])]
    )
    dkimstate.change(root, Step("example.test", "r2", "staged"))
    dkimstate.change(root, Step("example.test", "r2", "active"))
    assert states(root) == {"r1": "retiring", "e1": "active", "r2": "active"}
