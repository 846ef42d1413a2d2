"""Hostile and broken input to the commands that read an inventory: each ends in bounded time
and memory with one clear line, and nothing is destroyed or run.

Every server is on loopback; every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret

from mailstack.check.audit import spf as spf_audit
from mailstack.check.context import Context
from mailstack.dnsquery import Dns
from mailstack.dnssource import CacheSource
from mailstack.keys import PublishedKeys
from mailstack.model import read
from mailstack.plan import plan
from mailstack.problems import Problems
from tests.conftest import ROOT, MakeInventory, domain, hosts, mailstack
from tests.dnsserver import ZoneServer

# -- 2. SPF expansion is bounded ---------------------------------------------------------------


def fan_out_records(count: int, width: int = 3) -> dict[str, str]:
    """`count` SPF records, each including the next `width`: the paths through them multiply
    at every level (3^70 paths for 70 records)."""
    out = {}
    for i in range(count):
        nxt = [f"include:n{j}.hostile.test" for j in range(i + 1, min(i + 1 + width, count))]
        out[f"n{i}.hostile.test"] = " ".join(["v=spf1", *nxt, f"a:h{i}.hostile.test", "-all"])
    return out


def test_validate_with_a_hostile_include_cache_ends_at_the_limit(
    make_inventory: MakeInventory,
) -> None:
    inv = make_inventory(
        [domain(spf={"senders": [{"include": "n0.hostile.test", "who": "a hostile vendor"}]})]
    )
    answers: dict[str, list[str] | None] = {
        f"{name} TXT": [record] for name, record in fan_out_records(70).items()
    }
    answers.update({f"h{i}.hostile.test A": ["192.0.2.1"] for i in range(70)})
    CacheSource(inv / "spf-cache.json", answers).save()
    assert (inv / "spf-cache.json").stat().st_size < 20_000
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mailstack"), "spec", "validate", "-i", str(inv)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "11 DNS lookups, over the limit of 10: receivers stop at" in result.stderr
    assert "include:n0.hostile.test costs at least" in result.stderr


def test_check_against_a_hostile_zone_asks_a_bounded_number_of_questions() -> None:
    zone = (
        "$TTL 300\n@ IN SOA ns hostmaster 1 3600 900 1209600 300\n@ IN NS ns\nns IN A 127.0.0.1\n"
    )
    zone += '@ IN TXT "v=spf1 include:n0.hostile.test -all"\n'
    for name, record in fan_out_records(70).items():
        zone += f'{name}. IN TXT "{record}"\n'
    zone += "".join(f"h{i} IN A 192.0.2.1\n" for i in range(70))
    found: list[Any] = []
    with ZoneServer(zone, "hostile.test") as server:
        ctx = Context("hostile.test", Dns("127.0.0.1", server.port, timeout=2.0), {})
        audit = threading.Thread(target=lambda: found.extend(spf_audit.audit(ctx)), daemon=True)
        audit.start()
        audit.join(timeout=30)
        assert not audit.is_alive(), "the SPF audit of a hostile zone did not end"
        asked = server.udp_queries + server.tcp_queries
    assert asked <= 30
    (failure,) = [f for f in found if f.status == "fail"]
    assert failure.message.startswith("11 DNS lookups, over the limit of 10")


def test_check_shows_the_syntax_faults_and_a_sender_id_record() -> None:
    zone = (
        "$TTL 300\n@ IN SOA ns hostmaster 1 3600 900 1209600 300\n@ IN NS ns\nns IN A 127.0.0.1\n"
        '@ IN TXT "v=spf1 ip4:999.1.2.3 redirect=a.example.test redirect=b.example.test'
        ' include:v.example.test-all"\n'
        '@ IN TXT "spf2.0/pra ip4:192.0.2.1 -all"\n'
    )
    with ZoneServer(zone, "example.test") as server:
        ctx = Context("example.test", Dns("127.0.0.1", server.port, timeout=2.0), {})
        found = spf_audit.audit(ctx)
    by_check: dict[str, list[str]] = {}
    for f in found:
        by_check.setdefault(f"{f.check} {f.status}", []).append(f.message)
    errors = by_check["spf.record fail"]
    assert any("'999.1.2.3' is not an IPv4 address" in e for e in errors)
    assert any("the redirect= modifier appears 2 times" in e for e in errors)
    assert any("a space is missing before -all" in e for e in errors)
    (sender_id,) = by_check["spf.senderid warn"]
    assert "spf2.0/pra" in sender_id


# -- 4. spf refresh never destroys the cache ---------------------------------------------------


@contextmanager
def silent_resolver() -> Iterator[int]:
    """A UDP port on 127.0.0.1 that receives DNS questions and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def refresh_unanswered(inv: Path) -> subprocess.CompletedProcess[str]:
    """`mailstack spf refresh` of `inv` through a resolver on loopback that never answers."""
    with silent_resolver() as port:
        return mailstack(
            "spf",
            "refresh",
            "-i",
            str(inv),
            "--resolver",
            "127.0.0.1",
            "--resolver-port",
            str(port),
        )


