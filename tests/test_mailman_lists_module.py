"""The `mailman` role's module `mailman_lists` (roles/mailman/library/mailman_lists.py and
its module_utils) against a real Mailman 3.3.8 core on the loopback, and its plan as pure
functions.

Mailman core comes from PyPI into .cache/mailman-venv (made once, about a minute; reused
while MAILMAN_PINS stays the same), pinned to Debian 12's `mailman3` and the versions of its
main dependencies in bookworm. It runs once per session with SQLite in a temporary directory,
its REST API on a free loopback port and only its REST runner: no mail goes in or out, and a
welcome or goodbye message that the module failed to suppress would stay in the virgin
queue, where a test looks for it. Each test works in a domain of its own."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, assert_documented, documented_options, load_file

api = load_file("roles/mailman/module_utils/mailman_api.py", "ansible.module_utils.mailman_api")
plan = load_file("roles/mailman/module_utils/mailman_sync.py", "ansible.module_utils.mailman_sync")
module = load_file("roles/mailman/library/mailman_lists.py", "mailman_lists_module")

# Debian 12: mailman3 3.3.8, python3-sqlalchemy 1.4.46, python3-falcon 3.1.1, python3-alembic
# 1.8.1, python3-aiosmtpd 1.4.3, python3-click 8.1.3 (Mailman 3.3.8's CLI fails with click 8.2).
MAILMAN_PINS = (
    "mailman==3.3.8",
    "SQLAlchemy==1.4.46",
    "falcon==3.1.1",
    "alembic==1.8.1",
    "aiosmtpd==1.4.3",
    "click==8.1.3",
)
VENV = ROOT / ".cache" / "mailman-venv"
PASSWORD = "mailman-test-secret"  # noqa: S105 (the test Mailman's REST password)
# Every runner but the REST API's.
RUNNERS: tuple[str, ...] = ("archive", "bounces", "command", "digest", "in", "lmtp", "nntp")
RUNNERS += ("out", "pipeline", "retry", "task", "virgin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mailman_venv() -> Path:
    """.cache/mailman-venv with MAILMAN_PINS installed (made when missing or stale)."""
    stamp = VENV / "mailstack-pins"
    wanted = "\n".join(MAILMAN_PINS) + "\n"
    if stamp.is_file() and stamp.read_text() == wanted:
        return VENV / "bin" / "mailman"
    for step in (
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *MAILMAN_PINS],
    ):
        done = subprocess.run(step, capture_output=True, text=True, check=False, timeout=600)
        if done.returncode != 0:
            pytest.skip(f"cannot make Mailman's venv ({' '.join(step[:3])}): {done.stderr[-500:]}")
    stamp.write_text(wanted)
    return VENV / "bin" / "mailman"


class Mailman:
    """The running Mailman: its REST URL, a reader independent of the module, and its queues."""

    def __init__(self, url: str, var: Path) -> None:
        self.url = url
        self.var = var
        token = base64.b64encode(f"restadmin:{PASSWORD}".encode()).decode()
        self.auth = f"Basic {token}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", self.auth)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw = response.read()
            return json.loads(raw) if raw else None

    def params(self, domains: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "url": self.url,
            "username": "restadmin",
            "password": PASSWORD,
            "timeout": 10,
            "domains": domains,
            **extra,
        }

    def state(self, domain: str) -> dict[str, Any] | None:
        """Everything the module could touch in `domain`: per list, the managed configuration
        fields and every role's roster (nonmembers included); None when there is no domain."""
        try:
            self.call("GET", f"/domains/{domain}")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
            return None
        lists = self.call("GET", f"/domains/{domain}/lists").get("entries", [])
        out: dict[str, Any] = {}
        for entry in lists:
            list_id = entry["list_id"]
            config = self.call("GET", f"/lists/{list_id}/config")
            rosters = {
                role: sorted(
                    m["email"]
                    for m in self.call("GET", f"/lists/{list_id}/roster/{role}").get("entries", [])
                )
                for role in ("owner", "moderator", "member", "nonmember")
            }
            out[entry["fqdn_listname"]] = {
                "config": {k: config[k] for k in plan.CONFIG_FIELDS},
                **rosters,
            }
        return out

    def notices(self) -> list[Path]:
        """Messages Mailman queued for sending (welcome, goodbye, confirmations)."""
        return sorted((self.var / "queue").glob("*/*.pck"))


