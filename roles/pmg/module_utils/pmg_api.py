"""Proxmox Mail Gateway's REST API for the `pmg` role's modules: login, requests, errors that
name the object and the field, PMG's parameter formats (to refuse a bad value before any
write), and the comparison of wanted and current objects that every module shares.

PMG 8 authenticates with tickets only: `POST /access/ticket` (username, password) returns a
ticket, sent back in the `PMGAuthCookie` cookie, and a `CSRFPreventionToken` that every write
carries in a header of that name. Its API server refuses API tokens ("API tokens not
implemented", src/PMG/HTTPServer.pm of proxmox/pmg-api), so there is no token option here.
Plain urllib: no dependency beyond the standard library.
"""

from __future__ import annotations

import ipaddress
import json
import re
import ssl
import textwrap
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

# -- PMG's formats (proxmox/pmg-api src/PMG/Config.pm and PVE::JSONSchema) -------------------
_NAME = r"([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)"
_DNS_NAME = re.compile(rf"^({_NAME}\.)*{_NAME}$")
_TRANSPORT_DOMAIN = re.compile(rf"^\.?({_NAME}\.)*{_NAME}$")
_EMAIL = re.compile(r"^[\w+\-~]+(\.[\w+\-~]+)*@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*$")
TLS_POLICIES = ("none", "may", "encrypt", "dane", "dane-only", "fingerprint", "verify", "secure")


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_cidr(value: str) -> bool:
    """A network as PMG's CIDR format takes it (prefix 8 to 32, or 8 to 128 for IPv6), and
    written as a network (no host bits), which PMG does not check but Postfix needs."""
    address, slash, prefix = value.partition("/")
    if not slash or not prefix.isdigit() or not is_ip(address):
        return False
    top = 32 if ipaddress.ip_address(address).version == 4 else 128
    if not 8 <= int(prefix) <= top:
        return False
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return True


def is_domain(value: str) -> bool:
    """A relay, DKIM or transport domain (PMG's transport-domain: a leading dot for
    subdomains), at most 253 characters."""
    return len(value) <= 253 and bool(_TRANSPORT_DOMAIN.match(value))


def is_host(value: str) -> bool:
    return is_ip(value) or (len(value) <= 253 and bool(_DNS_NAME.match(value)))


def is_email(value: str) -> bool:
    return bool(_EMAIL.match(value))


# -- errors --------------------------------------------------------------------------------
class PmgError(Exception):
    """A refused request or a bad value: the message names the object and the field."""


def _describe(method: str, path: str, what: str) -> str:
    return what or f"{method} {path}"