def test_refresh_with_no_answer_leaves_the_cache_byte_identical(
    make_inventory: MakeInventory,
) -> None:
    inv = make_inventory([domain(spf={"senders": [{"include": "vendor.test", "who": "Vendor"}]})])
    answers: dict[str, list[str] | None] = {f"n{i}.vendor.test A": ["192.0.2.1"] for i in range(21)}
    answers["vendor.test TXT"] = ["v=spf1 ip4:192.0.2.0/24 -all"]
    CacheSource(inv / "spf-cache.json", answers).save()
    before = (inv / "spf-cache.json").read_bytes()
    result = refresh_unanswered(inv)
    assert result.returncode == 1
    assert "error: the refresh failed" in result.stderr
    assert "is left as it was: vendor.test TXT: no answer from the resolver" in result.stderr
    assert (inv / "spf-cache.json").read_bytes() == before
    assert sorted(p.name for p in inv.iterdir()) == ["group_vars", "hosts.yml", "spf-cache.json"]


def test_refresh_refuses_a_corrupt_cache_and_leaves_it(make_inventory: MakeInventory) -> None:
    inv = make_inventory([domain()])
    (inv / "spf-cache.json").write_text('{"version": 1, "answers": ')
    result = refresh_unanswered(inv)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {inv / 'spf-cache.json'}: is not JSON")
    assert (inv / "spf-cache.json").read_text() == '{"version": 1, "answers": '


def test_the_cache_is_written_whole_with_its_mode_kept(tmp_path: Path) -> None:
    path = tmp_path / "spf-cache.json"
    CacheSource(path, {"a.test TXT": ["v=spf1 -all"]}).save()
    path.chmod(0o640)
    CacheSource(path, {"b.test TXT": None}).save()
    assert json.loads(path.read_text()) == {"version": 1, "answers": {"b.test TXT": None}}
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["spf-cache.json"]


# -- 5. An inventory is data, not a program -----------------------------------------------------


def executable(path: Path, marker: Path) -> None:
    """An inventory script (or vault password script) that leaves `marker` when it runs."""
    path.write_text(f'#!/bin/sh\ntouch "{marker}"\necho "{{}}"\n')
    path.chmod(0o755)


def test_no_executable_in_the_inventory_runs(make_inventory: MakeInventory, tmp_path: Path) -> None:
    inv = make_inventory([domain()])
    marker = tmp_path / "ran"
    for name in ("inventory.py", "ec2", "more.sh"):
        executable(inv / name, marker)
    result = mailstack("spec", "validate", "-i", str(inv))
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


def test_a_folder_that_is_no_inventory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "scripts"
    folder.mkdir()
    executable(folder / "list", tmp_path / "ran")
    result = mailstack("dns", "plan", "-i", str(folder))
    assert result.returncode == 2
    assert result.stderr == (
        f"mailstack dns plan: error: {folder}: is not an inventory directory: no YAML inventory"
        " file (hosts.yml) at its top (mailstack reads YAML inventories only, and runs no"
        " inventory script)\n"
    )
    assert not (tmp_path / "ran").exists()


