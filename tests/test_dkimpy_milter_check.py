"""The opendkim role's check of dkimpy-milter's configuration: the stamp it leaves when a
check passes (the check itself needs dkimpy-milter, on the mail host: the mail scenario runs
it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, load_file

SOURCE = ROOT / "roles/opendkim/files/usr/local/lib/mailstack/dkimpy_milter_check.py"

check = load_file(SOURCE, "dkimpy_milter_check")


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that takes nothing away: the stamp's mode is then only what it is made with."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_the_stamp_is_made_readable_by_root_only(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing may narrow the mode afterwards: between the two, others could read it.
    monkeypatch.setattr(Path, "chmod", lambda *_a, **_k: None)
    monkeypatch.setattr(os, "chmod", lambda *_a, **_k: None)
    monkeypatch.setattr(os, "fchmod", lambda *_a, **_k: None)
    stamp = tmp_path / "dkimpy-milter.checked"
    check.write_stamp(stamp, "digest")
    assert stamp.read_text() == "digest\n"
    assert stamp.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "dkimpy-milter.checked.part").exists()


def test_the_stamp_is_never_written_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    (tmp_path / "dkimpy-milter.checked.part").symlink_to(victim)
    check.write_stamp(tmp_path / "dkimpy-milter.checked", "digest")
    assert victim.read_text() == "keep\n"
    assert (tmp_path / "dkimpy-milter.checked").read_text() == "digest\n"


def test_a_stale_part_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "stamp.part").write_text("old\n")
    check.write_stamp(tmp_path / "stamp", "new")
    assert (tmp_path / "stamp").read_text() == "new\n"
