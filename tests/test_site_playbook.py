"""ansible/site.yml checks the description before any host is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import MakeInventory, domain

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_an_invalid_description_stops_the_play_before_any_host(
    make_inventory: MakeInventory, tmp_path: Path
) -> None:
    # The mail host is a closed port on loopback: contacting it would show as unreachable.
    host: dict[str, Any] = {
        "ansible_host": "127.0.0.1",
        "ansible_port": 1,
        "mailstack_ipv4": "192.0.2.10",
    }
    inv = make_inventory([domain(dmarc={"p": "block"})], {"mx1.example.test": host})
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
    }
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inv), str(ROOT / "ansible" / "site.yml")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "mailstack_domains[0].dmarc.p: must be one of none, quarantine, reject" in out
    assert "unreachable=0" in out
    assert "PLAY [Mail hosts]" not in out