def vaulted_inventory(make_inventory: MakeInventory, password: bytes) -> Path:
    """An inventory whose group_vars/all/mailstack.yml is encrypted whole with ansible-vault."""
    inv = make_inventory([domain()])
    description = inv / "group_vars" / "all" / "mailstack.yml"
    vault = VaultLib([("default", VaultSecret(password))])
    description.write_bytes(vault.encrypt(description.read_text()))
    return inv


def test_a_vaulted_vars_file_without_its_password_says_how_to_give_it(
    make_inventory: MakeInventory,
) -> None:
    inv = vaulted_inventory(make_inventory, b"s3cret")
    result = mailstack("spec", "validate", "-i", str(inv))
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {inv / 'group_vars' / 'all' / 'mailstack.yml'}: is encrypted with"
        " ansible-vault and no password is given: give its password with"
        " --vault-password-file, ANSIBLE_VAULT_PASSWORD_FILE, or a vault-password file in the"
        " inventory\n"
    )


def test_a_vaulted_vars_file_opens_with_the_password_given_each_way(
    make_inventory: MakeInventory, tmp_path: Path
) -> None:
    inv = vaulted_inventory(make_inventory, b"s3cret")
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("guess\n")
    option = mailstack("spec", "validate", "-i", str(inv), "--vault-password-file", str(password))
    assert option.returncode == 0, option.stderr
    env = {**os.environ, "ANSIBLE_VAULT_PASSWORD_FILE": str(password)}
    exe = str(Path(sys.executable).parent / "mailstack")
    by_env = subprocess.run(
        [exe, "spec", "validate", "-i", str(inv)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert by_env.returncode == 0, by_env.stderr
    refused = mailstack("spec", "validate", "-i", str(inv), "--vault-password-file", str(wrong))
    assert refused.returncode == 1
    assert f"the password given (--vault-password-file {wrong}) does not open it" in (
        refused.stderr
    )
    (inv / "vault-password").write_text("s3cret\n")
    own = mailstack("spec", "validate", "-i", str(inv))
    assert own.returncode == 0, own.stderr


def test_the_inventorys_vault_password_file_is_read_never_run(
    make_inventory: MakeInventory, tmp_path: Path
) -> None:
    inv = vaulted_inventory(make_inventory, b"s3cret")
    executable(inv / "vault-password", tmp_path / "ran")
    result = mailstack("spec", "validate", "-i", str(inv))
    assert result.returncode == 1
    assert not (tmp_path / "ran").exists()
    assert f"the password given ({inv / 'vault-password'}) does not open it" in result.stderr


# -- 6. The promised exit codes ------------------------------------------------------------------


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    (line,) = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    return line


def test_a_yaml_syntax_error_names_its_file_and_line(make_inventory: MakeInventory) -> None:
    inv = make_inventory([domain()])
    (inv / "group_vars" / "all" / "broken.yml").write_text("ok: 1\nfoo: [\n  bar: baz\n")
    result = mailstack("spec", "validate", "-i", str(inv))
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith(f"error: {inv / 'group_vars' / 'all' / 'broken.yml'}:4: YAML parsing")


def test_a_key_file_that_is_a_folder(make_inventory: MakeInventory) -> None:
    inv = make_inventory([domain(dkim=[{"selector": "s1"}])])
    (inv / "published" / "dkim" / "example.test" / "s1.pem").mkdir(parents=True)
    result = mailstack("spec", "validate", "-i", str(inv))
    assert result.returncode == 1
    assert (
        f"error: mailstack_domains[0].dkim[0]: {inv / 'published/dkim/example.test/s1.pem'}:"
        " not a file"
    ) in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"version": 1, "answers": ', "is not JSON"),
        ("[1, 2]", "is not an SPF cache"),
        ('{"version": 1, "answers": {"a.test TXT": 5}}', "answers must map each question"),
        ('{"version": 7}', "unknown cache version 7"),
    ],
)
def test_a_corrupt_spf_cache(make_inventory: MakeInventory, text: str, expected: str) -> None:
    inv = make_inventory([domain()])
    (inv / "spf-cache.json").write_text(text)
    result = mailstack("dns", "plan", "-i", str(inv))
    assert result.returncode == 1
    assert one_line(result).startswith(f"error: {inv / 'spf-cache.json'}: {expected}")


