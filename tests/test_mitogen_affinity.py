"""Mitogen's strategy (ansible/strategy_plugins/mitogen_linear.py) pins no process to a CPU:
what a play starts on the controller (podman, and so the lab's containers and every service in
them) may run on every CPU this process may. Mitogen's own policy pinned them to one CPU of
two, which serialised the lab's spamd."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

# The tools of the environment that runs the tests, whatever PATH says.
BIN = Path(sys.executable).parent

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Read the CPUs a command started by the play may use
      ansible.builtin.command: grep Cpus_allowed_list /proc/self/status
      register: allowed
      changed_when: false
    - name: Show them
      ansible.builtin.debug:
        msg: "ALLOWED {{ allowed.stdout.split()[-1] }}"
"""


def _cpus(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def test_a_command_of_a_play_may_run_on_every_cpu(tmp_path: Path) -> None:
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "ANSIBLE_STRATEGY": "mitogen_linear",
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    }
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    messages = [
        host["msg"]
        for play in json.loads(done.stdout)["plays"]
        for task in play["tasks"]
        for host in task["hosts"].values()
        if str(host.get("msg", "")).startswith("ALLOWED ")
    ]
    assert len(messages) == 1, done.stdout[-2000:]
    assert _cpus(messages[0].split()[1]) == os.sched_getaffinity(0)
