"""Mailing lists in the description (`mailman`): every check with its path, the defaults, the
list host's share and the records of the lists' web name."""

from __future__ import annotations

from typing import Any

import pytest

from mailstack import share
from mailstack.dnssource import CacheSource
from mailstack.inventory import load
from mailstack.keys import PublishedKeys
from mailstack.lists import MailingList, Mailman
from mailstack.model import parse
from mailstack.plan import plan
from mailstack.problems import DescriptionError
from tests.conftest import PASSWORD_HASH, ROOT, domain, hosts

HOSTS = hosts("mx1.example.test", "mx2.example.test", "mx1.peer.test")
TEAM: dict[str, Any] = {"name": "team", "owners": ["alice@example.test"]}


def example(**fields: Any) -> dict[str, Any]:
    """example.test with two mailboxes and an alias (a named group)."""
    return domain(
        mailboxes=[
            {"name": "alice", "password_hash": PASSWORD_HASH},
            {"name": "bob", "password_hash": PASSWORD_HASH},
        ],
        aliases=[
            {"name": "dmarc", "to": ["alice@example.test"]},
            {"name": "staff", "to": ["bob@example.test", "Carol@Peer.test"]},
        ],
        **fields,
    )


def lists_domain(lists: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    mailman = fields.pop("mailman", {})
    given = {
        "zone": "example.test",
        "mx": [{"host": "mx1.example.test", "priority": 10}],
        "dmarc": {"p": "reject", "rua": ["mailto:dmarc@example.test"]},
        "mailman": {"lists": [TEAM] if lists is None else lists, **mailman},
    }
    return domain("lists.example.test", **{**given, **fields})


def errors(domains: list[dict[str, Any]], gateways: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(DescriptionError) as exc:
        parse(domains, HOSTS, gateways)
    return [f"{p.path}: {p.message}" for p in exc.value.problems.errors]


def with_list(**fields: Any) -> list[dict[str, Any]]:
    return [example(), lists_domain([{**TEAM, **fields}])]


L = "mailstack_domains[1].mailman.lists[0]"


def test_a_list_says_only_its_name_and_owner_and_gets_every_default() -> None:
    d = parse([example(), lists_domain()], HOSTS)
    mailman = d.domains[1].mailman
    assert mailman == Mailman(
        web_name="lists.example.test",
        remove_absent=False,
        lists=(
            MailingList(
                name="team",
                path=L,
                description="",
                owners=("alice@example.test",),
                moderators=(),
                subscription="confirm",
                members_action="accept",
                nonmembers_action="hold",
                archive="private",
                dmarc_mitigation="munge_from",
                members=(),
                members_from=None,
                allow_empty=False,
            ),
        ),
    )
    assert d.list_host(d.domains[1]) == "mx1.example.test"
    assert d.list_host(d.domains[0]) is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "Team"}, f"{L}.name: 'Team' is not a list name"),
        ({"name": "a..b"}, f"{L}.name: 'a..b' is not a list name"),
        ({"name": "-team"}, f"{L}.name: '-team' is not a list name"),
        ({"name": "team+x"}, f"{L}.name: 'team+x' is not a list name"),
        ({"name": "t" * 65}, f"{L}.name: '{'t' * 65}' is not a list name"),
        ({"name": "team-request"}, f"{L}.name: 'team-request' ends in -request"),
        ({"name": "x-unsubscribe"}, f"{L}.name: 'x-unsubscribe' ends in -unsubscribe"),
        ({"name": "team-bounces"}, f"{L}.name: 'team-bounces' ends in -bounces"),
        ({"name": "postmaster"}, f"{L}.name: 'postmaster' is reserved"),
        ({"owners": None}, f"{L}.owners: is required"),
        ({"owners": []}, f"{L}.owners: is required"),
        ({"owners": ["alice"]}, f"{L}.owners[0]: 'alice' is not a mail address"),
        ({"moderators": ["bob@"]}, f"{L}.moderators[0]: 'bob@' is not a mail address"),
        ({"members": ["a@b@c.test"]}, f"{L}.members[0]: 'a@b@c.test' is not a mail address"),
        ({"subscription": "closed"}, f"{L}.subscription: must be one of open, confirm,"),
        ({"moderation": {"members": "bounce"}}, f"{L}.moderation.members: must be one of"),
        (
            {"moderation": {"nonmembers": "defer"}},
            f"{L}.moderation.nonmembers: must be one of accept, hold, reject, discard, not",
        ),
        ({"moderation": {"others": "hold"}}, f"{L}.moderation.others: is not a known field"),
        ({"archive": "never"}, f"{L}.archive: must be one of public, private, none"),
        ({"dmarc_mitigation": "reject"}, f"{L}.dmarc_mitigation: must be one of munge_from,"),
        ({"owner": ["a@example.test"]}, f"{L}.owner: is not a known field (did you mean owners?)"),
        (
            {"members_from": {}},
            f"{L}.members_from: needs exactly one of mailboxes, alias, file, command",
        ),
        (
            {"members_from": {"file": "a.txt", "command": ["./members"]}},
            f"{L}.members_from: needs exactly one of mailboxes, alias, file, command, not 2"
            " (file, command)",
        ),
        (
            {"members_from": {"mailboxes": "other.test"}},
            f"{L}.members_from.mailboxes: other.test is not a domain of the description",
        ),
        (
            {"members_from": {"alias": "nobody@example.test"}},
            f"{L}.members_from.alias: nobody@example.test is not an alias of example.test",
        ),
        (
            {"members_from": {"alias": "staff@other.test"}},
            f"{L}.members_from.alias: other.test is not a domain of the description",
        ),
        (
            {"members_from": {"alias": "staff"}},
            f"{L}.members_from.alias: 'staff' is not the address of an alias",
        ),
        (
            {"members_from": {"command": "members --list staff"}},
            f"{L}.members_from.command: must be a list, the program and its arguments: never a"
            " shell line",
        ),
        ({"members_from": {"command": []}}, f"{L}.members_from.command: needs the program"),
        ({"members_from": {"file": ""}}, f"{L}.members_from.file: is empty"),
        ({"allow_empty": True}, f"{L}.allow_empty: is only for members_from.file or"),
        (
            {"allow_empty": True, "members_from": {"mailboxes": "example.test"}},
            f"{L}.allow_empty: is only for members_from.file or",
        ),
    ],
)
def test_a_bad_list_is_refused_naming_the_list_and_field(
    fields: dict[str, Any], expected: str
) -> None:
    found = errors(with_list(**fields))
    assert any(e.startswith(expected) for e in found), found