def test_a_bad_upstream_address_with_flatten(make_inventory: MakeInventory) -> None:
    senders = [{"include": "v.test", "who": "Vendor"}]
    inv = make_inventory([domain(spf={"senders": senders, "flatten": True})])
    CacheSource(inv / "spf-cache.json", {"v.test TXT": ["v=spf1 ip4:999.1.2.3 -all"]}).save()
    result = mailstack("spec", "validate", "-i", str(inv))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        "error: mailstack_domains[0].spf: example.test -> v.test: 'ip4:999.1.2.3': '999.1.2.3'"
        " is not an IPv4 address"
    ) in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--serial", "-5", "argument --serial: '-5' is not a serial from 0 to 4294967295"),
        ("--serial", "4294967296", "argument --serial: '4294967296' is not a serial"),
        ("--nameserver", "ns1.example.test\nevil IN A 192.0.2.66", "argument --nameserver: "),
        ("--hostmaster", "a b@example.test", "argument --hostmaster: "),
    ],
)
def test_zone_file_options_are_checked(
    make_inventory: MakeInventory, option: str, value: str, expected: str
) -> None:
    inv = make_inventory([domain()])
    args = ["dns", "zone", "-i", str(inv), "example.test", option, value]
    if option != "--nameserver":
        args += ["--nameserver", "ns1.example.test"]
    result = mailstack(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_zone_file_options_that_are_right(make_inventory: MakeInventory) -> None:
    inv = make_inventory([domain()])
    options = ["--nameserver", "NS1.Example.Test.", "--serial", "4294967295"]
    options += ["--hostmaster", "host.master@example.test"]
    result = mailstack("dns", "zone", "-i", str(inv), "example.test", *options)
    assert result.returncode == 0, result.stderr
    assert (
        "example.test.\t3600\tIN\tSOA\tns1.example.test. host\\.master.example.test. 4294967295"
    ) in result.stdout


@pytest.mark.parametrize("command", [["dns", "plan"], ["dns", "zones"], ["spec", "share"]])
def test_output_into_a_closed_pipe_ends_quietly(lab: str, command: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line, as `| head -0` leaves it
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "mailstack"), *command, "-i", lab],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert "Traceback" not in result.stderr
    assert "BrokenPipeError" not in result.stderr


# -- 7. Validation gaps ----------------------------------------------------------------------


def problems_of(domains: Any, host_names: tuple[str, ...] = ("mx1.example.test",)) -> list[str]:
    problems = Problems()
    read(domains, hosts(*host_names), problems)
    return [str(p) for p in problems.items]


def test_an_mx_given_as_an_address_is_refused() -> None:
    mx = [{"host": "mx1.example.test"}, {"host": "198.51.100.20", "priority": 20}]
    assert problems_of([domain(mx=mx)]) == [
        "error: mailstack_domains[0].mx[1].host: 198.51.100.20 is an address, not a host name:"
        " an MX names a host (give its name, and its address in the inventory)"
    ]


def test_an_outside_mx_that_looks_like_ours_is_warned_of() -> None:
    typo = [{"host": "mx1.example.test"}, {"host": "mx2.exmaple.test", "priority": 20}]
    (warning,) = problems_of([domain(mx=typo)])
    assert warning.startswith(
        "warning: mailstack_domains[0].mx[1].host: mx2.exmaple.test is a typo away from"
        " example.test of our domains but is not a host of the inventory"
    )
    shared = [{"host": "mx1.example.test"}, {"host": "mx9.example.test", "priority": 20}]
    found = problems_of([domain("mail.example.test", mx=shared)])
    assert any(
        "warning: mailstack_domains[0].mx[1].host: mx9.example.test shares the name"
        " example.test of our domains" in p
        for p in found
    )
    theirs = [{"host": "mx1.example.test"}, {"host": "aspmx.l.google.com", "priority": 20}]
    assert problems_of([domain(mx=theirs)]) == []


