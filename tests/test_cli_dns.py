"""`mailstack spec validate` and `mailstack dns ...`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from mailstack.records import Record
from mailstack.zonefile import canonical, parse
from tests.conftest import MakeInventory, domain, hosts, mailstack
from tests.dnsserver import ZoneServer


def test_validate_the_lab(lab: str) -> None:
    result = mailstack("spec", "validate", "-i", lab)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{lab}: valid: 4 domain(s), 3 host(s), 2 zone(s)")


def test_validate_lists_every_error_with_its_path(make_inventory: MakeInventory) -> None:
    inv = make_inventory(
        [
            domain(ttl=5, dmarc={"p": "block"}),
            domain("peer.test", mx=[{"host": "x", "priority": 1}]),
        ],
        hosts("mx1.example.test", "mx1.peer.test"),
    )
    result = mailstack("spec", "validate", "-i", str(inv))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert "error: mailstack_domains[0].ttl: must be between 60 and 604800, not 5" in lines
    assert any(
        line.startswith("error: mailstack_domains[0].dmarc.p: must be one of") for line in lines
    )
    assert any(
        line.startswith("error: mailstack_domains[1].mx[0].host: 'x' is not a host name")
        for line in lines
    )
    assert result.stdout == ""
    assert "\033[" not in result.stderr  # plain text when piped


def test_validate_a_missing_inventory(tmp_path: Path) -> None:
    result = mailstack("spec", "validate", "-i", str(tmp_path / "nope"))
    assert result.returncode == 2  # the command line names no inventory
    assert result.stderr == (
        f"mailstack spec validate: error: {tmp_path / 'nope'}: is not an inventory directory\n"
    )


def test_plan_json_is_the_plan(lab: str) -> None:
    result = mailstack("dns", "plan", "-i", lab, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["zones"] == ["example.test", "peer.test"]
    mx = [r for r in data["records"] if r["type"] == "MX" and r["name"] == "peer.test"]
    assert mx == [
        {
            "zone": "peer.test",
            "name": "peer.test",
            "subdomain": "",
            "type": "MX",
            "ttl": 300,
            "data": "10 mx1.peer.test.",
            "key": "MX:peer.test:mx1.peer.test",
        }
    ]
    assert "example.test" in data["mta_sts_policies"]
    sts = {entry["domain"]: entry for entry in data["mta_sts"]}
    assert sts["example.test"]["host"] == "mx1.example.test"
    assert sts["peer.test"]["host"] == "mx1.peer.test"
    assert sts["example.test"]["policy"] == data["mta_sts_policies"]["example.test"]
    # The id served in the _mta-sts TXT record is the one given with the policy.
    txt = next(r["data"] for r in data["records"] if r["name"] == "_mta-sts.example.test")
    assert f"id={sts['example.test']['id']}" in txt


def test_zone_file_parses_back_to_the_plan(lab: str) -> None:
    plan = json.loads(mailstack("dns", "plan", "-i", lab, "--json").stdout)
    for zone in plan["zones"]:
        result = mailstack("dns", "zone", "-i", lab, zone)
        assert result.returncode == 0, result.stderr
        expected = {
            canonical(Record(r["zone"], r["name"], r["type"], r["data"], r["ttl"], r["key"]))
            for r in plan["records"]
            if r["zone"] == zone
        }
        assert parse(result.stdout, zone) == expected


def test_zones_gives_each_zone_file_as_zone_gives_it(lab: str) -> None:
    ns = ["--nameserver", "dns.lab.test.", "--serial", "7"]
    result = mailstack("dns", "zones", "-i", lab, *ns)
    assert result.returncode == 0, result.stderr
    files = json.loads(result.stdout)
    assert list(files) == ["example.test", "peer.test"]
    for zone, text in files.items():
        assert text == mailstack("dns", "zone", "-i", lab, zone, *ns).stdout
        assert f"{zone}.\t300\tIN\tSOA\tdns.lab.test. hostmaster.{zone}. 7 " in text


def test_zone_of_another_domain_is_refused(lab: str) -> None:
    result = mailstack("dns", "zone", "-i", lab, "other.test")
    assert result.returncode == 1
    assert "other.test is not one of the zones: example.test, peer.test" in result.stderr


def test_verify_against_the_zones_own_server(lab: str) -> None:
    """`dns verify` asks a real server on loopback that serves the rendered zone."""
    zone_text = mailstack("dns", "zone", "-i", lab, "example.test").stdout

    def verify_against(served: str) -> subprocess.CompletedProcess[str]:
        with ZoneServer(served, "example.test") as server:
            return mailstack(
                "dns",
                "verify",
                "-i",
                lab,
                "example.test",
                "--nameserver",
                server.host,
                "--port",
                str(server.port),
            )

    good = verify_against(zone_text)
    assert good.returncode == 0, good.stdout + good.stderr
    # 41: with the A and AAAA of pki.example.test, which serves its S/MIME CA (smime); the
    # client set-up's _autodiscover SRV and the addresses of autodiscover.example.test and of
    # example.test itself (autoconfig.well_known); mx2.example.test, the backup MX (its
    # addresses and HELO SPF; no TLSA in this copy, which has no key); and the 9 of
    # lists.example.test, the mailing lists' domain (MX, SPF, its web name's A and AAAA,
    # DMARC, MTA-STS and its policy host's A and AAAA, TLS-RPT; no DKIM key in this copy).
    assert "example.test: all 41 record sets served as planned by 127.0.0.1" in good.stdout

    # The refresh that OVH failed silently: one record never made it to the server.
    broken = "\n".join(
        line for line in zone_text.splitlines() if not line.startswith("_dmarc.example.test.")
    )
    bad = verify_against(broken)
    assert bad.returncode == 1
    assert "_dmarc.example.test TXT" in bad.stdout
    assert bad.stdout.splitlines()[0].startswith("missing")
    assert "1 of 41 record sets missing or different" in bad.stdout
