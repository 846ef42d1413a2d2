"""What each field of the mail description means, one sentence or a few, by path pattern.

The model (`mailstack/model.py`, `mailstack/accounts.py`) says each field's type, default,
choices and bounds as it reads it; these are only the words. `python -m mailstack.reference`
refuses a field the model reads that has no words here, and words for a field it no longer
reads. A field that the model reads as it is (`Reader.raw`) and checks by itself has its type
in TYPES.
"""

from __future__ import annotations

_D = "mailstack_domains[]."

GROUPS = {
    "mail": "The mail hosts: Postfix, Dovecot, OpenDKIM, OpenDMARC and SpamAssassin. An MX of"
    " a domain, or the `backend` behind its gateways; each host's name is its inventory name"
    " (its FQDN). The description needs one host here at least.",
    "pmg": "Proxmox Mail Gateways in front of the mail hosts: a domain whose `mx` names one"
    " is received by the gateways, which relay its mail to the domain's `backend`.",
}

HOST_VARS = {
    "mailstack_ipv4": "The host's public IPv4 address: its A record, and the address of the"
    " `mta-sts` and `autoconfig` names it serves. An MX needs this one or `mailstack_ipv6`.",
    "mailstack_ipv6": "The host's public IPv6 address: its AAAA record, as `mailstack_ipv4`.",
}

