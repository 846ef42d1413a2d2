"""PMG API simulator: a stand-in for Proxmox Mail Gateway 8's REST API, for tests only.

Proxmox Mail Gateway cannot be installed here, so the `pmg` role and its modules are tested
against this server. It implements every endpoint the role uses, at the real paths
(`https://127.0.0.1:PORT/api2/json/...`), with the parameter names, types, formats, ranges,
enumerations and required fields of proxmox/pmg-api (`src/PMG/API2/*.pm`, `src/PMG/Config.pm`),
and answers as PMG's API server does: `{"data": ...}`, and for a refused parameter HTTP 400
with `{"data": null, "errors": {"<param>": "<message>"}}`. Authentication is PMG's: a ticket
from `POST /access/ticket` sent back in the `PMGAuthCookie` cookie, with the
`CSRFPreventionToken` header on every write; an API token header is refused with 401, as
PMG 8 does ("API tokens not implemented", src/PMG/HTTPServer.pm). State is kept in memory
(and in `--state FILE` when given, so that it survives a restart).

What it does not model: clusters (`proxyto => 'master'` is answered locally), users other
than the one given on the command line, roles other than admin, the rule database beyond the
SMTP whitelist objects and the spam score levels (the factory what-object groups
"Spam (Level 3)", "Spam (Level 5)" and "Spam (Level 10)" with their spamfilter objects: list,
read, create, update, delete; no rules, no other object types, no group changes), the
generated Postfix and SpamAssassin files and `pmgconfig sync`,
template overrides in /etc/pmg/templates, mail flow itself, quarantines, statistics, ACME and
certificate upload, the ticket's two-hour lifetime, and GET parameters in the query string of
writes. `GET /_simulator/writes` (outside /api2, not PMG's) counts the writes accepted, for
tests that must prove nothing was written.

Run: python tests/pmg_simulator.py --port 8006 --user root@pam --password SECRET
     --cert-out DIR/ca.pem [--state FILE] [--pidfile FILE]
It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import ipaddress
import json
import os
import re
import secrets
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

LISTEN = "127.0.0.1"
NODE = "pmg"
VERSION = {"version": "8.2.1", "release": "8.2", "repoid": "simulator"}

# -- PMG's formats (src/PMG/Config.pm, PVE::JSONSchema) ----------------------------------------
_NAME = r"([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)"
_DNS_NAME = re.compile(rf"^({_NAME}\.)*{_NAME}$")
_TRANSPORT_DOMAIN = re.compile(rf"^\.?({_NAME}\.)*{_NAME}$")
_EMAIL_DOMAIN = re.compile(rf"^(?:[^\s/@]+@)({_NAME}\.)*{_NAME}$")
_EMAIL = re.compile(r"^[\w+\-~]+(\.[\w+\-~]+)*@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*$")
_TLS_POLICY = r"none|may|encrypt|dane|dane-only|fingerprint|verify|secure"
_DNSBL_OCTET = r"(?:[0-9]+|\[(?:[0-9]+\.\.[0-9]+)\])"
_DNSBL = re.compile(
    rf"^({_NAME}\.)*{_NAME}(:?={_DNSBL_OCTET}(:?\.{_DNSBL_OCTET}){{3}})?(?:\*-?\d+)?$"
)


def _ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _cidr(value: str) -> bool:
    """PVE's CIDR format: an IPv4 address with a prefix of 8 to 32, or IPv6 with 8 to 128."""
    address, slash, prefix = value.partition("/")
    if not slash or not prefix.isdigit() or not _ip(address):
        return False
    top = 32 if ipaddress.ip_address(address).version == 4 else 128
    return 8 <= int(prefix) <= top


def _address(value: str) -> bool:
    return _ip(value) or bool(_DNS_NAME.match(value))


def _nexthop(value: str) -> bool:
    if _TRANSPORT_DOMAIN.match(value):
        return True
    host = re.sub(r":\d+$", "", value)
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return _transport_address(host)


def _transport_address(value: str) -> bool:
    if value.lower().startswith("ipv6:"):
        return _ip(value[5:]) and ipaddress.ip_address(value[5:]).version == 6
    return _address(value)


FORMATS: dict[str, tuple[Callable[[str], bool], str]] = {
    "dns-name": (lambda v: bool(_DNS_NAME.match(v)), "value does not look like a valid DNS name"),
    "transport-domain": (
        lambda v: bool(_TRANSPORT_DOMAIN.match(v)),
        "value does not look like a valid transport domain",
    ),
    "transport-domain-or-email": (
        lambda v: bool(_EMAIL_DOMAIN.match(v) or _TRANSPORT_DOMAIN.match(v)),
        "value does not look like a valid transport domain or email address",
    ),
    "transport-domain-or-nexthop": (
        _nexthop,
        "value does not look like a valid domain or next-hop",
    ),
    "transport-address": (_transport_address, "value does not look like a valid address"),
    "address": (_address, "value does not look like a valid address"),
    "CIDR": (_cidr, "value does not look like a valid CIDR network"),
    "ip": (_ip, "value does not look like a valid IP address"),
    "email": (lambda v: bool(_EMAIL.match(v)), "value does not look like a valid email address"),
    "tls-policy-strict": (
        lambda v: bool(re.match(rf"^(?:{_TLS_POLICY})$", v)),
        "value does not look like a valid tls policy",
    ),
    "dnsbl-entry-list": (
        lambda v: all(_DNSBL.match(e) for e in re.split(r"[,;\s]+", v.strip()) if e),
        "value does not look like a valid dnsbl entry",
    ),
}


