"""The lab's mailing list checks, end to end (docs/lists.md, docs/lab.md). With the lab running:

    python molecule/lab/lists.py [--inventory inventories/lab]

The lab's description has the list domain lists.example.test, whose Mailman runs on
mx1.example.test, with the lists team@ (members on both domains, public archive) and staff@
(members generated from inventories/lab/lists/staff.txt, private archive).

1. The lists are as the description says (Mailman's own roster), and making them again
   (`site.yml --tags lists`) changes nothing.
2. bob@peer.test posts to team@: alice reads the list's copy over IMAPS at mx1.example.test and
   bob at mx1.peer.test, each with the list's List-Id. At mx1.peer.test the copy passes DKIM
   (the list domain's signature) and DMARC, and its ARC chain verifies (dkimpy's arcverify, on
   the client).
3. alice@example.test, whose domain publishes p=reject, posts: the copy bob reads has its From
   rewritten to the list's address, and passes DMARC.
4. The archive shows the post over HTTPS: HyperKitty's page and its JSON API; Postorius' page
   of the list answers; the private list's archive is not shown to a stranger.
5. The generated list follows its source: bob added to the file, the lists made again, he is
   a member; removed, he is not. An unknown address of the list domain gets 550 at RCPT.
6. With Mailman stopped, a post waits in Postfix's queue (LMTP refused: deferred, not lost),
   and is delivered, once, when Mailman is back.

Runs on the controller in the project's environment, as e2e.py does (whose helpers it uses),
and prints each step, pass or FAIL, with its evidence. Exit 0 only when every step passes.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e  # the lab's helpers, beside this file

ALICE, BOB, EXAMPLE, PEER = e2e.ALICE, e2e.BOB, e2e.EXAMPLE, e2e.PEER
TEAM = "team@lists.example.test"
STAFF = "staff@lists.example.test"
WEB = "https://lists.example.test"


def members(address: str) -> list[str]:
    """The list's members, as Mailman itself says (its command line, on the list host)."""
    out = e2e.run(
        EXAMPLE, "runuser", "-u", "list", "--", "mailman", "-C", "/etc/mailman3/mailman.cfg",
        "members", address,
    )  # fmt: skip
    return sorted(re.findall(r"[\w.+-]+@[\w.-]+", out))


def make_lists(inventory: str) -> str:
    """`site.yml --tags lists` on the lab; its output."""
    return e2e.playbook(inventory, "site.yml", "--tags", "lists", "--limit", EXAMPLE)


def changed_on(output: str, host: str) -> int:
    found = re.search(rf"{re.escape(host)}\s*:\s*ok=\d+\s+changed=(\d+)", output)
    if found is None:
        raise e2e.CheckFailed(f"no PLAY RECAP line for {host}: {output[-800:]}")
    return int(found.group(1))