@pytest.fixture(scope="session")
def mailman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailman]:
    exe = _mailman_venv()
    home = tmp_path_factory.mktemp("mailman")
    port, lmtp = _free_port(), _free_port()
    stopped = "".join(f"[runner.{r}]\nstart: no\n" for r in RUNNERS)
    config = home / "mailman.cfg"
    config.write_text(
        f"[mailman]\nlayout: test\nsite_owner: postmaster@example.test\n"
        f"[paths.test]\nvar_dir: {home / 'var'}\n"
        f"[webservice]\nhostname: 127.0.0.1\nport: {port}\nadmin_user: restadmin\n"
        f"admin_pass: {PASSWORD}\nworkers: 1\n"
        f"[mta]\nincoming: mailman.mta.null.NullMTA\nlmtp_host: 127.0.0.1\nlmtp_port: {lmtp}\n"
        f"smtp_host: 127.0.0.1\nsmtp_port: 9\n{stopped}"
    )
    root = ["--run-as-root"] if os.geteuid() == 0 else []
    log = home / "start.log"
    # The master runner it starts keeps the descriptors it is given: a file, not a pipe.
    with log.open("w") as out:
        started = subprocess.run(
            [str(exe), *root, "-C", str(config), "start"],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            cwd=home,
            timeout=60,
        )
    assert started.returncode == 0, log.read_text()
    server = Mailman(f"http://127.0.0.1:{port}/3.1", home / "var")
    try:
        for _ in range(240):
            try:
                versions = server.call("GET", "/system/versions")
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.25)
        else:
            pytest.fail(f"Mailman's REST API did not answer in 60 s: {log.read_text()}")
        assert "3.3.8" in versions["mailman_version"]
        yield server
    finally:
        subprocess.run(
            [str(exe), *root, "-C", str(config), "stop"],
            capture_output=True,
            check=False,
            timeout=60,
        )
        pid_file = home / "var" / "master.pid"
        for _ in range(100):
            if not pid_file.exists():
                break
            time.sleep(0.1)
        else:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


@pytest.fixture
def domain(request: pytest.FixtureRequest) -> str:
    """A list domain of this test's own."""
    name = str(request.node.name).replace("_", "-").lower()
    return name[:50].rstrip("-") + ".lists.test"


def a_list(domain: str, name: str = "team", **fields: Any) -> dict[str, Any]:
    """A described list as the host's share holds it."""
    base: dict[str, Any] = {
        "address": f"{name}@{domain}",
        "name": name,
        "description": "The team",
        "owners": ["alice@example.test"],
        "moderators": [],
        "subscription": "confirm",
        "moderation": {"members": "accept", "nonmembers": "hold"},
        "archive": "public",
        "dmarc_mitigation": "munge_from",
        "members": ["alice@example.test", "bob@peer.test"],
    }
    return {**base, **fields}


def described(domain: str, *lists: dict[str, Any], remove_absent: bool = False) -> list[Any]:
    return [
        {"name": domain, "web_name": domain, "remove_absent": remove_absent, "lists": list(lists)}
    ]