def test_report_addresses_and_record_names_are_whole_host_names(tmp_path: Path) -> None:
    bad = domain(dmarc={"rua": ["mailto:x@-evil..example"]})
    assert (
        "error: mailstack_domains[0].dmarc.rua[0]: 'mailto:x@-evil..example' is not a"
        " mailto:address"
    ) in problems_of([bad])
    # Each name is valid, but the record that authorizes the reports would be too long.
    long_a = ".".join(["a" * 60] * 2) + ".example.test"
    long_b = ".".join(["b" * 60] * 2) + ".peer.test"
    domains = [
        domain(long_a, mx=[{"host": "mx1.example.test"}], dmarc={"rua": [f"mailto:r@{long_b}"]}),
        domain(long_b, mx=[{"host": "mx1.example.test"}], dmarc={"rua": [f"mailto:r@{long_b}"]}),
    ]
    problems = Problems()
    description = read(domains, hosts("mx1.example.test"), problems)
    assert not problems.errors
    result = plan(description, PublishedKeys(tmp_path), CacheSource(tmp_path / "cache.json"))
    length = len(f"{long_a}._report._dmarc.{long_b}")
    assert length > 253
    assert (
        f"the TXT record's name is {length} characters long: a DNS name is 253 at most"
        in "\n".join(str(p) for p in result.problems.errors)
    )


def test_bimi_with_pct_0_is_refused() -> None:
    bimi = {"logo": "https://example.test/logo.svg"}
    found = problems_of([domain(bimi=bimi, dmarc={"p": "reject", "pct": 0})])
    assert any(
        "BIMI needs DMARC enforcement" in p and "pct=0" in p and p.startswith("error")
        for p in found
    )


@pytest.mark.parametrize(
    "value",
    [
        "{SHA512-CRYPT}$6$salt$hunter2",
        "{SHA256-CRYPT}$5$salt$hunter2",
        "{BLF-CRYPT}$2y$05$hunter2",
        "{BLF-CRYPT}$2y$99$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
        "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA",
        "{SHA512-CRYPT}$6$rounds=5$salt$" + "x" * 86,
    ],
)
def test_a_hash_of_the_wrong_form_is_refused(value: str) -> None:
    found = problems_of([domain(mailboxes=[{"name": "alice", "password_hash": value}])])
    assert len(found) == 1
    assert "is not a" in found[0]
    assert "hash as `doveadm pw" in found[0]


def test_a_templated_password_is_named_as_such() -> None:
    mailbox = {"name": "alice", "password": "{{ vault_alice }}"}
    (problem,) = problems_of([domain(mailboxes=[mailbox])])
    assert problem == (
        "error: mailstack_domains[0].mailboxes[0].password: '{{ vault_alice }}' is a Jinja"
        " template, which mailstack does not resolve (Ansible would, at deploy time only): put"
        " the vaulted value here itself, made with `ansible-vault encrypt_string --name"
        " password`"
    )


def test_no_mail_domain_is_an_error(make_inventory: MakeInventory) -> None:
    inv = make_inventory([])
    result = mailstack("spec", "validate", "-i", str(inv))
    assert result.returncode == 1
    assert result.stderr == (
        "error: mailstack_domains: is empty: a mail system with no domain (describe one, or a"
        " parked domain)\n"
    )


@pytest.mark.parametrize("name", ["ns1.example.test\nevil IN A 192.0.2.66", "ns1 ; x", ""])
def test_an_soa_refuses_a_name_that_would_change_the_zone_file(name: str) -> None:
    from mailstack.zonefile import Soa  # noqa: PLC0415

    with pytest.raises(ValueError, match="is not a name an SOA or NS record can hold"):
        Soa(primary_ns=name, hostmaster="hostmaster.example.test", serial=1, nameservers=(name,))
