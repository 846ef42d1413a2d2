"""What the lab's client does for the end-to-end checks (molecule/lab/e2e.py copies it to the
client container and runs it there). Each command prints one JSON object.

    probe.py submit HOST PORT USER TO SUBJECT       send with AUTH on 587 (STARTTLS) or 465
    probe.py submit-many HOST PORT USER TO SUBJECT...
                                                    send a message of each subject, in one
                                                    session
    probe.py relay HOST FROM TO SUBJECT [gtube|rcpt]
                                                    send on port 25 as a stranger (rcpt: stop
                                                    after RCPT, send nothing)
    probe.py read HOST USER SUBJECT                 wait for a message over IMAPS; its
                                                    Authentication-Results
    probe.py count HOST USER PREFIX N [SECONDS]     wait (120 s) until N messages whose subject
                                                    holds PREFIX are in INBOX and Junk; how many
                                                    of each subject there are
    probe.py https URL                              fetch over HTTPS, certificate checked
    probe.py tamper NAME ADDRESS                    serve Knot's answers with NAME's A record
                                                    replaced by ADDRESS on 127.0.0.1:5300

The mailbox passwords come from /root/lab-accounts.json, written by ansible/lab/lab.yml.
"""

from __future__ import annotations

import imaplib
import json
import smtplib
import socket
import ssl
import sys
import time
import urllib.request
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

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
            refused = smtp.sendmail(user, [to], message(user, to, subject))
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
    folder and its `part` (BODY.PEEK[part]: HEADER, HEADER.FIELDS (SUBJECT), ...)."""
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


def read(host: str, user: str, subject: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = matching(host, user, subject, "HEADER")
        if found:
            # The newest of the first folder that holds it.
            folder = found[0][0]
            headers = message_from_bytes([raw for f, raw in found if f == folder][-1])
            say(
                found=True,
                folder=folder,
                authentication_results=headers.get_all("Authentication-Results", []),
            )
            return
        if time.monotonic() > deadline:
            say(found=False)
            return
        time.sleep(2)


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


def main() -> None:
    command, *args = sys.argv[1:]
    commands: dict[str, Callable[..., None]] = {
        "submit": submit,
        "submit-many": submit_many,
        "relay": relay,
        "read": read,
        "count": count,
        "https": https,
        "tamper": tamper,
    }
    commands[command](*args)


if __name__ == "__main__":
    main()
