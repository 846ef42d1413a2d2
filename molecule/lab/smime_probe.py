"""What the lab's client does for the S/MIME check (molecule/lab/smime.py copies it to the
client container and runs it there). Each command prints one JSON object.

    smime_probe.py submit HOST PORT USER TO      submit the message read from standard input,
                                                 with AUTH on 587 (STARTTLS) or 465
    smime_probe.py fetch HOST USER SUBJECT       wait for the message with SUBJECT over IMAPS;
                                                 the whole message, base64

The mailbox passwords come from /root/lab-accounts.json, written by ansible/lab/lab.yml.
"""

from __future__ import annotations

import base64
import imaplib
import json
import smtplib
import ssl
import sys
import time
from pathlib import Path

ACCOUNTS = Path("/root/lab-accounts.json")


def say(**fields: object) -> None:
    print(json.dumps(fields))


def submit(host: str, port: str, user: str, to: str) -> None:
    password = json.loads(ACCOUNTS.read_text())[user]
    data = sys.stdin.buffer.read()
    tls = ssl.create_default_context()
    try:
        if port == "465":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, 465, context=tls, timeout=30)
        else:
            smtp = smtplib.SMTP(host, int(port), timeout=30)
            smtp.starttls(context=tls)
        with smtp:
            smtp.login(user, password)
            refused = smtp.sendmail(user, [to], data)
        say(ok=not refused, reply=str(refused or "250 queued"))
    except (smtplib.SMTPException, OSError) as exc:
        say(ok=False, reply=f"{type(exc).__name__}: {exc}")


def fetch(host: str, user: str, subject: str, timeout: float = 120) -> None:
    password = json.loads(ACCOUNTS.read_text())[user]
    deadline = time.monotonic() + timeout
    while True:
        with imaplib.IMAP4_SSL(host, 993, ssl_context=ssl.create_default_context()) as imap:
            imap.login(user, password)
            for folder in ("INBOX", "Junk"):
                if imap.select(folder, readonly=True)[0] != "OK":
                    continue
                _, found = imap.search(None, "SUBJECT", f'"{subject}"')
                if found[0]:
                    number = found[0].split()[-1]
                    _, parts = imap.fetch(number, "(BODY.PEEK[])")
                    raw = parts[0][1] if isinstance(parts[0], tuple) else b""
                    say(found=True, folder=folder, message=base64.b64encode(raw).decode())
                    return
        if time.monotonic() > deadline:
            say(found=False)
            return
        time.sleep(2)


def main() -> None:
    command, *args = sys.argv[1:]
    if command == "submit":
        host, port, user, to = args
        submit(host, port, user, to)
    elif command == "fetch":
        host, user, subject = args
        fetch(host, user, subject)
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