class PmgClient:
    """A logged-in session with one PMG node (or the PMG API simulator)."""

    def __init__(  # noqa: PLR0913 (the connection options, keyword-only)
        self,
        url: str,
        user: str,
        password: str,
        *,
        ca_file: str | None = None,
        validate_certs: bool = True,
        timeout: float = 30,
    ) -> None:
        self.base = url.rstrip("/")
        if not self.base.endswith("/api2/json"):
            self.base += "/api2/json"
        if not self.base.startswith("https://"):
            raise PmgError(f"api_url: {url!r} must be an https:// URL (PMG listens on 8006)")
        if validate_certs:
            self.context = ssl.create_default_context(cafile=ca_file)
        else:
            self.context = ssl.create_default_context()
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        self.timeout = timeout
        self.ticket = ""
        self.csrf = ""
        data = self.request(
            "POST",
            "/access/ticket",
            {"username": user, "password": password},
            what=f"login as {user}",
        )
        self.ticket = str(data["ticket"])
        self.csrf = str(data["CSRFPreventionToken"])

    def request(
        self, method: str, path: str, params: dict[str, Any] | None = None, *, what: str = ""
    ) -> Any:
        """Call the API; return `data`. PMG's per-parameter errors become one message:
        `<what>: <field>: <message>`."""
        body = urllib.parse.urlencode({k: _wire(v) for k, v in (params or {}).items()}).encode()
        url = self.base + path
        if method in ("GET", "DELETE") and body:
            url += "?" + body.decode()
            body = b""
        request = urllib.request.Request(url, data=body or None, method=method)  # noqa: S310
        if body:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if self.ticket:
            request.add_header("Cookie", "PMGAuthCookie=" + urllib.parse.quote(self.ticket))
            if method != "GET":
                request.add_header("CSRFPreventionToken", self.csrf)
        try:
            with urllib.request.urlopen(  # noqa: S310 (an https URL, checked above)
                request, timeout=self.timeout, context=self.context
            ) as response:
                return json.loads(response.read() or b"{}").get("data")
        except urllib.error.HTTPError as exc:
            raise PmgError(self._error(exc, _describe(method, path, what))) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PmgError(
                f"{_describe(method, path, what)}: cannot reach {self.base}: {reason}"
            ) from None

    @staticmethod
    def _error(exc: urllib.error.HTTPError, what: str) -> str:
        try:
            payload = json.loads(exc.read() or b"{}")
        except ValueError:
            payload = {}
        errors = payload.get("errors") or {}
        if errors:
            fields = "; ".join(f"{k}: {str(v).strip()}" for k, v in sorted(errors.items()))
            return f"{what}: refused by PMG (HTTP {exc.code}): {fields}"
        message = str(payload.get("message") or exc.reason or "").strip()
        return f"{what}: refused by PMG (HTTP {exc.code}): {message}"

    def get(self, path: str, what: str = "") -> Any:
        return self.request("GET", path, what=what)


def _wire(value: Any) -> str:
    """Booleans as PMG's 0 and 1, the rest as text."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def normalize(value: Any) -> Any:
    """A value as PMG returns it: booleans as 0/1, numbers as int, the rest as text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def quote(key: str) -> str:
    """An object's key in a path; a network keeps its slash (PMG's mynetworks path)."""
    return urllib.parse.quote(key, safe="/:")


# -- the module side -----------------------------------------------------------------------
def connection_spec() -> dict[str, Any]:
    """The options every module takes to reach PMG."""
    return {
        "api_url": {"type": "str", "required": True},
        "api_user": {"type": "str", "required": True},
        "api_password": {"type": "str", "required": True, "no_log": True},
        "api_ca_file": {"type": "path"},
        "validate_certs": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 30},
    }