def test_a_list_name_is_listed_once() -> None:
    found = errors([example(), lists_domain([TEAM, {**TEAM, "description": "again"}])])
    assert found == [
        "mailstack_domains[1].mailman.lists[1].name: team is listed twice"
        " (first at mailstack_domains[1].mailman.lists[0].name)"
    ]


@pytest.mark.parametrize(
    ("mailman", "expected"),
    [
        (
            {"web_name": "not a name"},
            "mailstack_domains[1].mailman.web_name: 'not a name' is not a host name",
        ),
        (
            {"web_name": "under_score.example.test"},
            "mailstack_domains[1].mailman.web_name: 'under_score.example.test' is not a host",
        ),
        (
            {"web_name": "mx2.example.test"},
            "mailstack_domains[1].mailman.web_name: mx2.example.test is another host of the"
            " inventory: the web name points at the list host, mx1.example.test",
        ),
        ({"remove_absent": "yes"}, "mailstack_domains[1].mailman.remove_absent: must be true"),
        ({"list": []}, "mailstack_domains[1].mailman.list: is not a known field"),
    ],
)
def test_a_bad_mailman_field_is_refused(mailman: dict[str, Any], expected: str) -> None:
    found = errors([example(), lists_domain(mailman=mailman)])
    assert any(e.startswith(expected) for e in found), found


@pytest.mark.parametrize("key", ["mailboxes", "aliases", "catch_all"])
def test_a_list_domain_has_no_mailbox_or_alias(key: str) -> None:
    value = example(catch_all="alice@example.test")[key]
    found = errors([example(), lists_domain(**{key: value})])
    assert f"mailstack_domains[1].{key}: lists.example.test hosts mailing lists (mailman): it" in (
        "".join(found)
    )
    assert "lists live on a domain of their own (such as lists.<domain>)" in found[0]


