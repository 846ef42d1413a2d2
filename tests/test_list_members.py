"""Members generated from a file or a command (mailstack.listmembers): read only when the list
host's share is made, every failure an error naming the list and the field, all or nothing.

The commands are real programs written into the test's inventory directory and run there."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from mailstack import listmembers, share
from mailstack.model import Description, parse
from mailstack.problems import DescriptionError
from tests.conftest import MakeInventory, domain, hosts, mailstack

HOSTS = hosts("mx1.example.test", "mx2.example.test")
TEAM = "mailstack_domains[1].mailman.lists[0]"


def description(*lists: dict[str, Any]) -> Description:
    return parse(domains(*lists), HOSTS)


def domains(*lists: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        domain(),
        domain(
            "lists.example.test",
            zone="example.test",
            mx=[{"host": "mx1.example.test", "priority": 10}],
            dmarc={"p": "reject", "rua": ["mailto:dmarc@example.test"]},
            mailman={"lists": list(lists)},
        ),
    ]


def team(**fields: Any) -> dict[str, Any]:
    return {"name": "team", "owners": ["alice@example.test"], **fields}


def members(d: Description, inventory: Path | None, timeout: float = 5.0) -> dict[str, list[str]]:
    return listmembers.resolve(d, d.domains[1:], inventory, timeout=timeout)["lists.example.test"]


def failure(d: Description, inventory: Path | None, timeout: float = 5.0) -> list[str]:
    with pytest.raises(DescriptionError) as exc:
        members(d, inventory, timeout)
    return [f"{p.path}: {p.message}" for p in exc.value.problems.errors]


def script(where: Path, name: str, body: str) -> Path:
    path = where / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


# -- files -----------------------------------------------------------------------------------
def test_a_file_gives_one_address_a_line_comments_and_blank_lines_skipped(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "team.txt").write_text(
        "# the team\n\nBob@Example.test\n  carol@peer.test  \r\n"
        "# gone: dave@peer.test\nbob@example.test"
    )
    d = description(
        team(members=["zed@peer.test", "carol@peer.test"], members_from={"file": "lists/team.txt"})
    )
    # The union of the list's own members and the file's, lower case, once each, sorted.
    assert members(d, tmp_path) == {
        "team": ["bob@example.test", "carol@peer.test", "zed@peer.test"]
    }


def test_a_line_that_is_not_an_address_is_refused_and_shown_short(tmp_path: Path) -> None:
    secret = "password=" + "s3cr3t" * 20
    (tmp_path / "team.txt").write_text(f"alice@example.test\n# ok\n{secret}\n")
    d = description(team(members_from={"file": "team.txt"}))
    found = failure(d, tmp_path)
    assert found == [
        f"{TEAM}.members_from.file: team@lists.example.test: line 3 is not a mail address:"
        f" {secret[:32]!r}..."
    ]
    assert secret[:40] not in found[0]


def test_a_file_that_is_not_utf8_is_refused_with_the_line(tmp_path: Path) -> None:
    (tmp_path / "team.txt").write_bytes(b"alice@example.test\n\xff\xfe@example.test\n")
    found = failure(description(team(members_from={"file": "team.txt"})), tmp_path)
    assert found == [f"{TEAM}.members_from.file: team@lists.example.test: line 2 is not UTF-8 text"]


def test_an_empty_file_is_refused_unless_the_list_allows_it(tmp_path: Path) -> None:
    (tmp_path / "team.txt").write_text("# nobody yet\n\n")
    d = description(team(members=["alice@example.test"], members_from={"file": "team.txt"}))
    found = failure(d, tmp_path)
    assert len(found) == 1
    assert found[0].startswith(
        f"{TEAM}.members_from.file: team@lists.example.test: gave no address, and an empty"
        " source is refused"
    )
    allowed = description(
        team(members=["alice@example.test"], members_from={"file": "team.txt"}, allow_empty=True)
    )
    assert members(allowed, tmp_path) == {"team": ["alice@example.test"]}


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    found = failure(description(team(members_from={"file": "lists/none.txt"})), tmp_path)
    assert found == [
        f"{TEAM}.members_from.file: team@lists.example.test: {tmp_path}/lists/none.txt is not"
        " a file"
    ]


def test_a_file_larger_than_any_member_list_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listmembers, "SOURCE_LIMIT", 1024 * 1024)
    (tmp_path / "team.txt").write_text("alice@example.test\n" * 60000)
    found = failure(description(team(members_from={"file": "team.txt"})), tmp_path)
    assert found == [
        f"{TEAM}.members_from.file: team@lists.example.test: gave more than 1 MiB: no member list"
    ]


# -- commands --------------------------------------------------------------------------------
def test_a_command_runs_in_the_inventory_directory_with_its_arguments(tmp_path: Path) -> None:
    (tmp_path / "staff.db").write_text("alice@example.test\nBob@peer.test\n")
    script(tmp_path, "members", 'test "$1" = staff || exit 9\ncat staff.db\necho\n')
    d = description(
        team(members=["bob@peer.test"], members_from={"command": ["./members", "staff"]})
    )
    assert members(d, tmp_path) == {"team": ["alice@example.test", "bob@peer.test"]}


def test_a_command_that_fails_is_refused_without_its_output(tmp_path: Path) -> None:
    script(
        tmp_path,
        "members",
        "echo alice@example.test\necho 'db password wrong: hunter2' >&2\nexit 3\n",
    )
    found = failure(description(team(members_from={"command": ["./members"]})), tmp_path)
    assert found == [
        f"{TEAM}.members_from.command: team@lists.example.test: exited with status 3 (its"
        f" output is not shown: run it in {tmp_path} to see why)"
    ]
    assert "hunter2" not in found[0]


def test_a_command_that_is_not_there_is_refused(tmp_path: Path) -> None:
    found = failure(description(team(members_from={"command": ["./nothing"]})), tmp_path)
    assert found == [
        f"{TEAM}.members_from.command: team@lists.example.test: './nothing' cannot be run: No"
        " such file or directory"
    ]


def test_a_command_that_prints_garbage_is_refused(tmp_path: Path) -> None:
    script(tmp_path, "members", "echo alice@example.test\necho 'Alice <alice@example.test>'\n")
    found = failure(description(team(members_from={"command": ["./members"]})), tmp_path)
    assert found == [
        f"{TEAM}.members_from.command: team@lists.example.test: line 2 is not a mail address:"
        " 'Alice <alice@example.test>'"
    ]


def test_a_command_that_prints_nothing_is_refused_unless_allowed(tmp_path: Path) -> None:
    script(tmp_path, "members", "exit 0\n")
    d = description(team(members_from={"command": ["./members"]}))
    assert "gave no address" in failure(d, tmp_path)[0]
    allowed = description(team(members_from={"command": ["./members"]}, allow_empty=True))
    assert members(allowed, tmp_path) == {"team": []}


def _gone(pid: int) -> bool:
    """Whether the process has ended (gone, or a zombie no one has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def test_a_command_that_runs_too_long_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    script(tmp_path, "members", "sleep 60 &\necho $! > child.pid\nwait\n")
    d = description(team(members_from={"command": ["./members"]}))
    started = time.monotonic()
    found = failure(d, tmp_path, timeout=0.5)
    assert time.monotonic() - started < 10
    assert found == [
        f"{TEAM}.members_from.command: team@lists.example.test: did not finish within 0.5 s,"
        " and was stopped"
    ]
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child)


