"""The generated references (docs/reference/) are up to date, and a field the model reads
cannot go undocumented."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mailstack import accounts, fielddocs, model, reference
from mailstack.fields import Reader, recording
from mailstack.problems import Problems
from tests.conftest import ROOT, domain, hosts

STALE = "run `python -m mailstack.reference` to update"


@pytest.mark.parametrize("relative", [reference.DESCRIPTION, reference.ROLES])
def test_the_committed_references_are_generated(relative: Path) -> None:
    committed = ROOT / relative
    assert committed.is_file(), STALE
    assert committed.read_text(encoding="utf-8") == reference.generate(ROOT)[relative], STALE


def test_generating_twice_gives_the_same_text() -> None:
    assert reference.generate(ROOT) == reference.generate(ROOT)


def _read_one_more_field(monkeypatch: pytest.MonkeyPatch, key: str, *, raw: bool) -> None:
    """The model as if a new field of each domain were read after its accounts."""
    real = accounts.read

    def read(r: Reader, problems: Problems) -> accounts.Accounts:
        read_accounts = real(r, problems)
        if raw:
            r.raw(key)
        else:
            r.flag(key, False)
        return read_accounts

    monkeypatch.setattr(accounts, "read", read)


def test_a_field_read_without_words_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    _read_one_more_field(monkeypatch, "shiny", raw=False)
    with pytest.raises(reference.StaleDocs) as exc:
        reference.description_reference()
    assert exc.value.problems == ["mailstack_domains[].shiny: read by the model, missing from DOCS"]


def test_a_field_read_untyped_needs_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    _read_one_more_field(monkeypatch, "shiny", raw=True)
    monkeypatch.setitem(fielddocs.DOCS, "mailstack_domains[].shiny", "A new field.")
    with pytest.raises(reference.StaleDocs) as exc:
        reference.description_reference()
    assert exc.value.problems == [
        "mailstack_domains[].shiny: read by the model, missing from TYPES (read untyped,"
        " with Reader.raw)"
    ]
    monkeypatch.setitem(fielddocs.TYPES, "mailstack_domains[].shiny", "anything")
    assert "| `shiny` | anything |  |  | A new field. |" in reference.description_reference()


def test_words_for_a_field_no_longer_read_stop_the_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(fielddocs.DOCS, "mailstack_domains[].gone", "Once a field.")
    monkeypatch.setitem(fielddocs.HOST_VARS, "mailstack_gone", "Once a host variable.")
    with pytest.raises(reference.StaleDocs) as exc:
        reference.description_reference()
    assert exc.value.problems == [
        "mailstack_domains[].gone: in DOCS, but the model does not read it",
        "mailstack_gone: in HOST_VARS, but the model does not read it",
    ]


def test_the_schema_is_what_the_model_reads() -> None:
    fields = reference.description_schema()
    ttl = fields["mailstack_domains[].ttl"]
    assert (ttl.kind, ttl.default, ttl.low, ttl.high) == ("integer", 3600, model.MIN_TTL, 604800)
    assert fields["mailstack_domains[].dmarc.p"].choices == model.POLICIES
    assert fields["mailstack_domains[].mx[].host"].required
    # Read only when a mailbox has no vaulted password: the second probe, with no field set.
    assert fields["mailstack_domains[].mailboxes[].password_hash"].kind == "string"
    assert fields["mailstack_domains"].kind == "list"
    parsed = model.parse([domain()], hosts("mx1.example.test")).domains[0]
    assert parsed.ttl == ttl.default
    assert parsed.dmarc.p == fields["mailstack_domains[].dmarc.p"].default


def test_recording_leaves_the_model_unchanged() -> None:
    plain = model.parse([domain()], hosts("mx1.example.test"))
    with recording() as fields:
        recorded = model.parse([domain()], hosts("mx1.example.test"))
    assert recorded == plain
    assert "mailstack_domains[].name" in fields


def test_a_field_read_in_two_ways_is_refused() -> None:
    r = Reader({}, "x[0]", Problems())
    with recording(), pytest.raises(ValueError, match=r"x\[\]\.n is read in two ways"):
        r.integer("n", 1, low=0, high=2)
        r.integer("n", 2, low=0, high=2)


def test_role_options_nest_with_their_defaults(tmp_path: Path) -> None:
    role = tmp_path / "roles" / "common"
    for part in ("meta/argument_specs.yml", "defaults/main.yml"):
        (role / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "roles" / "common" / part, role / part)
    text = reference.roles_reference(tmp_path / "roles")
    assert "\n## `common`\n\nMail host basics.\n" in text
    assert "| `common__timezone` | str |  | `Etc/UTC` |" in text
    assert "| `common__resolver_stub_zones.addresses` | list of str, required |  |  |" in text