def test_a_parked_domain_holds_no_list_and_the_error_says_where_lists_live() -> None:
    parked = {"name": "example.net", "parked": True, "mailman": {"lists": [TEAM]}}
    assert errors([example(), parked]) == [
        "mailstack_domains[1].mailman: a parked domain receives no mail, and lists do: they"
        " live on a domain of their own (such as lists.example.net)"
    ]


def test_the_list_host_is_a_mail_host_of_the_description() -> None:
    elsewhere = lists_domain(mx=[{"host": "mx.provider.example", "priority": 10}])
    assert errors([example(), elsewhere]) == [
        "mailstack_domains[1].mx: mx.provider.example, the first MX of lists.example.test, hosts"
        " its lists: it must be a host of the mail group"
    ]


def test_the_list_host_is_no_gateway() -> None:
    gateway = lists_domain(
        mx=[{"host": "mx2.example.test", "priority": 10}], backend="mx1.example.test"
    )
    found = errors([example(), gateway], gateways=("mx2.example.test",))
    assert found == [
        "mailstack_domains[1].mx: mx2.example.test is a gateway (group pmg): the lists of"
        " lists.example.test need their MX to be the mail host that runs Mailman"
    ]


def test_the_list_host_is_no_backup() -> None:
    backup = lists_domain(mx=[{"host": "mx1.example.test", "priority": 10, "role": "backup"}])
    assert (
        "mailstack_domains[1].mx: mx1.example.test, the first MX of lists.example.test, is a"
        " backup: the list host is its primary MX"
    ) in errors([example(), backup])


def test_a_report_address_in_a_list_domain_is_one_of_its_lists() -> None:
    to_list = lists_domain(dmarc={"p": "reject", "rua": ["mailto:team-owner@lists.example.test"]})
    parse([example(), to_list], HOSTS)
    to_nobody = lists_domain(dmarc={"p": "reject", "rua": ["mailto:nobody@lists.example.test"]})
    assert errors([example(), to_nobody]) == [
        "mailstack_domains[1].dmarc.rua[0]: nobody@lists.example.test is no list of"
        " lists.example.test: add one, or the reports sent there bounce"
    ]


def test_owners_moderators_and_members_are_lower_case_each_once_sorted() -> None:
    d = parse(
        with_list(
            owners=["Bob@Example.test", "alice@example.test", "bob@example.test"],
            moderators=["Z@peer.test", "a@peer.test"],
            members=["b@peer.test", "A@Peer.test", "b@peer.test"],
        ),
        HOSTS,
    )
    lst = d.domains[1].mailman.lists[0] if d.domains[1].mailman else None
    assert lst is not None
    assert lst.owners == ("alice@example.test", "bob@example.test")
    assert lst.moderators == ("a@peer.test", "z@peer.test")
    assert lst.members == ("a@peer.test", "b@peer.test")


