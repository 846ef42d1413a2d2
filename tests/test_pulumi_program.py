"""The Pulumi program (pulumi/__main__.py) under Pulumi's mocks, on real inventories.

The Pulumi CLI and OVH's API cannot run here: the program runs in process and what it would
ask pulumi-ovh to create is checked against the plan. To run the same program for real, see
docs/deploy.md and docs/testing.md.
"""

from __future__ import annotations

import gc
import runpy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pulumi
import pytest

from mailstack import txt
from mailstack.inventory import load
from mailstack.plan import build
from mailstack.problems import DescriptionError
from tests.conftest import MakeInventory, domain
from tests.pulumi_mocks import ZONE_DNSSEC, ZONE_RECORD, Engine, pulumi_test, start_engine

ROOT = Path(__file__).resolve().parent.parent


def program() -> Callable[[], None]:
    module = runpy.run_path(str(ROOT / "pulumi" / "__main__.py"), run_name="mailstack_program")
    return cast(Callable[[], None], module["main"])


@pytest.fixture
def stack() -> Iterator[Callable[[str | None], Engine]]:
    """Start a stack whose config `mailstack:inventory` is the one given (None: not set)."""

    def start(inventory: str | None) -> Engine:
        engine = start_engine()
        pulumi.runtime.set_all_config(
            {} if inventory is None else {"mailstack:inventory": inventory}
        )
        return engine

    yield start
    pulumi.runtime.reset_options()
    # The program turns the cyclic collector off for the rest of its process; not this one's.
    gc.enable()


def test_the_lab_is_published_record_for_record(stack: Callable[[str | None], Engine]) -> None:
    engine = stack("inventories/lab")

    @pulumi_test
    def run() -> pulumi.Output[Any]:
        program()()
        return pulumi.Output.from_input(None)

    run()
    plan = build(load(ROOT / "inventories" / "lab"))
    sent = {
        (i["zone"], i["subdomain"], i["fieldtype"], i["target"], i["ttl"])
        for i in engine.inputs(ZONE_RECORD).values()
    }
    assert sent == {(r.zone, r.subdomain, r.rtype, r.rdata, r.ttl) for r in plan.records}
    assert len(engine.inputs(ZONE_RECORD)) == len(plan.records)
    assert set(engine.inputs(ZONE_DNSSEC)) == {"example.test/dnssec", "peer.test/dnssec"}
    for inputs in engine.inputs(ZONE_RECORD).values():
        if inputs["fieldtype"] == "TXT":
            assert txt.presentation(txt.joined(inputs["target"])) == inputs["target"]


def test_nothing_is_published_from_an_invalid_plan(
    stack: Callable[[str | None], Engine], make_inventory: MakeInventory
) -> None:
    inv = make_inventory([domain(spf={"senders": [{"include": "x.vendor.test", "who": "X"}]})])
    engine = stack(str(inv))

    @pulumi_test
    def run() -> pulumi.Output[Any]:
        program()()
        return pulumi.Output.from_input(None)

    with pytest.raises(DescriptionError, match="not in the offline cache"):
        run()
    assert engine.inputs(ZONE_RECORD) == {}


@pulumi_test
def run_program() -> pulumi.Output[Any]:
    """The program, as `pulumi up` runs it, under the mocks of the stack started last."""
    program()()
    return pulumi.Output.from_input(None)


def test_a_stack_that_names_no_inventory_publishes_nothing(
    stack: Callable[[str | None], Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAILSTACK_INVENTORY", raising=False)
    monkeypatch.chdir(ROOT)  # where inventories/lab is: it is not guessed
    engine = stack(None)
    with pytest.raises(pulumi.RunError) as caught:
        run_program()
    assert str(caught.value) == (
        "no inventory to publish: set the stack's config `mailstack:inventory`"
        " (pulumi config set mailstack:inventory inventories/<env>) or the environment"
        " variable MAILSTACK_INVENTORY; nothing defaults to the lab"
    )
    assert engine.inputs(ZONE_RECORD) == {}


def test_without_the_config_mailstack_inventory_names_the_inventory(
    stack: Callable[[str | None], Engine],
    monkeypatch: pytest.MonkeyPatch,
    make_inventory: MakeInventory,
) -> None:
    inv = make_inventory([domain()])
    monkeypatch.setenv("MAILSTACK_INVENTORY", str(inv))
    engine = stack(None)
    run_program()
    plan = build(load(inv))
    sent = {
        (i["zone"], i["subdomain"], i["fieldtype"]) for i in engine.inputs(ZONE_RECORD).values()
    }
    assert sent == {(r.zone, r.subdomain, r.rtype) for r in plan.records}
    assert sent
