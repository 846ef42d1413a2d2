"""The report of `mailstack check`: categories, score, exit code, JSON; and the command's
refusals before anything is asked of the network."""

from __future__ import annotations

import json

from mailstack.check.report import Report, failed, info, passed, warned
from tests.conftest import mailstack
from tests.dnsserver import ZoneServer


def report(*findings: object) -> Report:
    r = Report("example.test")
    r.add(findings)  # type: ignore[arg-type]
    return r


def test_categories_score_their_mandatory_findings_and_weigh_equally() -> None:
    r = report(
        passed("SPF", "spf.present", "ok"),
        failed("SPF", "spf.all", "bad", "fix it"),
        passed("DMARC", "dmarc.present", "ok"),
        warned("DMARC", "dmarc.rua", "meh", "add rua"),
        failed("CAA", "caa.record", "none", "add", mandatory=False),
        info("DKIM", "dkim.selectors", "no selector"),
    )
    assert r.category_scores() == {"SPF": 50, "DMARC": 75}
    assert r.score == 62  # (50 + 75) / 2, rounded half to even
    assert r.exit_code == 1


def test_warnings_and_notes_exit_zero_and_errors_exit_two() -> None:
    r = report(passed("MX", "mx.present", "ok"), warned("MX", "mx.x", "w", "f"))
    assert r.exit_code == 0
    r.errors.append("DANE and TLS: could not run: timeout")
    assert r.exit_code == 2


def test_the_text_groups_by_category_in_order_and_gives_each_fix() -> None:
    r = report(
        failed("DMARC", "dmarc.policy", "p=none: not protected", "set p=reject"),
        passed("MX", "mx.present", "MX: mx1.example.test (priority 10)"),
    )
    text = r.text()
    assert text.index("MX (100%)") < text.index("DMARC (0%)")
    assert "  FAIL  p=none: not protected\n        fix: set p=reject" in text
    assert text.splitlines()[-1].startswith("score 50/100: 1 passed, 0 warnings, 1 failed")


def test_json_has_the_same_findings_and_the_score() -> None:
    r = report(failed("SPF", "spf.all", "bad", "fix it"), passed("MX", "mx.present", "ok"))
    data = json.loads(json.dumps(r.as_json()))
    assert data["score"] == 50
    assert data["exit_code"] == 1
    assert [f["check"] for f in data["findings"]] == ["mx.present", "spf.all"]
    assert data["findings"][1]["fix"] == "fix it"


def test_the_relay_test_needs_an_inventory() -> None:
    result = mailstack("check", "example.test", "--relay-test")
    assert result.returncode == 2
    assert "--relay-test probes only the hosts of an inventory" in result.stderr


def test_a_bad_trust_anchor_file_is_named(tmp_path: object) -> None:
    result = mailstack("check", "example.test", "--trust-anchor", "/nonexistent/anchors")
    assert result.returncode == 2
    assert "--trust-anchor /nonexistent/anchors" in result.stderr


def test_a_domain_outside_the_inventory_is_refused(lab: str) -> None:
    result = mailstack("check", "other.test", "-i", lab, "--resolver", "127.0.0.1")
    assert result.returncode == 2
    assert "other.test is not a domain of the inventory" in result.stderr


def test_the_command_audits_a_served_domain_and_exits_one_on_a_failure() -> None:
    zone = (
        "$ORIGIN example.test.\n$TTL 300\n"
        "@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 900 1209600 300\n"
        "@ IN NS ns.example.test.\n"
        "@ IN MX 10 mx1.example.test.\n"
        "mx1 IN A 127.0.0.1\n"
        '@ IN TXT "v=spf1 mx -all"\n'
        '_dmarc IN TXT "v=DMARC1; p=none; rua=mailto:d@example.test"\n'
    )
    reverse = (
        "$ORIGIN 127.in-addr.arpa.\n$TTL 300\n"
        "@ IN SOA ns.example.test. h.example.test. 1 3600 900 1209600 300\n"
        "@ IN NS ns.example.test.\n"
        "1.0.0 IN PTR mx1.example.test.\n"
    )
    with ZoneServer.multi({"example.test": zone, "127.in-addr.arpa": reverse}) as server:
        result = mailstack(
            "check",
            "example.test",
            "--resolver",
            "127.0.0.1",
            "--resolver-port",
            str(server.port),
            "--timeout",
            "2",
            "--json",
        )
    # The root's keys cannot be had through this server: nothing can be validated, which is
    # the audit not running (exit 2), not the domain's fault; the other audits still report.
    assert result.returncode == 2, result.stderr
    data = json.loads(result.stdout)
    (error,) = data["errors"]
    assert error.startswith("DNSSEC: could not run: cannot validate anything: . DNSKEY")
    assert "REFUSED" in error
    status = {f["check"]: f["status"] for f in data["findings"]}
    assert status["mx.fcrdns"] == "pass"
    assert status["spf.all"] == "pass"
    assert status["dmarc.policy"] == "fail"
    assert status["mtasts.record"] == "fail"
    # Nothing listens on port 25 here: the MX is reported unreachable, not skipped.
    assert status["tls.starttls"] == "fail"
    assert "dnssec.domain" not in status
    assert 0 < data["score"] < 100
