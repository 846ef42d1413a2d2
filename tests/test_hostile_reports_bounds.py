"""`mailstack dmarc report` ends in bounded time and memory whatever it is given: reverse
lookups against a resolver that never answers (a silent socket on 127.0.0.1) end together
by one deadline; a report is read as a stream, in less memory than its own XML; the records
read in a run are bounded in total, and what passes the bound is refused by name."""

from __future__ import annotations

import json
import socket
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailstack.reports.intake import Intake
from mailstack.reports.sources import MIB, Payload
from tests.conftest import mailstack
from tests.test_reports_samples import Row, aggregate_xml, aligned_row, day, tls_report

TIMEOUT = 1.0
DEADLINE = 5 * TIMEOUT  # the documented bound: 5 times --timeout for all the lookups
STARTUP = 4.0  # the command's own start and reading, generous for a busy machine


def rows(count: int, first: int = 0) -> list[Row]:
    """`count` records, each from its own address in 10.0.0.0/8."""
    return [
        aligned_row(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 1)
        for n in range(first, first + count)
    ]


@pytest.fixture
def silent_resolver() -> Iterator[int]:
    """A UDP port on 127.0.0.1 where questions arrive and are never answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_reverse_lookups_give_up_together_by_the_deadline(
    tmp_path: Path, silent_resolver: int
) -> None:
    path = tmp_path / "many.xml"
    path.write_bytes(aggregate_xml("big", "1", day(1), rows(400)))
    start = time.monotonic()
    result = mailstack(
        "dmarc", "report", "--json", "--resolver", "127.0.0.1",
        "--resolver-port", str(silent_resolver), "--timeout", str(TIMEOUT), str(path),
    )  # fmt: skip
    elapsed = time.monotonic() - start
    # Sixteen at a time, each waiting its full timeout, took 400 / 16 = 25 timeouts.
    assert elapsed < DEADLINE + STARTUP, result.stderr
    assert result.returncode == 0, result.stderr
    sources = json.loads(result.stdout)["dmarc"]["sources"]
    assert len(sources) == 400
    assert {s["name"] for s in sources} == {None}
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warning.startswith("warning: reverse names: ")
    assert warning.endswith(
        " of 400 addresses not answered within 5 s, the bound for all of them"
        " (5 x --timeout): shown without a name"
    )


def test_a_report_is_read_in_less_memory_than_its_xml() -> None:
    data = aggregate_xml("big", "1", day(1), rows(3_000))
    assert len(data) > MIB
    intake = Intake()
    tracemalloc.start()
    try:
        intake.add(Payload("big.xml", data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert intake.refused == []
    assert len(intake.dmarc[0].records) == 3_000
    # A whole ElementTree of it took eight times its size; the records kept, a fraction.
    assert peak < len(data)


def test_the_records_of_a_run_are_bounded_in_total(tmp_path: Path) -> None:
    for n in range(3):
        path = tmp_path / f"r{n}.xml"
        path.write_bytes(aggregate_xml("big", str(n), day(1), rows(100, 100 * n)))
    (tmp_path / "small.xml").write_bytes(aggregate_xml("small", "1", day(1), rows(50, 1000)))
    result = mailstack("dmarc", "report", "--no-resolve", "--max-records", "250", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("refused: ")] == [
        f"refused: {tmp_path}/r2.xml: its records would take the run past 250 records in all"
        " (--max-records); 200 read before it"
    ]
    assert "Messages: 250\n" in result.stdout  # the small report after it still fits


def test_a_tls_report_counts_its_policies_and_failures_against_the_bound() -> None:
    intake = Intake(max_records=2)
    intake.add(Payload("t.json", json.dumps(tls_report()).encode()))
    assert [str(r) for r in intake.refused] == [
        "t.json: its records would take the run past 2 records in all (--max-records);"
        " 0 read before it"
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ("<type>forwarded</type>", "<type>forwarded</type>" * 1001),
            "record 1 has more than 1000 elements",
        ),
        (
            ("<org_name>big</org_name>", f"<org_name>{'x' * 1001}</org_name>"),
            "report_metadata.org_name is longer than 1000 characters",
        ),
        (
            ("<begin>1740787200</begin>", "<begin>99999999999999</begin>"),
            "report_metadata.date_range.begin '99999999999999' is more than 253402300799",
        ),
    ],
)
def test_parts_beyond_the_bounds_are_refused_with_their_path(
    change: tuple[str, str], problem: str
) -> None:
    row = Row("192.0.2.1", 1, reasons=["forwarded"])
    data = aggregate_xml("big", "1", day(1), [row]).decode().replace(*change).encode()
    intake = Intake()
    intake.add(Payload("r.xml", data))
    assert [str(r) for r in intake.refused] == [f"r.xml: {problem}"]


def test_a_tls_report_larger_than_its_bound_is_refused_unparsed() -> None:
    report = tls_report(failures=[{"result-type": "x" * 900, "failed-session-count": 1}] * 2500)
    intake = Intake()
    intake.add(Payload("t.json", json.dumps(report).encode()))
    assert [str(r) for r in intake.refused] == [
        "t.json: a TLS report larger than 2 MiB is refused (its JSON is read whole)"
    ]


@pytest.mark.parametrize("option", ["--max-members", "--max-records"])
@pytest.mark.parametrize("value", ["0", "-1", "ten"])
def test_a_bound_of_no_members_or_records_is_refused(
    tmp_path: Path, option: str, value: str
) -> None:
    result = mailstack("dmarc", "report", "--no-resolve", option, value, str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert f"{option}: {value!r} is not a whole number of at least 1" in result.stderr
