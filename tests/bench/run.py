"""`make bench`: figures for the things whose speed the project cares about.

Each benchmark repeats its work a few times and prints the minimum, median and maximum, or a
ratio to a yardstick measured in the same run, with its target and PASS or MISS. Every figure
line ends with the date and the machine-speed loop of its run (tests/bench/speed.py), by which
figures of different hours and machines are read. Benchmarks print; they never pass or fail on
a time, so a busy machine cannot make them flake.

    python -m tests.bench.run [PART ...]
    PART: cli, accounts, boot, dns, reports, smime, lab, audit, mail, lists (default: all)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.bench import accounts, dns, lists, mail, reports, smime
from tests.bench.speed import loop_seconds, multiple, spread, stamp

IMAGE = os.environ.get("MAILSTACK_IMAGE", "localhost/mailstack-debian:bookworm")
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
LAB_TIMES = ROOT / ".cache" / "reports" / "lab-times.txt"
PARTS = ("cli", "accounts", "boot", "dns", "reports", "smime", "lab", "audit", "mail", "lists")
LAB_PUBLISHED = ROOT / "inventories" / "lab" / "published" / "lab"


def timed(work: Callable[[], None], runs: int) -> list[float]:
    """Wall times in seconds of `runs` calls of `work`."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return times


def report(name: str, times: list[float], loop: float, unit: str = "s") -> None:
    scale = 1000.0 if unit == "ms" else 1.0
    figures = spread([t * scale for t in times], "8.2f", unit)
    print(f"{name:<44} {figures}   ({len(times)} runs)  {stamp(loop)}")


def cli_startup() -> None:
    subprocess.run([str(BIN / "mailstack"), "--version"], check=True, capture_output=True)


def container_boot() -> None:
    """Start a container from the base image and wait until systemd reports it is up."""
    name = f"mailstack-bench-{os.getpid()}"
    subprocess.run(
        ["podman", "run", "-d", "--name", name, "--systemd=always", IMAGE],
        check=True,
        capture_output=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = subprocess.run(
                ["podman", "exec", name, "systemctl", "is-system-running"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            if state in {"running", "degraded"}:
                return
            time.sleep(0.05)
        raise RuntimeError(f"systemd in {name} did not come up within 60 s")
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], check=True, capture_output=True)


def lab_audit() -> None:
    """A full `mailstack check` of the lab's example.test (target: under 2 s)."""
    subprocess.run(
        ["bash", str(ROOT / "molecule/lab/audit.sh"), "example.test", "--json"],
        check=True,
        capture_output=True,
        env={**os.environ, "MAILSTACK": str(BIN / "mailstack")},
    )


def lab_is_up() -> bool:
    """Whether the lab's DNS server answers (make lab left it running)."""
    try:
        with socket.create_connection(("10.231.0.2", 53), timeout=1):
            return True
    except OSError:
        return False


def lab_converges() -> None:
    """The last `make lab`'s converge times (molecule/lab/run.sh), in seconds and in loops."""
    if not LAB_TIMES.is_file():
        print("lab converge times: none yet (make lab writes them)")
        return
    lab = dict(line.split("=", 1) for line in LAB_TIMES.read_text().splitlines() if "=" in line)
    loop = float(lab["loop"])
    tag = f"[{lab['date']}, loop {loop:.2f} s]"
    print(f"the last make lab ({lab['kind']}, strategy {lab['strategy']}):")
    for key, label in (
        ("converge", "converge"),
        ("second_converge", "second converge (must change nothing)"),
        ("e2e", "end-to-end checks"),
    ):
        seconds = float(lab[key])
        print(f"  {label:<42} {seconds:6.0f} s = {multiple(seconds, loop):>12}  {tag}")


def local_parts(parts: list[str], loop: float) -> None:
    """The benchmarks that need no lab."""
    if "cli" in parts:
        report("CLI start (`mailstack --version`)", timed(cli_startup, 10), loop, "ms")
    if "accounts" in parts:
        print(f"the dovecot role's account step (target < {accounts.TARGET:.0f} s for 10,000):")
        for name, times in accounts.main():
            report(f"  {name}", times, loop)
    if "boot" in parts:
        report("container boot to systemd up (base image)", timed(container_boot, 3), loop)
    # The parts that only print figures, in their order.
    printing: dict[str, Callable[[float], object]] = {
        "dns": dns.main,
        "reports": reports.main,
        "smime": smime.main,
    }
    for name in (p for p in PARTS if p in printing and p in parts):
        printing[name](loop)


def main(argv: list[str]) -> int:
    parts = argv or list(PARTS)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        print(
            f"unknown part {', '.join(unknown)}: choose among {', '.join(PARTS)}", file=sys.stderr
        )
        return 2
    loop = loop_seconds()
    print(
        f"mailstack benchmarks on {os.cpu_count()} cores; machine-speed loop"
        f" (tests/bench/speed.py) {loop:.2f} s {stamp(loop)}"
    )
    local_parts(parts, loop)
    if "lab" in parts:
        lab_converges()
    if not lab_is_up() and {"audit", "mail", "lists"} & set(parts):
        print(
            "mailstack check of a lab domain, mail and lists through the lab: skipped, the lab"
            " is not running (make lab)"
        )
        parts = [part for part in parts if part not in {"audit", "mail", "lists"}]
    if "audit" in parts:
        if (LAB_PUBLISHED / "trust-anchors.txt").is_file():
            report("mailstack check example.test (lab; target < 2 s)", timed(lab_audit, 5), loop)
        else:
            print(
                f"mailstack check of a lab domain: skipped, {LAB_PUBLISHED} has no trust"
                " anchors (the running lab was made from another checkout)"
            )
    if "mail" in parts:
        mail.main(loop)
    if "lists" in parts:
        lists.main(loop)
    print(f"machine-speed loop at the end: {loop_seconds():.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
