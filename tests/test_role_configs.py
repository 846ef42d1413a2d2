"""Configuration files of the postfix and mta_sts roles as the roles render them, with
site.yml's wiring of the milters: what Postfix, the rate limiter and nginx are told. Postfix
and nginx check them on the host (postfix check, nginx -t); the mail scenario runs them."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.rendering import loader as _loader
from tests.rendering import render

SITE = ROOT / "ansible" / "site.yml"


def site_postfix_vars() -> dict[str, Any]:
    """The postfix role's settings in site.yml (not the share), with the milter roles'
    defaults that they name."""
    loader = _loader()
    play = loader.load_from_file(str(SITE), trusted_as_template=True)[1]
    entry = next(r for r in play["roles"] if r["role"] == "postfix")
    settings = {k: v for k, v in entry["vars"].items() if "mailstack_" not in str(v)}
    defaults: dict[str, Any] = {}
    for role in ("opendkim", "opendmarc", "spamassassin"):
        path = ROOT / "roles" / role / "defaults" / "main.yml"
        defaults |= loader.load_from_file(str(path), trusted_as_template=True)
    return {**defaults, **settings}


def parameters(main_cf: str) -> dict[str, str]:
    return dict(
        line.split(" = ", 1) for line in main_cf.splitlines() if re.match(r"[a-z_]+ = ", line)
    )


def services(master_cf: str) -> dict[str, list[str]]:
    """Each service of master.cf with its -o options."""
    found: dict[str, list[str]] = {}
    name = ""
    for line in master_cf.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith(" "):
            found[name].append(line.strip().removeprefix("-o "))
        else:
            name = " ".join(line.split()[:2])
            found[name] = []
    return found


@pytest.fixture(scope="module")
def postfix() -> tuple[dict[str, str], dict[str, list[str]]]:
    given = site_postfix_vars()
    return (
        parameters(render("postfix", "etc/postfix/main.cf.j2", given)),
        services(render("postfix", "etc/postfix/master.cf.j2", given)),
    )


def test_site_wires_every_milter_through_a_unix_socket_of_its_own(
    postfix: tuple[dict[str, str], dict[str, list[str]]],
) -> None:
    main, _ = postfix
    assert main["smtpd_milters"].split(", ") == [
        "unix:/var/spool/postfix/dkimpy-milter/dkimpy-milter.sock",
        "unix:/var/spool/postfix/opendkim/opendkim.sock",
        "unix:/var/spool/postfix/opendmarc/opendmarc.sock",
        "unix:/var/spool/postfix/spamd-milter/milter.sock",
    ]
    assert "inet:" not in main["smtpd_milters"] + main["mua_milters"]
    given = site_postfix_vars()
    assert given["postfix__milter_groups"] == ["dkimpy-milter", "opendkim", "opendmarc"]


def test_submission_passes_the_from_milter_first_and_port_25_never(
    postfix: tuple[dict[str, str], dict[str, list[str]]],
) -> None:
    main, master = postfix
    milters = main["mua_milters"].split(", ")
    assert milters[0] == "unix:/var/spool/postfix/from-milter/milter.sock"
    assert milters[1:] == main["smtpd_milters"].split(", ")
    for service in ("submission inet", "submissions inet"):
        assert "smtpd_milters=$mua_milters" in master[service]
    assert "from-milter" not in main["smtpd_milters"] + main["non_smtpd_milters"]


def test_port_25_checks_with_every_milter_but_the_signing_only_one(
    postfix: tuple[dict[str, str], dict[str, list[str]]],
) -> None:
    main, master = postfix
    assert "smtpd_milters=$inbound_milters" in master["smtp inet"]
    assert main["inbound_milters"].split(", ") == [
        "unix:/var/spool/postfix/opendkim/opendkim.sock",
        "unix:/var/spool/postfix/opendmarc/opendmarc.sock",
        "unix:/var/spool/postfix/spamd-milter/milter.sock",
    ]


def test_port_25_queues_through_a_cleanup_that_drops_results_under_this_hosts_name(
    postfix: tuple[dict[str, str], dict[str, list[str]]],
) -> None:
    _, master = postfix
    assert "cleanup_service_name=inbound-cleanup" in master["smtp inet"]
    cleanup = master["inbound-cleanup unix"]
    assert "header_checks=regexp:/etc/postfix/inbound_header_checks" in cleanup
    # Not inside attached messages (their default is $header_checks): their bodies stay intact.
    assert {"nested_header_checks=", "mime_header_checks="} <= set(cleanup)
    for service in ("submission inet", "submissions inet"):
        assert not any("cleanup_service_name" in option for option in master[service])


def test_submission_limits_logins_and_connections_per_client(
    postfix: tuple[dict[str, str], dict[str, list[str]]],
) -> None:
    _, master = postfix
    for service in ("submission inet", "submissions inet"):
        assert "smtpd_client_auth_rate_limit=30" in master[service]
        assert "smtpd_client_connection_rate_limit=60" in master[service]
        assert "smtpd_client_connection_count_limit=20" in master[service]
    assert not any("rate_limit" in option for option in master["smtp inet"])


def test_the_rate_limiter_defers_when_it_fails(
    postfix: tuple[dict[str, str], dict[str, list[str]]],
) -> None:
    main, _ = postfix
    assert main["smtpd_policy_service_default_action"].startswith("451 4.3.5 ")
    config = yaml.safe_load(render("postfix", "etc/policyd-rate-limit.yaml.j2", {}))
    assert config["db_error_action"].split()[0] == "defer_if_permit"


def test_nginx_refuses_other_names_and_hides_its_version() -> None:
    default = render("nginx", "etc/nginx/sites-available/mailstack-default.conf.j2", {})
    server, http = re.findall(r"^server \{\n(.*?)^\}", default, re.M | re.S)
    assert "listen 443 ssl default_server;" in server
    assert "listen [::]:443 ssl default_server;" in server
    assert "ssl_reject_handshake on;" in server
    assert "return 444;" in server
    assert "server_tokens off;" in server
    tls = render("nginx", "etc/nginx/mailstack/tls.conf.j2", {})
    assert "server_tokens off;" in tls.splitlines()
    listen = render("nginx", "etc/nginx/mailstack/listen.conf.j2", {})
    assert not re.search(r"listen \S*\b80\b", server + listen)
    # Port 80, any name: the ACME answers certbot wrote, and 404 for anything else.
    assert "listen 80 default_server;" in http
    assert "listen [::]:80 default_server;" in http
    assert "server_tokens off;" in http
    assert "include /etc/nginx/mailstack/acme.conf;" in http
    assert re.search(r"location / \{\s*return 404;\s*\}", http)
    acme = render("nginx", "etc/nginx/mailstack/acme.conf.j2", {})
    assert "location ^~ /.well-known/acme-challenge/ {" in acme
    assert "root /var/lib/mailstack/acme;" in acme
    assert "try_files $uri =404;" in acme


def test_the_pki_site_serves_each_file_with_its_type_over_http_only() -> None:
    files = [
        {"path": "/smime/example.test/ca.crt", "published": "x", "type": "application/pkix-cert"},
        {"path": "/smime/example.test/ca.crl", "published": "y", "type": "application/pkix-crl"},
    ]
    site = render(
        "pki",
        "etc/nginx/sites-available/mailstack-pki.conf.j2",
        {"pki__sites": [{"name": "pki.example.test", "files": files}]},
    )
    (server,) = re.findall(r"^server \{\n(.*?)^\}", site, re.M | re.S)
    assert "include /etc/nginx/mailstack/http-listen.conf;" in server
    assert "tls.conf" not in server
    assert "server_name pki.example.test;" in server
    for f in files:
        block = re.search(
            r"location = " + re.escape(f["path"]) + r" \{\n(.*?)\n    \}", server, re.S
        )
        assert block is not None
        # The file's own type: `types {}` drops nginx's by-extension one (.crt, .crl).
        assert "types {}" in block.group(1)
        assert f"default_type {f['type']};" in block.group(1)
        assert f"alias /var/lib/mailstack/pki/pki.example.test{f['path']};" in block.group(1)
    assert re.search(r"location / \{\s*return 404;\s*\}", server)


@pytest.mark.parametrize(
    ("role", "template", "given", "names"),
    [
        (
            "mta_sts",
            "etc/nginx/sites-available/mailstack-mta-sts.conf.j2",
            {"mta_sts__policies": [{"domain": "example.test", "policy": "p", "id": "1"}]},
            "mta-sts.example.test",
        ),
        (
            "autoconfig",
            "etc/nginx/sites-available/mailstack-autoconfig.conf.j2",
            {
                "autoconfig__domains": {"example.test": {}},
                "autoconfig__names": {"example.test": ["autoconfig.example.test", "example.test"]},
            },
            "autoconfig.example.test example.test",
        ),
    ],
)
def test_each_site_takes_the_shared_tls_settings_and_only_its_names(
    role: str, template: str, given: dict[str, object], names: str
) -> None:
    """Every site listens where the nginx role says, with its TLS settings (so its version
    hidden), never as the default server: other names meet the default site's refusal."""
    site = render(role, template, given)
    (server,) = re.findall(r"^server \{\n(.*?)^\}", site, re.M | re.S)
    assert "include /etc/nginx/mailstack/listen.conf;" in server
    assert "include /etc/nginx/mailstack/tls.conf;" in server
    assert f"server_name {names};" in server
    assert "default_server" not in site
    assert not re.search(r"^\s*listen\b", site, re.M)


