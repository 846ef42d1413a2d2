"""What the lab's client does for the end-to-end checks (molecule/lab/e2e.py copies it to the
client container and runs it there). Each command prints one JSON object.

    probe.py submit HOST PORT USER TO SUBJECT       send with AUTH on 587 (STARTTLS) or 465
    probe.py submit-stdin HOST PORT USER TO         the same, the message read from stdin
    probe.py submit-many HOST PORT USER TO SUBJECT...
                                                    send a message of each subject, in one
                                                    session
    probe.py relay HOST FROM TO SUBJECT [gtube|rcpt]
                                                    send on port 25 as a stranger (rcpt: stop
                                                    after RCPT, send nothing)
    probe.py read HOST USER SUBJECT                 wait for a message over IMAPS; its
                                                    Authentication-Results, List-Id, From and
                                                    how many ARC-Seal fields it has
    probe.py count HOST USER PREFIX N [SECONDS]     wait (120 s) until N messages whose subject
                                                    holds PREFIX are in INBOX and Junk; how many
                                                    of each subject there are
    probe.py fetch HOST USER SUBJECT                wait for a message over IMAPS; all of it,
                                                    base64
    probe.py https URL                              fetch over HTTPS, certificate checked
    probe.py tamper NAME ADDRESS                    serve Knot's answers with NAME's A record
                                                    replaced by ADDRESS on 127.0.0.1:5300
    probe.py setup ADDRESS                          fetch the address's mail client set-up as
                                                    Thunderbird, Outlook and Apple devices do,
                                                    then log in, send and read back with the
                                                    servers Thunderbird's document names alone

The mailbox passwords come from /root/lab-accounts.json, written by ansible/lab/lab.yml.
`setup` reads the documents with mailstack's own parsers (mailstack/clientsetup.py, standard
library only), which e2e.py copies beside this file.
"""

from __future__ import annotations

import base64
import imaplib
import json
import smtplib
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ACCOUNTS = Path("/root/lab-accounts.json")
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def say(**fields: object) -> None:
    print(json.dumps(fields))


def message(sender: str, to: str, subject: str, body: str = "A message of the lab.") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@lab.test>"
    msg.set_content(body)
    return msg.as_bytes()


def submit(host: str, port: str, user: str, to: str, subject: str) -> None:
    send(host, port, user, to, message(user, to, subject))


def submit_stdin(host: str, port: str, user: str, to: str) -> None:
    send(host, port, user, to, sys.stdin.buffer.read())


def send(host: str, port: str, user: str, to: str, data: bytes) -> None:
    password = json.loads(ACCOUNTS.read_text())[user]
    tls = ssl.create_default_context()
    started = time.monotonic()
    try:
        if port == "465":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, 465, context=tls, timeout=30)
        else:
            smtp = smtplib.SMTP(host, int(port), timeout=30)
            smtp.starttls(context=tls)
        with smtp:
            smtp.login(user, password)
            refused = smtp.sendmail(user, [to], data)
        say(ok=not refused, reply=str(refused or "250 queued"), seconds=time.monotonic() - started)
    except (smtplib.SMTPException, OSError) as exc:
        say(ok=False, reply=f"{type(exc).__name__}: {exc}")


def submit_many(host: str, port: str, user: str, to: str, *subjects: str) -> None:
    """A message of each subject, in one authenticated session on 587 (STARTTLS)."""
    password = json.loads(ACCOUNTS.read_text())[user]
    tls = ssl.create_default_context()
    sent = []
    try:
        with smtplib.SMTP(host, int(port), timeout=30) as smtp:
            smtp.starttls(context=tls)
            smtp.login(user, password)
            for subject in subjects:
                if not smtp.sendmail(user, [to], message(user, to, subject)):
                    sent.append(subject)
        say(ok=len(sent) == len(subjects), sent=sent)
    except (smtplib.SMTPException, OSError) as exc:
        say(ok=False, sent=sent, reply=f"{type(exc).__name__}: {exc}")


def relay(host: str, sender: str, to: str, subject: str, kind: str = "") -> None:
    """Port 25 from a host with no rights: no AUTH, not in any trusted network."""
    body = GTUBE if kind == "gtube" else "A message from outside."
    data = message(sender, to, subject, body)
    try:
        with smtplib.SMTP(host, 25, timeout=60) as smtp:
            smtp.ehlo("client.lab.test")
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo("client.lab.test")
            code, reply = smtp.mail(sender)
            if code == 250:
                code, reply = smtp.rcpt(to)
            if code in (250, 251) and kind == "rcpt":
                smtp.rset()
            elif code in (250, 251):
                code, reply = smtp.data(data)
        say(code=code, reply=reply.decode(errors="replace"))
    except (smtplib.SMTPException, OSError) as exc:
        say(code=0, reply=f"{type(exc).__name__}: {exc}")