DOCS = {
    "mailstack_domains": "The mail domains, in `group_vars/all/` of the inventory. Every field"
    " is checked before anything runs, and an unknown field is an error that names the"
    " closest known one. Every value ends up in a config file or a DNS record, so a string is"
    " one line of printable text: a control character (newline, NUL, ...) is refused, and so"
    " is a value longer than its limit: 253 characters for a DNS name, 255 for another name"
    " (a selector, a local part, an address), 256 for a password hash and 1024 for free text"
    " (a URL, a note).",
    _D + "name": "The mail domain; a domain is listed once.",
    _D + "zone": "The DNS zone that holds the domain's records: a parent zone for a subdomain."
    " Unset: the domain is its own zone.",
    _D + "ttl": "TTL of the domain's records, in seconds (OVH raises lower values silently).",
    _D + "dnssec": "Sign the domain's zone; DANE needs it.",
    _D + "parked": "A domain that sends and receives no mail: Null MX (`0 .`), `v=spf1 -all`"
    " and a DMARC reject with strict alignment. It takes no other field than `dmarc.rua`.",
    _D + "mx": "The domain's MX hosts, primary and backups; required unless the domain is"
    " parked. A host in one of the described zones must be in group `mail` or `pmg`; a host"
    " elsewhere (a provider's backup MX) is allowed. Among the hosts of group `mail`, one"
    " at most is the primary: mailstack does not replicate mailboxes.",
    _D + "mx[].host": "The MX host's name, never an address; listed once per domain. A host"
    " outside the inventory whose name looks like ours (a typo away) is a warning.",
    _D + "mx[].priority": "Its MX preference: the lowest is tried first. A backup's must be"
    " higher than its primary's.",
    _D + "mx[].role": "What the host is for this domain: `primary` keeps its mailboxes and"
    " serves submission, IMAP and POP3; `backup` accepts mail for the domain's real"
    " recipients only (550 for any other), with the same checks as the primary, queues it"
    " while the primary is unreachable and relays it there over DANE- or MTA-STS-verified"
    " TLS. A host may be primary for one domain and backup for another. A backup needs a"
    " primary and cannot be a gateway (group `pmg`).",
    _D + "mx[].queue_lifetime": "A backup's: how long it keeps mail while the primary is"
    " unreachable before returning it to its sender, as Postfix writes a time (`5d`, `36h`;"
    " units s, m, h, d, w), from 1h to 30d. A host that is backup for several domains keeps"
    " mail as long as the longest of theirs, its own outbound mail too.",
    _D + "mx[].sends": "A backup's: `true` when it also sends the domain's mail, so that its"
    " addresses are in the domain's SPF record and it gets the domain's DKIM keys. A backup"
    " that does not send is neither authorised by SPF nor able to sign as the domain.",
    _D + "spf": "The domain's SPF record.",
    _D + "spf.senders": "Who may send as the domain: each sender has exactly one mechanism,"
    " `a`, `mx`, `ip4`, `ip6` or `include`, and says who sends through it in `who`.",
    _D + "spf.senders[].who": "Who sends through this mechanism; required for an `include`,"
    " where a forgotten cloud sender is the first SPF pitfall.",
    _D + "spf.senders[].a": "`true` for the domain's own A/AAAA addresses, or another domain"
    " whose addresses may send.",
    _D + "spf.senders[].mx": "`true` for the domain's own MX hosts that send, or another domain"
    " whose MX hosts may send. When one of the domain's MX is a backup that does not send"
    " (`sends: false`), the record lists the sending MX hosts instead of `mx`: the addresses"
    " of the described ones (`ip4:`, `ip6:`), `a:<host>` for the others.",
    _D + "spf.senders[].ip4": "An IPv4 address or network that may send.",
    _D + "spf.senders[].ip6": "An IPv6 address or network that may send.",
    _D + "spf.senders[].include": "A domain whose SPF record is included: a sending service's."
    " Its lookups count toward the limit of 10, and `mailstack spf refresh` caches its"
    " answers.",
    _D + "spf.all": "The final qualifier: `fail` (`-all`), `softfail` (`~all`) or `neutral`"
    " (`?all`).",
    _D + "spf.flatten": "Replace the includes by the networks they stand for, merged, in"
    " `_spf1.<domain>`, `_spf2...` continuation records of at most 255 octets each.",
    _D + "dkim": "The domain's DKIM selectors: each gets a key made on the hosts and a record"
    " at `<selector>._domainkey`. One active selector per algorithm signs; an active"
    " `ed25519` one needs an active `rsa` one, since receivers that know only RSA would see"
    " mail signed with Ed25519 alone as unsigned. No active selector is a warning. A gateway"
    " (group `pmg`) signs with its own selector, listed here too.",
    _D + "dkim[].selector": "The selector: lower-case labels, listed once per domain.",
    _D + "dkim[].algorithm": "`rsa` (2048 bits) or `ed25519`; one selector of each signs for"
    " old and new verifiers alike.",
    _D + "dkim[].state": "`active` is published and signs, `staged` is published and does not"
    " sign yet, `retiring` is still published and no longer signs."
    " `ansible/dkim-rotate.yml` moves selectors through these states.",
    _D + "dkim[].since": "When a retiring selector stopped signing: an ISO 8601 date and time"
    " with its zone. Only for a `retiring` selector; it may be removed once the delay has"
    " passed.",
    _D + "dmarc": "The domain's DMARC record at `_dmarc`.",
    _D + "dmarc.p": "The policy for mail that fails DMARC.",
    _D + "dmarc.sp": "The policy for subdomains. Unset: as `p`.",
    _D + "dmarc.np": "The policy for subdomains that do not exist (RFC 9989). Unset: as `sp`.",
    _D + "dmarc.adkim": "DKIM alignment: `r` (relaxed) or `s` (strict).",
    _D + "dmarc.aspf": "SPF alignment: `r` (relaxed) or `s` (strict).",
    _D + "dmarc.rua": "`mailto:` addresses for aggregate reports; none is a warning. An address"
    " in a domain whose mailboxes the description holds must be one of its mailboxes or"
    " aliases.",
    _D + "dmarc.ruf": "`mailto:` addresses for failure reports, as `rua`.",
    _D + "dmarc.t": "Test mode (`t=y`, RFC 9989).",
    _D + "dmarc.pct": "The percentage of failing mail the policy applies to; written only when"
    " set, for receivers that still read it.",
    _D + "mta_sts": "The domain's MTA-STS policy, served at"
    " `https://mta-sts.<domain>/.well-known/mta-sts.txt`, and its `_mta-sts` record, whose id"
    " changes exactly when the policy does.",
    _D + "mta_sts.mode": "The policy's mode.",
    _D + "mta_sts.max_age": "How long senders may cache the policy, in seconds; under a week is"
    " a warning.",
    _D + "mta_sts.host": "The host of group `mail` that serves the policy. Unset: the domain's"
    " primary MX among the described hosts (no gateway), else the `backend`.",
    _D + "mta_sts.mx": "The policy's `mx:` patterns (`*.` only as the leftmost label); every MX"
    " must match one. Unset: the MX hosts.",
    _D + "tls_rpt": "The domain's TLS reporting record at `_smtp._tls` (RFC 8460).",
    _D + "tls_rpt.rua": "`mailto:` or `https://` addresses for TLS reports; one at least. A"
    " `mailto:` address in a described domain must be one of its mailboxes or aliases.",
    _D + "bimi": "The domain's BIMI record at `default._bimi`; refused unless DMARC enforces"
    " (`p` and `sp` quarantine or reject, `pct` 100).",
    _D + "bimi.logo": "`https://` URL of the logo, an SVG Tiny PS file (`.svg`).",
    _D + "bimi.authority": "`https://` URL of the mark certificate.",
    _D + "caa": "CAA records at the domain, by tag.",
    _D + "caa.issue": "CAs that may issue certificates for the domain.",
    _D + "caa.issuewild": "CAs that may issue wildcard certificates.",
    _D + "caa.iodef": "`mailto:` or `https://` URLs where CAs report refused requests.",
    _D + "caa.issuemail": "CAs that may issue S/MIME certificates.",
    _D + "caa.issuevmc": "CAs that may issue verified mark certificates (BIMI).",
    _D + "autoconfig": "Mail client set-up: the RFC 6186/8314 SRV records (`0 0 0 .` for a"
    " service not offered), the `_autodiscover._tcp` SRV record, and the A/AAAA records of"
    " `autoconfig.<domain>` and `autodiscover.<domain>`, where the host serves Thunderbird's"
    " autoconfig, Outlook's autodiscover and Apple's configuration profiles (role"
    " `autoconfig`, docs/clients.md).",
    _D + "autoconfig.host": "The host of group `mail` that serves submission, IMAP and POP3,"
    " and the client set-up documents.",
    _D + "autoconfig.well_known": "`true`: the domain's own name also points at the host"
    " (A/AAAA records at the domain), which answers"
    " `https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml`; only for a domain with"
    " no web site elsewhere. Default `false`.",
    _D + "autoconfig.services": "The services offered, among `submission`, `submissions`,"
    " `imap`, `imaps`, `pop3` and `pop3s`.",
    _D + "mailboxes": "The domain's mailboxes, `<name>@<domain>`, delivered by Dovecot.",
    _D + "mailboxes[].name": "The local part: lower case; a name is a mailbox or an alias of the"
    " domain, once.",
    _D + "mailboxes[].password": "The password encrypted with `ansible-vault encrypt_string`"
    " (`!vault`), which the `dovecot` role hashes at deploy time; a password in clear, or a"
    " Jinja template such as `{{ vault_x }}` (mailstack resolves none), is refused. Give it or"
    " `password_hash`.",
    _D + "mailboxes[].password_hash": "The password's hash as `doveadm pw -s SHA512-CRYPT`"
    " prints it (`{SCHEME}hash`; ARGON2ID, ARGON2I, BLF-CRYPT, SHA512-CRYPT or"
    " SHA256-CRYPT), in the form and lengths of its scheme and with only the scheme's"
    " alphabet: letters,"
    " digits and `. / $ , = +` (never a `:`, which separates the fields of Dovecot's users"
    " file). Give it or `password`.",
    _D + "mailboxes[].quota": "The mailbox's size limit, such as `500M` or `2G`. Unset: the"
    " `dovecot` role's default.",
    _D + "aliases": "Addresses of the domain that deliver to other addresses; a mailbox may"
    " send as an alias of its domain that delivers to it.",
    _D + "aliases[].name": "The alias's local part, as a mailbox's `name`.",
    _D + "aliases[].to": "The addresses it delivers to; one at least. Mail forwarded to another"
    " domain leaves with an SRS envelope sender.",
    _D + "catch_all": "The address that receives the mail for every other name of the domain;"
    " then no name of it is refused.",
    _D + "smime": "S/MIME certificates for the domain's mailboxes (docs/smime.md): issued by"
    " mailstack's own CA for the domain, or brought by each user as a .p12 from another CA."
    " Each mailbox's current certificate is published as an SMIMEA record (RFC 8162) under"
    " `_smimecert.<domain>`. Not for a parked domain.",
    _D + "smime.ca": "Who issues the certificates: `mailstack` (its CA for this domain, made"
    " by the first `mailstack smime issue`) or `external` (each user's .p12 from a CA of"
    " their choice, checked and brought in by `mailstack smime import`).",
    _D + "smime.key": "The key of each certificate mailstack's CA issues, and of the CA"
    " itself: `rsa-3072` (every client) or `ecdsa-p256` (smaller; not every client encrypts"
    " to it). Only with `ca: mailstack`.",
    _D + "smime.validity": "How long a certificate is valid, in days; 825 at most (CA/Browser"
    " Forum S/MIME Baseline Requirements). Only with `ca: mailstack`.",
    _D + "smime.ca_validity": "How long the CA's own certificate is valid, in days, counted"
    " from its making. Only with `ca: mailstack`.",
    _D + "smime.crl_days": "How long each CRL the CA signs is valid, in days: sign a new one"
    " (`mailstack smime crl`) before it runs out. Only with `ca: mailstack`.",
    _D + "smime.pki_name": "The name whose HTTP server serves the CA certificate and its CRL"
    " (`http://<pki_name>/smime/<domain>/ca.crt` and `ca.crl`), written into every"
    " certificate; its A/AAAA records point at `smime.host`. Unset: `pki.<domain>`. Only with"
    " `ca: mailstack`.",
    _D + "smime.host": "The host of group `mail` that serves the CA certificate and CRL. Unset:"
    " the domain's first mail host that keeps its mail. Only with `ca: mailstack`.",
    _D + "mailman": "Mailing lists (Mailman 3, docs/lists.md): the domain hosts lists and"
    " nothing else, so it has no `mailboxes`, `aliases` or `catch_all` and is not parked; lists"
    " live on a domain of their own, such as `lists.<domain>`, with its own MX, SPF, DKIM, DMARC"
    " and MTA-STS like any domain. Its first MX, a primary of group `mail` (not a gateway),"
    " is the list host: it runs Mailman and signs the lists' mail with the domain's DKIM keys.",
    _D + "mailman.web_name": "The name of the lists' web pages (Postorius, HyperKitty) over"
    " HTTPS: its A/AAAA records point at the list host, and the host's certificate names it."
    " Unset: the domain's own name. Not another host of the inventory.",
    _D + "mailman.remove_absent": "`true`: a list on the list host that the description no"
    " longer holds is deleted, with its archive. Default `false`: it is left as it is"
    " (archives are data).",
    _D + "mailman.lists": "The domain's lists, each `<name>@<domain>`.",
    _D + "mailman.lists[].name": "The list's name, the local part of its address: lower-case"
    " letters and digits joined by single `.`, `-` or `_`, 64 characters at most, listed once;"
    " not ending in `-bounces`, `-confirm`, `-join`, `-leave`, `-owner`, `-request`,"
    " `-subscribe` or `-unsubscribe` (the addresses Mailman keeps for every list), and not"
    " `postmaster`.",
    _D + "mailman.lists[].description": "A short description of the list, shown in its web pages.",
    _D + "mailman.lists[].owners": "The owners' addresses; one at least.",
    _D + "mailman.lists[].moderators": "The moderators' addresses.",
    _D + "mailman.lists[].subscription": "Who may join (Mailman's subscription policy): `open`"
    " (anyone), `confirm` (the subscriber confirms by mail), `moderate` (a moderator"
    " approves), `confirm_then_moderate` (both).",
    _D + "mailman.lists[].moderation": "What happens to a post, by who sends it.",
    _D + "mailman.lists[].moderation.members": "A member's post: `accept`, `hold` (for a"
    " moderator), `reject`, `discard` or `defer` (to the next moderation rules).",
    _D + "mailman.lists[].moderation.nonmembers": "A post from someone who is not a member:"
    " `accept`, `hold`, `reject` or `discard`.",
    _D + "mailman.lists[].archive": "The list's archive in HyperKitty: `public`, `private`"
    " (members only) or `none` (not archived).",
    _D + "mailman.lists[].dmarc_mitigation": "What the list does to a post whose author's"
    " domain publishes DMARC `p=quarantine` or `p=reject`, whose signature the list breaks:"
    " `munge_from` (From becomes the list's address, the author in Reply-To), `wrap_message`"
    " (the post is attached to a message from the list) or `no_mitigation`.",
    _D + "mailman.lists[].members": "Members' addresses, besides those of `members_from`;"
    " the members are both, lower-cased, each once.",
    _D + "mailman.lists[].members_from": "Where more members come from: exactly one of"
    " `mailboxes`, `alias`, `file` and `command`. A file or command is read only when the"
    " list host's share is made (`ansible/site.yml`, `mailstack spec share`), never by"
    " `spec validate` or `dns plan`; one that fails, gives a line that is not an address, or"
    " gives no address at all is an error naming the list, and no list is changed.",
    _D + "mailman.lists[].members_from.mailboxes": "A domain of the description: each of its"
    " mailboxes is a member.",
    _D + "mailman.lists[].members_from.alias": "The address of an alias of the description:"
    " the addresses it delivers to are members (a named group).",
    _D + "mailman.lists[].members_from.file": "A file of addresses, one a line (blank lines"
    " and lines beginning with `#` skipped), its path relative to the inventory directory.",
    _D + "mailman.lists[].members_from.command": "A command run on the controller, in the"
    " inventory directory, as a list (the program, then its arguments; never a shell line),"
    " with no input: its standard output is the member list, as a file's. It must exit 0"
    " within 30 seconds; its standard error is discarded.",
    _D + "mailman.lists[].allow_empty": "`true`: a `members_from.file` or"
    " `members_from.command` that gives no address is accepted. Default `false`: an empty"
    " result is refused, so that a broken source never empties the list.",
    _D + "backend": "The host of group `mail` that the gateways relay the domain's mail to:"
    " required when an MX is a gateway (group `pmg`), refused otherwise. It also serves the"
    " domain's MTA-STS policy, since PMG serves none.",
}

# The types of the fields that the model reads as they are and checks by itself.
TYPES = {
    _D + "spf.senders[].a": "`true` or domain name",
    _D + "spf.senders[].mx": "`true` or domain name",
    _D + "spf.senders[].ip4": "IPv4 network",
    _D + "spf.senders[].ip6": "IPv6 network",
    _D + "spf.senders[].include": "domain name",
    _D + "mailboxes[].password": "vaulted string",
    "mailstack_ipv4": "IPv4 address",
    "mailstack_ipv6": "IPv6 address",
}