def run(server: Mailman, domains: list[Any], *, check: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = module.run(server.params(domains), check_mode=check, diff=True)
    return result


# -- against Mailman -----------------------------------------------------------------------
def test_create_then_a_second_run_changes_nothing(mailman: Mailman, domain: str) -> None:
    lists = described(domain, a_list(domain, moderators=["Mod@Example.test"]))
    first = run(mailman, lists)
    address = f"team@{domain}"
    assert first["changed"]
    assert first["changes"][:2] == [f"domain {domain}: created", f"{address}: created"]
    assert f"{address}: member bob@peer.test added" in first["changes"]
    assert f"{address}: moderator mod@example.test added" in first["changes"]
    assert mailman.state(domain) == {
        address: {
            "config": {
                "display_name": "Team",
                "description": "The team",
                "subscription_policy": "confirm",
                "default_member_action": "accept",
                "default_nonmember_action": "hold",
                "archive_policy": "public",
                "dmarc_mitigate_action": "munge_from",
                "dmarc_mitigate_unconditionally": False,
                "send_welcome_message": False,
                "send_goodbye_message": False,
            },
            "owner": ["alice@example.test"],
            "moderator": ["mod@example.test"],
            "member": ["alice@example.test", "bob@peer.test"],
            "nonmember": [],
        }
    }
    second = run(mailman, lists)
    assert second == {"changed": False, "changes": [], "unmanaged": [], "diff": []}
    assert mailman.notices() == []


def test_members_follow_the_description_and_nobody_else_is_touched(
    mailman: Mailman, domain: str
) -> None:
    run(mailman, described(domain, a_list(domain)))
    # A list the description does not name, and a nonmember of the described one.
    mailman.call("POST", "/lists", {"fqdn_listname": f"other@{domain}"})
    for role, who in (("member", "bob@peer.test"), ("owner", "zed@example.test")):
        mailman.call(
            "POST",
            "/members",
            {
                "list_id": f"other.{domain}",
                "subscriber": who,
                "role": role,
                "pre_verified": True,
                "pre_confirmed": True,
                "pre_approved": True,
                "send_welcome_message": False,
            },
        )
    mailman.call(
        "POST",
        "/members",
        {"list_id": f"team.{domain}", "subscriber": "spammer@else.test", "role": "nonmember"},
    )
    other_before = mailman.state(domain)[f"other@{domain}"]  # type: ignore[index]
    result = run(
        mailman, described(domain, a_list(domain, members=["alice@example.test", "carol@x.test"]))
    )
    address = f"team@{domain}"
    assert result["changes"] == [
        f"{address}: member carol@x.test added",
        f"{address}: member bob@peer.test removed",
    ]
    assert result["unmanaged"] == [f"other@{domain}"]
    after = mailman.state(domain)
    assert after is not None
    assert after[address]["member"] == ["alice@example.test", "carol@x.test"]
    assert after[address]["nonmember"] == ["spammer@else.test"]
    assert after[f"other@{domain}"] == other_before
    assert mailman.notices() == []


def test_a_changed_setting_is_the_only_write(mailman: Mailman, domain: str) -> None:
    run(mailman, described(domain, a_list(domain)))
    changed = a_list(
        domain,
        subscription="confirm_then_moderate",
        moderation={"members": "hold", "nonmembers": "reject"},
        archive="none",
        dmarc_mitigation="wrap_message",
        display_name="The Team",
    )
    result = run(mailman, described(domain, changed))
    address = f"team@{domain}"
    assert result["changes"] == [
        f"{address}: display_name 'Team' -> 'The Team'",
        f"{address}: subscription_policy 'confirm' -> 'confirm_then_moderate'",
        f"{address}: default_member_action 'accept' -> 'hold'",
        f"{address}: default_nonmember_action 'hold' -> 'reject'",
        f"{address}: archive_policy 'public' -> 'never'",
        f"{address}: dmarc_mitigate_action 'munge_from' -> 'wrap_message'",
    ]
    config = mailman.state(domain)[address]["config"]  # type: ignore[index]
    assert config["archive_policy"] == "never"
    assert config["subscription_policy"] == "confirm_then_moderate"
    assert config["display_name"] == "The Team"
    # A new member of a list that moderates and confirms subscriptions joins at once.
    grown = {**changed, "members": [*changed["members"], "dave@peer.test"]}
    assert run(mailman, described(domain, grown))["changes"] == [
        f"{address}: member dave@peer.test added"
    ]
    assert "dave@peer.test" in mailman.state(domain)[address]["member"]  # type: ignore[index]


def test_removal_is_immediate_when_the_list_moderates_unsubscriptions(
    mailman: Mailman, domain: str
) -> None:
    run(mailman, described(domain, a_list(domain)))
    mailman.call("PATCH", f"/lists/team.{domain}/config", {"unsubscription_policy": "moderate"})
    result = run(mailman, described(domain, a_list(domain, members=["alice@example.test"])))
    assert result["changes"] == [f"team@{domain}: member bob@peer.test removed"]
    assert mailman.state(domain)[f"team@{domain}"]["member"] == ["alice@example.test"]  # type: ignore[index]
    assert mailman.notices() == []


def test_check_mode_reports_the_run_and_writes_nothing(mailman: Mailman, domain: str) -> None:
    lists = described(domain, a_list(domain), a_list(domain, "news", members=[]))
    checked = run(mailman, lists, check=True)
    assert mailman.state(domain) is None
    done = run(mailman, lists)
    assert checked == done
    # On lists that exist too: a member and a setting to change, nothing written.
    before = mailman.state(domain)
    edited = described(
        domain, a_list(domain, archive="private", members=[]), a_list(domain, "news")
    )
    checked = run(mailman, edited, check=True)
    assert f"team@{domain}: archive_policy 'public' -> 'private'" in checked["changes"]
    assert f"team@{domain}: member bob@peer.test removed" in checked["changes"]
    assert mailman.state(domain) == before
    assert run(mailman, edited) == checked


def test_absent_lists_are_kept_unless_the_domain_says_remove_absent(
    mailman: Mailman, domain: str
) -> None:
    run(mailman, described(domain, a_list(domain), a_list(domain, "old")))
    kept = run(mailman, described(domain, a_list(domain)))
    assert kept["changed"] is False
    assert kept["unmanaged"] == [f"old@{domain}"]
    assert set(mailman.state(domain) or {}) == {f"team@{domain}", f"old@{domain}"}
    removed = run(mailman, described(domain, a_list(domain), remove_absent=True))
    assert removed["changes"] == [f"old@{domain}: deleted (not in the description)"]
    assert removed["unmanaged"] == []
    assert removed["diff"][0]["before_header"] == f"old@{domain}"
    assert '"member": [' in removed["diff"][0]["before"]
    assert removed["diff"][0]["after"] == ""
    assert set(mailman.state(domain) or {}) == {f"team@{domain}"}


def test_diff_has_the_list_before_and_after(mailman: Mailman, domain: str) -> None:
    run(mailman, described(domain, a_list(domain)))
    result = run(mailman, described(domain, a_list(domain, members=["bob@peer.test"])))
    [diff] = result["diff"]
    assert diff["before_header"] == diff["after_header"] == f"team@{domain}"
    before, after = json.loads(diff["before"]), json.loads(diff["after"])
    assert before["member"] == ["alice@example.test", "bob@peer.test"]
    assert after["member"] == ["bob@peer.test"]
    assert before["config"] == after["config"]
    assert after["owner"] == ["alice@example.test"]


def test_every_page_of_a_roster_is_read(
    mailman: Mailman, domain: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "PAGE", 2)
    members = [f"m{i}@peer.test" for i in range(7)]
    run(mailman, described(domain, a_list(domain, members=members)))
    assert mailman.state(domain)[f"team@{domain}"]["member"] == members  # type: ignore[index]
    assert run(mailman, described(domain, a_list(domain, members=members)))["changed"] is False


def test_a_wrong_password_fails_without_saying_it(mailman: Mailman, domain: str) -> None:
    secret = "wrong-Pa55word-here"  # noqa: S105
    params = {**mailman.params(described(domain, a_list(domain))), "password": secret}
    with pytest.raises(api.MailmanError) as caught:
        module.run(params, check_mode=False, diff=False)
    message = str(caught.value)
    assert message.startswith(
        f"domain {domain}: GET /domains/{domain}: refused by Mailman (HTTP 401)"
    )
    assert secret not in message
    assert base64.b64encode(f"restadmin:{secret}".encode()).decode() not in message
    assert mailman.state(domain) is None


def test_a_refused_write_names_the_list_and_the_request(mailman: Mailman, domain: str) -> None:
    run(mailman, described(domain, a_list(domain)))
    # Mailman refuses a list's own posting address as one of its members.
    bad = a_list(domain, members=[f"team@{domain}"])
    with pytest.raises(api.MailmanError) as caught:
        run(mailman, described(domain, bad))
    assert str(caught.value).startswith(
        f"team@{domain}: add member team@{domain}: POST /members: refused by Mailman (HTTP 400)"
    )


def test_bad_input_fails_before_any_request() -> None:
    closed = f"http://127.0.0.1:{_free_port()}/3.1"
    domains = described("lists.example.test", a_list("lists.example.test", archive="forever"))
    params = {"url": closed, "username": "restadmin", "password": "x", "timeout": 1}
    with pytest.raises(api.MailmanError) as caught:
        module.run({**params, "domains": domains}, check_mode=False, diff=False)
    assert str(caught.value) == (
        "mailing lists: team@lists.example.test: archive: 'forever' is not one of"
        " public, private, none"
    )
    # The same description with a valid archive does reach for the (closed) port.
    domains[0]["lists"][0]["archive"] = "none"
    with pytest.raises(api.MailmanError, match=r"^domain lists\.example\.test: GET .*cannot reach"):
        module.run({**params, "domains": domains}, check_mode=False, diff=False)


# -- through Ansible -----------------------------------------------------------------------
def _ansible(*args: str) -> dict[str, Any]:
    """`ansible localhost -m mailman_lists` with the role's library; its JSON result."""
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "ANSIBLE_LIBRARY": str(ROOT / "roles" / "mailman" / "library"),
        "ANSIBLE_MODULE_UTILS": str(ROOT / "roles" / "mailman" / "module_utils"),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "localhost", "-m", "mailman_lists", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert PASSWORD not in done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return result


def test_the_module_runs_under_ansible(mailman: Mailman, domain: str) -> None:
    arguments = json.dumps(mailman.params(described(domain, a_list(domain))))
    checked = _ansible("-a", arguments, "--check", "--diff")
    assert checked["changed"] is True, checked
    assert f"team@{domain}: member bob@peer.test added" in checked["changes"]
    assert checked["diff"][0]["before_header"] == f"team@{domain}"
    assert mailman.state(domain) is None
    done = _ansible("-a", arguments)
    assert done["changes"] == checked["changes"]
    assert mailman.state(domain) is not None
    hidden = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"  # Ansible's mark of a no_log value
    assert done["invocation"]["module_args"]["password"] == hidden
    wrong = _ansible("-a", json.dumps({**json.loads(arguments), "password": "not-it"}))
    assert wrong["failed"] is True
    assert wrong["msg"].startswith(f"domain {domain}: GET /domains/{domain}: refused by Mailman")


def test_the_documentation_is_the_argument_spec() -> None:
    library = ROOT / "roles" / "mailman" / "library"
    assert_documented(module.OPTIONS, documented_options(library, "mailman_lists")["mailman_lists"])
    assert module.OPTIONS["password"]["no_log"] is True


# -- the plan, as pure functions -----------------------------------------------------------
SHARE = described("lists.example.test", a_list("lists.example.test"))


def test_the_share_as_documented_is_valid() -> None:
    assert plan.check_domains(SHARE) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"owners": ["alice"]},
            "team@lists.example.test: owners[0]: 'alice' is not a mail address",
        ),
        (
            {"address": "crew@lists.example.test"},
            "crew@lists.example.test: address: must be team@lists.example.test (its name at its"
            " domain)",
        ),
        ({"name": "Team!"}, "team@lists.example.test: name: 'Team!' is not a list name"),
        ({"colour": "red"}, "team@lists.example.test: unknown field 'colour'"),
        ({"members": None}, "team@lists.example.test: members: must be a list of addresses"),
        (
            {"subscription": "closed"},
            "team@lists.example.test: subscription: 'closed' is not one"
            " of open, confirm, moderate, confirm_then_moderate",
        ),
        (
            {"moderation": {"nonmembers": "defer"}},
            "team@lists.example.test: moderation.nonmembers:"
            " 'defer' is not one of accept, hold, reject, discard",
        ),
        (
            {"description": "two\nlines"},
            "team@lists.example.test: description: must be one line of text",
        ),
        (
            {"dmarc_mitigation": "reject"},
            "team@lists.example.test: dmarc_mitigation: 'reject' is"
            " not one of munge_from, wrap_message, no_mitigation",
        ),
    ],
)
def test_a_bad_list_is_named_with_its_field(change: dict[str, Any], problem: str) -> None:
    domains = described("lists.example.test", {**a_list("lists.example.test"), **change})
    assert plan.check_domains(domains) == [problem]