def matching(host: str, user: str, text: str, part: str) -> list[tuple[str, bytes]]:
    """The messages whose subject holds `text`, in INBOX then Junk, over IMAPS: each with its
    folder and its `part` (BODY.PEEK[part]: HEADER, HEADER.FIELDS (SUBJECT), or "" for the
    whole message)."""
    password = json.loads(ACCOUNTS.read_text())[user]
    out = []
    with imaplib.IMAP4_SSL(host, 993, ssl_context=ssl.create_default_context()) as imap:
        imap.login(user, password)
        for folder in ("INBOX", "Junk"):
            if imap.select(folder, readonly=True)[0] != "OK":
                continue
            _, found = imap.search(None, "SUBJECT", f'"{text}"')
            for number in found[0].split():
                _, parts = imap.fetch(number, f"(BODY.PEEK[{part}])")
                out.append((folder, parts[0][1] if isinstance(parts[0], tuple) else b""))
    return out


def wait(
    host: str, user: str, subject: str, part: str, timeout: float = 120
) -> tuple[str, bytes] | None:
    """The folder and `part` of the newest message with `subject`, in the first folder that
    holds one, once it is there; None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = matching(host, user, subject, part)
        if found:
            folder = found[0][0]
            return folder, [raw for f, raw in found if f == folder][-1]
        if time.monotonic() > deadline:
            return None
        time.sleep(2)


def read(host: str, user: str, subject: str) -> None:
    got = wait(host, user, subject, "HEADER")
    if got is None:
        say(found=False)
        return
    headers = message_from_bytes(got[1])
    say(
        found=True,
        folder=got[0],
        authentication_results=headers.get_all("Authentication-Results", []),
        list_id=str(headers.get("List-Id", "")),
        sender=str(headers.get("From", "")),
        arc_seals=len(headers.get_all("ARC-Seal", [])),
    )


def fetch(host: str, user: str, subject: str) -> None:
    got = wait(host, user, subject, "")
    if got is None:
        say(found=False)
        return
    say(found=True, folder=got[0], message=base64.b64encode(got[1]).decode())


def count(host: str, user: str, prefix: str, expected: str, seconds: str = "120") -> None:
    """Every message whose subject holds `prefix`, in INBOX and Junk, counted by subject, once
    there are `expected` of them or the time is over."""
    deadline = time.monotonic() + float(seconds)
    while True:
        subjects: dict[str, int] = {}
        for _, raw in matching(host, user, prefix, "HEADER.FIELDS (SUBJECT)"):
            subject = str(message_from_bytes(raw).get("Subject", ""))
            subjects[subject] = subjects.get(subject, 0) + 1
        total = sum(subjects.values())
        if total >= int(expected) or time.monotonic() > deadline:
            say(total=total, subjects=subjects)
            return
        time.sleep(2)


def https(url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (lab URL)
            say(
                status=response.status,
                type=response.headers.get("Content-Type", ""),
                body=response.read().decode(),
            )
    except OSError as exc:
        say(status=0, error=str(exc))


def tamper(name: str, address: str) -> None:
    """A man in the middle for one minute: Knot's signed answers, one A record changed."""
    import dns.message  # noqa: PLC0415
    import dns.query  # noqa: PLC0415
    import dns.rdatatype  # noqa: PLC0415
    import dns.rrset  # noqa: PLC0415

    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 5300))
    server.settimeout(60)
    say(listening=True)
    sys.stdout.flush()
    try:
        while True:
            wire, client = server.recvfrom(4096)
            query = dns.message.from_wire(wire)
            answer = dns.query.udp(query, "10.231.0.2", timeout=5)
            answer.answer = [
                dns.rrset.from_rdata_list(
                    rrset.name, rrset.ttl, [r.replace(address=address) for r in rrset]
                )
                if rrset.rdtype == dns.rdatatype.A and rrset.name.to_text() == f"{name}."
                else rrset
                for rrset in answer.answer
            ]
            server.sendto(answer.to_wire(), client)
    except TimeoutError:
        pass


def http_get(url: str, body: bytes | None = None) -> tuple[int, bytes, str]:
    """GET, or POST `body` as Outlook does (text/xml): status, body and content type."""
    headers = {"Content-Type": "text/xml; charset=utf-8"} if body is not None else {}
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 (lab URL)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), ""
    except OSError as exc:
        return 0, str(exc).encode(), ""


