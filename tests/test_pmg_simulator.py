"""The PMG API simulator (tests/pmg_simulator.py) and the `pmg` role's API client
(roles/pmg/module_utils/pmg_api.py), against the simulator running as a process on the
loopback over HTTPS: PMG's checks, its errors, its ticket login, and the client's messages.
Proxmox Mail Gateway itself cannot be installed here (docs/testing.md)."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import load_file

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "simulator-test-secret"  # noqa: S105 (the simulator's test-only password)


pmg_api = load_file("roles/pmg/module_utils/pmg_api.py", "pmg_api")


class Simulator:
    def __init__(self, port: int, ca: Path) -> None:
        self.url = f"https://127.0.0.1:{port}"
        self.port = port
        self.ca = ca
        self.context = ssl.create_default_context(cafile=str(ca))

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        body = urllib.parse.urlencode(params or {}).encode() if params else None
        request = urllib.request.Request(self.url + path, data=body, method=method)  # noqa: S310
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        if auth is not None:
            request.add_header("Cookie", "PMGAuthCookie=" + urllib.parse.quote(auth[0]))
            request.add_header("CSRFPreventionToken", auth[1])
        try:
            with urllib.request.urlopen(request, context=self.context) as r:  # noqa: S310
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def login(self) -> tuple[str, str]:
        status, body = self.call(
            "POST", "/api2/json/access/ticket", {"username": "root@pam", "password": PASSWORD}
        )
        assert status == 200, body
        return body["data"]["ticket"], body["data"]["CSRFPreventionToken"]

    def writes(self) -> int:
        return int(self.call("GET", "/_simulator/writes")[1]["writes"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    tmp = tmp_path_factory.mktemp("pmg")
    port = _free_port()
    ca = tmp / "ca.pem"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "pmg_simulator.py"),
            "--port",
            str(port),
            "--cert-out",
            str(ca),
            "--password",
            PASSWORD,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if ca.exists():
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    pass
            time.sleep(0.1)
        yield Simulator(port, ca)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def client(simulator: Simulator) -> Any:
    return pmg_api.PmgClient(simulator.url, "root@pam", PASSWORD, ca_file=str(simulator.ca))


# -- the simulator: authentication as PMG's API server does it ------------------------------
def test_it_listens_on_the_loopback_only_over_tls(simulator: Simulator) -> None:
    with pytest.raises(OSError):  # reset: the server speaks TLS only
        urllib.request.urlopen(f"http://127.0.0.1:{simulator.port}/api2/json/version", timeout=5)


def test_a_wrong_password_is_refused(simulator: Simulator) -> None:
    status, body = simulator.call(
        "POST", "/api2/json/access/ticket", {"username": "root@pam", "password": "nope"}
    )
    assert status == 401 and body["data"] is None


def test_no_ticket_no_data(simulator: Simulator) -> None:
    assert simulator.call("GET", "/api2/json/config/domains")[0] == 401


def test_an_api_token_is_refused_as_pmg_8_does(simulator: Simulator) -> None:
    status, body = simulator.call(
        "GET",
        "/api2/json/config/domains",
        headers={"Authorization": "PMGAPIToken=root@pam!ci=00000000-0000"},
    )
    assert status == 401
    assert body["message"] == "API tokens not implemented"


def test_a_write_needs_the_csrf_token(simulator: Simulator) -> None:
    ticket, _ = simulator.login()
    status, _ = simulator.call(
        "POST", "/api2/json/config/domains", {"domain": "x.example"}, auth=(ticket, "bad:token")
    )
    assert status == 401


# -- the simulator: PMG's parameter checks -------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params", "field", "message"),
    [
        ("/config/domains", {"domain": "exa mple.test"}, "domain", "valid transport domain"),
        ("/config/domains", {"domain": "a.test", "colour": "x"}, "colour", "not defined in schema"),
        ("/config/domains", {}, "domain", "property is missing and it is not optional"),
        ("/config/mynetworks", {"cidr": "10.0.0.0/33"}, "cidr", "valid CIDR"),
        ("/config/mynetworks", {"cidr": "10.0.0.0/4"}, "cidr", "valid CIDR"),
        (
            "/config/transport",
            {"domain": "a.test", "host": "mx.a.test", "port": "70000"},
            "port",
            "maximum value of 65535",
        ),
        (
            "/config/transport",
            {"domain": "a.test", "host": "mx.a.test", "protocol": "uucp"},
            "protocol",
            "enumeration",
        ),
        ("/config/transport", {"domain": "a.test"}, "host", "not optional"),
        ("/config/tlspolicy", {"destination": "a.test", "policy": "maybe"}, "policy", "tls policy"),
        ("/config/dkim/selector", {"selector": "mailgw", "keysize": "512"}, "keysize", "minimum"),
        ("/config/whitelist/network", {"cidr": "not-a-net"}, "cidr", "CIDR"),
        ("/config/whitelist/email", {"email": "no-at-sign"}, "email", "email"),
    ],
)
def test_parameters_are_checked_as_pmg_checks_them(
    simulator: Simulator, path: str, params: dict[str, str], field: str, message: str
) -> None:
    auth = simulator.login()
    before = simulator.writes()
    status, body = simulator.call("POST", "/api2/json" + path, params, auth=auth)
    assert status == 400
    assert body["data"] is None
    assert message in body["errors"][field]
    assert simulator.writes() == before


def test_config_sections_check_options_and_digest(simulator: Simulator) -> None:
    auth = simulator.login()
    status, body = simulator.call("PUT", "/api2/json/config/mail", {"maxsize": "10"}, auth=auth)
    assert status == 400 and "minimum value of 1024" in body["errors"]["maxsize"]
    status, body = simulator.call("PUT", "/api2/json/config/mail", {"tls": "perhaps"}, auth=auth)
    assert status == 400 and "boolean" in body["errors"]["tls"]
    status, body = simulator.call("PUT", "/api2/json/config/mail", {"no_such": "1"}, auth=auth)
    assert status == 400 and "no_such" in body["errors"]
    assert simulator.call("PUT", "/api2/json/config/mail", {"tls": "1"}, auth=auth)[0] == 200
    digest = simulator.call("GET", "/api2/json/config/mail", auth=auth)[1]["data"]["digest"]
    assert (
        simulator.call("PUT", "/api2/json/config/spam", {"bounce_score": "2"}, auth=auth)[0] == 200
    )
    status, body = simulator.call(
        "PUT", "/api2/json/config/mail", {"tlslog": "1", "digest": digest}, auth=auth
    )
    assert status == 500 and "modified" in body["message"]
    status, _ = simulator.call("PUT", "/api2/json/config/mail", {"delete": "tls"}, auth=auth)
    assert status == 200
    assert "tls" not in simulator.call("GET", "/api2/json/config/mail", auth=auth)[1]["data"]


def test_a_network_keeps_its_slash_in_the_path(simulator: Simulator) -> None:
    auth = simulator.login()
    assert (
        simulator.call("POST", "/api2/json/config/mynetworks", {"cidr": "192.0.2.0/24"}, auth=auth)[
            0
        ]
        == 200
    )
    status, body = simulator.call("GET", "/api2/json/config/mynetworks/192.0.2.0/24", auth=auth)
    assert status == 200 and body["data"]["cidr"] == "192.0.2.0/24"
    assert (
        simulator.call("DELETE", "/api2/json/config/mynetworks/192.0.2.0/24", auth=auth)[0] == 200
    )
    assert simulator.call("GET", "/api2/json/config/mynetworks/192.0.2.0/24", auth=auth)[0] == 500


# -- the client ----------------------------------------------------------------------------
def test_the_client_names_the_object_and_the_field(client: Any) -> None:
    with pytest.raises(pmg_api.PmgError) as caught:
        client.request(
            "POST",
            "/config/transport",
            {"domain": "a.test", "host": "mx.a.test", "port": 0},
            what="create transport a.test",
        )
    message = str(caught.value)
    assert message.startswith("create transport a.test: refused by PMG (HTTP 400)")
    assert "port: value must have a minimum value of 1" in message


def test_the_client_reports_a_refused_login(simulator: Simulator) -> None:
    with pytest.raises(pmg_api.PmgError, match=r"login as root@pam: refused by PMG \(HTTP 401"):
        pmg_api.PmgClient(simulator.url, "root@pam", "wrong", ca_file=str(simulator.ca))


def test_the_client_checks_the_certificate(simulator: Simulator) -> None:
    with pytest.raises(pmg_api.PmgError, match="cannot reach"):
        pmg_api.PmgClient(simulator.url, "root@pam", PASSWORD)


def test_the_client_sends_booleans_as_pmg_reads_them(client: Any) -> None:
    client.request(
        "POST", "/config/transport", {"domain": "b.test", "host": "mx.b.test", "use_mx": False}
    )
    entry = client.get("/config/transport/b.test")
    assert entry["use_mx"] == 0
    assert pmg_api.wanted(
        "transport", {"domain": "b.test", "host": "mx.b.test", "use_mx": False}
    ) == {
        "domain": "b.test",
        "host": "mx.b.test",
        "protocol": "smtp",
        "port": 25,
        "use_mx": 0,
        "comment": "",
    }
    assert {k: pmg_api.normalize(v) for k, v in entry.items()} == pmg_api.wanted(
        "transport", {"domain": "b.test", "host": "mx.b.test", "use_mx": False}
    )


def test_the_dkim_key_generated_through_the_api_comes_back_as_pem(client: Any) -> None:
    client.request("POST", "/config/dkim/selector", {"selector": "mailgw", "keysize": 2048})
    info = client.get("/config/dkim/selector")
    assert info["selector"] == "mailgw" and info["keysize"] == 2048
    pem = pmg_api.dkim_public_pem(info["record"])
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    # The same selector again keeps the key; another size is refused, as PMG does.
    client.request("POST", "/config/dkim/selector", {"selector": "mailgw", "keysize": 2048})
    assert client.get("/config/dkim/selector")["record"] == info["record"]
    with pytest.raises(pmg_api.PmgError, match="different size"):
        client.request("POST", "/config/dkim/selector", {"selector": "mailgw", "keysize": 4096})


@pytest.mark.parametrize(
    ("kind", "item", "field"),
    [
        ("relay_domain", {"domain": "exa mple.test"}, "domain"),
        ("relay_domain", {"domain": "a.test", "colour": "x"}, "colour"),
        ("network", {"cidr": "10.0.0.0/33"}, "cidr"),
        ("network", {"cidr": "10.0.0.1/24"}, "cidr"),
        ("network", {"cidr": "fd00::/4"}, "cidr"),
        ("transport", {"domain": "a.test", "host": "mx..a.test"}, "host"),
        ("transport", {"domain": "a.test", "host": "mx.a.test", "port": 0}, "port"),
        ("tls_policy", {"destination": "a.test", "policy": "maybe"}, "policy"),
    ],
)
def test_bad_objects_are_refused_before_any_request(
    kind: str, item: dict[str, Any], field: str
) -> None:
    problems = pmg_api.check_item(kind, item, "pmg__x[0]")
    assert problems and all(p.startswith(f"pmg__x[0].{field}: ") for p in problems), problems


@pytest.mark.parametrize(
    ("kind", "item"),
    [
        ("relay_domain", {"domain": "example.test"}),
        ("relay_domain", {"domain": ".sub.example.test", "comment": "subdomains"}),
        ("network", {"cidr": "2001:db8::/32"}),
        ("transport", {"domain": "alice@example.test", "host": "192.0.2.10", "port": 2525}),
        ("tls_policy", {"destination": "[mx.example.net]:25", "policy": "dane-only"}),
    ],
)
def test_good_objects_pass(kind: str, item: dict[str, Any]) -> None:
    assert pmg_api.check_item(kind, item, "x") == []


def test_whitelist_entries_are_checked() -> None:
    assert pmg_api.check_whitelist({"network": "198.51.100.0/24"}, "w[0]") == []
    assert pmg_api.check_whitelist({"ip": "300.1.1.1"}, "w[1]") == [
        "w[1].ip: '300.1.1.1' is not a valid ip"
    ]
    assert pmg_api.check_whitelist({"host": "x"}, "w[2]")[0].startswith("w[2]: must be one of")


# -- spam score levels: the spamfilter what-objects of the rule database -------------------
def _spam_group(simulator: Simulator, auth: tuple[str, str], name: str) -> int:
    groups = simulator.call("GET", "/api2/json/config/ruledb/what", auth=auth)[1]["data"]
    return int(next(g["id"] for g in groups if g["name"] == name))


def test_the_factory_spam_groups_hold_spamfilter_objects(simulator: Simulator) -> None:
    auth = simulator.login()
    gid = _spam_group(simulator, auth, "Spam (Level 10)")
    status, body = simulator.call("GET", f"/api2/json/config/ruledb/what/{gid}/objects", auth=auth)
    assert status == 200
    [obj] = body["data"]
    assert obj["otype"] == 3000 and obj["otype_text"] == "Spam Filter"
    assert obj["ogroup"] == gid and obj["descr"] == "Level 10"


def test_spamfilter_parameters_are_checked_as_pmg_checks_them(simulator: Simulator) -> None:
    auth = simulator.login()
    gid = _spam_group(simulator, auth, "Spam (Level 3)")
    base = f"/api2/json/config/ruledb/what/{gid}/spamfilter"
    [obj] = simulator.call("GET", f"/api2/json/config/ruledb/what/{gid}/objects", auth=auth)[1][
        "data"
    ]
    before = simulator.writes()
    cases = [
        ("POST", base, {"spamlevel": "-1"}, "spamlevel", "minimum value of 0"),
        ("POST", base, {"spamlevel": "high"}, "spamlevel", "type check ('integer')"),
        ("POST", base, {}, "spamlevel", "not optional"),
        ("PUT", f"{base}/{obj['id']}", {"level": "4"}, "level", "not defined in schema"),
        ("PUT", f"{base}/{obj['id']}", {}, "spamlevel", "not optional"),
    ]
    for method, path, params, field, message in cases:
        status, body = simulator.call(method, path, params, auth=auth)
        assert status == 400 and message in body["errors"][field], (method, params, body)
    other = _spam_group(simulator, auth, "Spam (Level 5)")
    status, body = simulator.call(
        "PUT",
        f"/api2/json/config/ruledb/what/{other}/spamfilter/{obj['id']}",
        {"spamlevel": "4"},
        auth=auth,
    )
    assert status == 500 and "wrong object group" in body["message"]
    status, body = simulator.call("PUT", f"{base}/99999", {"spamlevel": "4"}, auth=auth)
    assert status == 500 and "does not exists" in body["message"]
    assert simulator.writes() == before


def test_the_client_sets_spam_levels_and_creates_a_missing_spamfilter(
    simulator: Simulator, client: Any
) -> None:
    auth = simulator.login()
    gid = _spam_group(simulator, auth, "Spam (Level 5)")
    objects = f"/api2/json/config/ruledb/what/{gid}/objects"
    [obj] = simulator.call("GET", objects, auth=auth)[1]["data"]
    assert simulator.call("DELETE", f"{objects}/{obj['id']}", auth=auth)[0] == 200
    levels = [
        {"group": "Spam (Level 5)", "level": 6, "var": "pmg__spam_quarantine_level"},
        {"group": "Spam (Level 10)", "level": 12},
    ]
    before = simulator.writes()
    planned = pmg_api.spam_levels(client, levels, check_mode=True)
    assert planned["changed"] and simulator.writes() == before
    assert planned["before"]["Spam (Level 5)"] == []
    assert planned["after"] == {"Spam (Level 5)": [6], "Spam (Level 10)": [12]}
    applied = pmg_api.spam_levels(client, levels, check_mode=False)
    assert applied["actions"] == planned["actions"] and simulator.writes() == before + 2
    [created] = simulator.call("GET", objects, auth=auth)[1]["data"]
    assert created["spamlevel"] == 6 and created["descr"] == "Level 6"
    again = pmg_api.spam_levels(client, levels, check_mode=False)
    assert not again["changed"] and simulator.writes() == before + 2


def test_the_client_names_the_group_and_the_field(client: Any) -> None:
    with pytest.raises(pmg_api.PmgError) as caught:
        pmg_api.spam_levels(
            client,
            [{"group": "Spam (Level 7)", "level": 7, "var": "pmg__spam_block_level"}],
            check_mode=True,
        )
    assert str(caught.value).startswith(
        "what group 'Spam (Level 7)' (pmg__spam_block_level): not in PMG's rule database"
    )
    with pytest.raises(pmg_api.PmgError, match=r"pmg__spam_block_level: -1 is not a spam score"):
        pmg_api.spam_levels(
            client,
            [{"group": "Spam (Level 10)", "level": -1, "var": "pmg__spam_block_level"}],
            check_mode=True,
        )
    # A level PMG refuses comes back naming the group and PMG's field.
    groups = client.get("/config/ruledb/what")
    gid = next(g["id"] for g in groups if g["name"] == "Spam (Level 3)")
    with pytest.raises(pmg_api.PmgError) as refused:
        client.request(
            "POST",
            f"/config/ruledb/what/{gid}/spamfilter",
            {"spamlevel": -2},
            what="create a spamfilter in what group 'Spam (Level 3)'",
        )
    assert str(refused.value) == (
        "create a spamfilter in what group 'Spam (Level 3)': refused by PMG (HTTP 400):"
        " spamlevel: value must have a minimum value of 0"
    )
