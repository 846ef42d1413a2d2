"""Benchmark: mailing lists on the lab's mx1.example.test (the lab must be running: make lab).

1. One post to a list of MEMBERS members: bob@peer.test's list team@lists.example.test gets
   MEMBERS extra members for the run (alice+bNNNN@example.test, each delivered to alice's
   mailbox: Dovecot drops the +detail), bob posts on 587 at mx1.peer.test, and the time runs
   until every copy is in alice's mailbox; the members are removed afterwards. The yardstick,
   in the same run: one message to the same MEMBERS recipients handed to Postfix on the
   listener Mailman uses, timed the same way. Printed: both times and their ratio.
2. The converge of LISTS lists of GENERATED members each (member files), on a copy of the
   lab's description: `site.yml --tags lists` the first time (every list made and filled),
   then a second time (nothing to change). The copy then runs once more with only the lab's
   own lists and `remove_absent: true`, which deletes the benchmark's lists.
Prints figures, passes or fails nothing on a time.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from tests.bench.mail import sh
from tests.bench.speed import stamp

ROOT = Path(__file__).resolve().parents[2]
HOST = "mx1.example.test"
POSTER_HOST = "mx1.peer.test"
LIST = "team@lists.example.test"
MAILBOX = "alice@example.test"
MEMBERS = 1000
LISTS = 50
GENERATED = 100
# The extra members, for Mailman's own commands (run as its user, which reads its directory).
MEMBER_FILE = "/var/lib/mailman3/bench-members.txt"
MAILMAN = ["runuser", "-u", "list", "--", "mailman", "-C", "/etc/mailman3/mailman.cfg"]


def copies(subject: str) -> int:
    """How many messages with `subject` alice's INBOX and Junk hold."""
    query = f"doveadm search -u {MAILBOX} mailbox INBOX subject {shlex.quote(subject)}"
    junk = f"doveadm search -u {MAILBOX} mailbox Junk subject {shlex.quote(subject)}"
    return len(sh(HOST, f"{{ {query}; {junk}; }} 2>/dev/null || true").split("\n")) - 1


def until_delivered(subject: str, expected: int, start: float) -> float:
    deadline = time.monotonic() + 1800
    while (count := copies(subject)) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    if count < expected:
        raise RuntimeError(f"{subject}: {count} of {expected} copies delivered")
    return time.perf_counter() - start


def recipients() -> list[str]:
    return [f"alice+b{n:04d}@example.test" for n in range(MEMBERS)]


def through_mailman() -> float:
    """One post of bob's to the list with MEMBERS extra members, until alice has them all."""
    subject = f"bench list {uuid.uuid4().hex[:8]}"
    # The list's own members (alice, bob) get it too: alice's copy is one more.
    expected = MEMBERS + 1
    script = (
        "import json, smtplib, ssl, sys\n"
        "from email.message import EmailMessage\n"
        "password = json.load(open('/root/lab-accounts.json'))['bob@peer.test']\n"
        "m = EmailMessage(); m['From'] = 'bob@peer.test'; m['To'] = sys.argv[2]\n"
        "m['Subject'] = sys.argv[1]; m.set_content('A post of the benchmark.')\n"
        "with smtplib.SMTP(sys.argv[3], 587, timeout=60) as s:\n"
        "    s.starttls(context=ssl.create_default_context())\n"
        "    s.login('bob@peer.test', password); s.send_message(m)\n"
    )
    start = time.perf_counter()
    subprocess.run(
        ["podman", "exec", "client.lab.test", "python3", "-c", script, subject, LIST, POSTER_HOST],
        check=True,
        capture_output=True,
    )
    return until_delivered(subject, expected, start)


def through_postfix() -> float:
    """The yardstick: one message to the same recipients on Postfix's listener for Mailman."""
    subject = f"bench postfix {uuid.uuid4().hex[:8]}"
    script = (
        "import smtplib, sys\n"
        "from email.message import EmailMessage\n"
        "rcpts = sys.stdin.read().split()\n"
        "m = EmailMessage(); m['From'] = m['To'] = 'team@lists.example.test'\n"
        "m['Subject'] = sys.argv[1]; m.set_content('A message of the benchmark.')\n"
        "with smtplib.SMTP('127.0.0.1', 10025, timeout=60) as s:\n"
        "    s.send_message(m, to_addrs=rcpts)\n"
    )
    start = time.perf_counter()
    command = f"python3 -c {shlex.quote(script)} {shlex.quote(subject)}"
    sh(HOST, command, stdin="\n".join(recipients()))
    return until_delivered(subject, MEMBERS, start)


