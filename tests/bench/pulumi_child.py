"""One run of the Pulumi benchmark, in a process of its own (tests/bench/dns.py starts it).

    python -m tests.bench.pulumi_child program INVENTORY [DUMP]
        pulumi/__main__.py on INVENTORY under Pulumi's mocks, as `pulumi up` runs it; with
        DUMP, also writes every resource it registered (type, name, parent, inputs) there.
    python -m tests.bench.pulumi_child sdk DUMP
        Pulumi's SDK alone registering the resources of DUMP: the same count and types, the
        same names, parents and inputs, with no mailstack code (no inventory, no model, no
        plan); the floor under the program.

Both run under the same mocks (every resource answered with its inputs, nothing kept beyond
what Pulumi's mock monitor keeps itself), with the cyclic garbage collector off from their
first registration on, as the program sets it, and print one JSON line: the resources
registered, by type. Only the dump run records more; it is never timed.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import re
import runpy
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi
import pulumi_ovh as ovh
from pulumi.runtime.mocks import MockMonitor

ROOT = Path(__file__).resolve().parents[2]
# (type, name, inputs) of a component's children.
Child = tuple[str, str, dict[str, Any]]
# (type, name, children) of a component.
Component = tuple[str, str, list[Child]]


class CountingMocks(pulumi.runtime.Mocks):
    """Answers every resource with its inputs as outputs, and counts it by type."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.counts[args.typ] += 1
        return f"{args.name}_id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


class DumpingMonitor(MockMonitor):
    """The mock monitor, also keeping each resource's type, name, parent and inputs."""

    def __init__(self, mocks: CountingMocks) -> None:
        super().__init__(mocks)
        self.seen: list[tuple[str, str, str, str]] = []  # urn, type, name, parent urn

    def RegisterResource(self, request: Any) -> Any:
        response = MockMonitor.RegisterResource(self, request)  # type: ignore[no-untyped-call]
        self.seen.append((response.urn, request.type, request.name, request.parent))
        return response

    def components(self) -> list[Component]:
        """What the program registered, component by component, in its order."""
        by_urn: dict[str, Component] = {}
        for urn, typ, name, parent in self.seen:
            if parent in by_urn:
                inputs = self.resources[urn].state  # the mocks answer with the inputs
                by_urn[parent][2].append((typ, name, _python_names(inputs)))
            elif typ != "pulumi:pulumi:Stack":
                by_urn[urn] = (typ, name, [])
        return list(by_urn.values())


def _python_names(inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs by their Python argument names (the wire's zoneName is zone_name)."""
    return {re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower(): value for key, value in inputs.items()}


def _start(mocks: CountingMocks, monitor: MockMonitor | None = None) -> None:
    pulumi.runtime.set_mocks(mocks, project="mailstack-dns", stack="bench", monitor=monitor)


def _test(fn: Any) -> None:
    """Run `fn` as a Pulumi program under the mocks, until every registration is done."""
    pulumi.runtime.test(fn)()  # type: ignore[no-untyped-call]


def program(inventory: str, dump: str | None) -> Counter[str]:
    mocks = CountingMocks()
    monitor = DumpingMonitor(mocks) if dump else None
    _start(mocks, monitor)
    pulumi.runtime.set_all_config({"mailstack:inventory": inventory})
    os.environ["MAILSTACK_INVENTORY"] = inventory  # the other way to name it, for the CLI's sake
    main = runpy.run_path(str(ROOT / "pulumi" / "__main__.py"), run_name="bench")["main"]

    def run() -> pulumi.Output[None]:
        main()
        return pulumi.Output.from_input(None)

    _test(run)
    if dump and monitor is not None:
        Path(dump).write_bytes(pickle.dumps(monitor.components()))
    return mocks.counts


def sdk(dump: str) -> Counter[str]:
    classes = {
        "ovh:Domain/zoneRecord:ZoneRecord": ovh.domain.ZoneRecord,
        "ovh:Domain/zoneDNSSec:ZoneDNSSec": ovh.domain.ZoneDNSSec,
    }
    components: list[Component] = pickle.loads(Path(dump).read_bytes())  # noqa: S301 (ours)
    mocks = CountingMocks()
    _start(mocks)

    def run() -> pulumi.Output[None]:
        gc.disable()
        counts = {}
        for typ, name, children in components:
            component = pulumi.ComponentResource(typ, name, None, None)
            child = pulumi.ResourceOptions(parent=component)
            ids = {}
            for child_type, child_name, inputs in children:
                resource = classes[child_type](child_name, **inputs, opts=child)
                ids[child_name] = resource.id
            component.register_outputs({"records": ids})
            counts[name] = len(children)
        pulumi.export("records", counts)
        return pulumi.Output.from_input(None)

    _test(run)
    return mocks.counts


def main(argv: list[str]) -> int:
    if argv[:1] == ["program"] and len(argv) in {2, 3}:
        counts = program(argv[1], argv[2] if len(argv) == 3 else None)
    elif argv[:1] == ["sdk"] and len(argv) == 2:
        counts = sdk(argv[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(dict(sorted(counts.items()))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
