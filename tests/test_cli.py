"""The `mailstack` console script, run as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mailstack import __version__
from mailstack.cli import main
from mailstack.keys import tlsa_311
from tests.conftest import ROOT, ec_key, public_pem


def test_console_script_prints_the_installed_version() -> None:
    exe = Path(sys.executable).parent / "mailstack"
    assert exe.is_file(), "the console script `mailstack` is not installed in the environment"
    result = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mailstack {__version__}"
    assert __version__ != "0+unknown"


def test_module_entry_point_matches_console_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mailstack", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mailstack {__version__}"


def test_no_command_prints_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: mailstack" in capsys.readouterr().out


def test_unknown_command_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


NEEDS_AN_INVENTORY = [
    ["spec", "validate"],
    ["dns", "plan"],
    ["dns", "zone", "example.test"],
    ["dns", "zones"],
    ["dns", "verify", "example.test", "--nameserver", "127.0.0.1"],
    ["spf", "refresh"],
    ["dkim", "state", "example.test"],
]


@pytest.mark.parametrize("argv", NEEDS_AN_INVENTORY, ids=" ".join)
def test_without_an_inventory_a_command_names_the_missing_setting(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # From the repository root, where inventories/lab is: it is not guessed.
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("MAILSTACK_INVENTORY", raising=False)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert re.fullmatch(
        rf"mailstack {' '.join(argv[:2])}: error: no inventory: give -i/--inventory INVENTORY"
        r" or set MAILSTACK_INVENTORY \(nothing defaults to the lab; it is -i inventories/lab\)\n",
        err,
    ), err


def test_an_empty_mailstack_inventory_is_no_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAILSTACK_INVENTORY", "")
    assert main(["spec", "validate"]) == 2
    assert "no inventory" in capsys.readouterr().err


def test_mailstack_inventory_names_the_inventory(
    lab: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAILSTACK_INVENTORY", lab)
    assert main(["spec", "validate"]) == 0
    assert capsys.readouterr().out.startswith(f"{lab}: valid: ")


def test_the_option_wins_over_the_environment(
    lab: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAILSTACK_INVENTORY", str(tmp_path / "nowhere"))
    assert main(["spec", "validate", "-i", lab]) == 0
    assert capsys.readouterr().out.startswith(f"{lab}: valid: ")


def test_the_console_script_exits_2_without_an_inventory() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MAILSTACK_INVENTORY"}
    exe = Path(sys.executable).parent / "mailstack"
    done = subprocess.run(
        [exe, "dns", "plan"], capture_output=True, text=True, check=False, cwd=ROOT, env=env
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "give -i/--inventory INVENTORY or set MAILSTACK_INVENTORY" in done.stderr


def test_check_reads_no_inventory_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `check` audits any domain; an inventory is an extra it takes only from -i.
    monkeypatch.setenv("MAILSTACK_INVENTORY", "inventories/lab")
    assert main(["check", "example.test", "--relay-test"]) == 2
    assert "--relay-test probes only the hosts of an inventory" in capsys.readouterr().err


def test_tlsa_of_published_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "next.pem"
    key.write_bytes(public_pem(ec_key()))
    assert main(["dns", "tlsa", str(key)]) == 0
    assert capsys.readouterr().out == f"3 1 1 {tlsa_311(key.read_bytes())}\n"
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    assert main(["dns", "tlsa", str(key), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert re.fullmatch(r"3 1 1 [0-9a-f]{64}\n", out)
    assert err.startswith(f"error: {bad}: not a PEM public key")