@dataclass(frozen=True)
class P:
    """One parameter of a method's schema, as PVE::JSONSchema declares it."""

    type: str = "string"
    format: str | None = None
    optional: bool = False
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    pattern: str | None = None


class ParamError(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("Parameter verification failed.")
        self.errors = errors


class ApiError(Exception):
    """A die in a PMG method: HTTP 500 (or `code`) with the message."""

    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.code = code


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(value: Any, spec: P) -> tuple[Any, str | None]:  # noqa: PLR0911 (one per check)
    text = str(int(value)) if isinstance(value, bool) else str(value)
    if spec.type == "boolean":
        if text.lower() in _TRUE:
            return 1, None
        if text.lower() in _FALSE:
            return 0, None
        return None, f"type check ('boolean') failed - got '{text}'"
    if spec.type == "integer":
        if not re.fullmatch(r"[+-]?\d+", text):
            return None, f"type check ('integer') failed - got '{text}'"
        number = int(text)
        if spec.minimum is not None and number < spec.minimum:
            return None, f"value must have a minimum value of {spec.minimum}"
        if spec.maximum is not None and number > spec.maximum:
            return None, f"value must have a maximum value of {spec.maximum}"
        return number, None
    if spec.max_length is not None and len(text) > spec.max_length:
        return None, f"value may only be {spec.max_length} characters long"
    if spec.enum and text not in spec.enum:
        return (
            None,
            f"value '{text}' does not have a value in the enumeration '{', '.join(spec.enum)}'",
        )
    if spec.pattern is not None and not re.fullmatch(rf"(?:{spec.pattern})", text):
        return None, "value does not match the regex pattern"
    if spec.format is not None:
        check, message = FORMATS[spec.format]
        if not check(text):
            return None, message
    return text, None


def verify(params: dict[str, Any], schema: dict[str, P]) -> dict[str, Any]:
    """The parameters checked against the schema (additionalProperties => 0), converted."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name, value in params.items():
        spec = schema.get(name)
        if spec is None:
            errors[name] = (
                "property is not defined in schema and the schema does not allow additional"
                " properties"
            )
            continue
        converted, error = _convert(value, spec)
        if error:
            errors[name] = error
        else:
            out[name] = converted
    for name, spec in schema.items():
        if not spec.optional and name not in params:
            errors[name] = "property is missing and it is not optional"
    if errors:
        raise ParamError(errors)
    return out


# -- The configuration sections of pmg.conf (src/PMG/Config.pm) ----------------------------
BOOL = P("boolean", optional=True)


def _int(low: int | None = None, high: int | None = None) -> P:
    return P("integer", optional=True, minimum=low, maximum=high)


PORT = _int(1, 65535)
SECTIONS: dict[str, dict[str, P]] = {
    "admin": {
        "advfilter": BOOL,
        "avast": BOOL,
        "clamav": BOOL,
        "statlifetime": _int(1),
        "dailyreport": BOOL,
        "demo": BOOL,
        "email": P(format="email", optional=True),
        "http_proxy": P(pattern="http://.*", optional=True),
        "custom_check": BOOL,
        "custom_check_path": P(pattern=r"^/([^/\0]+\/)+[^/\0]+$", optional=True),
        "dkim_sign": BOOL,
        "dkim_sign_all_mail": BOOL,
        "dkim_selector": P(format="dns-name", optional=True),
        "dkim-use-domain": P(enum=("header", "envelope"), optional=True),
    },
    "mail": {
        "int_port": PORT,
        "ext_port": PORT,
        "relay": P(format="address", optional=True),
        "relayprotocol": P(enum=("smtp", "lmtp"), optional=True),
        "relayport": PORT,
        "relaynomx": BOOL,
        "smarthost": P(format="address", optional=True),
        "smarthostport": PORT,
        "banner": P(max_length=1024, optional=True),
        "max_filters": _int(3, 40),
        "max_policy": _int(2, 10),
        "max_smtpd_in": _int(3, 100),
        "max_smtpd_out": _int(3, 100),
        "conn_count_limit": _int(0),
        "conn_rate_limit": _int(0),
        "message_rate_limit": _int(0),
        "hide_received": BOOL,
        "maxsize": _int(1024),
        "dwarning": _int(0),
        "tls": BOOL,
        "tlslog": BOOL,
        "tlsheader": BOOL,
        "spf": BOOL,
        "greylist": BOOL,
        "greylistmask4": _int(0, 32),
        "greylist6": BOOL,
        "greylistmask6": _int(0, 128),
        "helotests": BOOL,
        "rejectunknown": BOOL,
        "rejectunknownsender": BOOL,
        "verifyreceivers": P(enum=("450", "550"), optional=True),
        "dnsbl_sites": P(format="dnsbl-entry-list", optional=True),
        "dnsbl_threshold": _int(0),
        "before_queue_filtering": BOOL,
        "ndr_on_block": BOOL,
        "smtputf8": BOOL,
        "filter-timeout": _int(2, 86400),
    },
    "spam": {
        "languages": P(pattern="(all|([a-z][a-z])+( ([a-z][a-z])+)*)", optional=True),
        "use_bayes": BOOL,
        "use_awl": BOOL,
        "use_razor": BOOL,
        "wl_bounce_relays": P(optional=True),
        "clamav_heuristic_score": _int(0, 1000),
        "bounce_score": _int(0, 1000),
        "rbl_checks": BOOL,
        "maxspamsize": _int(64),
        "extract_text": BOOL,
    },
    "clamav": {
        "dbmirror": P(optional=True),
        "archiveblockencrypted": BOOL,
        "archivemaxrec": _int(1),
        "archivemaxfiles": _int(0),
        "archivemaxsize": _int(1000000),
        "maxscansize": _int(1000000),
        "maxcccount": _int(0),
        "safebrowsing": BOOL,
        "scriptedupdates": BOOL,
    },
    "spamquar": {
        "lifetime": _int(1),
        "authmode": P(enum=("ticket", "ldap", "ldapticket"), optional=True),
        "reportstyle": P(enum=("none", "short", "verbose", "custom"), optional=True),
        "viewimages": BOOL,
        "allowhrefs": BOOL,
        "hostname": P(format="address", optional=True),
        "port": PORT,
        "protocol": P(enum=("http", "https"), optional=True),
        "mailfrom": P(optional=True),
        "quarantinelink": BOOL,
    },
    "virusquar": {"lifetime": _int(1), "viewimages": BOOL, "allowhrefs": BOOL},
}
# The update method of a section (updateSchema): every option optional, plus these two.
SECTION_UPDATE_EXTRA = {
    "delete": P(optional=True, max_length=4096),
    "digest": P(optional=True, max_length=64),
}

# SMTP whitelist objects (src/PMG/RuleDB/*.pm): API path, otype, attribute, format, text.
WHITELIST_KINDS = {
    "email": (1001, "email", "email", "Mail address"),
    "domain": (1002, "domain", "dns-name", "Domain"),
    "ip": (1003, "ip", "ip", "IP Address"),
    "network": (1004, "cidr", "CIDR", "IP Network"),
}

DOMAIN = P(format="transport-domain")
COMMENT = P(optional=True)

SPAMFILTER_OTYPE = 3000  # PMG::RuleDB::Spam, a what-object


def spamfilter(ident: int, ogroup: int, level: int) -> dict[str, Any]:
    """A spamfilter object as PMG's get_data returns it."""
    return {
        "id": ident,
        "ogroup": ogroup,
        "otype": SPAMFILTER_OTYPE,
        "otype_text": "Spam Filter",
        "receivertest": 0,
        "descr": f"Level {level}",
        "spamlevel": level,
    }


class State:
    """What PMG keeps in /etc/pmg and its rule database, in memory."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.data: dict[str, Any] = {
            "domains": {},
            "dkimdomains": {},
            "transport": {},
            "mynetworks": {},
            "tls_policy": {},
            "sections": {},
            "whitelist": {},
            "next_id": 100,
            "dkim_keys": {},
            "what_groups": {},
            "what_objects": {},
            "writes": 0,
        }
        self._factory_spam_groups()
        if path is not None and path.exists():
            self.data.update(json.loads(path.read_text()))

    def _factory_spam_groups(self) -> None:
        """The what-object groups of PMG's factory rule set that match on the spam score
        (PMG::DBTools::init_ruledb), each with its spamfilter object."""
        for gid, level in ((10, 3), (11, 5), (12, 10)):
            self.data["what_groups"][str(gid)] = {
                "id": gid,
                "name": f"Spam (Level {level})",
                "info": "Matches possible spam mail",
                "and": 0,
                "invert": 0,
            }
            ident = self.data["next_id"]
            self.data["next_id"] += 1
            self.data["what_objects"][str(ident)] = spamfilter(ident, gid, level)

    def save(self) -> None:
        self.data["writes"] += 1
        if self.path is not None:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
            tmp.replace(self.path)

    def digest(self) -> str:
        text = json.dumps(self.data["sections"], sort_keys=True)
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


Handler = Callable[[State, dict[str, Any]], Any]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    schema: dict[str, P]
    handler: Handler
    write: bool


ROUTES: list[Route] = []


def route(method: str, path: str, schema: dict[str, P]) -> Callable[[Handler], Handler]:
    """Register a method; `{name}` matches one path segment, `{name+}` the rest (CIDRs)."""
    regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", path)
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, re.compile(f"^{regex}$"), schema, handler, method != "GET"))
        return handler

    return register


# -- /version, /nodes ----------------------------------------------------------------------
@route("GET", "/version", {})
def _version(state: State, p: dict[str, Any]) -> Any:
    return VERSION


@route("GET", "/nodes", {})
def _nodes(state: State, p: dict[str, Any]) -> Any:
    return [{"node": NODE}]


@route("GET", "/nodes/{node}/certificates/info", {"node": P(format="dns-name")})
def _certificates(state: State, p: dict[str, Any]) -> Any:
    if p["node"] != NODE:
        raise ParamError({"node": f"no such node '{p['node']}'"})
    return [dict(c) for c in state.data.get("certificates", [])]


# -- relay domains and DKIM signing domains (Domains.pm, DKIMSignDomains.pm) ---------------
def _domain_methods(base: str, key: str, kind: str) -> None:
    @route("GET", base, {})
    def index(state: State, p: dict[str, Any]) -> Any:
        table = state.data[key]
        return [table[d] for d in sorted(table)]

    @route("POST", base, {"domain": DOMAIN, "comment": COMMENT})
    def create(state: State, p: dict[str, Any]) -> Any:
        table = state.data[key]
        if p["domain"] in table:
            raise ApiError(f"add {kind} domain failed: Domain '{p['domain']}' already exists")
        table[p["domain"]] = {"domain": p["domain"], "comment": p.get("comment", "")}
        state.save()

    @route("GET", f"{base}/{{domain}}", {"domain": DOMAIN})
    def read(state: State, p: dict[str, Any]) -> Any:
        return _existing(state.data[key], p["domain"], f"Domain '{p['domain']}' does not exist")

    @route("PUT", f"{base}/{{domain}}", {"domain": DOMAIN, "comment": P()})
    def write(state: State, p: dict[str, Any]) -> Any:
        entry = _existing(state.data[key], p["domain"], f"Domain '{p['domain']}' does not exist")
        entry["comment"] = p["comment"]
        state.save()

    @route("DELETE", f"{base}/{{domain}}", {"domain": DOMAIN})
    def delete(state: State, p: dict[str, Any]) -> Any:
        _existing(state.data[key], p["domain"], f"Domain '{p['domain']}' does not exist")
        del state.data[key][p["domain"]]
        state.save()


def _existing(table: dict[str, Any], key: str, message: str) -> Any:
    if key not in table:
        raise ApiError(message)
    return table[key]


_domain_methods("/config/domains", "domains", "relay")
_domain_methods("/config/dkim/domains", "dkimdomains", "DKIM-sign")

# -- transports (Transport.pm) -------------------------------------------------------------
T_DOMAIN = P(format="transport-domain-or-email")
T_FIELDS = {
    "host": P(format="transport-address", optional=True),
    "protocol": P(enum=("smtp", "lmtp"), optional=True),
    "port": _int(1, 65535),
    "use_mx": BOOL,
    "comment": COMMENT,
}


@route("GET", "/config/transport", {})
def _transport_index(state: State, p: dict[str, Any]) -> Any:
    table = state.data["transport"]
    return [table[d] for d in sorted(table)]


@route(
    "POST",
    "/config/transport",
    {"domain": T_DOMAIN, **T_FIELDS, "host": P(format="transport-address")},
)
def _transport_create(state: State, p: dict[str, Any]) -> Any:
    table = state.data["transport"]
    if p["domain"] in table:
        raise ApiError(
            f"add transport map entry failed: Transport map entry '{p['domain']}' already exists"
        )
    table[p["domain"]] = {
        "domain": p["domain"],
        "host": p["host"],
        "protocol": p.get("protocol", "smtp"),
        "port": p.get("port", 25),
        "use_mx": p.get("use_mx", 1),
        "comment": p.get("comment", ""),
    }
    state.save()


@route("GET", "/config/transport/{domain}", {"domain": T_DOMAIN})
def _transport_read(state: State, p: dict[str, Any]) -> Any:
    return _existing(
        state.data["transport"],
        p["domain"],
        f"Transport map entry '{p['domain']}' does not exist",
    )


@route("PUT", "/config/transport/{domain}", {"domain": T_DOMAIN, **T_FIELDS})
def _transport_write(state: State, p: dict[str, Any]) -> Any:
    entry = _existing(
        state.data["transport"],
        p["domain"],
        f"Transport map entry '{p['domain']}' does not exist",
    )
    changes = {k: v for k, v in p.items() if k != "domain"}
    if not changes:
        raise ApiError("update transport map entry failed: no options specified")
    entry.update(changes)
    state.save()


@route("DELETE", "/config/transport/{domain}", {"domain": T_DOMAIN})
def _transport_delete(state: State, p: dict[str, Any]) -> Any:
    _existing(
        state.data["transport"],
        p["domain"],
        f"Transport map entry '{p['domain']}' does not exist",
    )
    del state.data["transport"][p["domain"]]
    state.save()


# -- trusted networks (MyNetworks.pm; the CIDR in the path keeps its slash) ----------------
CIDR = P(format="CIDR")


@route("GET", "/config/mynetworks", {})
def _networks_index(state: State, p: dict[str, Any]) -> Any:
    table = state.data["mynetworks"]
    return [table[c] for c in sorted(table)]


@route("POST", "/config/mynetworks", {"cidr": CIDR, "comment": COMMENT})
def _networks_create(state: State, p: dict[str, Any]) -> Any:
    table = state.data["mynetworks"]
    if p["cidr"] in table:
        raise ApiError(f"add trusted network failed: trusted network '{p['cidr']}' already exists")
    table[p["cidr"]] = {"cidr": p["cidr"], "comment": p.get("comment", "")}
    state.save()


@route("GET", "/config/mynetworks/{cidr+}", {"cidr": CIDR})
def _networks_read(state: State, p: dict[str, Any]) -> Any:
    return _existing(
        state.data["mynetworks"], p["cidr"], f"trusted network '{p['cidr']}' does not exist"
    )


@route("PUT", "/config/mynetworks/{cidr+}", {"cidr": P(), "comment": P()})
def _networks_write(state: State, p: dict[str, Any]) -> Any:
    entry = _existing(
        state.data["mynetworks"], p["cidr"], f"trusted network '{p['cidr']}' does not exist"
    )
    entry["comment"] = p["comment"]
    state.save()


@route("DELETE", "/config/mynetworks/{cidr+}", {"cidr": CIDR})
def _networks_delete(state: State, p: dict[str, Any]) -> Any:
    _existing(state.data["mynetworks"], p["cidr"], f"trusted network '{p['cidr']}' does not exist")
    del state.data["mynetworks"][p["cidr"]]
    state.save()


# -- destination TLS policies (DestinationTLSPolicy.pm) -------------------------------------
DEST = P(format="transport-domain-or-nexthop")
POLICY = P(format="tls-policy-strict")


@route("GET", "/config/tlspolicy", {})
def _tls_index(state: State, p: dict[str, Any]) -> Any:
    table = state.data["tls_policy"]
    return [table[d] for d in sorted(table)]


@route("POST", "/config/tlspolicy", {"destination": DEST, "policy": POLICY})
def _tls_create(state: State, p: dict[str, Any]) -> Any:
    table = state.data["tls_policy"]
    if p["destination"] in table:
        raise ParamError(
            {"destination": f"DestinationTLSPolicy entry for '{p['destination']}' already exists"}
        )
    table[p["destination"]] = {"destination": p["destination"], "policy": p["policy"]}
    state.save()


def _tls_entry(state: State, destination: str) -> Any:
    table = state.data["tls_policy"]
    if destination not in table:
        raise ParamError(
            {"destination": f"DestinationTLSPolicy entry for '{destination}' does not exist"}
        )
    return table[destination]


@route("GET", "/config/tlspolicy/{destination}", {"destination": DEST})
def _tls_read(state: State, p: dict[str, Any]) -> Any:
    return _tls_entry(state, p["destination"])


@route("PUT", "/config/tlspolicy/{destination}", {"destination": DEST, "policy": POLICY})
def _tls_write(state: State, p: dict[str, Any]) -> Any:
    _tls_entry(state, p["destination"])["policy"] = p["policy"]
    state.save()


@route("DELETE", "/config/tlspolicy/{destination}", {"destination": DEST})
def _tls_delete(state: State, p: dict[str, Any]) -> Any:
    _tls_entry(state, p["destination"])
    del state.data["tls_policy"][p["destination"]]
    state.save()


# -- configuration sections (Config.pm: GET and PUT /config/<section>) ---------------------
def _section_methods(name: str, schema: dict[str, P]) -> None:
    @route("GET", f"/config/{name}", {})
    def read(state: State, p: dict[str, Any]) -> Any:
        return {**state.data["sections"].get(name, {}), "digest": state.digest()}

    @route("PUT", f"/config/{name}", {**schema, **SECTION_UPDATE_EXTRA})
    def update(state: State, p: dict[str, Any]) -> Any:
        digest = p.pop("digest", None)
        if digest is not None and digest != state.digest():
            raise ApiError(
                f"update config section '{name}' failed: detected modified configuration -"
                " file changed by other user? Try again."
            )
        delete = [d for d in re.split(r"[,;\s]+", p.pop("delete", "")) if d]
        if not delete and not p:
            raise ApiError(f"update config section '{name}' failed: no options specified")
        unknown = [d for d in delete if d not in schema]
        if unknown:
            raise ParamError({"delete": f"invalid option '{unknown[0]}'"})
        section = state.data["sections"].setdefault(name, {})
        for key in delete:
            section.pop(key, None)
        section.update(p)
        state.save()


for _name, _schema in SECTIONS.items():
    _section_methods(_name, _schema)


# -- DKIM selector and key (DKIMSign.pm, PMG::DKIMSign) ------------------------------------
@route(
    "POST",
    "/config/dkim/selector",
    {"selector": P(format="dns-name"), "keysize": P("integer", minimum=1024)},
)
def _dkim_set(state: State, p: dict[str, Any]) -> Any:
    selector, size = p["selector"], p["keysize"]
    keys = state.data["dkim_keys"]
    if selector in keys:
        current = keys[selector]["bits"]
        if current != size:
            raise ApiError(
                f"/etc/pmg/dkim/{selector}.private already exists, but has different size"
                f" ({current} bits)"
            )
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=size)
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        keys[selector] = {"bits": size, "public": base64.b64encode(public).decode()}
    state.data["sections"].setdefault("admin", {})["dkim_selector"] = selector
    state.save()


def dkim_record(selector: str, public_b64: str) -> str:
    """The TXT record as PMG prints it: the key in 250-character strings."""
    chunks = [public_b64[i : i + 250] for i in range(0, len(public_b64), 250)]
    body = '"\n\t  "'.join(chunks)
    return (
        f'{selector}._domainkey\tIN\tTXT\t( "v=DKIM1; h=sha256; k=rsa; "\n\t  "p={body}" )'
        f"  ; ----- DKIM key {selector}"
    )


@route("GET", "/config/dkim/selector", {})
def _dkim_get(state: State, p: dict[str, Any]) -> Any:
    selector = state.data["sections"].get("admin", {}).get("dkim_selector")
    if selector is None:
        return {}
    key = state.data["dkim_keys"].get(selector)
    if key is None:
        return {"selector": selector}
    return {
        "selector": selector,
        "keysize": key["bits"],
        "record": dkim_record(selector, key["public"]),
    }


# -- SMTP whitelist (SMTPWhitelist.pm and the RuleDB who-objects) --------------------------
@route("GET", "/config/whitelist/objects", {})
def _whitelist_objects(state: State, p: dict[str, Any]) -> Any:
    table = state.data["whitelist"]
    return [table[i] for i in sorted(table, key=int)]


@route("DELETE", "/config/whitelist/objects/{id}", {"id": P("integer")})
def _whitelist_delete(state: State, p: dict[str, Any]) -> Any:
    if str(p["id"]) not in state.data["whitelist"]:
        raise ApiError(f"object '{p['id']}' does not exists")
    del state.data["whitelist"][str(p["id"])]
    state.save()


def _whitelist_methods(kind: str) -> None:
    otype, attr, fmt, text = WHITELIST_KINDS[kind]

    @route("POST", f"/config/whitelist/{kind}", {attr: P(format=fmt)})
    def create(state: State, p: dict[str, Any]) -> Any:
        ident = state.data["next_id"]
        state.data["next_id"] += 1
        state.data["whitelist"][str(ident)] = {
            "id": ident,
            "ogroup": 1,
            "otype": otype,
            "otype_text": text,
            "receivertest": 0,
            "descr": p[attr],
            attr: p[attr],
        }
        state.save()
        return ident

    def found(state: State, ident: int) -> Any:
        entry = state.data["whitelist"].get(str(ident))
        if entry is None or entry["otype"] != otype:
            raise ApiError(f"object '{ident}' does not exist")
        return entry

    @route("GET", f"/config/whitelist/{kind}/{{id}}", {"id": P("integer")})
    def read(state: State, p: dict[str, Any]) -> Any:
        return found(state, p["id"])

    @route("PUT", f"/config/whitelist/{kind}/{{id}}", {"id": P("integer"), attr: P(format=fmt)})
    def update(state: State, p: dict[str, Any]) -> Any:
        entry = found(state, p["id"])
        entry[attr] = entry["descr"] = p[attr]
        state.save()


for _kind in WHITELIST_KINDS:
    _whitelist_methods(_kind)


# -- the rule database's what-objects: spamfilter (RuleDB.pm, What.pm, ObjectGroupHelpers.pm,
# RuleDB/Object.pm and RuleDB/Spam.pm) ------------------------------------------------------
OGROUP = P("integer")
OBJECT_ID = P("integer")
SPAMLEVEL = P("integer", minimum=0)


@route("GET", "/config/ruledb/what", {})
def _what_groups(state: State, p: dict[str, Any]) -> Any:
    groups = state.data["what_groups"].values()
    return [dict(g) for g in sorted(groups, key=lambda g: (g["name"], g["id"]))]


@route("GET", "/config/ruledb/what/{ogroup}/objects", {"ogroup": OGROUP})
def _what_objects(state: State, p: dict[str, Any]) -> Any:
    objects = state.data["what_objects"].values()
    return [dict(o) for o in sorted(objects, key=lambda o: o["id"]) if o["ogroup"] == p["ogroup"]]


@route("DELETE", "/config/ruledb/what/{ogroup}/objects/{id}", {"ogroup": OGROUP, "id": OBJECT_ID})
def _what_object_delete(state: State, p: dict[str, Any]) -> Any:
    # PMG loads the object by its id alone: the group in the path is not checked.
    if state.data["what_objects"].pop(str(p["id"]), None) is None:
        raise ApiError(f"object '{p['id']}' does not exists")
    state.save()


@route(
    "POST", "/config/ruledb/what/{ogroup}/spamfilter", {"ogroup": OGROUP, "spamlevel": SPAMLEVEL}
)
def _spamfilter_create(state: State, p: dict[str, Any]) -> Any:
    if str(p["ogroup"]) not in state.data["what_groups"]:
        # PMG's database refuses an object of a group it does not hold (message ours).
        raise ApiError(f"what group '{p['ogroup']}' not found")
    ident = state.data["next_id"]
    state.data["next_id"] += 1
    state.data["what_objects"][str(ident)] = spamfilter(ident, p["ogroup"], p["spamlevel"])
    state.save()
    return ident


def _spamfilter_object(state: State, ident: int, ogroup: int) -> Any:
    """PMG::RuleDB's load_object_full: the object, of the spamfilter type, in that group."""
    obj = state.data["what_objects"].get(str(ident))
    if obj is None:
        raise ApiError(f"object '{ident}' does not exists")
    if obj["otype"] != SPAMFILTER_OTYPE:
        raise ApiError(f"wrong object type ({obj['otype']} != {SPAMFILTER_OTYPE})")
    if obj["ogroup"] != ogroup:
        raise ApiError(f"wrong object group ({obj['ogroup']} != {ogroup})")
    return obj


@route("GET", "/config/ruledb/what/{ogroup}/spamfilter/{id}", {"ogroup": OGROUP, "id": OBJECT_ID})
def _spamfilter_read(state: State, p: dict[str, Any]) -> Any:
    return dict(_spamfilter_object(state, p["id"], p["ogroup"]))


@route(
    "PUT",
    "/config/ruledb/what/{ogroup}/spamfilter/{id}",
    {"ogroup": OGROUP, "id": OBJECT_ID, "spamlevel": SPAMLEVEL},
)
def _spamfilter_update(state: State, p: dict[str, Any]) -> Any:
    obj = _spamfilter_object(state, p["id"], p["ogroup"])
    obj.update(spamfilter(p["id"], p["ogroup"], p["spamlevel"]))
    state.save()


# -- the HTTP server -----------------------------------------------------------------------
class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, state: State, user: str, password: str) -> None:
        super().__init__((LISTEN, port), RequestHandler)
        self.state = state
        self.user = user
        self.password = password
        self.secret = secrets.token_hex(16)

    def ticket(self, user: str) -> str:
        stamp = f"{int(time.time()):08X}"
        mac = hashlib.sha256(f"{self.secret}:{user}:{stamp}".encode()).hexdigest()
        return f"PMG:{user}:{stamp}::{mac}"

    def csrf(self, user: str) -> str:
        mac = hashlib.sha256(f"{self.secret}:csrf:{user}".encode()).hexdigest()[:32]
        return f"{int(time.time()):08X}:{mac}"

    def ticket_user(self, ticket: str) -> str | None:
        parts = ticket.split(":")
        if len(parts) != 5 or parts[0] != "PMG":
            return None
        user, stamp = parts[1], parts[2]
        mac = hashlib.sha256(f"{self.secret}:{user}:{stamp}".encode()).hexdigest()
        return user if secrets.compare_digest(mac, parts[4]) else None

    def csrf_ok(self, user: str, token: str) -> bool:
        expected = hashlib.sha256(f"{self.secret}:csrf:{user}".encode()).hexdigest()[:32]
        return secrets.compare_digest(token.partition(":")[2], expected)