def run_module(options: dict[str, Any], run: Callable[[Any], dict[str, Any]]) -> None:
    """The main of an API module: its `options` and the connection's, check mode supported,
    `run(module)`'s result as the task's, and PMG's errors as its failure message."""
    from ansible.module_utils.basic import AnsibleModule  # noqa: PLC0415 (on the target only)

    module = AnsibleModule(argument_spec={**options, **connection_spec()}, supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except PmgError as exc:
        module.fail_json(msg=str(exc))


def connect(params: dict[str, Any]) -> PmgClient:
    return PmgClient(
        params["api_url"],
        params["api_user"],
        params["api_password"],
        ca_file=params.get("api_ca_file"),
        validate_certs=params.get("validate_certs", True),
        timeout=params.get("timeout", 30),
    )


def text_diff(items: dict[str, Any]) -> str:
    """A stable, readable form of objects for Ansible's --diff."""
    return json.dumps(items, indent=2, sort_keys=True) + "\n"


# -- the keyed collections of PMG's configuration ------------------------------------------
class Kind:
    """A collection under /config whose objects are named by one key (a domain, a network,
    a destination), with the fields a module compares and writes, and their defaults as
    PMG fills them in on creation."""

    def __init__(self, path: str, key: str, fields: dict[str, Any], label: str) -> None:
        self.path = path
        self.key = key
        self.fields = fields
        self.label = label


KINDS = {
    "relay_domain": Kind("/config/domains", "domain", {"comment": ""}, "relay domain"),
    "dkim_domain": Kind("/config/dkim/domains", "domain", {"comment": ""}, "DKIM signing domain"),
    "transport": Kind(
        "/config/transport",
        "domain",
        {"host": None, "protocol": "smtp", "port": 25, "use_mx": 1, "comment": ""},
        "transport",
    ),
    "network": Kind("/config/mynetworks", "cidr", {"comment": ""}, "trusted network"),
    "tls_policy": Kind("/config/tlspolicy", "destination", {"policy": None}, "TLS policy"),
}
WHITELIST = {
    "email": (1001, "email"),
    "domain": (1002, "domain"),
    "ip": (1003, "ip"),
    "network": (1004, "cidr"),
}


def _nexthop(value: str) -> bool:
    host = re.sub(r":\d+$", "", value)
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return is_domain(value) or is_host(host)


def check_item(kind: str, item: Any, where: str) -> list[str]:
    """Every problem of one wanted object, each as `<where>.<field>: <what is wrong>`."""
    spec = KINDS[kind]
    if not isinstance(item, dict):
        return [f"{where}: must be a mapping with {spec.key!r}"]
    problems = [
        f"{where}.{k}: unknown field (known: {', '.join([spec.key, *spec.fields])})"
        for k in item
        if k != spec.key and k not in spec.fields
    ]
    key = item.get(spec.key)
    if not isinstance(key, str) or not key:
        return [*problems, f"{where}.{spec.key}: is required"]
    checks = {
        "relay_domain": is_domain,
        "dkim_domain": is_domain,
        "transport": lambda v: is_domain(v) or ("@" in v and is_email(v)),
        "network": is_cidr,
        "tls_policy": _nexthop,
    }
    what = {"network": "a network in CIDR notation (address/prefix, no host bits)"}
    if not checks[kind](key):
        problems.append(f"{where}.{spec.key}: {key!r} is not {what.get(kind, 'a domain')}")
    if kind == "transport":
        host, port = item.get("host"), item.get("port", 25)
        if not isinstance(host, str) or not is_host(host):
            problems.append(f"{where}.host: {host!r} is not a host name or IP address")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(f"{where}.port: {port!r} is not a port (1 to 65535)")
        if item.get("protocol", "smtp") not in ("smtp", "lmtp"):
            problems.append(f"{where}.protocol: must be smtp or lmtp")
    if kind == "tls_policy" and item.get("policy") not in TLS_POLICIES:
        problems.append(
            f"{where}.policy: {item.get('policy')!r} is not one of {', '.join(TLS_POLICIES)}"
        )
    return problems


def check_whitelist(item: Any, where: str) -> list[str]:
    if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in WHITELIST:
        kinds = ", ".join(f"{{{k}: ...}}" for k in WHITELIST)
        return [f"{where}: must be one of {kinds}"]
    kind, value = next(iter(item.items()))
    ok = {
        "email": is_email,
        "domain": lambda v: bool(_DNS_NAME.match(v)),
        "ip": is_ip,
        "network": is_cidr,
    }[kind]
    if not isinstance(value, str) or not ok(value):
        return [f"{where}.{kind}: {value!r} is not a valid {kind}"]
    return []


def wanted(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """An object as PMG will hold it: the defaults filled in, values normalized."""
    spec = KINDS[kind]
    out = {spec.key: item[spec.key]}
    for field, default in spec.fields.items():
        value = item.get(field, default)
        out[field] = normalize(value) if value is not None else None
    return out


def dkim_public_pem(record: str) -> str:
    """The public key in PMG's DKIM TXT record (its p= value, split in quoted strings of 250
    characters, as `GET /config/dkim/selector` returns it) as PEM."""
    strings = "".join(re.findall(r'"([^"]*)"', record))
    match = re.search(r"p=([A-Za-z0-9+/=]+)", strings)
    if match is None:
        raise PmgError(f"DKIM selector: no p= key in PMG's record {record!r}")
    body = "\n".join(textwrap.wrap(match.group(1), 64))
    return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"


# -- spam score levels: the spamfilter objects of the rule database's what-object groups ----
SPAMFILTER = 3000  # the otype of PMG::RuleDB::Spam ("Spam Filter"), field `spamlevel`
WHAT = "/config/ruledb/what"


def check_spam_level(entry: Any, where: str) -> list[str]:
    """One wanted level `{group, level}`: a group name and an integer of at least 0 (the
    spamfilter's `spamlevel`: integer, minimum 0). The messages name `var` and `group_var`,
    the variables that hold them, when the entry gives them."""
    if not isinstance(entry, dict):
        return [f"{where}: must be a mapping {{group, level}}"]
    problems = []
    group, level = entry.get("group"), entry.get("level")
    if not isinstance(group, str) or not group or len(group) > 255:
        problems.append(
            f"{entry.get('group_var') or where + '.group'}: {group!r} is not a group name"
            " (1 to 255 characters)"
        )
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        problems.append(
            f"{entry.get('var') or where + '.level'}: {level!r} is not a spam score"
            " (an integer, 0 or more)"
        )
    return problems


def spam_levels(
    client: PmgClient, levels: list[dict[str, Any]], *, check_mode: bool
) -> dict[str, Any]:
    """Make the spamfilter objects of the named what-object groups match `levels`
    (`[{group, level, var}]`): each one's `spamlevel` updated, one created in a group that
    has none. A group that PMG does not have is an error: only PMG's rules use a group, so a
    new one would filter nothing. Returns the actions and the levels before and after."""
    problems = [p for i, e in enumerate(levels) for p in check_spam_level(e, f"levels[{i}]")]
    names = [str(e.get("group")) for e in levels if isinstance(e, dict)]
    problems += [
        f"group {n!r} is listed twice" for n in sorted({n for n in names if names.count(n) > 1})
    ]
    if problems:
        raise PmgError("spam levels: " + "; ".join(problems))
    groups: dict[str, list[int]] = {}
    for group in client.get(WHAT, what="list the what-object groups"):
        groups.setdefault(str(group.get("name")), []).append(int(group["id"]))
    actions: list[str] = []
    before: dict[str, list[int]] = {}
    after: dict[str, list[int]] = {}
    for entry in levels:
        name, level = entry["group"], entry["level"]
        what = f"what group {name!r}" + (f" ({entry['var']})" if entry.get("var") else "")
        ids = groups.get(name, [])
        if len(ids) != 1:
            found = "not in PMG's rule database" if not ids else f"{len(ids)} groups of that name"
            known = ", ".join(repr(n) for n in sorted(groups))
            raise PmgError(f"{what}: {found} (its what groups: {known})")
        base = f"{WHAT}/{ids[0]}"
        spam = [
            o
            for o in client.get(f"{base}/objects", what=f"list the objects of {what}")
            if int(o.get("otype", 0)) == SPAMFILTER
        ]
        before[name] = [int(o["spamlevel"]) for o in spam]
        after[name] = [level] * max(len(spam), 1)
        if not spam:
            actions.append(f"create spamfilter in {name!r}: spamlevel {level}")
            if not check_mode:
                params = {"spamlevel": level}
                client.request(
                    "POST", f"{base}/spamfilter", params, what=f"create a spamfilter in {what}"
                )
        for obj in spam:
            if int(obj["spamlevel"]) == level:
                continue
            actions.append(
                f"update {name!r} spamfilter {obj['id']}: spamlevel {obj['spamlevel']} -> {level}"
            )
            if not check_mode:
                client.request(
                    "PUT",
                    f"{base}/spamfilter/{int(obj['id'])}",
                    {"spamlevel": level},
                    what=f"update the spamfilter of {what}",
                )
    return {"changed": bool(actions), "actions": actions, "before": before, "after": after}
