"""The postfix role's From milter: which From: headers a logged-in user may submit. The table
is the one the role renders (sender_logins); the whole path, through Postfix on 587 and 465,
is verified by the mail scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT, load_file

SOURCE = ROOT / "roles/postfix/files/usr/local/lib/mailstack/from_milter.py"

milter = load_file(SOURCE, "from_milter")

# As roles/postfix/templates/etc/postfix/sender_logins.j2 writes it: alice owns postmaster,
# bob owns bob.builder; sales delivers to both.
TABLE = """\
# Managed by mailstack (role postfix): who may send as which address on submission.
alice@example.test alice@example.test
bob@example.test bob@example.test
Postmaster@Example.test alice@example.test
bob.builder@example.test bob@example.test
sales@example.test alice@example.test,
  bob@example.test
"""
OWNED = milter.read_logins(TABLE)


def refusal(login: str, *from_fields: str) -> str | None:
    why: str | None = milter.refusal(login, list(from_fields), OWNED)
    return why


def test_the_table_gives_each_login_its_addresses() -> None:
    assert milter.read_logins(TABLE) == {
        "alice@example.test": {
            "alice@example.test",
            "postmaster@example.test",
            "sales@example.test",
        },
        "bob@example.test": {"bob@example.test", "bob.builder@example.test", "sales@example.test"},
    }


@pytest.mark.parametrize(
    "value",
    [
        "bob@example.test",
        "Bob <bob@example.test>",
        "BOB@Example.TEST",
        '"Bob, the builder" <bob.builder@example.test>',
        "=?utf-8?q?B=C3=B6b?= <bob@example.test>",
        "bob@example.test (Bob)",
        "Bob\r\n\t<bob@example.test>",
        "bob@example.test, sales@example.test",
        '"bob"@example.test',
        "Bob (bob@example.test) <bob@example.test>",
    ],
)
def test_the_logins_own_addresses_pass(value: str) -> None:
    assert refusal("bob@example.test", value) is None
    assert refusal("BOB@example.test", value) is None


@pytest.mark.parametrize(
    ("value", "named"),
    [
        # Another mailbox of the same domain.
        ("alice@example.test", "alice@example.test"),
        ("Alice <alice@example.test>", "alice@example.test"),
        # An alias of another mailbox.
        ("postmaster@example.test", "postmaster@example.test"),
        # Another domain of the host (old.example.test's catch-all delivers to bob, but a
        # catch-all is no address bob owns).
        ("anything@old.example.test", "anything@old.example.test"),
        ("bob@old.example.test", "bob@old.example.test"),
        # Several addresses: every one must be the login's.
        ("bob@example.test, alice@example.test", "alice@example.test"),
        ("Friends: bob@example.test, alice@example.test;", "alice@example.test"),
        # Another's address where a reader sees it: display names, encoded or not, comments.
        ('"alice@example.test" <bob@example.test>', "alice@example.test"),
        ("=?utf-8?q?alice=40example.test?= <bob@example.test>", "alice@example.test"),
        ("bob@example.test (alice@example.test)", "alice@example.test"),
        ("bob@example.test (=?utf-8?q?alice=40example.test?=)", "alice@example.test"),
        # An outside domain.
        ("bob@outside.test", "bob@outside.test"),
    ],
)
def test_an_address_the_login_does_not_own_is_refused_and_named(value: str, named: str) -> None:
    assert refusal("bob@example.test", value) == (
        f"From: header {named} is not an address of login bob@example.test"
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "bob",
        "undisclosed-recipients:;",
        "bob@example.test <alice@example.test>",
        "alice@example.test@bob.example.test",
        "bob@example.test.",
        "<=?utf-8?q?alice?=@example.test>",
        "Bob <bob@example.test",
        "Bob\udcff <bob@example.test>",
        "bob@[127.0.0.1]",
    ],
)
def test_a_header_that_cannot_be_read_without_doubt_is_refused(value: str) -> None:
    why = refusal("bob@example.test", value)
    assert why is not None
    assert why.startswith(("The From: header cannot be read", "From: header"))


def test_a_message_needs_exactly_one_from_header() -> None:
    assert refusal("bob@example.test") == "The message has no From: header (login bob@example.test)"
    assert refusal("bob@example.test", "bob@example.test", "bob@example.test") == (
        "The message has 2 From: headers; one is allowed"
    )


def test_a_login_that_owns_nothing_may_send_as_nobody() -> None:
    why = refusal("carol@example.test", "carol@example.test")
    assert why == "From: header carol@example.test is not an address of login carol@example.test"


def test_an_oversized_header_is_refused_unread() -> None:
    value = ", ".join(["bob@example.test"] * 400)
    assert refusal("bob@example.test", value) == "The From: header is too long"


def test_the_reply_carries_only_printable_ascii_without_percent() -> None:
    why = refusal("bob@example.test", "=?utf-8?q?a=25b=C3=A9c=40example.test?= <bob@example.test>")
    assert why is not None
    assert all(" " <= c <= "~" for c in why)
    assert "%" not in why
    assert milter.shown("x" * 200).endswith("...")
    assert len(milter.shown("x" * 200)) == 80


def test_the_table_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "sender_logins"
    path.write_text("bob@example.test bob@example.test\n")
    logins = milter.Logins(path)
    assert logins.owned() == {"bob@example.test": {"bob@example.test"}}
    path.write_text("bob@example.test bob@example.test\nnew@example.test bob@example.test\n")
    assert logins.owned()["bob@example.test"] == {"bob@example.test", "new@example.test"}
    path.unlink()
    with pytest.raises(OSError):
        logins.owned()