# -- the share -------------------------------------------------------------------------------
def test_the_list_host_gets_its_lists_with_every_default_and_their_members() -> None:
    lists = [
        {
            **TEAM,
            "description": "Everyone",
            "moderators": ["bob@example.test"],
            "subscription": "moderate",
            "moderation": {"members": "hold", "nonmembers": "reject"},
            "archive": "none",
            "dmarc_mitigation": "wrap_message",
            "members": ["zed@peer.test", "bob@example.test"],
            "members_from": {"mailboxes": "example.test"},
        },
        {
            "name": "staff",
            "owners": ["alice@example.test"],
            "members_from": {"alias": "staff@example.test"},
        },
    ]
    d = parse([example(), lists_domain(lists, mailman={"remove_absent": True})], HOSTS)
    got = share.of(d, "mx1.example.test")
    assert got["mailman"] == {
        # No DKIM selector of the list domain: nothing seals with ARC.
        "arc": None,
        "domains": [
            {
                "name": "lists.example.test",
                "web_name": "lists.example.test",
                "remove_absent": True,
                "lists": [
                    {
                        "address": "team@lists.example.test",
                        "name": "team",
                        "description": "Everyone",
                        "owners": ["alice@example.test"],
                        "moderators": ["bob@example.test"],
                        "subscription": "moderate",
                        "moderation": {"members": "hold", "nonmembers": "reject"},
                        "archive": "none",
                        "dmarc_mitigation": "wrap_message",
                        # Its own members and every mailbox of example.test, once each.
                        "members": ["alice@example.test", "bob@example.test", "zed@peer.test"],
                    },
                    {
                        "address": "staff@lists.example.test",
                        "name": "staff",
                        "description": "",
                        "owners": ["alice@example.test"],
                        "moderators": [],
                        "subscription": "confirm",
                        "moderation": {"members": "accept", "nonmembers": "hold"},
                        "archive": "private",
                        "dmarc_mitigation": "munge_from",
                        # The alias's targets, lower case.
                        "members": ["bob@example.test", "carol@peer.test"],
                    },
                ],
            }
        ],
    }
    listed = got["list_domains"]
    assert [(x["name"], x["postmaster"]) for x in listed] == [
        ("lists.example.test", "postmaster@example.test")
    ]
    # Each list's own address and its eight Mailman addresses, nothing else.
    assert len(listed[0]["recipients"]) == 18
    assert "team-bounces@lists.example.test" in listed[0]["recipients"]
    assert "postmaster@lists.example.test" not in listed[0]["recipients"]
    # Postfix and Dovecot keep mailboxes for example.test alone.
    assert [x["name"] for x in got["domains"]] == ["example.test"]
    assert "lists.example.test" in got["tls_names"]
    assert "mta-sts.lists.example.test" not in got["tls_names"]


def test_every_other_host_gets_an_empty_mailman_share() -> None:
    d = parse([example(), lists_domain(), domain("peer.test")], HOSTS)
    for host in ("mx2.example.test", "mx1.peer.test"):
        got = share.of(d, host)
        assert got["mailman"] == {"domains": [], "arc": None}
        assert got["list_domains"] == []
        assert "lists.example.test" not in got["tls_names"]


def test_the_list_host_signs_for_the_list_domain_and_serves_its_policy() -> None:
    lists = lists_domain(dkim=[{"selector": "s1"}], mta_sts={"mode": "enforce"})
    d = parse([example(), lists], HOSTS)
    got = share.of(d, "mx1.example.test")
    assert {
        "domain": "lists.example.test",
        "selector": "s1",
        "algorithm": "rsa",
        "state": "active",
    } in got["dkim"]
    assert [p["domain"] for p in got["mta_sts"]] == ["lists.example.test"]
    assert got["tls_names"] == [
        "mx1.example.test",
        "mta-sts.lists.example.test",
        "lists.example.test",
    ]
    assert share.of(d, "mx2.example.test")["dkim"] == []


def test_a_web_name_of_its_own_is_in_the_list_hosts_certificate() -> None:
    d = parse([example(), lists_domain(mailman={"web_name": "Lists.Example.test"})], HOSTS)
    got = share.of(d, "mx1.example.test")
    assert got["mailman"]["domains"][0]["web_name"] == "lists.example.test"
    d = parse([example(), lists_domain(mailman={"web_name": "web.example.test"})], HOSTS)
    got = share.of(d, "mx1.example.test")
    assert got["tls_names"] == ["mx1.example.test", "web.example.test"]
    # The list host's own name is in its certificate once.
    d = parse([example(), lists_domain(mailman={"web_name": "mx1.example.test"})], HOSTS)
    assert share.of(d, "mx1.example.test")["tls_names"] == ["mx1.example.test"]


def test_a_backup_mx_of_a_list_domain_accepts_every_address_of_its_lists() -> None:
    mx = [
        {"host": "mx1.example.test", "priority": 10},
        {"host": "mx2.example.test", "priority": 20, "role": "backup"},
    ]
    d = parse([example(), lists_domain(mx=mx)], HOSTS)
    relayed = share.of(d, "mx2.example.test")["relay_domains"]
    assert relayed[0]["recipients"] == [
        "team@lists.example.test",
        "team-bounces@lists.example.test",
        "team-confirm@lists.example.test",
        "team-join@lists.example.test",
        "team-leave@lists.example.test",
        "team-owner@lists.example.test",
        "team-request@lists.example.test",
        "team-subscribe@lists.example.test",
        "team-unsubscribe@lists.example.test",
    ]
    assert share.of(d, "mx2.example.test")["mailman"] == {"domains": [], "arc": None}
    # The list host trusts its backup's DMARC verdict, as for a mailbox domain.
    assert share.of(d, "mx1.example.test")["backup_relays"] == ["192.0.2.11", "2001:db8::b"]