def test_a_missing_roster_is_an_error_not_an_empty_roster() -> None:
    item = a_list("lists.example.test")
    del item["members"]
    assert plan.check_domains(described("lists.example.test", item)) == [
        "team@lists.example.test: members: is required"
    ]


def test_domains_and_lists_listed_twice_are_refused() -> None:
    twice = described(
        "lists.example.test", a_list("lists.example.test"), a_list("lists.example.test")
    )
    assert plan.check_domains(twice) == ["team@lists.example.test: listed twice"]
    assert plan.check_domains(SHARE + SHARE) == ["domain lists.example.test: listed twice"]
    assert plan.check_domains([{"name": "Lists.Example.test"}]) == [
        "domains[0].name: 'Lists.Example.test' is not a domain name (lower case)"
    ]
    assert plan.check_domains({"name": "x"}) == ["domains: must be a list"]


def test_the_description_in_mailmans_words() -> None:
    item = a_list(
        "lists.example.test",
        archive="none",
        moderation={},
        owners=["Alice@Example.TEST"],
        moderators=["mod@example.test"],
    )
    del item["subscription"]
    wanted = plan.wanted_list(item)
    assert wanted.address == "team@lists.example.test"
    assert wanted.config == {
        "description": "The team",
        "subscription_policy": "confirm",
        "default_member_action": "accept",
        "default_nonmember_action": "hold",
        "archive_policy": "never",
        "dmarc_mitigate_action": "munge_from",
        "dmarc_mitigate_unconditionally": False,
        "send_welcome_message": False,
        "send_goodbye_message": False,
    }
    assert wanted.rosters == {
        "owner": frozenset({"alice@example.test"}),
        "moderator": frozenset({"mod@example.test"}),
        "member": frozenset({"alice@example.test", "bob@peer.test"}),
    }
    named = plan.wanted_list({**item, "display_name": "The Team"})
    assert next(iter(named.config.items())) == ("display_name", "The Team")


def test_only_what_differs_is_planned() -> None:
    current = {"description": "", "archive_policy": "public", "advertised": True}
    wanted = {"description": "Hi", "archive_policy": "public", "send_welcome_message": False}
    changes = plan.config_changes(current, wanted)
    assert changes == {"description": "Hi", "send_welcome_message": False}
    assert plan.config_lines("l@d.test", current, changes) == [
        "l@d.test: description '' -> 'Hi'",
        "l@d.test: send_welcome_message set to False",
    ]
    assert plan.config_changes(wanted, wanted) == {}
    assert plan.roster_changes({"a@x.test", "b@x.test"}, frozenset({"b@x.test", "c@x.test"})) == (
        ["c@x.test"],
        ["a@x.test"],
    )
    assert plan.roster_changes(set(), frozenset()) == ([], [])


def test_addresses() -> None:
    assert plan.is_address("bob@peer.test")
    assert plan.is_address("first.last+tag@sub.example.test")
    for bad in (
        "bob",
        "@peer.test",
        "bob@",
        "bob@peer",
        "a..b@x.test",
        "bob@-x.test",
        "b c@x.test",
    ):
        assert not plan.is_address(bad), bad