def test_a_command_that_gives_too_much_is_stopped_at_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A runaway command that never ends: it is stopped once it passes the limit, well before
    # its timeout, its output held in memory up to the limit only (never spooled to disk).
    monkeypatch.setattr(listmembers, "SOURCE_LIMIT", 1024 * 1024)
    script(tmp_path, "members", "echo $$ > pid\nexec yes alice@example.test\n")
    d = description(team(members_from={"command": ["./members"]}))
    found = failure(d, tmp_path, timeout=600)
    assert found == [
        f"{TEAM}.members_from.command: team@lists.example.test: gave more than 1 MiB: no member"
        " list"
    ]
    assert _gone(int((tmp_path / "pid").read_text()))


def test_a_command_just_within_the_limit_gives_its_members(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listmembers, "SOURCE_LIMIT", 1024 * 1024)
    line = "alice@example.test\n"
    (tmp_path / "team.txt").write_text(line * (1024 * 1024 // len(line)))
    script(tmp_path, "members", "cat team.txt\n")
    d = description(team(members_from={"command": ["./members"]}))
    assert members(d, tmp_path) == {"team": ["alice@example.test"]}


def test_the_timeout_reaches_the_command_through_the_share(tmp_path: Path) -> None:
    script(tmp_path, "members", "sleep 60\n")
    d = description(team(members_from={"command": ["./members"]}))
    with pytest.raises(DescriptionError) as exc:
        share.of(d, "mx1.example.test", tmp_path, timeout=0.3)
    assert "did not finish within 0.3 s" in str(exc.value)


# -- all or nothing, and only for the list host ----------------------------------------------
def test_one_failing_source_gives_no_list_its_members(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("alice@example.test\n")
    d = description(
        team(members_from={"file": "good.txt"}),
        {"name": "staff", "owners": ["alice@example.test"], "members_from": {"file": "bad.txt"}},
        {"name": "board", "owners": ["alice@example.test"], "members_from": {"command": ["./x"]}},
    )
    found = failure(d, tmp_path)
    assert [f.partition(": ")[0] for f in found] == [
        "mailstack_domains[1].mailman.lists[1].members_from.file",
        "mailstack_domains[1].mailman.lists[2].members_from.command",
    ]
    assert "staff@lists.example.test: " in found[0]
    assert "board@lists.example.test: " in found[1]
    with pytest.raises(DescriptionError):
        share.of(d, "mx1.example.test", tmp_path)


def test_only_the_list_host_reads_the_sources(tmp_path: Path) -> None:
    d = description(team(members_from={"file": "none.txt"}))
    assert share.of(d, "mx2.example.test", tmp_path)["mailman"] == {"domains": [], "arc": None}
    with pytest.raises(DescriptionError):
        share.of(d, "mx1.example.test", tmp_path)


def test_a_source_needs_the_inventory_directory(tmp_path: Path) -> None:
    found = failure(description(team(members_from={"file": "team.txt"})), None)
    assert found == [
        f"{TEAM}.members_from.file: team@lists.example.test: is read in the inventory"
        " directory, and none is given (the mailstack_share filter and `mailstack spec share`"
        " give it)"
    ]


def test_validation_and_planning_run_no_source_and_the_share_does(
    make_inventory: MakeInventory,
) -> None:
    inv = make_inventory(domains(team(members_from={"command": ["./members"]})), HOSTS)
    script(inv, "members", "touch ran\necho alice@example.test\n")
    for command in (["spec", "validate"], ["dns", "plan"]):
        result = mailstack(*command, "-i", str(inv))
        assert result.returncode == 0, result.stderr
        assert not (inv / "ran").exists()
    result = mailstack("spec", "share", "-i", str(inv), "mx1.example.test")
    assert result.returncode == 0, result.stderr
    assert (inv / "ran").exists()
    assert '"alice@example.test"' in result.stdout


def test_the_share_command_names_a_failing_source(make_inventory: MakeInventory) -> None:
    inv = make_inventory(domains(team(members_from={"file": "team.txt"})), HOSTS)
    (inv / "team.txt").write_text("not an address\n")
    result = mailstack("spec", "share", "-i", str(inv))
    assert result.returncode == 1
    assert (
        f"{TEAM}.members_from.file: team@lists.example.test: line 1 is not a mail address:"
        " 'not an address'"
    ) in result.stderr
    assert result.stdout == ""
