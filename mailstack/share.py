"""Each host's share of the mail description: what the roles of that host receive.

The model (`mailstack.model`) is the only reader of the description; this module turns its
validated, defaulted `Description` into plain data for one host: the domains whose mail it
keeps and their accounts, the domains it is a backup MX for and their recipients, their DKIM
selectors with every default filled in, the MTA-STS policies and mail client set-ups it
serves, the names at which it serves S/MIME CA certificates and CRLs, the names of its
certificate, the gateways allowed on its port 25, the mailing lists it runs (Mailman) with
their members, and, for a gateway (Proxmox Mail Gateway), what it relays and where to.
Playbooks read it through the
`mailstack_share` filter (ansible/filter_plugins/mailstack_share.py); roles take it as their
input and never look at `mailstack_domains` themselves.

Passwords are not in the share: `mailboxes` gives them, for the dovecot role alone.

A domain of mailing lists is not among the host's `domains` (those are the domains whose
mailboxes it keeps, which Postfix and Dovecot deliver): the list host has it in
`list_domains`, and its lists in `mailman`. Making the list host's share reads the lists'
member files and runs their member commands (mailstack.listmembers), in `inventory_dir`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from mailstack import autoconfig, listmembers, lists, mtasts
from mailstack.accounts import Accounts
from mailstack.model import Description, Domain
from mailstack.smime import serve

# What the gateway's objects say they were made by (PMG's comment field).
COMMENT = "mailstack"


def of(
    description: Description,
    host: str,
    inventory_dir: Path | None = None,
    *,
    timeout: float = listmembers.COMMAND_TIMEOUT,
) -> dict[str, Any]:
    """The share of `host` (a name of the description's hosts). For a list host, the members
    of its lists are read from their sources, files and commands in `inventory_dir` (a
    command stopped after `timeout` seconds); DescriptionError names each one that failed."""
    listed = [d for d in description.domains if description.list_host(d) == host]
    served = [d for d in description.domains if host in description.stores(d) and d.mailman is None]
    relayed = [d for d in description.domains if host in description.backups(d)]
    signed = [d for d in description.domains if host in description.signers(d)]
    policies = [p for p in served_policies(description) if p["host"] == host]
    setups = [
        (d, d.autoconfig)
        for d in description.domains
        if d.autoconfig is not None and d.autoconfig.host == host
    ]
    names = {d.name: autoconfig.site_names(d.name, ac.well_known) for d, ac in setups}
    tls_names = [
        host,
        *(f"mta-sts.{p['domain']}" for p in policies),
        *(name for site in names.values() for name in site),
    ]
    tls_names += [n for n in _web_names(listed) if n not in tls_names]
    postmaster = f"postmaster@{next((d.name for d in [*served, *relayed]), host)}"
    return {
        "host": host,
        # Its published addresses, which may not be on its interfaces (behind NAT).
        "addresses": [str(a) for a in _addresses(description, host)],
        "domains": [_domain(description, d) for d in served],
        "relay_domains": [_relayed(d, host) for d in relayed],
        "backup_relays": _backup_relays(description, [*served, *listed]),
        "dkim": [
            {"domain": d.name, "selector": s.selector, "algorithm": s.algorithm, "state": s.state}
            for d in signed
            for s in d.dkim
        ],
        "postmaster": postmaster,
        "inbound_clients": _inbound_clients(description, served, relayed),
        "mta_sts": policies,
        "autoconfig": {d.name: autoconfig.settings(d.name, ac) for d, ac in setups},
        "autoconfig_names": names,
        "tls_names": tls_names,
        "pki": _pki(description, host),
        "list_domains": [_list_domain(d, postmaster) for d in listed],
        "mailman": {
            "domains": _mailman(description, listed, inventory_dir, timeout),
            "arc": _arc(listed),
        },
        "gateway": _gateway(description, host),
    }


def _pki(description: Description, host: str) -> list[dict[str, Any]]:
    """The names this host serves S/MIME CA certificates and CRLs at, over plain HTTP, with
    their files (paths relative to the inventory's published directory)."""
    sites: dict[str, list[dict[str, str]]] = {}
    for f in serve.served(description):
        if f.host == host:
            sites.setdefault(f.name, []).append(
                {"path": f.path, "published": f.published.as_posix(), "type": f.content_type}
            )
    return [{"name": name, "files": files} for name, files in sites.items()]


def _list_domain(d: Domain, postmaster: str) -> dict[str, Any]:
    """What Postfix needs of a list domain run here: every address of its lists (any other is
    refused), and where its postmaster's mail goes."""
    return {
        "name": d.name,
        "recipients": lists.addresses(d.name, d.mailman) if d.mailman else [],
        "postmaster": postmaster,
    }


def _arc(listed: list[Domain]) -> dict[str, str] | None:
    """Who seals list mail with ARC: the first list domain with an active RSA DKIM selector
    (Mailman's ARC signer takes an RSA key), or None."""
    for d in listed:
        for s in d.dkim:
            if s.algorithm == "rsa" and s.state == "active":
                return {"domain": d.name, "selector": s.selector}
    return None


def _web_names(listed: list[Domain]) -> list[str]:
    """The names of the list domains' web interfaces (Postorius, HyperKitty), each once."""
    names = [d.mailman.web_name for d in listed if d.mailman is not None]
    return list(dict.fromkeys(names))


def _mailman(
    description: Description, listed: list[Domain], inventory_dir: Path | None, timeout: float
) -> list[dict[str, Any]]:
    """The list domains the host runs, each list with every default filled in and its
    members read from its source."""
    members = listmembers.resolve(description, listed, inventory_dir, timeout=timeout)
    out = []
    for d in listed:
        if d.mailman is None:
            continue
        out.append(
            {
                "name": d.name,
                "web_name": d.mailman.web_name,
                "remove_absent": d.mailman.remove_absent,
                "lists": [_list(d.name, x, members[d.name][x.name]) for x in d.mailman.lists],
            }
        )
    return out


def _list(domain: str, x: lists.MailingList, members: list[str]) -> dict[str, Any]:
    return {
        "address": x.address(domain),
        "name": x.name,
        "description": x.description,
        "owners": list(x.owners),
        "moderators": list(x.moderators),
        "subscription": x.subscription,
        "moderation": {"members": x.members_action, "nonmembers": x.nonmembers_action},
        "archive": x.archive,
        "dmarc_mitigation": x.dmarc_mitigation,
        "members": members,
    }


def mailboxes(description: Description, host: str) -> list[dict[str, Any]]:
    """The mailboxes `host` keeps, each with its hash or its vaulted password (as Ansible
    holds it): the dovecot role's input, and the only one that carries passwords."""
    out = []
    for domain in description.domains:
        if host not in description.stores(domain):
            continue
        for mailbox in domain.accounts.mailboxes:
            entry: dict[str, Any] = {
                "address": f"{mailbox.name}@{domain.name}",
                "quota": mailbox.quota,
                "password_hash": mailbox.password_hash,
            }
            if mailbox.password is not None:
                entry["password"] = mailbox.password.secret
            out.append(entry)
    return out


def _domain(description: Description, d: Domain) -> dict[str, Any]:
    return {
        "name": d.name,
        "zone": d.zone,
        "gateways": list(description.gateways(d)),
        **_accounts(d.name, d.accounts),
    }


def _accounts(name: str, accounts: Accounts) -> dict[str, Any]:
    return {
        "mailboxes": [
            {"name": m.name, "address": f"{m.name}@{name}", "quota": m.quota}
            for m in accounts.mailboxes
        ],
        "aliases": [
            {"name": a.name, "address": f"{a.name}@{name}", "to": list(a.to)}
            for a in accounts.aliases
        ],
        "catch_all": accounts.catch_all,
    }


def _relayed(d: Domain, host: str) -> dict[str, Any]:
    """A domain for which the host is a backup MX: the addresses it accepts mail for (its
    mailboxes and aliases, `@domain` for a catch-all, every address of its lists) and how
    long it keeps mail."""
    entry = next(m for m in d.mx if m.host == host)
    a = d.accounts
    names = [m.name for m in a.mailboxes] + [x.name for x in a.aliases]
    recipients = [f"{name}@{d.name}" for name in names]
    if d.mailman is not None:
        recipients += lists.addresses(d.name, d.mailman)
    if a.catch_all is not None:
        recipients.append(f"@{d.name}")
    return {
        "name": d.name,
        "zone": d.zone,
        "recipients": recipients,
        "queue_lifetime": entry.queue_lifetime,
    }


def _backup_relays(description: Description, served: list[Domain]) -> list[str]:
    """The addresses of the backup MX hosts of the domains the host keeps: what they relay
    has passed the same inbound checks there (DMARC is not checked twice)."""
    names = sorted({b for d in served for b in description.backups(d)})
    return [str(a) for name in names for a in _addresses(description, name)]


def _inbound_clients(
    description: Description, served: list[Domain], relayed: list[Domain]
) -> list[str]:
    """The addresses of the gateways in front of the host when every domain it keeps is
    behind gateways and it is no backup MX, so that its port 25 takes mail from them alone;
    else none."""
    if not served or relayed or any(not description.gateways(d) for d in served):
        return []
    names = sorted({g for d in served for g in description.gateways(d)})
    return [str(a) for name in names for a in _addresses(description, name)]


def served_policies(description: Description) -> list[dict[str, Any]]:
    """Every MTA-STS policy with the mail host that serves it: {domain, policy, id, host}."""
    out = []
    for d in description.domains:
        text, host = mtasts.policy_of(d), description.policy_host(d)
        if text is not None and host is not None:
            out.append(
                {"domain": d.name, "policy": text, "id": mtasts.policy_id(text), "host": host}
            )
    return out


def _gateway(description: Description, host: str) -> dict[str, Any]:
    """What a gateway relays: its relay domains, a transport for each to the domain's backend
    (no MX lookup), the backends' addresses as trusted networks (they send their outbound
    mail through it), and the domains that list each DKIM selector (PMG signs with one)."""
    relayed = [d for d in description.domains if host in description.gateways(d)]
    backends = sorted({d.backend for d in relayed if d.backend is not None})
    selectors: dict[str, list[dict[str, str]]] = {}
    for d in relayed:
        for s in d.dkim:
            selectors.setdefault(s.selector, []).append({"domain": d.name, "comment": COMMENT})
    return {
        "relay_domains": [{"domain": d.name, "comment": COMMENT} for d in relayed],
        "transports": [
            {
                "domain": d.name,
                "host": d.backend,
                "port": 25,
                "use_mx": False,
                "protocol": "smtp",
                "comment": COMMENT,
            }
            for d in relayed
            if d.backend is not None
        ],
        "networks": [
            {"cidr": f"{a}/{a.max_prefixlen}", "comment": backend}
            for backend in backends
            for a in _addresses(description, backend)
        ],
        "dkim_domains": selectors,
    }


def _addresses(
    description: Description, name: str
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    host = description.host(name)
    if host is None:
        return []
    return [a for a in (host.ipv4, host.ipv6) if a is not None]