def setup(address: str) -> None:
    """The address's client set-up, fetched in each client's order; then a client configured
    from Thunderbird's answer alone logs in, sends itself a message and reads it back."""
    import clientsetup  # type: ignore[import-not-found]  # noqa: PLC0415 (copied by e2e.py)

    domain = address.rpartition("@")[2]
    query = f"?emailaddress={urllib.parse.quote(address)}"
    tried: list[dict[str, object]] = []
    # Thunderbird: autoconfig.<domain> first, then the domain's own .well-known.
    thunderbird: list[Any] = []
    for url in (
        f"https://autoconfig.{domain}/mail/config-v1.1.xml{query}",
        f"https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml{query}",
    ):
        status, body, _ = http_get(url)
        servers = clientsetup.parse_autoconfig(body, address) if status == 200 else []
        tried.append({"url": url, "status": status, "servers": [str(s) for s in servers]})
        thunderbird = thunderbird or servers
    # Outlook: POX autodiscover at the domain, then at autodiscover.<domain>.
    for url in (
        f"https://{domain}/autodiscover/autodiscover.xml",
        f"https://autodiscover.{domain}/autodiscover/autodiscover.xml",
    ):
        status, body, _ = http_get(url, clientsetup.autodiscover_request(address))
        servers = clientsetup.parse_autodiscover(body) if status == 200 else []
        tried.append({"url": url, "status": status, "servers": [str(s) for s in servers]})
    url = f"https://autoconfig.{domain}/mobileconfig{query}"
    status, body, kind = http_get(url)
    servers = clientsetup.parse_mobileconfig(body) if status == 200 else []
    tried.append({"url": url, "status": status, "type": kind, "servers": [str(s) for s in servers]})
    # The same documents for an address nobody has: only the address differs (the profile's
    # identifiers are derived from the address, so there the servers it names are compared).
    stranger = f"nobody-{int(time.time())}@{domain}"

    def seen_by(who: str) -> list[object]:
        q = f"?emailaddress={urllib.parse.quote(who)}"
        xml = http_get(f"https://autoconfig.{domain}/mail/config-v1.1.xml{q}")
        pox = http_get(
            f"https://autodiscover.{domain}/autodiscover/autodiscover.xml",
            clientsetup.autodiscover_request(who),
        )
        profile = http_get(f"https://autoconfig.{domain}/mobileconfig{q}")
        mobile = clientsetup.parse_mobileconfig(profile[1]) if profile[0] == 200 else []
        return [
            xml[0],
            xml[1].replace(who.encode(), b"ADDRESS"),
            pox[0],
            pox[1].replace(who.encode(), b"ADDRESS"),
            profile[0],
            [(s.protocol, s.host, s.port, s.tls) for s in mobile],
        ]

    same = seen_by(address) == seen_by(stranger)
    say(tried=tried, same_for_strangers=same, **_use(thunderbird, address))


def _use(servers: list[Any], address: str) -> dict[str, object]:
    """Log in, send and read back with the first incoming IMAP and outgoing SMTP server."""
    password = json.loads(ACCOUNTS.read_text())[address]
    imap_at = next((s for s in servers if s.protocol == "imap"), None)
    smtp_at = next((s for s in servers if s.protocol == "smtp"), None)
    if imap_at is None or smtp_at is None:
        return {"used": False, "why": "no IMAP or no SMTP server in Thunderbird's answer"}
    tls = ssl.create_default_context()
    subject = f"lab set-up {int(time.time() * 1000)}"
    try:
        if smtp_at.tls == "implicit":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                smtp_at.host, smtp_at.port, context=tls, timeout=30
            )
        else:
            smtp = smtplib.SMTP(smtp_at.host, smtp_at.port, timeout=30)
            smtp.starttls(context=tls)
        with smtp:
            smtp.login(smtp_at.username, password)
            smtp.sendmail(address, [address], message(address, address, subject))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if imap_at.tls == "implicit":
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(imap_at.host, imap_at.port, ssl_context=tls)
            else:
                imap = imaplib.IMAP4(imap_at.host, imap_at.port)
                imap.starttls(ssl_context=tls)
            with imap:
                imap.login(imap_at.username, password)
                imap.select("INBOX", readonly=True)
                _, found = imap.search(None, "SUBJECT", f'"{subject}"')
            if found[0]:
                return {"used": True, "smtp": str(smtp_at), "imap": str(imap_at), "read": True}
            time.sleep(2)
        return {"used": True, "smtp": str(smtp_at), "imap": str(imap_at), "read": False}
    except (smtplib.SMTPException, imaplib.IMAP4.error, OSError) as exc:
        return {"used": True, "read": False, "why": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    command, *args = sys.argv[1:]
    commands: dict[str, Callable[..., None]] = {
        "submit": submit,
        "submit-stdin": submit_stdin,
        "fetch": fetch,
        "submit-many": submit_many,
        "relay": relay,
        "read": read,
        "count": count,
        "https": https,
        "setup": setup,
        "tamper": tamper,
    }
    commands[command](*args)


if __name__ == "__main__":
    main()
