"""Pulumi's mocks, recording what a program registers: for the tests and the benchmarks.

Neither OVH's API nor the Pulumi CLI can run here; under these mocks a program runs in
process and every resource it declares is recorded with its type, name, inputs and parent.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ParamSpec, cast

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

# Type tokens that pulumi-ovh 2.x publishes.
ZONE_RECORD = "ovh:Domain/zoneRecord:ZoneRecord"
ZONE_DNSSEC = "ovh:Domain/zoneDNSSec:ZoneDNSSec"


@dataclass(frozen=True)
class Registration:
    typ: str
    name: str
    inputs: dict[str, Any]


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers every resource with its inputs as outputs, and remembers it."""

    def __init__(self) -> None:
        self.registered: list[Registration] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(Registration(args.typ, args.name, dict(args.inputs)))
        return f"{args.name}_id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


class RecordingMonitor(MockMonitor):
    """The mock monitor, also remembering each resource's parent URN (the mocks do not)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.parents: dict[str, str] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = MockMonitor.RegisterResource(self, request)  # type: ignore[no-untyped-call]
        self.parents[response.urn] = request.parent
        return response


@dataclass(frozen=True)
class Engine:
    mocks: RecordingMocks
    monitor: RecordingMonitor

    def inputs(self, typ: str) -> dict[str, dict[str, Any]]:
        """The inputs of every resource of type `typ`, by name."""
        return {r.name: r.inputs for r in self.mocks.registered if r.typ == typ}

    def children_of(self, urn: str) -> dict[str, str]:
        """The URNs of the resources whose parent is `urn`, with their type chain."""
        return {
            child: child.split("::")[2] for child, p in self.monitor.parents.items() if p == urn
        }


def _event_loop() -> None:
    """Give the thread an event loop when an earlier `asyncio.run` (the report reader's
    reverse lookups, run in-process by tests) left it without one: Pulumi's mocks use the
    current loop."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def start_engine(stack: str = "test") -> Engine:
    """Fresh mocks: nothing of an earlier stack is seen."""
    _event_loop()
    pulumi.runtime.reset_options()
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="mailstack-dns", stack=stack, monitor=monitor)
    return Engine(mocks, monitor)


@pytest.fixture
def engine() -> Iterator[Engine]:
    """Fresh mocks for one test; nothing of one test's stack is seen by the next."""
    yield start_engine()
    pulumi.runtime.reset_options()


P = ParamSpec("P")


def pulumi_test(fn: Callable[P, pulumi.Output[None]]) -> Callable[P, None]:
    """`pulumi.runtime.test` (untyped upstream), typed: runs `fn` and awaits its output, on
    the thread's current event loop (`_event_loop`)."""
    test = cast(Callable[P, None], pulumi.runtime.test(fn))  # type: ignore[no-untyped-call]

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        _event_loop()
        test(*args, **kwargs)

    return run
