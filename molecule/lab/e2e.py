"""The lab's end-to-end checks (make lab, and the Molecule scenario `lab`). Each check acts
from outside the server under test: from the client container or from the other domain's mail
host. Prints each check, pass or FAIL, with its evidence and time, and exits 0 only when all
pass.

    python molecule/lab/e2e.py [--inventory inventories/lab] [--only N ...] [--json FILE]

Runs on the controller, in the project's environment; reaches the containers with `podman
exec`, and the inventory's plan and the TLSA data of keys with mailstack itself (the policy id
served must be the one the DNS builder derived; a key's TLSA is `mailstack.keys.tlsa_311`).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailstack.keys import tlsa_311

HERE = Path(__file__).resolve().parent
CLIENT = "client.lab.test"
EXAMPLE = "mx1.example.test"
# example.test's backup MX: it queues the domain's mail while mx1 is down.
BACKUP = "mx2.example.test"
PEER = "mx1.peer.test"
ALICE = "alice@example.test"
BOB = "bob@peer.test"


class CheckFailed(Exception):
    """A check saw something other than what it expects."""


@dataclass
class Result:
    number: int
    title: str
    ok: bool = False
    evidence: list[str] = field(default_factory=list)
    seconds: float = 0.0


def command(
    argv: list[str],
    *,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: int = 300,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """A command on the controller; a failure is a failed check unless `check` is false."""
    done = subprocess.run(
        argv, input=stdin, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        said = f"{done.stdout[-3000:]}{done.stderr[-1000:]}".strip()
        raise CheckFailed(f"{' '.join(argv[:6])}: {said}")
    return done


def run(container: str, *argv: str, stdin: str | None = None) -> str:
    """A command in a container; its standard output."""
    return command(["podman", "exec", "-i", container, *argv], stdin=stdin).stdout


def tool(name: str) -> str:
    """A command of the project's environment (mailstack, ansible-playbook)."""
    return str(Path(sys.executable).parent / name)


def probe(*argv: str) -> dict[str, Any]:
    """One probe.py command on the client; its JSON answer."""
    out = run(CLIENT, "python3", "/root/probe.py", *argv)
    return dict(json.loads(out.strip().splitlines()[-1]))


def log(container: str, since: str, *units: str) -> str:
    args = ["journalctl", "--no-pager", "-o", "cat", "--since", since]
    for unit in units:
        args += ["-u", unit]
    return run(container, *args)


def now(container: str) -> str:
    return run(container, "date", "+%Y-%m-%d %H:%M:%S").strip()


def expect(ok: bool, message: str) -> None:
    if not ok:
        raise CheckFailed(message)


def token(what: str) -> str:
    return f"lab {what} {uuid.uuid4().hex[:10]}"


def ds_anchors() -> str:
    """The lab's trust anchors, as delv reads them, from the client's resolver."""
    conf = run(CLIENT, "cat", "/etc/unbound/unbound.conf")
    found = re.findall(r'trust-anchor: "(\S+) DS (\d+) (\d+) 2 ([0-9a-f]+)"', conf)
    lines = [f'  {zone} static-ds {tag} {alg} 2 "{digest}";' for zone, tag, alg, digest in found]
    return "trust-anchors {\n" + "\n".join(lines) + "\n};\n"