def one_post(loop: float) -> None:
    members = "\n".join(recipients()) + "\n"
    sh(HOST, f"cat > {MEMBER_FILE}", stdin=members)
    sh(HOST, shlex.join([*MAILMAN, "addmembers", MEMBER_FILE, LIST]))
    try:
        mailman = through_mailman()
    finally:
        sh(HOST, shlex.join([*MAILMAN, "delmembers", "-f", MEMBER_FILE, "-l", LIST]))
    postfix = through_postfix()
    for label, figure in (
        (f"list post to {MEMBERS} members, until all delivered", f"{mailman:8.1f} s"),
        ("Postfix alone, the same recipients (yardstick)", f"{postfix:8.1f} s"),
        ("list post / Postfix alone", f"{mailman / postfix:8.2f}  "),
    ):
        print(f"{label:<52} {figure}   {stamp(loop)}")


def playbook(inventory: Path) -> tuple[float, str]:
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible" / "ansible.cfg"))
    env.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(inventory / "vault-password"))
    argv = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        *("-i", str(inventory), str(ROOT / "ansible" / "site.yml")),
        *("--tags", "lists", "--limit", HOST),
    ]
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"site.yml --tags lists: {done.stdout[-1500:]}")
    return seconds, done.stdout


class Vaulted(str):
    """A `!vault` value of the lab's description, written back as it was read."""


class _Loader(yaml.SafeLoader):
    pass


class _Dumper(yaml.SafeDumper):
    pass


def _vaulted(loader: yaml.SafeLoader, node: yaml.Node) -> Vaulted:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.YAMLError("a !vault value is a scalar")
    return Vaulted(loader.construct_scalar(node))


_Loader.add_constructor("!vault", _vaulted)
_Dumper.add_representer(
    Vaulted, lambda dumper, value: dumper.represent_scalar("!vault", str(value), style="|")
)


def described(inventory: Path, extra: list[dict[str, object]], remove_absent: bool) -> None:
    """The lab's description in the copy, with `extra` lists on lists.example.test."""
    path = inventory / "group_vars" / "all" / "mailstack.yml"
    lab = ROOT / "inventories" / "lab" / "group_vars" / "all" / "mailstack.yml"
    data = yaml.load(lab.read_text(), Loader=_Loader)  # noqa: S506 (a SafeLoader)
    for domain in data["mailstack_domains"]:
        if domain["name"] == "lists.example.test":
            domain["mailman"]["lists"] += extra
            domain["mailman"]["remove_absent"] = remove_absent
    path.write_text(yaml.dump(data, Dumper=_Dumper, sort_keys=False))


def many_lists(loop: float) -> None:
    with tempfile.TemporaryDirectory(prefix="mailstack-bench-lists-") as folder:
        inventory = Path(folder) / "lab"
        shutil.copytree(ROOT / "inventories" / "lab", inventory, symlinks=True)
        extra: list[dict[str, object]] = []
        for n in range(LISTS):
            source = inventory / "lists" / f"bench{n:02d}.txt"
            lines = [f"alice+l{n:02d}-{m:03d}@example.test\n" for m in range(GENERATED)]
            source.write_text("".join(lines))
            extra.append(
                {
                    "name": f"bench{n:02d}",
                    "owners": [MAILBOX],
                    "members_from": {"file": f"lists/bench{n:02d}.txt"},
                }
            )
        described(inventory, extra, remove_absent=False)
        first, _ = playbook(inventory)
        second, out = playbook(inventory)
        if f"{HOST}" not in out or " changed=0 " not in out.split("PLAY RECAP", 1)[-1]:
            print("note: the second run changed something", file=sys.stderr)
        described(inventory, [], remove_absent=True)
        playbook(inventory)
    label = f"{LISTS} lists of {GENERATED} generated members"
    print(f"{label + ', first converge':<52} {first:8.1f} s   {stamp(loop)}")
    print(f"{label + ', second converge':<52} {second:8.1f} s   {stamp(loop)}")


def main(loop: float) -> None:
    one_post(loop)
    many_lists(loop)