class RequestHandler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(
            f"pmg-simulator: {self.command} {self.path} {args[1] if len(args) > 1 else ''}\n"
        )

    def do_GET(self) -> None:
        self.handle_api()

    def do_POST(self) -> None:
        self.handle_api()

    def do_PUT(self) -> None:
        self.handle_api()

    def do_DELETE(self) -> None:
        self.handle_api()

    def reply(self, status: int, body: dict[str, Any], reason: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def fail(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        body: dict[str, Any] = {"data": None, "message": message}
        if errors:
            body["errors"] = errors
        self.reply(status, body, message.replace("\n", " ")[:200])

    def params(self, query: str) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        params: dict[str, Any] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        if raw:
            if (self.headers.get("Content-Type") or "").startswith("application/json"):
                params.update(json.loads(raw))
            else:
                params.update(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
        return params

    def handle_api(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_simulator/writes" and self.command == "GET":
            with self.server.state.lock:
                self.reply(200, {"writes": self.server.state.data["writes"]})
            return
        if not url.path.startswith("/api2/json/"):
            self.fail(501, f"Method '{self.command} {url.path}' not implemented")
            return
        path = url.path[len("/api2/json") :]
        try:
            params = self.params(url.query)
        except (ValueError, UnicodeDecodeError):
            self.fail(400, "malformed request body")
            return
        if path == "/access/ticket" and self.command == "POST":
            self.login(params)
            return
        user = self.authenticate()
        if user is None:
            return
        self.dispatch(path, params)

    def login(self, params: dict[str, Any]) -> None:
        schema = {
            "username": P(max_length=64),
            "password": P(),
            "realm": P(optional=True),
            "otp": P(optional=True),
            "path": P(optional=True),
            "privs": P(optional=True),
        }
        try:
            p = verify(params, schema)
        except ParamError as exc:
            self.fail(400, "Parameter verification failed.", exc.errors)
            return
        user = p["username"] if "@" in p["username"] else f"{p['username']}@{p.get('realm', 'pam')}"
        ok = secrets.compare_digest(user, self.server.user) and secrets.compare_digest(
            p["password"], self.server.password
        )
        if not ok:
            self.fail(401, "authentication failure")
            return
        self.reply(
            200,
            {
                "data": {
                    "username": user,
                    "ticket": self.server.ticket(user),
                    "CSRFPreventionToken": self.server.csrf(user),
                    "role": "root" if user == "root@pam" else "admin",
                }
            },
        )

    def authenticate(self) -> str | None:
        if (self.headers.get("Authorization") or "").startswith("PMGAPIToken="):
            self.fail(401, "API tokens not implemented")
            return None
        cookies = dict(
            c.strip().split("=", 1)
            for c in (self.headers.get("Cookie") or "").split(";")
            if "=" in c
        )
        ticket = urllib.parse.unquote(cookies.get("PMGAuthCookie", ""))
        user = self.server.ticket_user(ticket) if ticket else None
        if user is None:
            self.fail(401, "No ticket" if not ticket else "invalid ticket")
            return None
        if self.command != "GET" and not self.server.csrf_ok(
            user, self.headers.get("CSRFPreventionToken") or ""
        ):
            self.fail(401, "Permission check failed (invalid csrf token)")
            return None
        return user

    def dispatch(self, path: str, params: dict[str, Any]) -> None:
        for r in ROUTES:
            match = r.pattern.match(path)
            if match is None or r.method != self.command:
                continue
            uri = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
            for key in params:
                if key in uri:
                    self.fail(
                        400,
                        "Parameter verification failed.",
                        {key: "duplicate parameter (already defined in URI)"},
                    )
                    return
            state = self.server.state
            try:
                with state.lock:
                    checked = verify({**uri, **params}, r.schema)
                    result = r.handler(state, checked)
            except ParamError as exc:
                self.fail(400, "Parameter verification failed.", exc.errors)
                return
            except ApiError as exc:
                self.fail(exc.code, str(exc))
                return
            self.reply(200, {"data": result})
            return
        self.fail(501, f"Method '{self.command} {path}' not implemented")


def certificate(directory: Path) -> tuple[Path, Path, str]:
    """A self-signed certificate for 127.0.0.1 and localhost; its files and PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PMG API simulator")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LISTEN))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_file = directory / "pmg-api.pem"
    key_file = directory / "pmg-api.key"
    cert_file.write_text(pem)
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, pem


def serve(
    port: int,
    user: str,
    password: str,
    state_file: Path | None = None,
    cert_out: Path | None = None,
) -> tuple[Server, str]:
    """Start the simulator in a thread; return the server and its certificate (PEM)."""
    state = State(state_file)
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file, pem = certificate(Path(tmp))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_file, key_file)
    # The SMTP certificate PMG serves on port 25 (pmg-tls.pem), as certificates/info lists it.
    smtp_key = ec.generate_private_key(ec.SECP256R1())
    state.data.setdefault(
        "certificates",
        [
            {"filename": "pmg-api.pem", "pem": pem},
            {"filename": "pmg-tls.pem", "pem": _smtp_certificate(smtp_key)},
        ],
    )
    server = Server(port, state, user, password)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    if cert_out is not None:
        cert_out.write_text(pem)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, pem


def _smtp_certificate(key: ec.EllipticCurvePrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pmg.simulator.invalid")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def main() -> int:
    parser = argparse.ArgumentParser(description="PMG API simulator (tests only; 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8006)
    parser.add_argument("--user", default="root@pam")
    parser.add_argument("--password", default=os.environ.get("PMG_SIMULATOR_PASSWORD", ""))
    parser.add_argument("--state", type=Path)
    parser.add_argument("--cert-out", type=Path, required=True)
    parser.add_argument("--pidfile", type=Path)
    args = parser.parse_args()
    if not args.password:
        parser.error("--password (or PMG_SIMULATOR_PASSWORD) is required")
    server, _ = serve(args.port, args.user, args.password, args.state, args.cert_out)
    if args.pidfile is not None:
        args.pidfile.write_text(f"{os.getpid()}\n")
    print(f"PMG API simulator on https://{LISTEN}:{args.port}/api2/json", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