def test_the_lab_runs_its_lists_on_mx1() -> None:
    inventory = ROOT / "inventories" / "lab"
    description = load(inventory).description
    got = share.of(description, "mx1.example.test", inventory)
    lists = {x["name"]: x for x in got["mailman"]["domains"][0]["lists"]}
    assert lists["team"]["members"] == ["alice@example.test", "bob@peer.test"]
    assert lists["team"]["archive"] == "public"
    # From inventories/lab/lists/staff.txt.
    assert lists["staff"]["members"] == ["alice@example.test"]
    assert lists["staff"]["archive"] == "private"
    assert [x["name"] for x in got["list_domains"]] == ["lists.example.test"]
    assert got["mailman"]["arc"] == {"domain": "lists.example.test", "selector": "s2025r"}
    for other in ("mx2.example.test", "mx1.peer.test"):
        assert share.of(description, other, inventory)["mailman"] == {"domains": [], "arc": None}


# -- the records -----------------------------------------------------------------------------
def records(domains: list[dict[str, Any]], tmp: Any) -> tuple[list[tuple[str, str, str]], Any]:
    result = plan(parse(domains, HOSTS), PublishedKeys(tmp / "published"), CacheSource(tmp / "c"))
    return [(r.name, r.rtype, r.rdata) for r in result.records], result.problems


def test_the_web_name_points_at_the_list_host(tmp_path: Any) -> None:
    got, _ = records([example(), lists_domain(mailman={"web_name": "web.example.test"})], tmp_path)
    assert ("web.example.test", "A", "192.0.2.10") in got
    assert ("web.example.test", "AAAA", "2001:db8::a") in got
    assert ("lists.example.test", "MX", "10 mx1.example.test.") in got
    assert not [r for r in got if r[0] == "lists.example.test" and r[1] in ("A", "AAAA")]


def test_by_default_the_list_domain_itself_points_at_the_list_host(tmp_path: Any) -> None:
    got, problems = records([example(), lists_domain()], tmp_path)
    assert ("lists.example.test", "A", "192.0.2.10") in got
    assert ("lists.example.test", "AAAA", "2001:db8::a") in got
    assert problems.errors == []


def test_a_web_name_that_is_the_list_host_adds_no_record(tmp_path: Any) -> None:
    plain, _ = records(
        [example(), lists_domain(mailman={"web_name": "web.example.test"})], tmp_path
    )
    own, problems = records(
        [example(), lists_domain(mailman={"web_name": "mx1.example.test"})], tmp_path
    )
    assert problems.errors == []
    assert sorted(set(plain) - set(own)) == [
        ("web.example.test", "A", "192.0.2.10"),
        ("web.example.test", "AAAA", "2001:db8::a"),
    ]


def test_a_web_name_outside_the_zones_is_a_warning(tmp_path: Any) -> None:
    got, problems = records(
        [example(), lists_domain(mailman={"web_name": "lists.elsewhere.example"})], tmp_path
    )
    assert not [r for r in got if r[0] == "lists.elsewhere.example"]
    assert [p.path for p in problems.warnings if "web_name" in p.path] == [
        "mailstack_domains[1].mailman.web_name"
    ]


def test_a_list_domain_has_the_records_of_any_mail_domain(tmp_path: Any) -> None:
    lists = lists_domain(tls_rpt={"rua": ["mailto:dmarc@example.test"]}, mta_sts={})
    got, _ = records([example(), lists], tmp_path)
    names = {(name, rtype) for name, rtype, _ in got}
    assert {
        ("lists.example.test", "MX"),
        ("lists.example.test", "TXT"),
        ("_dmarc.lists.example.test", "TXT"),
        ("_mta-sts.lists.example.test", "TXT"),
        ("mta-sts.lists.example.test", "A"),
        ("_smtp._tls.lists.example.test", "TXT"),
    } <= names