def check_made(r: e2e.Result, inventory: str) -> None:
    team = members(TEAM)
    e2e.expect(team == sorted([ALICE, BOB]), f"{TEAM} has {team}")
    staff_source = Path(inventory) / "lists" / "staff.txt"
    wanted = sorted(
        line.strip().lower()
        for line in staff_source.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    staff = members(STAFF)
    e2e.expect(staff == wanted, f"{STAFF} has {staff}, its source {wanted}")
    r.evidence.append(f"Mailman: {TEAM} members {team}; {STAFF} members {staff} (its file)")
    again = make_lists(inventory)
    changed = changed_on(again, EXAMPLE)
    e2e.expect(changed == 0, f"making them again changed {changed}: {again[-1500:]}")
    r.evidence.append("site.yml --tags lists again: changed=0 on mx1.example.test")


def posted(sender: str, via: str, label: str) -> tuple[str, dict[str, object], dict[str, object]]:
    """A post of `sender` to team@, submitted at `via`; alice's and bob's copies as read."""
    subject = e2e.token(label)
    sent = e2e.probe("submit", via, "587", sender, TEAM, subject)
    e2e.expect(sent.get("ok") is True, f"the post was not submitted: {sent}")
    at_alice = e2e.probe("read", EXAMPLE, ALICE, subject)
    at_bob = e2e.probe("read", PEER, BOB, subject)
    for who, got in (("alice", at_alice), ("bob", at_bob)):
        e2e.expect(got.get("found") is True, f"{who} never got the post {subject!r}")
    return subject, at_alice, at_bob


def arc_verified(subject: str) -> str:
    """dkimpy's arcverify on bob's copy, on the client (its resolver validates the lab's
    zones); what it says."""
    got = e2e.probe("fetch", PEER, BOB, subject)
    raw = base64.b64decode(str(got["message"]))
    argv = ["podman", "exec", "-i", e2e.CLIENT, "arcverify"]
    said = e2e.command(argv, stdin=raw.decode(errors="replace"), check=False)
    return (said.stdout + said.stderr).strip()


def check_post(r: e2e.Result, inventory: str) -> None:
    subject, at_alice, at_bob = posted(BOB, PEER, "list post")
    for who, got in (("alice", at_alice), ("bob", at_bob)):
        e2e.expect("lists.example.test" in str(got.get("list_id")), f"{who}'s copy: {got}")
    r.evidence.append(f"alice and bob read it over IMAPS, List-Id: {at_alice['list_id']}")
    results = " ".join(str(h) for h in at_bob["authentication_results"])  # type: ignore[attr-defined]
    e2e.expect("dmarc=pass" in results, f"no dmarc=pass at mx1.peer.test: {results}")
    e2e.expect(
        re.search(r"dkim=pass (\([^)]*\) )?header\.d=lists\.example\.test", results) is not None,
        f"no DKIM pass for lists.example.test at mx1.peer.test: {results}",
    )
    r.evidence.append(f"at mx1.peer.test: {results[:300]}")
    e2e.expect(int(str(at_bob.get("arc_seals"))) >= 1, f"bob's copy has no ARC-Seal: {at_bob}")
    said = arc_verified(subject)
    # dkimpy's arcverify prints, for example, "arc verification: cv=b'pass' success".
    verdict = re.search(r"cv=b?'?(\w+)", said)
    e2e.expect(verdict is not None and verdict.group(1) == "pass", f"arcverify: {said}")
    r.evidence.append(f"ARC chain of bob's copy: arcverify says {said[:120]}")


def check_munged(r: e2e.Result, inventory: str) -> None:
    policy = e2e.run(e2e.CLIENT, "dig", "+short", "TXT", "_dmarc.example.test").strip()
    e2e.expect("p=reject" in policy, f"example.test's DMARC policy is {policy}")
    _, _, at_bob = posted(ALICE, EXAMPLE, "list reject")
    sender = str(at_bob.get("sender"))
    address = sender.rsplit("<", maxsplit=1)[-1]
    e2e.expect(TEAM in address and ALICE not in address, f"From at bob: {sender}")
    results = " ".join(str(h) for h in at_bob["authentication_results"])  # type: ignore[attr-defined]
    e2e.expect("dmarc=pass" in results, f"no dmarc=pass at mx1.peer.test: {results}")
    r.evidence.append(f"alice's post (p=reject) at bob: From: {sender}; dmarc=pass")


def chromium_trusts_the_lab() -> None:
    """Chromium checks certificates against its own NSS database, not the system's store:
    the lab's ACME root goes there (the client's user database, made once)."""
    script = (
        "set -e; db=sql:/root/.pki/nssdb; mkdir -p /root/.pki/nssdb;"
        " [ -f /root/.pki/nssdb/cert9.db ] || certutil -N -d $db --empty-password;"
        " certutil -A -d $db -n mailstack-lab-acme -t C,, -i"
        " /usr/local/share/ca-certificates/mailstack-lab-acme.crt"
    )
    e2e.run(e2e.CLIENT, "bash", "-c", script)


def check_archive(r: e2e.Result, inventory: str) -> None:
    page = f"{WEB}/hyperkitty/list/{TEAM}/"
    api = f"{WEB}/hyperkitty/api/list/{TEAM}/emails/"
    subject, _, _ = posted(BOB, PEER, "list archive")
    # The subject as HyperKitty shows it: the list's prefix is not in its API's subject.
    token = subject.split()[-1]

    def archived() -> dict[str, object] | None:
        got = e2e.probe("https", api)
        return got if got.get("status") == 200 and token in str(got.get("body")) else None

    found = e2e.wait_for("the post in HyperKitty's API", archived, timeout=120)
    emails = json.loads(str(found["body"]))
    count = len(emails if isinstance(emails, list) else emails.get("results", []))
    r.evidence.append(f"{api}: {count} messages, the post {subject!r} among them")
    html = e2e.probe("https", page)
    e2e.expect(html.get("status") == 200 and TEAM in str(html.get("body")), f"{page}: {html}")
    r.evidence.append(f"{page}: 200, the list's archive page")
    chromium_trusts_the_lab()

    def rendered() -> bool:
        shown = e2e.command(
            ["podman", "exec", e2e.CLIENT, "chromium", "--headless", "--no-sandbox",
             "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom", page],
            timeout=120, check=False,
        )  # fmt: skip
        return shown.returncode == 0 and token in shown.stdout

    # The page's thread list comes from HyperKitty's cache, which may lag its API a little.
    e2e.wait_for("headless Chromium rendering the post", rendered, timeout=90)
    r.evidence.append("headless Chromium renders the archive page with the post")
    admin = e2e.probe("https", f"{WEB}/postorius/lists/team.lists.example.test/")
    ok = admin.get("status") == 200 and "team" in str(admin.get("body"))
    e2e.expect(ok, f"Postorius: {str(admin)[:400]}")
    r.evidence.append("Postorius' page of the list: 200")
    # The private list's archive, once it holds a post of alice's (a member), is refused.
    sent = e2e.probe("submit", EXAMPLE, "587", ALICE, STAFF, e2e.token("staff archive"))
    e2e.expect(sent.get("ok") is True, f"alice's post to {STAFF} was not submitted: {sent}")

    def refused() -> dict[str, object] | None:
        got = e2e.probe("https", f"{WEB}/hyperkitty/api/list/{STAFF}/emails/")
        return got if "403" in str(got.get("error")) else None

    why = e2e.wait_for(f"{STAFF}'s archive refused with 403", refused, timeout=120)["error"]
    r.evidence.append(f"the private archive of {STAFF}, with a post: refused to a stranger ({why})")


def check_generated(r: e2e.Result, inventory: str) -> None:
    source = Path(inventory) / "lists" / "staff.txt"
    before = source.read_text()
    try:
        source.write_text(before + f"{BOB}\n")
        make_lists(inventory)
        e2e.expect(BOB in members(STAFF), f"{BOB} not added to {STAFF}: {members(STAFF)}")
        r.evidence.append(f"{BOB} added to the source: a member of {STAFF} after the run")
    finally:
        source.write_text(before)
    make_lists(inventory)
    e2e.expect(BOB not in members(STAFF), f"{BOB} still on {STAFF}: {members(STAFF)}")
    r.evidence.append(f"{BOB} removed from the source: no longer a member")
    nobody = "nosuch@lists.example.test"
    said = e2e.probe("relay", EXAMPLE, BOB, nobody, e2e.token("nolist"), "rcpt")
    e2e.expect(said["code"] == 550, f"an unknown list address got {said}")
    r.evidence.append(f"{nobody} at RCPT: {said['code']} {str(said['reply'])[:80]}")


def check_deferred(r: e2e.Result, inventory: str) -> None:
    e2e.run(EXAMPLE, "systemctl", "stop", "mailman3.service")
    try:
        subject = e2e.token("list while down")
        sent = e2e.probe("submit", EXAMPLE, "587", ALICE, TEAM, subject)
        e2e.expect(sent.get("ok") is True, f"the post was not accepted: {sent}")

        def waiting() -> list[dict[str, Any]] | None:
            held = [
                m for m in e2e.queued(EXAMPLE, TEAM)
                if any("8024" in str(x.get("delay_reason", "")) for x in m.get("recipients", []))
            ]  # fmt: skip
            return held or None

        held = e2e.wait_for("the post deferred in mx1's queue", waiting, timeout=90)
        reason = str(held[0]["recipients"][0].get("delay_reason", ""))
        r.evidence.append(f"Mailman down: the post waits in mx1's queue ({reason[:90]})")
    finally:
        e2e.run(EXAMPLE, "systemctl", "start", "mailman3.service")
    e2e.wait_for("Mailman's LMTP server", lambda: "8024" in e2e.run(EXAMPLE, "ss", "-Hltn"), 90)
    e2e.run(EXAMPLE, "postqueue", "-f")
    counted = e2e.probe("count", PEER, BOB, subject, "1", "180")
    e2e.expect(counted.get("total") == 1, f"bob got it {counted.get('total')} times: {counted}")
    time.sleep(5)
    again = e2e.probe("count", PEER, BOB, subject, "2", "5")
    e2e.expect(again.get("total") == 1, f"delivered more than once: {again}")
    r.evidence.append("Mailman back: the post delivered to bob, once")


STEPS = [
    ("the lists are as described; making them again changes nothing", check_made),
    ("bob posts; both read it with List-Id; DKIM, DMARC and ARC pass at peer.test", check_post),
    ("a post from a p=reject domain: From rewritten, DMARC passes", check_munged),
    ("the archive over HTTPS: HyperKitty page and API, Chromium, Postorius", check_archive),
    ("a generated list follows its source; an unknown list address gets 550", check_generated),
    ("Mailman stopped: a post waits (4xx), delivered once when it is back", check_deferred),
]


def main() -> int:
    parser = argparse.ArgumentParser(description="the lab's mailing list checks")
    parser.add_argument("--inventory", default="inventories/lab")
    parser.add_argument("--only", type=int, nargs="*", help="step numbers to run")
    args = parser.parse_args()
    passed = total = 0
    for number, (title, step) in enumerate(STEPS, start=1):
        if args.only and number not in args.only:
            continue
        total += 1
        result = e2e.Result(number, title)
        started = time.monotonic()
        try:
            step(result, args.inventory)
            result.ok = True
        except (e2e.CheckFailed, subprocess.SubprocessError, KeyError, ValueError) as exc:
            result.evidence.append(f"{type(exc).__name__}: {exc}")
        passed += result.ok
        seconds = time.monotonic() - started
        print(f"{'pass' if result.ok else 'FAIL'}  {number}. {title}  ({seconds:.1f} s)")
        for line in result.evidence:
            print(f"        {line}")
        sys.stdout.flush()
    print(f"lists: {passed} of {total} steps passed")
    return 0 if passed == total else 1


if __name__ == "__main__":
    sys.exit(main())
