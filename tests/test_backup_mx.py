"""Backup MX hosts: a domain's one primary keeps its mailboxes, a backup queues its mail for
the real recipients only and relays it to the primary. The model's rules and defaults, each
host's share, the records of the plan and Postfix's configuration of a backup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailstack import mtasts, share, txt
from mailstack.dnssource import CacheSource
from mailstack.inventory import load
from mailstack.model import Description, parse
from mailstack.plan import Plan, build
from mailstack.problems import DescriptionError
from tests.conftest import PASSWORD_HASH, MakeInventory, domain, ec_key, hosts, public_pem
from tests.rendering import render
from tests.test_role_configs import parameters, site_postfix_vars

HOSTS = hosts("mx1.example.test", "mx2.example.test", "mx1.peer.test")
PRIMARY = {"host": "mx1.example.test", "priority": 10}
BACKUP = {"host": "mx2.example.test", "priority": 20, "role": "backup"}
ACCOUNTS: dict[str, Any] = {
    "mailboxes": [{"name": "alice", "password_hash": PASSWORD_HASH}],
    "aliases": [
        {"name": "postmaster", "to": ["alice@example.test"]},
        {"name": "dmarc", "to": ["alice@example.test"]},
    ],
    "dkim": [{"selector": "s1"}],
}


def errors(domains: list[dict[str, Any]], host_vars: Any = None, gw: Any = ()) -> list[str]:
    with pytest.raises(DescriptionError) as exc:
        parse(domains, HOSTS if host_vars is None else host_vars, gateways=set(gw))
    return [f"{p.path}: {p.message}" for p in exc.value.problems.errors]


def described(*domains: dict[str, Any]) -> Description:
    return parse(list(domains), HOSTS)


# -- the model -----------------------------------------------------------------------------
def test_an_mx_is_primary_unless_it_says_backup_and_a_backup_keeps_mail_five_days() -> None:
    d = described(domain(mx=[PRIMARY, BACKUP], mta_sts={"mode": "enforce"}))
    primary, backup = d.domains[0].mx
    assert (primary.role, primary.queue_lifetime, primary.sender) == ("primary", None, True)
    assert (backup.role, backup.queue_lifetime, backup.sends) == ("backup", 5 * 86400, False)
    assert not backup.sender
    assert d.stores(d.domains[0]) == ("mx1.example.test",)
    assert d.backups(d.domains[0]) == ("mx2.example.test",)
    assert d.signers(d.domains[0]) == ("mx1.example.test",)
    # The policy is served by the primary, never by the backup.
    assert d.policy_host(d.domains[0]) == "mx1.example.test"


def test_a_backup_says_how_long_it_keeps_mail_and_whether_it_sends() -> None:
    backup = {**BACKUP, "queue_lifetime": "36h", "sends": True}
    d = described(domain(mx=[PRIMARY, backup]))
    entry = d.domains[0].mx[1]
    assert (entry.queue_lifetime, entry.sends, entry.sender) == (36 * 3600, True, True)
    assert d.signers(d.domains[0]) == ("mx1.example.test", "mx2.example.test")


def test_a_host_is_primary_for_one_domain_and_backup_for_another() -> None:
    d = described(
        domain(mx=[PRIMARY, {**BACKUP, "host": "mx1.peer.test"}]),
        domain("peer.test", mx=[{"host": "mx1.peer.test"}, {**BACKUP, "priority": 30}]),
    )
    example, peer = d.domains
    assert (d.stores(example), d.backups(example)) == (("mx1.example.test",), ("mx1.peer.test",))
    assert (d.stores(peer), d.backups(peer)) == (("mx1.peer.test",), ("mx2.example.test",))


@pytest.mark.parametrize(
    ("mx", "gateways", "expected"),
    [
        (
            [PRIMARY, {**BACKUP, "role": "primary"}],
            (),
            "mailstack_domains[0].mx: mx1.example.test and mx2.example.test are primary MX of"
            " example.test: mailstack does not replicate mailboxes, so one host keeps them;"
            " make the others role: backup",
        ),
        (
            [{**BACKUP, "priority": 10}],
            (),
            "mailstack_domains[0].mx: mx2.example.test is a backup MX of example.test, which has"
            " no primary MX",
        ),
        (
            [PRIMARY, {**BACKUP, "host": "gw1.example.test"}],
            ("gw1.example.test",),
            "mailstack_domains[0].mx: gw1.example.test is a gateway (group pmg) and cannot be a"
            " backup MX of example.test",
        ),
        (
            [PRIMARY, {**BACKUP, "priority": 10}],
            (),
            "mailstack_domains[0].mx: the backup MX mx2.example.test of example.test has priority"
            " 10: give it a higher number than its primary's (10)",
        ),
        (
            [PRIMARY, {**BACKUP, "queue_lifetime": "5 days"}],
            (),
            "mailstack_domains[0].mx[1].queue_lifetime: '5 days' is not a duration from 1h to 30d",
        ),
        (
            [PRIMARY, {**BACKUP, "queue_lifetime": "31d"}],
            (),
            "mailstack_domains[0].mx[1].queue_lifetime: '31d' is not a duration",
        ),
        (
            [PRIMARY, {**BACKUP, "queue_lifetime": "59m"}],
            (),
            "mailstack_domains[0].mx[1].queue_lifetime: '59m' is not a duration",
        ),
        (
            [{**PRIMARY, "sends": True}],
            (),
            "mailstack_domains[0].mx[0].sends: is only for a backup MX (role: backup)",
        ),
        (
            [{**PRIMARY, "queue_lifetime": "5d"}],
            (),
            "mailstack_domains[0].mx[0].queue_lifetime: is only for a backup MX (role: backup)",
        ),
        (
            [{**PRIMARY, "role": "secondary"}],
            (),
            "mailstack_domains[0].mx[0].role: must be one of primary, backup, not 'secondary'",
        ),
    ],
)
def test_each_rule_of_the_mx_roles_names_the_domain(
    mx: list[dict[str, Any]], gateways: tuple[str, ...], expected: str
) -> None:
    host_vars = {**HOSTS, **hosts("gw1.example.test")}
    found = errors([domain(mx=mx)], host_vars, gateways)
    assert any(e.startswith(expected) for e in found), found


def test_an_external_primary_counts_and_an_external_backup_is_allowed() -> None:
    # A provider's backup MX behind our primary; our backup behind a primary elsewhere.
    d = described(
        domain(mx=[PRIMARY, {"host": "mx.provider.test", "priority": 50, "role": "backup"}]),
        domain("peer.test", mx=[{"host": "mx.provider.test"}, {**BACKUP, "priority": 30}]),
    )
    assert d.backups(d.domains[0]) == ()
    assert d.stores(d.domains[1]) == ()
    assert d.backups(d.domains[1]) == ("mx2.example.test",)


# -- each host's share -----------------------------------------------------------------------
def test_a_backup_gets_the_real_recipients_and_the_queue_lifetime_and_no_mailbox() -> None:
    full = {**ACCOUNTS, "catch_all": "alice@example.test"}
    d = described(domain(mx=[PRIMARY, BACKUP], mta_sts={"mode": "enforce"}, **full))
    backup = share.of(d, "mx2.example.test")
    assert backup["domains"] == []
    assert backup["relay_domains"] == [
        {
            "name": "example.test",
            "zone": "example.test",
            "recipients": [
                "alice@example.test",
                "postmaster@example.test",
                "dmarc@example.test",
                "@example.test",
            ],
            "queue_lifetime": 432000,
        }
    ]
    assert share.mailboxes(d, "mx2.example.test") == []
    # It does not send: no DKIM key; it serves no policy; its certificate names itself.
    assert backup["dkim"] == []
    assert backup["mta_sts"] == []
    assert backup["tls_names"] == ["mx2.example.test"]
    assert backup["postmaster"] == "postmaster@example.test"
    assert backup["inbound_clients"] == []
    primary = share.of(d, "mx1.example.test")
    assert [x["name"] for x in primary["domains"]] == ["example.test"]
    assert primary["relay_domains"] == []
    # What the backup relays passed DMARC there already.
    assert primary["backup_relays"] == ["192.0.2.11", "2001:db8::b"]
    assert [k["selector"] for k in primary["dkim"]] == ["s1"]


def test_a_backup_that_sends_gets_the_dkim_keys() -> None:
    backup = {**BACKUP, "sends": True, "queue_lifetime": "2w"}
    d = described(domain(mx=[PRIMARY, backup], **ACCOUNTS))
    got = share.of(d, "mx2.example.test")
    assert got["dkim"] == [
        {"domain": "example.test", "selector": "s1", "algorithm": "rsa", "state": "active"}
    ]
    assert got["relay_domains"][0]["queue_lifetime"] == 14 * 86400
    assert got["domains"] == []


def test_a_domain_with_no_account_is_relayed_for_nobody() -> None:
    got = share.of(described(domain(mx=[PRIMARY, BACKUP])), "mx2.example.test")
    assert got["relay_domains"][0]["recipients"] == []


def test_a_backend_that_is_a_backup_too_takes_mail_from_anyone() -> None:
    edge = {
        "name": "edge.test",
        "mx": [{"host": "pmg1.edge.test"}],
        "backend": "mx1.peer.test",
        "spf": {"senders": [{"mx": True}]},
    }
    host_vars = {**HOSTS, **hosts("pmg1.edge.test")}
    only = share.of(parse([edge], host_vars, gateways={"pmg1.edge.test"}), "mx1.peer.test")
    assert only["inbound_clients"] != []
    both = parse(
        [edge, domain(mx=[PRIMARY, {**BACKUP, "host": "mx1.peer.test"}])],
        host_vars,
        gateways={"pmg1.edge.test"},
    )
    got = share.of(both, "mx1.peer.test")
    assert got["inbound_clients"] == []
    assert [x["name"] for x in got["relay_domains"]] == ["example.test"]


# -- the plan --------------------------------------------------------------------------------
def plan_of(path: Path) -> Plan:
    return build(load(path), CacheSource(path / "spf-cache.json", {}))


def texts(plan: Plan, name: str) -> list[str]:
    return [txt.joined(r.rdata) for r in plan.records if r.name == name and r.rtype == "TXT"]


def rdata(plan: Plan, name: str, rtype: str) -> list[str]:
    return [r.rdata for r in plan.records if r.name == name and r.rtype == rtype]


def test_spf_names_exactly_the_sending_mx_hosts(make_inventory: MakeInventory) -> None:
    spf = {"senders": [{"mx": True}, {"ip4": "198.51.100.0/24", "who": "office"}]}
    quiet = make_inventory([domain(mx=[PRIMARY, BACKUP], spf=spf)], HOSTS, name="quiet")
    # `mx` would authorise the backup, which does not send: the primary's addresses instead.
    assert texts(plan_of(quiet), "example.test") == [
        "v=spf1 ip4:192.0.2.10 ip6:2001:db8::a ip4:198.51.100.0/24 -all"
    ]
    sending = {**BACKUP, "sends": True}
    loud = make_inventory([domain(mx=[PRIMARY, sending], spf=spf)], HOSTS, name="loud")
    assert texts(plan_of(loud), "example.test") == ["v=spf1 mx ip4:198.51.100.0/24 -all"]
    # A primary elsewhere is named by its host, a provider's backup not at all.
    mx = [{"host": "mx.provider.test"}, {**BACKUP, "priority": 30}]
    away = make_inventory([domain(mx=mx, spf=spf)], HOSTS, name="away")
    assert texts(plan_of(away), "example.test") == [
        "v=spf1 a:mx.provider.test ip4:198.51.100.0/24 -all"
    ]
    # The backup still has its own HELO record: its bounces and notices come from it.
    assert texts(plan_of(quiet), "mx2.example.test") == ["v=spf1 a -all"]


def test_every_mx_has_tlsa_and_the_policy_names_every_mx(make_inventory: MakeInventory) -> None:
    inv = make_inventory(
        [domain(mx=[PRIMARY, BACKUP], mta_sts={"mode": "enforce"})], HOSTS, name="sts"
    )
    for host in ("mx1.example.test", "mx2.example.test"):
        for which in ("current", "next"):
            target = inv / "published" / "tls" / host / f"{which}.pem"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(public_pem(ec_key()))
    plan = plan_of(inv)
    assert plan.problems.errors == []
    assert rdata(plan, "example.test", "MX") == ["10 mx1.example.test.", "20 mx2.example.test."]
    for host in ("mx1.example.test", "mx2.example.test"):
        tlsa = rdata(plan, f"_25._tcp.{host}", "TLSA")
        assert len(tlsa) == 2 and all(t.startswith("3 1 1 ") for t in tlsa), host
    policy = mtasts.policy("enforce", ["mx1.example.test", "mx2.example.test"], 604800)
    assert plan.policies["example.test"] == policy
    # Served by the primary.
    assert rdata(plan, "mta-sts.example.test", "A") == ["192.0.2.10"]


# -- Postfix on a backup ---------------------------------------------------------------------
RELAYED = [
    {
        "name": "example.test",
        "zone": "example.test",
        "recipients": ["alice@example.test", "@catch.example.test"],
        "queue_lifetime": 432000,
    },
    {"name": "other.test", "zone": "other.test", "recipients": [], "queue_lifetime": 604800},
]


def rendered(relayed: list[dict[str, Any]]) -> tuple[dict[str, str], str, str]:
    given = {
        **site_postfix_vars(),
        "postfix__relay_domains": relayed,
        "postfix__delay_notice_recipient": "postmaster@example.test",
    }
    return (
        parameters(render("postfix", "etc/postfix/main.cf.j2", given)),
        render("postfix", "etc/postfix/relay_domains.j2", given),
        render("postfix", "etc/postfix/relay_recipients.j2", given),
    )


def entries(table: str) -> list[str]:
    return [line for line in table.splitlines() if line and not line.startswith("#")]


def test_a_backup_relays_for_its_recipients_and_warns_the_postmaster() -> None:
    main, domains, recipients = rendered(RELAYED)
    assert main["relay_domains"] == "texthash:$config_directory/relay_domains"
    assert main["relay_recipient_maps"] == "texthash:$config_directory/relay_recipients"
    assert entries(domains) == ["example.test OK", "other.test OK"]
    assert entries(recipients) == ["alice@example.test OK", "@catch.example.test OK"]
    # One lifetime for the whole queue: the longest.
    assert main["maximal_queue_lifetime"] == "604800s"
    assert main["bounce_queue_lifetime"] == "$maximal_queue_lifetime"
    assert main["delay_warning_time"] == "4h"
    assert "delay" in main["notify_classes"].split(", ")
    assert main["delay_notice_recipient"] == "postmaster@example.test"
    # Unknown recipients are refused at RCPT; the same milters as for its own domains; DANE.
    assert "reject_unlisted_recipient" in main["smtpd_recipient_restrictions"]
    assert main["smtpd_reject_unlisted_recipient"] == "yes"
    assert main["smtpd_milters"] == rendered([])[0]["smtpd_milters"]
    assert main["smtp_tls_security_level"] == "dane"
    assert main["relayhost"] == ""


def test_a_host_that_relays_nothing_has_no_relay_settings() -> None:
    main, domains, recipients = rendered([])
    for name in ("relay_domains", "relay_recipient_maps", "maximal_queue_lifetime"):
        assert name not in main
    assert entries(domains) == entries(recipients) == []


def test_the_role_stages_and_applies_the_relay_tables() -> None:
    root = Path(__file__).resolve().parent.parent / "roles" / "postfix"
    tasks = (root / "tasks" / "main.yml").read_text()
    apply = (root / "files" / "usr" / "local" / "sbin" / "mailstack-postfix-apply").read_text()
    for table in ("relay_domains", "relay_recipients"):
        assert f"    - {table}\n" in tasks
        assert table in apply.split("files=(", 1)[1].split(")", 1)[0]