def test_the_key_directories_are_roots() -> None:
    """The opendkim user reads the keys but writes nowhere root writes (point 7)."""
    tasks = yaml.safe_load((ROOT / "roles/opendkim/tasks/main.yml").read_text())
    dirs = next(t for t in tasks if t["name"].startswith("Make the key directory"))
    assert dirs["ansible.builtin.file"]["owner"] == "root"
    assert dirs["ansible.builtin.file"]["mode"] == "0750"
    seed = next(t for t in tasks if t["name"].startswith("Give dkimpy-milter the Ed25519 keys"))
    cmd = seed["ansible.builtin.shell"]["cmd"]
    assert "/var/lib/mailstack/opendkim/" in cmd
    assert 'install -o opendkim -g opendkim -m 0600 "$work/seed" "$key.ed25519"' in cmd
    assert '> "$key' not in cmd


def test_the_junk_rule_quotes_its_header_and_value_as_sieve_strings() -> None:
    rule = render(
        "dovecot",
        "etc/dovecot/sieve/junk.sieve.j2",
        {"dovecot__spam_header": "X-Spam-Flag", "dovecot__spam_value": 'YES" { keep; } if "\\'},
    )
    # The value stays one string: its quote and backslash are escaped, nothing is added.
    assert 'if header :is "X-Spam-Flag" "YES\\" { keep; } if \\"\\\\" {' in rule