def check_dnssec(r: Result, inventory: str) -> None:
    for zone in ("example.test", "peer.test"):
        out = run(CLIENT, "dig", "+dnssec", "SOA", zone)
        flags = re.search(r";; flags: ([a-z ]+);", out)
        if flags is None or "ad" not in flags.group(1).split():
            raise CheckFailed(f"{zone}: no AD bit: {out}")
        r.evidence.append(f"{zone} SOA through the client's resolver: flags {flags.group(1)}")
    run(CLIENT, "tee", "/root/lab-anchors.conf", stdin=ds_anchors())
    delv = ["delv", "-a", "/root/lab-anchors.conf", "+root=example.test", "A", EXAMPLE]
    good = run(CLIENT, *delv[:1], "@10.231.0.2", *delv[1:])
    expect("fully validated" in good, f"the genuine answer does not validate: {good}")
    r.evidence.append("genuine A of mx1.example.test from Knot: delv says fully validated")
    tamper = subprocess.Popen(
        ["podman", "exec", CLIENT, "python3", "/root/probe.py", "tamper", EXAMPLE, "10.231.0.66"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if tamper.stdout is not None:
            tamper.stdout.readline()  # listening
        bad = command(
            ["podman", "exec", CLIENT, *delv[:1], "@127.0.0.1", "-p", "5300", *delv[1:]],
            timeout=60,
            check=False,
        )
    finally:
        tamper.kill()
    said = (bad.stdout + bad.stderr).strip()
    expect("fully validated" not in said and "10.231.0.66" not in bad.stdout, said)
    r.evidence.append(f"A changed to 10.231.0.66 on the way: delv says {said.splitlines()[0]}")


def exchange(r: Result, sender: str, via: str, to: str, to_host: str) -> None:
    """A message submitted at `via`, read back at `to_host`; `via` must have used DANE."""
    since = now(via)
    subject = token("dane")
    sent = probe("submit", via, "587", sender, to, subject)
    expect(sent.get("ok") is True, f"submission at {via} failed: {sent}")
    got = probe("read", to_host, to, subject)
    expect(got.get("found") is True, f"{to} never got {subject!r}")
    smtp_log = log(via, since, "postfix@-.service")
    verified = [
        line
        for line in smtp_log.splitlines()
        if f"Verified TLS connection established to {to_host}" in line
    ]
    expect(bool(verified), f"{via} logged no verified TLS to {to_host}:\n{smtp_log[-1500:]}")
    table = log(via, since, "mailstack-dane-first.service")
    expect("DNSSEC-validated TLSA" in table, f"the DANE-first table did not choose DANE: {table}")
    r.evidence.append(f"{via} -> {to_host}: {verified[-1].strip()}")
    r.evidence.append(f"{via} DANE-first table: {table.strip().splitlines()[-1]}")


def check_dane(r: Result, inventory: str) -> None:
    exchange(r, BOB, PEER, ALICE, EXAMPLE)
    exchange(r, ALICE, EXAMPLE, BOB, PEER)


def plan(inventory: str) -> dict[str, Any]:
    return dict(
        json.loads(command([tool("mailstack"), "dns", "plan", "--json", "-i", inventory]).stdout)
    )


def check_mta_sts(r: Result, inventory: str) -> None:
    sts = {entry["domain"]: entry for entry in plan(inventory)["mta_sts"]}
    want = sts["example.test"]
    fetched = probe("https", "https://mta-sts.example.test/.well-known/mta-sts.txt")
    expect(fetched.get("status") == 200, f"the policy was not served: {fetched}")
    expect(
        str(fetched.get("type", "")).startswith("text/plain"), f"served as {fetched.get('type')}"
    )
    expect(fetched.get("body") == want["policy"], f"served {fetched.get('body')!r}")
    r.evidence.append(
        f"client: policy over HTTPS (certificate checked), text/plain, id {want['id']}"
    )
    answer = run(PEER, "postmap", "-q", "example.test", "socketmap:inet:127.0.0.1:8461:postfix")
    # Postfix's policy: secure, matching every MX the policy names (mx1 and the backup mx2).
    matched = re.match(r"secure match=(\S+)", answer)
    names = set(matched.group(1).split(":")) if matched else set()
    want = set(re.findall(r"^mx: (\S+)", str(fetched["body"]), re.MULTILINE))
    expect(bool(want) and names == want, f"peer's resolver said {answer!r}, the policy {want}")
    r.evidence.append(f"mx1.peer.test's MTA-STS resolver for example.test: {answer.strip()}")
    access = run(EXAMPLE, "cat", "/var/log/nginx/access.log")
    fetches = [
        line
        for line in access.splitlines()
        if "/.well-known/mta-sts.txt" in line
        and line.startswith(("10.231.0.20 ", "fd00:6d61:696c::20 "))
    ]
    expect(bool(fetches), "mx1.example.test's nginx never served the policy to mx1.peer.test")
    r.evidence.append(f"nginx on mx1.example.test: {fetches[-1][:110]}")
    mode = re.search(r"^mode: (\w+)", str(fetched["body"]), re.MULTILINE)
    expect(mode is not None and mode.group(1) == "enforce", "example.test's policy is not enforce")
    r.evidence.append(
        "applied: Postfix on mx1.peer.test uses this answer for example.test wherever no"
        " DNSSEC-validated TLSA applies (DANE first, RFC 8461 section 2)"
    )


def delivered_results(via: str, port: str, sender: str, receiver: str, label: str) -> str:
    """A message submitted on `via`:`port` by `sender` to `receiver`, read back over IMAPS at
    the receiver's MX; the Authentication-Results it arrived with, as one string."""
    subject = token(label)
    sent = probe("submit", via, port, sender, receiver, subject)
    expect(sent.get("ok") is True, f"submission failed: {sent}")
    mx = EXAMPLE if receiver.endswith("@example.test") else PEER
    got = probe("read", mx, receiver, subject)
    expect(got.get("found") is True, f"{receiver} never got {subject!r}")
    return " ".join(str(h) for h in got["authentication_results"])


def check_authentication(r: Result, inventory: str) -> None:
    results = delivered_results(PEER, "465", BOB, ALICE, "auth")
    for method in ("spf=pass", "dkim=pass", "dmarc=pass"):
        expect(method in results, f"no {method} in {results}")
    r.evidence.append(f"read over IMAPS by alice: Authentication-Results: {results[:300]}")
    # The other way: example.test signs with RSA (OpenDKIM) and Ed25519 (dkimpy-milter), and
    # mx1.peer.test's OpenDKIM verifies each signature.
    results = delivered_results(EXAMPLE, "587", ALICE, BOB, "auth back")
    for method in ("spf=pass", "dmarc=pass"):
        expect(method in results, f"no {method} in {results}")
    passed = dkim_passes(results)
    expect(
        passed == {"rsa-sha256": "s2025r", "ed25519-sha256": "s2025e"},
        f"not both signatures of example.test pass: {results}",
    )
    r.evidence.append(
        "read over IMAPS by bob at peer.test: spf=pass, dmarc=pass, and dkim=pass for both"
        " signatures of example.test: rsa-sha256 (s2025r) and ed25519-sha256 (s2025e)"
    )


def check_forged(r: Result, inventory: str) -> None:
    subject = token("forged")
    said = probe("relay", EXAMPLE, ALICE, ALICE, subject)
    expect(said["code"] == 550 and "DMARC" in str(said["reply"]).upper(), f"answered {said}")
    r.evidence.append(
        f"From alice@example.test, sent by the client: {said['code']} {said['reply']}"
    )


def check_smtp(r: Result, inventory: str) -> None:
    said = probe("relay", EXAMPLE, "someone@peer.test", ALICE, token("gtube"), "gtube")
    expect(str(said["code"]).startswith("5"), f"GTUBE answered {said}")
    r.evidence.append(f"GTUBE to alice: {said['code']} {said['reply']}")
    for port in ("587", "465"):
        sent = probe("submit", EXAMPLE, port, ALICE, BOB, token(f"port {port}"))
        expect(sent.get("ok") is True, f"submission on {port} failed: {sent}")
        r.evidence.append(f"submission on {port} with AUTH: {sent['reply']}")
    said = probe("relay", EXAMPLE, "someone@peer.test", "someone@elsewhere.test", token("relay"))
    expect(str(said["code"]).startswith("5"), f"relay answered {said}")
    r.evidence.append(f"relay without AUTH: {said['code']} {said['reply']}")


def playbook(inventory: str, name: str, *args: str) -> str:
    """Run one of mailstack's playbooks on the lab, as make lab does."""
    env = dict(os.environ)
    vault = Path(inventory) / "vault-password"
    if vault.exists():
        env.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(vault))
    playbook_path = str(HERE.parent.parent / "ansible" / name)
    return command(
        [tool("ansible-playbook"), "-i", inventory, playbook_path, *args], env=env
    ).stdout


def presented_key() -> str:
    """The TLSA 3 1 1 data of the key mx1.example.test presents on port 25."""
    out = run(
        CLIENT,
        "sh",
        "-c",
        f"openssl s_client -starttls smtp -connect {EXAMPLE}:25 -servername {EXAMPLE}"
        " </dev/null 2>/dev/null | openssl x509 -pubkey -noout",
    )
    return tlsa_311(out.encode())


def served_tlsa(server: str = "") -> str:
    """The TLSA records of mx1.example.test, from the client's resolver or a given server."""
    at = [f"@{server}"] if server else []
    return run(CLIENT, "dig", *at, "+dnssec", "+split=0", "TLSA", f"_25._tcp.{EXAMPLE}").lower()


def check_rollover(r: Result, inventory: str) -> None:
    published = Path(inventory) / "published" / "tls" / EXAMPLE
    current, following = (
        tlsa_311((published / f"{k}.pem").read_bytes()) for k in ("current", "next")
    )
    expect(
        presented_key() == current, "mx1.example.test does not present its published current key"
    )
    answer = served_tlsa()
    expect(
        " ad" in answer.split("flags:")[1].split(";")[0] and following in answer,
        f"the next key's TLSA is not served, validated: {answer}",
    )
    r.evidence.append(
        f"before: mx1.example.test presents {current[:16]}...,"
        f" next {following[:16]}... served with AD"
    )
    since = now(PEER)
    out = playbook(inventory, "tls-rollover.yml", "-l", EXAMPLE)
    said = re.search(r"rolled over: [^\"]*", out)
    if said is None:
        raise CheckFailed(f"tls-rollover.yml did not roll over:\n{out[-2000:]}")
    r.evidence.append(f"tls-rollover.yml: {said.group(0)[:110]}")
    expect(presented_key() == following, "mx1.example.test does not present the former next key")
    r.evidence.append(f"after: mx1.example.test presents {following[:16]}... (the former next key)")
    exchange(r, BOB, PEER, ALICE, EXAMPLE)
    playbook(inventory, "lab/lab-dns.yml", "-e", "lab_dns_zones_only=true")
    newest = tlsa_311((published / "next.pem").read_bytes())
    expect(
        newest in served_tlsa("10.231.0.2") and current not in served_tlsa("10.231.0.2"),
        "the zone does not have the new next key's TLSA, or still has the retired key's",
    )
    r.evidence.append(
        f"zone published again: TLSA of {following[:16]}... and the new next {newest[:16]}..."
    )
    exchange(r, BOB, PEER, ALICE, EXAMPLE)
    deferred = [
        line
        for line in log(PEER, since, "postfix@-.service").splitlines()
        if "status=deferred" in line
    ]
    expect(not deferred, f"deferred during the rollover: {deferred}")
    r.evidence.append("no message deferred by mx1.peer.test during the rollover")


def audited(r: Result, inventory: str, domain: str) -> dict[str, Any]:
    """`mailstack check DOMAIN --json` through molecule/lab/audit.sh, which must find no
    failure; its report."""
    done = command(
        ["bash", str(HERE / "audit.sh"), domain, "--json"],
        env={**os.environ, "INVENTORY": inventory, "MAILSTACK": tool("mailstack")},
        check=False,
    )
    try:
        data = dict(json.loads(done.stdout))
    except json.JSONDecodeError as exc:
        raise CheckFailed(f"mailstack check {domain}: {done.stderr.strip()}") from exc
    bad = [f"{f['category']}: {f['message']}" for f in data["findings"] if f["status"] == "fail"]
    expect(
        done.returncode == 0 and not bad and not data["errors"],
        f"mailstack check {domain} exited {done.returncode}: {bad + data['errors']}",
    )
    counts = data["counts"]
    r.evidence.append(
        f"mailstack check {domain}: score {data['score']}/100, {counts['pass']} passed,"
        f" {counts['warn']} warnings, 0 failed, in {data['seconds']} s"
    )
    return data


def check_audit(r: Result, inventory: str) -> None:
    """`mailstack check` of both domains through molecule/lab/audit.sh: no check fails."""
    for domain in ("example.test", "peer.test"):
        audited(r, inventory, domain)


def dmarc_reports(inventory: str) -> subprocess.CompletedProcess[str]:
    """`mailstack dmarc report` of alice's INBOX (dmarc-reports@example.test is her alias),
    over IMAPS from the controller, the certificate checked against the lab's ACME root."""
    accounts = json.loads(run(CLIENT, "cat", "/root/lab-accounts.json"))
    return command(
        [
            tool("mailstack"),
            "dmarc",
            "report",
            "--imap",
            f"imaps://{ALICE.replace('@', '%40')}@{EXAMPLE}/INBOX",
            "--imap-cafile",
            str(Path(inventory) / "published/lab/acme-root.pem"),
            "--resolver",
            "10.231.0.2",
        ],
        env={**os.environ, "MAILSTACK_IMAP_PASSWORD": accounts[ALICE]},
        check=False,
    )


def check_reports(r: Result, inventory: str) -> None:
    """Both MXes report the DMARC verdicts of their traffic to dmarc-reports@example.test
    (peer.test's reports go there by the _report._dmarc authorization), read back over IMAPS."""
    for sender, via, to, host in ((BOB, PEER, ALICE, EXAMPLE), (ALICE, EXAMPLE, BOB, PEER)):
        subject = token("report")
        sent = probe("submit", via, "587", sender, to, subject)
        expect(sent.get("ok") is True, f"submission at {via} failed: {sent}")
        expect(probe("read", host, to, subject).get("found") is True, f"{to} never got it")
    for mx in (EXAMPLE, PEER):
        since = now(mx)
        run(mx, "systemctl", "start", "mailstack-dmarc-reports.service")
        said = log(mx, since, "mailstack-dmarc-reports.service").strip().splitlines()
        sent_lines = [line for line in said if "reported to" in line]
        expect(bool(sent_lines), f"{mx} sent no report: {said}")
        r.evidence.extend(f"{mx}: {line}" for line in sent_lines)
    deadline = time.monotonic() + 120
    while True:
        done = dmarc_reports(inventory)
        summary = done.stdout
        seen = all(f"{d}" in summary for d in ("example.test", "peer.test"))
        if (done.returncode == 0 and seen) or time.monotonic() > deadline:
            break
        time.sleep(5)
    expect(done.returncode == 0, f"mailstack dmarc report exited {done.returncode}: {done.stderr}")
    expect(seen, f"the reports about example.test and peer.test did not both arrive: {summary}")
    r.evidence.append("mailstack dmarc report --imap of dmarc-reports@example.test (alice):")
    r.evidence.extend(f"  {line}" for line in summary.strip().splitlines())


def dkim_passes(results: str) -> dict[str, str]:
    """The selector of each DKIM signature that passed, by algorithm, from OpenDKIM's
    `dkim=pass (...) header.d=... header.a=ALGORITHM header.s=SELECTOR ...`."""
    found = re.findall(
        r"dkim=pass(?: \([^)]*\))?[^;]*?header\.a=([a-z0-9-]+) header\.s=([a-z0-9-]+)", results
    )
    return dict(found)


def signed_with(r: Result, when: str) -> str:
    """A message from alice to bob; the RSA selector that signed it, as mx1.peer.test verified
    it (example.test also signs with Ed25519, whose selector the rotation does not change)."""
    results = delivered_results(EXAMPLE, "587", ALICE, BOB, f"dkim {when}")
    passed = dkim_passes(results)
    expect("rsa-sha256" in passed and "dkim=fail" not in results, f"{when}: {results}")
    r.evidence.append(
        f"{when}: signed with {', '.join(passed.values())}, dkim=pass at mx1.peer.test"
    )
    return passed["rsa-sha256"]


def dkim_txt(selector: str) -> str:
    """The selector's TXT as the zone's name server serves it (resolvers may cache it)."""
    name = f"{selector}._domainkey.example.test"
    return run(CLIENT, "dig", "+short", "@10.231.0.2", "TXT", name).strip()


def check_dkim_rotation(r: Result, inventory: str) -> None:
    """ansible/dkim-rotate.yml on example.test, on a copy of the lab's description (the
    rotation writes to it), with every message on the way verified at mx1.peer.test."""
    work = Path(tempfile.mkdtemp(prefix="mailstack-rotation-"))
    copy = work / "lab"
    shutil.copytree(inventory, copy)
    new = f"r{int(time.time())}"
    rotate = [
        "-e", "dkim_rotate_domain=example.test",
        "-e", f"dkim_rotate_selector={new}",
        "-e", "dkim_rotate_nameserver=10.231.0.2",
        "-e", json.dumps({"dkim_rotate_publish": [
            tool("ansible-playbook"), "-i", str(copy), "ansible/lab/lab-dns.yml",
            "-e", "lab_dns_zones_only=true",
        ]}),
    ]  # fmt: skip
    # The lab's keys of example.test, put back at the end: a retired selector made again with
    # a new key would not verify where resolvers still hold the old one (mx1.peer.test's does,
    # for the record's TTL). Never reuse a selector's name for another key.
    keys = "/etc/opendkim/keys/example.test"
    run(EXAMPLE, "cp", "-a", keys, "/root/lab-dkim-keys")
    try:
        old = signed_with(r, "before")
        playbook(str(copy), "dkim-rotate.yml", *rotate, "-e", "dkim_rotate_retire_after=3600")
        expect(signed_with(r, "after the switch") == new, f"not signed with {new}")
        expect(dkim_txt(old) != "", f"{old} is no longer served while retiring")
        r.evidence.append(f"{old} retiring: still served, so mail signed before still verifies")
        playbook(str(copy), "dkim-rotate.yml", *rotate, "-e", "dkim_rotate_retire_after=0")
        expect(dkim_txt(old) == "", f"{old} is still served after it was retired")
        expect(signed_with(r, "after retiring") == new, f"not signed with {new}")
        r.evidence.append(f"{old} retired: removed from the description and the zone")
    finally:
        # Back to the lab's own description: its keys as they were, and its zones.
        run(EXAMPLE, "sh", "-c", f"rm -rf {keys} && mv /root/lab-dkim-keys {keys}")
        real = str((Path(inventory) / "group_vars/all/mailstack.yml").resolve())
        playbook(
            inventory, "dkim-rotate-hosts.yml",
            "-e", "dkim_rotate_domain=example.test", "-e", f"dkim_rotate_file={real}",
        )  # fmt: skip
        playbook(inventory, "lab/lab-dns.yml", "-e", "lab_dns_zones_only=true")
        shutil.rmtree(work)
    expect(signed_with(r, "back to the lab's description") == old, f"not signed with {old}")


# -- example.test's backup MX, mx2.example.test ------------------------------------------------
# How many messages wait at the backup while the primary is down, and how long each wait may
# take: the submissions, the backup's queue filling or emptying, the mailbox being filled.
BACKUP_MESSAGES = 20
WAIT = 120


def wait_for(what: str, test: Callable[[], Any], timeout: float = WAIT) -> Any:
    """`test()` again every 3 s until it returns something true; that, or a failed check
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = test()
        if got:
            return got
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what}: not within {timeout:.0f} s")
        time.sleep(3)


def queued(container: str, recipient: str) -> list[dict[str, Any]]:
    """The messages in the container's Postfix queue for `recipient` (postqueue -j)."""
    out = run(container, "postqueue", "-j")
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [e for e in entries if any(x["address"] == recipient for x in e["recipients"])]


def unqueued(container: str) -> bool:
    """Whether the container's Postfix holds no mail for alice."""
    return not queued(container, ALICE)


def deferred_at_backup() -> list[dict[str, Any]] | None:
    """The backup's deferred messages for alice, once there are BACKUP_MESSAGES of them."""
    late = [e for e in queued(BACKUP, ALICE) if e["queue_name"] == "deferred"]
    return late if len(late) >= BACKUP_MESSAGES else None


def alice_counts(prefix: str, expected: int, seconds: int) -> dict[str, int]:
    """Alice's messages whose subject holds `prefix`, by subject, read over IMAPS on mx1,
    once there are `expected` or after `seconds`."""
    got = probe("count", EXAMPLE, ALICE, prefix, str(expected), str(seconds))
    return {str(k): int(v) for k, v in got["subjects"].items()}


def postfix_running(container: str) -> bool:
    state = command(
        ["podman", "exec", container, "systemctl", "is-active", "postfix@-.service"], check=False
    )
    return state.stdout.strip() == "active"


def check_backup_receives(r: Result, inventory: str) -> None:
    """Both MX up: peer.test's mail reaches alice through the primary, and the backup, like
    the primary, refuses an unknown recipient at RCPT with 550 and takes a real one."""
    exchange(r, BOB, PEER, ALICE, EXAMPLE)
    for mx in (BACKUP, EXAMPLE):
        said = probe("relay", mx, "someone@peer.test", "nobody@example.test", token("who"), "rcpt")
        expect(said["code"] == 550, f"{mx} answered {said} for nobody@example.test")
        r.evidence.append(f"{mx}, RCPT TO:<nobody@example.test>: {said['code']} {said['reply']}")
    said = probe("relay", BACKUP, "someone@peer.test", ALICE, token("rcpt"), "rcpt")
    expect(said["code"] == 250, f"{BACKUP} answered {said} for {ALICE}")
    r.evidence.append(f"{BACKUP}, RCPT TO:<{ALICE}>: {said['code']} {said['reply']}")


def check_backup_queues(r: Result, inventory: str) -> None:
    """mx1's Postfix stopped: BACKUP_MESSAGES messages from peer.test go to the backup over
    DANE and wait in its queue; mx1 started and the backup's queue flushed, alice reads each
    exactly once over IMAPS."""
    expect(unqueued(BACKUP), f"{BACKUP} already holds mail for {ALICE}")
    prefix = token("backup")
    subjects = [f"{prefix} {i:02d}" for i in range(1, BACKUP_MESSAGES + 1)]
    since_peer = now(PEER)
    try:
        run(EXAMPLE, "systemctl", "stop", "postfix@-.service", "postfix.service")
        expect(not postfix_running(EXAMPLE), f"{EXAMPLE}'s Postfix did not stop")
        r.evidence.append(f"{EXAMPLE}: Postfix stopped")
        sent = probe("submit-many", PEER, "587", BOB, ALICE, *subjects)
        expect(sent.get("ok") is True, f"submission at {PEER} failed: {sent}")
        waiting = wait_for(
            f"{BACKUP_MESSAGES} messages deferred in {BACKUP}'s queue", deferred_at_backup
        )
        expect(len(queued(BACKUP, ALICE)) == BACKUP_MESSAGES, f"{BACKUP}'s queue holds more")
        reason = waiting[0]["recipients"][0].get("delay_reason", "")
        r.evidence.append(
            f"{BACKUP}'s queue: {len(waiting)} of {BACKUP_MESSAGES} deferred ({reason})"
        )
        dane = [
            line
            for line in log(PEER, since_peer, "postfix@-.service").splitlines()
            if f"Verified TLS connection established to {BACKUP}" in line
        ]
        expect(bool(dane), f"{PEER} logged no verified TLS to {BACKUP}")
        r.evidence.append(f"{PEER} -> {BACKUP}: {dane[-1].strip()}")
        early = alice_counts(prefix, BACKUP_MESSAGES, 0)
        expect(not early, f"delivered while {EXAMPLE}'s Postfix was down: {early}")
        r.evidence.append("alice's mailbox meanwhile: none of them")
    finally:
        run(EXAMPLE, "systemctl", "start", "postfix.service", "postfix@-.service")
    wait_for(f"{EXAMPLE}'s Postfix running", lambda: postfix_running(EXAMPLE))
    since_flush = now(BACKUP)
    run(BACKUP, "postqueue", "-f")
    wait_for(f"{BACKUP}'s queue emptied", functools.partial(unqueued, BACKUP))
    relayed = log(BACKUP, since_flush, "postfix@-.service").splitlines()
    verified = [x for x in relayed if f"Verified TLS connection established to {EXAMPLE}" in x]
    expect(bool(verified), f"{BACKUP} logged no verified TLS to {EXAMPLE}")
    r.evidence.append(f"{BACKUP} -> {EXAMPLE} after postqueue -f: {verified[-1].strip()}")
    sent_on = [x for x in relayed if f"to=<{ALICE}>, relay={EXAMPLE}[" in x and "status=sent" in x]
    r.evidence.append(f"{BACKUP}: {len(sent_on)} relayed to {EXAMPLE} with status=sent")
    alice_counts(prefix, BACKUP_MESSAGES, WAIT)
    # Nothing left on the way that could still arrive twice, then the final count.
    for mx in (PEER, BACKUP, EXAMPLE):
        wait_for(f"{mx}'s queue without mail for {ALICE}", functools.partial(unqueued, mx))
    counts = alice_counts(prefix, BACKUP_MESSAGES, 0)
    missing = sorted(set(subjects) - set(counts))
    expect(set(counts) == set(subjects), f"missing {missing}, got {counts}")
    twice = {k: v for k, v in counts.items() if v != 1}
    expect(not twice, f"delivered more than once: {twice}")
    r.evidence.append(
        f"alice reads each of the {BACKUP_MESSAGES} messages exactly once over IMAPS"
        f" ({subjects[0]} to {subjects[-1]}); no queue holds mail for her"
    )


def check_backup_refuses(r: Result, inventory: str) -> None:
    """What the primary refuses, the backup refuses too: GTUBE and a DMARC-failing forgery."""
    for mx in (BACKUP, EXAMPLE):
        said = probe("relay", mx, "someone@peer.test", ALICE, token("gtube"), "gtube")
        expect(str(said["code"]).startswith("5"), f"{mx}: GTUBE answered {said}")
        r.evidence.append(f"{mx}, GTUBE to alice: {said['code']} {said['reply']}")
        said = probe("relay", mx, ALICE, ALICE, token("forged"))
        expect(said["code"] == 550 and "DMARC" in str(said["reply"]).upper(), f"{mx}: {said}")
        r.evidence.append(f"{mx}, From alice@example.test sent by the client: {said['reply']}")


def check_backup_audit(r: Result, inventory: str) -> None:
    """`mailstack check example.test` audits both MX: DANE on each address of the backup,
    the MTA-STS policy naming it, no open relay there; no failure at all."""
    data = audited(r, inventory, "example.test")
    passed = [f for f in data["findings"] if f["status"] == "pass"]
    for check, start, least in (
        ("dane.match", f"{BACKUP} (", 2),
        ("mtasts.mx", f"the MX {BACKUP} ", 1),
        ("relay.probe", f"{BACKUP} (", 2),
    ):
        seen = [f["message"] for f in passed if f["check"] == check]
        seen = [message for message in seen if message.startswith(start)]
        expect(len(seen) >= least, f"{check}: {least} passed for {BACKUP} expected, saw {seen}")
        r.evidence.append(f"{check}: {seen[0][:120]}")


# Each check is given its result to fill and the inventory; some need only the first.
def check_client_setup(r: Result, inventory: str) -> None:
    shared = json.loads(
        command([tool("mailstack"), "spec", "share", "-i", inventory, EXAMPLE]).stdout
    )
    offered = shared[EXAMPLE]["autoconfig"]["example.test"]
    tls = {"SSL": "implicit", "STARTTLS": "starttls"}
    want = [
        f"{s['type']} {s['host']}:{s['port']} ({tls[s['socket']]})"
        for s in offered["incoming"] + offered["outgoing"]
    ]
    got = probe("setup", ALICE)
    for fetched in got["tried"]:
        expect(
            fetched["status"] == 200 and bool(fetched["servers"]),
            f"{fetched['url']}: status {fetched['status']}, servers {fetched['servers']}",
        )
        r.evidence.append(
            f"client: {fetched['url'].split('?')[0]}: {len(fetched['servers'])} servers"
        )
    thunderbird, _, outlook, _, apple = got["tried"]
    expect(
        thunderbird["servers"] == want, f"Thunderbird is told {thunderbird['servers']}, not {want}"
    )
    expect(outlook["servers"] == want, f"Outlook is told {outlook['servers']}, not {want}")
    expect(
        set(apple["servers"]) <= set(want) and apple["type"] == "application/x-apple-aspen-config",
        f"the profile ({apple['type']}) names {apple['servers']}",
    )
    r.evidence.append(f"every document names what the description offers, first {want[0]}")
    expect(got["same_for_strangers"], "an unknown address gets another answer than alice's")
    r.evidence.append("an unknown address gets the same documents (no enumeration)")
    expect(got.get("read") is True, f"configured from Thunderbird's answer: {got}")
    r.evidence.append(f"from that answer alone: sent on {got['smtp']}, read back on {got['imap']}")


def check_smime(r: Result, inventory: str) -> None:
    """S/MIME end to end, by smime.py (its own steps, which use this file's helpers)."""
    done = command(
        [sys.executable, str(HERE / "smime.py"), "--inventory", inventory], timeout=900, check=False
    )
    r.evidence += [line for line in done.stdout.splitlines() if line.strip()][-40:]
    expect(done.returncode == 0, f"smime.py exited {done.returncode}: {done.stderr[-500:]}")


def check_lists(r: Result, inventory: str) -> None:
    """Mailing lists end to end, by lists.py (its own steps, which use this file's helpers)."""
    argv = [sys.executable, str(HERE / "lists.py"), "--inventory", inventory]
    done = command(argv, timeout=1200, check=False)
    r.evidence += [line for line in done.stdout.splitlines() if line.strip()][-60:]
    expect(done.returncode == 0, f"lists.py exited {done.returncode}: {done.stderr[-500:]}")


CHECKS: list[tuple[str, Callable[[Result, str], None]]] = [
    ("both zones validate through the resolver; a tampered answer does not", check_dnssec),
    ("peer.test and example.test exchange mail over DANE-verified TLS", check_dane),
    ("peer.test's Postfix has example.test's MTA-STS policy, in enforce mode", check_mta_sts),
    ("SPF, DKIM and DMARC pass at the receiver, read back over IMAPS", check_authentication),
    ("a forged From: example.test from outside is refused (DMARC p=reject)", check_forged),
    ("GTUBE refused; submission on 587 and 465 with AUTH; no open relay", check_smtp),
    (
        "TLSA rollover: next key published, switched to, DANE verified, nothing deferred",
        check_rollover,
    ),
    ("mailstack check passes every check for example.test and peer.test", check_audit),
    ("DMARC aggregate reports exchanged and read back from the rua mailbox", check_reports),
    (
        "DKIM rotation: staged, served, switched, retired; every message verifies",
        check_dkim_rotation,
    ),
    (
        "mail clients set themselves up from autoconfig, autodiscover and a profile",
        check_client_setup,
    ),
    (
        "backup MX: both up, mail reaches alice; mx2 refuses an unknown recipient with 550",
        check_backup_receives,
    ),
    (
        "backup MX: mx1 down, mail queues at mx2 (DANE); mx1 back, each delivered once",
        check_backup_queues,
    ),
    ("backup MX: GTUBE and a DMARC-failing forgery are refused by mx2 too", check_backup_refuses),
    ("backup MX: mailstack check example.test audits both MX, no failure", check_backup_audit),
    (
        "S/MIME: signed and encrypted from alice to bob via SMIMEA; revocation withdraws it",
        check_smime,
    ),
    (
        "mailing lists: made from the description, DMARC-safe and ARC-sealed, archived, kept",
        check_lists,
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description="the lab's end-to-end checks")
    parser.add_argument("--inventory", default="inventories/lab")
    parser.add_argument("--only", type=int, nargs="*", help="check numbers to run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    run(CLIENT, "tee", "/root/probe.py", stdin=(HERE / "probe.py").read_text())
    parsers = HERE.parent.parent / "mailstack" / "clientsetup.py"
    run(CLIENT, "tee", "/root/clientsetup.py", stdin=parsers.read_text())
    results = []
    for number, (title, check) in enumerate(CHECKS, start=1):
        if args.only and number not in args.only:
            continue
        result = Result(number, title)
        started = time.monotonic()
        try:
            check(result, args.inventory)
            result.ok = True
        except (CheckFailed, subprocess.SubprocessError, KeyError) as exc:
            result.evidence.append(f"{type(exc).__name__}: {exc}")
        result.seconds = time.monotonic() - started
        results.append(result)
        print(f"{'pass' if result.ok else 'FAIL'}  {number}. {title}  ({result.seconds:.1f} s)")
        for line in result.evidence:
            print(f"        {line}")
        sys.stdout.flush()
    passed = sum(r.ok for r in results)
    print(f"e2e: {passed} of {len(results)} checks passed")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
