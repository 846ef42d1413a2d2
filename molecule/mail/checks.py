"""Checks of the mail host from the outside, over the network: SMTP, IMAP and POP3 as a
sender, a mail user and an attacker see them. Run on the outside container by verify.yml:

    python3 checks.py CA_FILE                  every check below
    python3 checks.py CA_FILE send TO SUBJECT  send one message on port 25
    python3 checks.py CA_FILE read TO SUBJECT  wait until TO (alice or bob) reads it over IMAPS
    python3 checks.py CA_FILE banner           port 25 answers with its banner
    python3 checks.py CA_FILE srs              a forwarded alias leaves with an SRS sender
    python3 checks.py CA_FILE quota            mail over a mailbox's quota: the sender is told
    python3 checks.py CA_FILE dkim DNS_JSON    alice's mail leaves signed, verified against
                                               the records in DNS_JSON
    python3 checks.py CA_FILE deferred FILE    a message gets 4xx (spamd is down); kept in FILE
    python3 checks.py CA_FILE dmarc KEY        outside.test's mail signed with KEY passes SPF,
                                               DKIM and DMARC; a broken signature is refused
    python3 checks.py CA_FILE retry FILE       the message of FILE, sent again, arrives
    python3 checks.py CA_FILE from             the From: header of submitted mail must be an
                                               address of the login (after bob's rate limit
                                               was started afresh)
    python3 checks.py CA_FILE guess N          N wrong IMAP passwords, then N wrong SMTP AUTH
                                               ones: this address is banned from both
    python3 checks.py CA_FILE login USER       USER logs in over IMAPS (not banned)
    python3 checks.py CA_FILE lists            a post to team@lists.example.test reaches its
                                               members with its List-Id, an unknown list
                                               address is refused, the archive and
                                               Postorius answer over HTTPS

CA_FILE is the root of the ACME CA that issued the mail host's certificate. Prints one line
per check and exits 1 at the first failure.
"""

from __future__ import annotations

import base64
import email
import imaplib
import json
import poplib
import smtplib
import socket
import ssl
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import BinaryIO

HOST = "mx1.example.test"
# bob's password reaches the mail host vaulted (vars/vault.yml), hashed there by the dovecot role.
USERS = {"alice@example.test": "alice-secret", "bob@example.test": "bob-secret"}


def check(name: str, ok: bool, detail: object = "") -> None:
    print(f"{'pass' if ok else 'FAIL'}  {name}{f'  ({detail})' if detail else ''}")
    if not ok:
        sys.exit(1)


def context(ca: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def message(to: str, sender: str = "someone@outside.test") -> EmailMessage:
    msg = EmailMessage()
    token = uuid.uuid4().hex
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"check {token}"
    msg.set_content(f"Body of {token}\nwith two lines.\n")
    return msg


def refused(code: int, reply: bytes, expected: int, text: str) -> tuple[bool, str]:
    return code == expected and text.encode() in reply, f"{code} {reply.decode(errors='replace')}"


def port25(ca: str) -> list[EmailMessage]:
    with smtplib.SMTP(HOST, 25, local_hostname="outside.test", timeout=30) as smtp:
        smtp.ehlo()
        check("port 25 offers STARTTLS", smtp.has_extn("starttls"))
        check("port 25 offers no AUTH before TLS", not smtp.has_extn("auth"))
        smtp.starttls(context=context(ca))
        smtp.ehlo()
        check("port 25 offers no AUTH at all after TLS", not smtp.has_extn("auth"))
        smtp.mail("someone@outside.test")
        code, reply = smtp.rcpt("victim@elsewhere.test")
        check(
            "relay for an outside client is refused",
            *refused(code, reply, 554, "Relay access denied"),
        )
        code, reply = smtp.rcpt("nobody@example.test")
        check(
            "unknown recipient refused at RCPT", *refused(code, reply, 550, "nobody@example.test")
        )
        smtp.rset()
        sent = []
        for to in ("alice@example.test", "postmaster@example.test", "anything@old.example.test"):
            msg = message(to)
            smtp.send_message(msg)
            sent.append(msg)
        check("mail to a mailbox, an alias and a catch-all accepted", True, len(sent))
    return sent


def wait_imap(ca: str, user: str, subjects: list[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(found) < len(subjects):
        with imaplib.IMAP4_SSL(HOST, 993, ssl_context=context(ca), timeout=30) as imap:
            imap.login(user, USERS[user])
            imap.select("INBOX", readonly=True)
            for subject in subjects:
                _, data = imap.search(None, "SUBJECT", f'"{subject}"')
                ids = data[0].split()
                if ids:
                    _, fetched = imap.fetch(ids[0], "(RFC822)")
                    first = fetched[0]
                    if isinstance(first, tuple):
                        found[subject] = first[1]
        time.sleep(1)
    return found


def read_back(ca: str, sent: list[EmailMessage]) -> None:
    to_alice = [m for m in sent if m["To"] in ("alice@example.test", "postmaster@example.test")]
    found = wait_imap(ca, "alice@example.test", [m["Subject"] for m in to_alice])
    for msg in to_alice:
        body = found.get(msg["Subject"], b"")
        check(
            f"IMAPS: alice reads the mail sent to {msg['To']}",
            msg.get_content().encode().replace(b"\n", b"\r\n") in body,
        )
        # Delivered here, the sender is the one sent: the LMTP client undoes SRS.
        return_path = email.message_from_bytes(body).get_all("Return-Path", [])
        check(
            f"it is delivered with its own sender, {msg['From']}, not rewritten with SRS",
            return_path == [f"<{msg['From']}>"],
            return_path,
        )
    catch_all = next(m for m in sent if m["To"] == "anything@old.example.test")
    deadline = time.monotonic() + 60
    seen = b""
    while time.monotonic() < deadline:
        pop = poplib.POP3_SSL(HOST, 995, context=context(ca), timeout=30)
        pop.user("bob@example.test")
        pop.pass_(USERS["bob@example.test"])
        count = len(pop.list()[1])
        seen = b"\r\n".join(b"\r\n".join(pop.retr(i + 1)[1]) for i in range(count))
        pop.quit()
        if catch_all["Subject"].encode() in seen:
            break
        time.sleep(1)
    body = catch_all.get_content().rstrip("\n").encode().replace(b"\n", b"\r\n")
    check("POP3S: bob reads the catch-all's mail, content intact", body in seen)


def submission(ca: str) -> None:
    with smtplib.SMTP(HOST, 587, local_hostname="outside.test", timeout=30) as smtp:
        smtp.ehlo()
        check("587 offers no AUTH before STARTTLS", not smtp.has_extn("auth"))
        try:
            smtp.login("alice@example.test", "alice-secret")
            check("587 refuses AUTH before STARTTLS", False)
        except smtplib.SMTPNotSupportedError:
            check("587 refuses AUTH before STARTTLS", True)
        smtp.starttls(context=context(ca))
        smtp.ehlo()
        check("587 offers AUTH after STARTTLS", smtp.has_extn("auth"))
        try:
            smtp.login("alice@example.test", "wrong")
            check("587 refuses a bad password", False)
        except smtplib.SMTPAuthenticationError as exc:
            check("587 refuses a bad password", exc.smtp_code == 535, exc.smtp_code)
    with smtplib.SMTP(HOST, 587, local_hostname="outside.test", timeout=30) as smtp:
        smtp.starttls(context=context(ca))
        smtp.login("alice@example.test", "alice-secret")
        check("587 accepts alice's password", True)
        smtp.mail("bob@example.test")
        code, reply = smtp.rcpt("alice@example.test")
        check("alice may not send as bob", *refused(code, reply, 553, "not owned by user"))
        smtp.rset()
        refusals = smtp.send_message(message("bob@example.test", sender="alice@example.test"))
        check("alice sends as herself", refusals == {})
    with smtplib.SMTP_SSL(
        HOST, 465, local_hostname="outside.test", context=context(ca), timeout=30
    ) as smtp:
        try:
            smtp.login("bob@example.test", "wrong")
            check("465 refuses a bad password", False)
        except smtplib.SMTPAuthenticationError as exc:
            check("465 refuses a bad password", exc.smtp_code == 535, exc.smtp_code)
        smtp.login("bob@example.test", "bob-secret")
        check("465 accepts bob's password", True)


def from_header(ca: str) -> None:
    """On submission the From: header must be an address of the login (the From milter):
    bob may not write alice's address, nor one of another domain of the host (the catch-all
    of old.example.test delivers to him, but he owns no address there); his own and an alias
    of the login's pass, on 587 and 465. bob's rate limit (3 recipients an hour) is started
    afresh before this check: he sends to three recipients."""

    def sent(smtp: smtplib.SMTP, login: str, header_from: str) -> tuple[int, bytes]:
        msg = message("alice@example.test", sender=header_from)
        try:
            refusals = smtp.sendmail(login, ["alice@example.test"], msg.as_bytes())
        except smtplib.SMTPDataError as exc:
            error = exc.smtp_error
            return exc.smtp_code, error if isinstance(error, bytes) else error.encode()
        return (250, b"") if not refusals else (0, str(refusals).encode())

    bob = "bob@example.test"
    with smtplib.SMTP(HOST, 587, local_hostname="outside.test", timeout=60) as smtp:
        smtp.starttls(context=context(ca))
        smtp.login(bob, USERS[bob])
        code, reply = sent(smtp, bob, "Alice <alice@example.test>")
        check(
            "587: bob with From alice@example.test is refused (5xx)",
            *refused(
                code,
                reply,
                550,
                "From: header alice@example.test is not an address of login bob@example.test",
            ),
        )
        code, reply = sent(smtp, bob, "someone@old.example.test")
        check(
            "587: bob with From of another domain of the host (old.example.test) is refused",
            *refused(code, reply, 550, "someone@old.example.test is not an address of login"),
        )
        # His own address (another case, a display name in an encoded word) and his alias.
        code, reply = sent(
            smtp, bob, "=?utf-8?q?B=C3=B6b?= <BOB@Example.Test>, Builder <bob.builder@example.test>"
        )
        check("587: bob with From his own address and his alias is accepted", code == 250, reply)
    alice = "alice@example.test"
    with smtplib.SMTP_SSL(
        HOST, 465, local_hostname="outside.test", context=context(ca), timeout=60
    ) as smtp:
        smtp.login(alice, USERS[alice])
        code, reply = sent(smtp, alice, "bob@example.test")
        check(
            "465: alice with From bob@example.test is refused (5xx)",
            *refused(code, reply, 550, "is not an address of login alice@example.test"),
        )
        code, reply = sent(smtp, alice, "Postmaster <postmaster@example.test>")
        check("465: alice with From her alias postmaster@ is accepted", code == 250, reply)
        code, reply = sent(smtp, alice, "alice@example.test")
        check("465: alice with From her own address is accepted", code == 250, reply)


def old_tls(version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def handshake(port: int, version: ssl.TLSVersion, host: str = HOST) -> bool:
    """Whether a TLS handshake of exactly `version` succeeds (STARTTLS first on 587)."""
    try:
        with socket.create_connection((host, port), timeout=15) as raw:
            if port == 587:
                f = raw.makefile("rb")
                f.readline()
                raw.sendall(b"EHLO outside.test\r\n")
                while f.readline()[3:4] == b"-":
                    pass
                raw.sendall(b"STARTTLS\r\n")
                f.readline()
            with old_tls(version).wrap_socket(raw) as tls:
                return tls.version() is not None
    except (ssl.SSLError, OSError):
        return False


def control_server() -> int:
    """A local TLS 1.1 server: proves this client can speak TLS 1.1, so that a refusal below
    comes from the mail host."""
    import subprocess  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    work = Path(tempfile.mkdtemp())
    key, crt = work / "control.key", work / "control.crt"

    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=control",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    listener = socket.create_server(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            try:
                ctx.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError):
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return port


def tls_versions() -> None:
    port = control_server()
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        check(
            f"control: this client can speak {version.name}", handshake(port, version, "127.0.0.1")
        )
    for service in (465, 587, 993, 995):
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            check(f"{service} refuses {version.name}", not handshake(service, version))
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            check(f"{service} accepts {version.name}", handshake(service, version))


def send(ca: str, to: str, subject: str) -> None:
    msg = message(to)
    msg.replace_header("Subject", subject)
    with smtplib.SMTP(HOST, 25, local_hostname="outside.test", timeout=30) as smtp:
        smtp.starttls(context=context(ca))
        check(f"port 25 accepts {subject!r} for {to}", smtp.send_message(msg) == {})


def banner() -> None:
    with socket.create_connection((HOST, 25), timeout=15) as raw:
        line = raw.makefile("rb").readline()
    # postscreen greets a client it does not know yet with a multi-line banner (220-).
    check("port 25 answers", line[4:].startswith(b"mx1.example.test ESMTP"), line.decode().strip())


def junk(ca: str) -> None:
    """Mail that SpamAssassin marks as spam (the scenario's test rule scores the marker 8,
    above the required 5 and below the reject 12) lands in Junk, other mail in INBOX, even
    with an X-Spam-Flag the sender wrote."""
    spam, ham = message("alice@example.test"), message("alice@example.test")
    spam.set_content("A body with the mailstack-test-spam-marker in it.\n")
    # A sender's own spam verdict counts for nothing: the filter replaces it.
    ham["X-Spam-Flag"] = "YES"
    with smtplib.SMTP(HOST, 25, local_hostname="outside.test", timeout=60) as smtp:
        smtp.starttls(context=context(ca))
        smtp.send_message(spam)
        smtp.send_message(ham)
    wanted = {"Junk": spam["Subject"], "INBOX": ham["Subject"]}
    where: dict[str, set[str]] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(where) < len(wanted):
        with imaplib.IMAP4_SSL(HOST, 993, ssl_context=context(ca), timeout=30) as imap:
            imap.login("alice@example.test", USERS["alice@example.test"])
            for folder in ("INBOX", "Junk"):
                imap.select(folder, readonly=True)
                for subject in wanted.values():
                    _, data = imap.search(None, "SUBJECT", f'"{subject}"')
                    if data[0].split():
                        where.setdefault(subject, set()).add(folder)
        time.sleep(1)
    check(
        "Sieve files the spam into Junk, only there", where.get(spam["Subject"]) == {"Junk"}, where
    )
    check(
        "ordinary mail stays in INBOX, its sender's X-Spam-Flag removed",
        where.get(ham["Subject"]) == {"INBOX"},
        where,
    )


def managesieve(ca: str) -> None:
    """ManageSieve (RFC 5804) on 4190: login only after STARTTLS, then the user's scripts."""

    def capabilities(f: BinaryIO) -> list[bytes]:
        lines: list[bytes] = []
        while True:
            line = f.readline()
            if not line or line.startswith((b"OK", b"NO", b"BYE")):
                return [*lines, line]
            lines.append(line)

    with socket.create_connection((HOST, 4190), timeout=15) as raw:
        f = raw.makefile("rb")
        before = capabilities(f)
        check("ManageSieve offers STARTTLS", any(b'"STARTTLS"' in c for c in before), before)
        check(
            "ManageSieve offers no login mechanism before TLS",
            any(c.strip() == b'"SASL" ""' for c in before),
            before,
        )
        raw.sendall(b"STARTTLS\r\n")
        f.readline()
        with context(ca).wrap_socket(raw, server_hostname=HOST) as tls:
            g = tls.makefile("rb")
            after = capabilities(g)
            check("ManageSieve offers PLAIN after STARTTLS", any(b"PLAIN" in c for c in after))
            token = base64.b64encode(
                b"\0alice@example.test\0" + USERS["alice@example.test"].encode()
            )
            tls.sendall(b'AUTHENTICATE "PLAIN" "' + token + b'"\r\n')
            reply = g.readline()
            check("ManageSieve accepts alice's password over TLS", reply.startswith(b"OK"), reply)
            tls.sendall(b"LISTSCRIPTS\r\n")
            reply = capabilities(g)[-1]
            check("ManageSieve lists alice's scripts", reply.startswith(b"OK"), reply)


def rate_limit(ca: str) -> None:
    """bob may submit to 3 recipients an hour (the scenario's limit): the next is deferred."""
    accepted = 0
    with smtplib.SMTP(HOST, 587, local_hostname="outside.test", timeout=30) as smtp:
        smtp.starttls(context=context(ca))
        smtp.login("bob@example.test", USERS["bob@example.test"])
        for _ in range(4):
            smtp.mail("bob@example.test")
            code, reply = smtp.rcpt("alice@example.test")
            smtp.rset()
            if code != 250:
                break
            accepted += 1
    check("bob's 3 recipients within the limit are accepted", accepted == 3, accepted)
    check(
        "beyond the limit bob is told to retry later",
        *refused(code, reply, 450, "Rate limit reached"),
    )


def big_message(to: str, sender: str) -> bytes:
    """A message of about 2 MiB, twice the 1 MiB quota of tiny@example.test."""
    msg = message(to, sender)
    msg.set_content(("x" * 76 + "\n") * 27000)
    return msg.as_bytes()


def quota(ca: str) -> None:
    """Over tiny@example.test's 1 MiB quota: refused at RCPT when the client announces the
    size (quota-status), and returned to its sender when it does not (Dovecot refuses it)."""
    sender = "someone@outside.test"
    with smtplib.SMTP(HOST, 25, local_hostname="outside.test", timeout=30) as smtp:
        smtp.starttls(context=context(ca))
        smtp.ehlo()
        data = big_message("tiny@example.test", sender)
        smtp.mail(sender, [f"SIZE={len(data)}"])
        code, reply = smtp.rcpt("tiny@example.test")
        check(
            "over quota with SIZE announced: refused at RCPT",
            *refused(code, reply, 552, "Mailbox is full"),
        )
        smtp.rset()

    def without_size() -> None:
        with smtplib.SMTP(HOST, 25, local_hostname="outside.test", timeout=30) as smtp:
            smtp.starttls(context=context(ca))
            smtp.ehlo()
            smtp.mail(sender)
            code, reply = smtp.rcpt("tiny@example.test")
            check("without SIZE the mail is accepted first", code == 250, reply)
            code, reply = smtp.data(big_message("tiny@example.test", sender))
            check("and queued", code == 250, reply)

    received, _ = caught(without_size, lambda c: ("", sender) in c[0])
    check(
        "then returned to its sender: nothing dropped silently", ("", sender) in received, received
    )


def sink(received: list[tuple[str, str]], messages: list[bytes] | None = None) -> socket.socket:
    """A minimal SMTP receiver on port 25 of this host, recording (MAIL FROM, RCPT TO) and,
    into `messages`, each message's content."""
    listener = socket.create_server(("0.0.0.0", 25))  # noqa: S104 (the outside host's own port)

    def session(conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as f:
            conn.sendall(b"220 outside.test ESMTP sink\r\n")
            sender = ""
            for raw in f:
                line = raw.decode(errors="replace").strip()
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    conn.sendall(b"250 outside.test\r\n")
                elif verb == "MAIL":
                    sender = line.split(":", 1)[1].strip().split()[0].strip("<>")
                    conn.sendall(b"250 ok\r\n")
                elif verb == "RCPT":
                    received.append((sender, line.split(":", 1)[1].strip().strip("<>")))
                    conn.sendall(b"250 ok\r\n")
                elif verb == "DATA":
                    conn.sendall(b"354 go on\r\n")
                    lines = []
                    for data in f:
                        if data in (b".\r\n", b".\n"):
                            break
                        lines.append(data[1:] if data.startswith(b"..") else data)
                    if messages is not None:
                        messages.append(b"".join(lines))
                    conn.sendall(b"250 queued\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=session, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener


Caught = tuple[list[tuple[str, str]], list[bytes]]


def caught(action: Callable[[], object], done: Callable[[Caught], bool]) -> Caught:
    """Run `action` with the sink listening on port 25, until `done` says what it caught is
    enough (60 s at most): the (MAIL FROM, RCPT TO) pairs and the messages."""
    received: list[tuple[str, str]] = []
    messages: list[bytes] = []
    listener = sink(received, messages)
    try:
        action()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not done((received, messages)):
            time.sleep(0.5)
    finally:
        listener.close()
    return received, messages


def srs(ca: str) -> None:
    received, _ = caught(
        lambda: send(ca, "forward@example.test", "forwarded"), lambda c: bool(c[0])
    )
    check("the forwarded mail reached carol@outside.test", bool(received), received)
    sender, recipient = received[0]
    check("it went to the alias's target", recipient == "carol@outside.test", recipient)
    check(
        "its envelope sender is rewritten with SRS into our domain",
        sender.startswith("SRS0=") and sender.endswith("=outside.test=someone@example.test"),
        sender,
    )


def dkim_signed(ca: str, records_file: str) -> None:
    """alice submits to carol@outside.test; the mail that arrives here carries a signature
    that dkimpy verifies against the TXT records that mailstack's DNS builder derived from the
    public keys the opendkim role wrote back (DNS_JSON)."""
    import dkim  # noqa: PLC0415 (dkimpy, installed on this host by converge.yml)

    records: dict[str, str] = json.loads(Path(records_file).read_text(encoding="utf-8"))

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return records.get(name.decode().rstrip("."), "").encode()

    def submit() -> None:
        with smtplib.SMTP(HOST, 587, local_hostname="outside.test", timeout=30) as smtp:
            smtp.starttls(context=context(ca))
            smtp.login("alice@example.test", USERS["alice@example.test"])
            smtp.send_message(message("carol@outside.test", sender="alice@example.test"))

    received, messages = caught(submit, lambda c: bool(c[1]))
    check("alice's mail reached carol@outside.test", bool(messages), received)
    signed = messages[0].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    signatures = [
        "".join(str(h).split())
        for h in email.message_from_bytes(signed).get_all("DKIM-Signature", [])
    ]
    # OpenDKIM signs with RSA, dkimpy-milter with Ed25519 (RFC 8463): one signature each.
    tags = [
        dict(f.split("=", 1) for f in signature.split(";") if "=" in f) for signature in signatures
    ]
    made = sorted((t.get("a"), t.get("s"), t.get("d")) for t in tags)
    check(
        "it carries two DKIM signatures: RSA (s2025r) and Ed25519 (s2025e) of example.test",
        made
        == [("ed25519-sha256", "s2025e", "example.test"), ("rsa-sha256", "s2025r", "example.test")],
        made,
    )
    for idx, t in enumerate(tags):
        check(
            f"the {t.get('a')} signature ({t.get('s')}) verifies against the published key",
            dkim.DKIM(signed).verify(idx=idx, dnsfunc=dnsfunc),
            signatures[idx][:60],
        )
    tampered = signed.replace(b"with two lines.", b"with three lines.")
    for idx in range(len(signatures)):
        try:
            still = dkim.DKIM(tampered).verify(idx=idx, dnsfunc=dnsfunc)
        except dkim.ValidationError as exc:  # dkimpy may raise instead of returning False
            still = False
            print(f"      ({exc})")
        check(f"a changed body no longer verifies signature {idx} (the check can fail)", not still)


def refused_at_data(name: str, send: Callable[[], object], klass: int, text: bytes = b"") -> None:
    """Check that `send` is answered at the end of DATA with a `klass`xx reply saying `text`."""
    try:
        send()
        check(name, False, "accepted")
    except smtplib.SMTPDataError as exc:
        ok = exc.smtp_code // 100 == klass and text in exc.smtp_error
        check(name, ok, f"{exc.smtp_code} {exc.smtp_error!r}")


GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def spam(ca: str) -> None:
    """GTUBE is refused during the SMTP dialogue; ordinary mail arrives scored and with the
    Authentication-Results of OpenDKIM and OpenDMARC, and without those the sender forged."""
    gtube, ham = message("alice@example.test"), message("alice@example.test")
    gtube.set_content(f"{GTUBE}\n")
    # A sender may write results under this host's name; they must not reach alice.
    ham["Authentication-Results"] = "mx1.example.test; dmarc=pass (forged) header.from=x.test"
    # But a message attached to it (a report quoting this host's results) is its body, which
    # must arrive as it was sent.
    quoted = message("dmarc@outside.test")
    quoted["Authentication-Results"] = "mx1.example.test; dkim=pass (quoted in a report)"
    ham.add_attachment(quoted)
    with smtplib.SMTP(HOST, 25, local_hostname="outside.test", timeout=60) as smtp:
        smtp.starttls(context=context(ca))
        refused_at_data(
            "GTUBE is refused at SMTP time with a 5xx",
            lambda: smtp.send_message(gtube),
            5,
            b"SpamAssassin",
        )
        smtp.send_message(ham)
    body = wait_imap(ca, "alice@example.test", [ham["Subject"]]).get(ham["Subject"], b"")
    headers = body.split(b"\r\n\r\n", 1)[0]
    check("ordinary mail arrives with X-Spam-Status: No", b"X-Spam-Status: No" in headers, headers)
    # The milter gives spamd the client's Received header: without it SpamAssassin finds no
    # relay, and its rules about the client (reverse DNS, DNS blocklists) never run.
    check(
        "scored with the client that handed it over known to SpamAssassin (no NO_RELAYS)",
        b"X-Spam-Status:" in headers and b"NO_RELAYS" not in headers,
        headers,
    )
    check(
        "and Authentication-Results from this host",
        b"Authentication-Results: mx1.example.test" in headers,
        headers,
    )
    check(
        "but not the results the sender forged under this host's name",
        b"(forged)" not in headers,
        headers,
    )
    check(
        "while those of a message attached to it are left in its body",
        b"Authentication-Results: mx1.example.test; dkim=pass (quoted in a report)" in body,
        body[-1500:],
    )


def deferred(ca: str, keep: str) -> None:
    """With spamd down, the message is not accepted unscanned: 4xx, the sender keeps it."""
    msg = message("alice@example.test")
    with smtplib.SMTP(HOST, 25, local_hostname="outside.test", timeout=60) as smtp:
        smtp.starttls(context=context(ca))
        refused_at_data(
            "with spamd down the message is deferred (4xx)", lambda: smtp.send_message(msg), 4
        )
    Path(keep).write_bytes(msg.as_bytes())


def retry(ca: str, keep: str) -> None:
    """The sender's retry, once spamd is back: the same message is accepted and arrives."""
    raw = Path(keep).read_bytes()
    subject = next(
        line.split(b":", 1)[1].strip().decode()
        for line in raw.splitlines()
        if line.startswith(b"Subject:")
    )
    with smtplib.SMTP(HOST, 25, local_hostname="outside.test", timeout=60) as smtp:
        smtp.starttls(context=context(ca))
        refusals = smtp.sendmail("someone@outside.test", ["alice@example.test"], raw)
    check("the retried message is accepted", refusals == {}, refusals)
    body = wait_imap(ca, "alice@example.test", [subject]).get(subject, b"")
    check("and alice reads it, scanned", b"X-Spam-Status:" in body, subject)


def dmarc(ca: str, key_file: str) -> None:
    """outside.test (DMARC p=reject, served by the outside's Knot) sends to alice. Signed with
    its key and sent from its SPF address: the Authentication-Results alice reads say pass for
    SPF, DKIM and DMARC. The same mail with its body changed after signing, from an envelope
    sender that is not SPF-aligned, fails DMARC and is refused during the SMTP dialogue."""
    import dkim  # noqa: PLC0415 (dkimpy, installed on this host by converge.yml)

    key = Path(key_file).read_bytes()

    def signed(sender: str) -> tuple[EmailMessage, bytes]:
        msg = message("alice@example.test", sender=sender)
        raw = msg.as_bytes().replace(b"\n", b"\r\n")
        header = dkim.sign(
            raw, b"s1", b"outside.test", key, include_headers=[b"from", b"to", b"subject"]
        )
        return msg, header + raw

    good, raw = signed("someone@outside.test")
    with smtplib.SMTP(HOST, 25, local_hostname="outside.test", timeout=60) as smtp:
        smtp.starttls(context=context(ca))
        refusals = smtp.sendmail("someone@outside.test", ["alice@example.test"], raw)
    check("outside.test's signed mail is accepted", refusals == {}, refusals)
    body = wait_imap(ca, "alice@example.test", [good["Subject"]]).get(good["Subject"], b"")
    results = b" ".join(
        line.strip()
        for line in body.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ").split(b"\r\n")
        if line.lower().startswith(b"authentication-results: mx1.example.test")
    )
    for method in (b"spf=pass", b"dkim=pass", b"dmarc=pass"):
        check(
            f"alice reads {method.decode()} in Authentication-Results", method in results, results
        )

    _, raw = signed("someone@outside.test")
    broken = raw.replace(b"with two lines.", b"with two changed lines.")
    with smtplib.SMTP(HOST, 25, local_hostname="outside.test", timeout=60) as smtp:
        smtp.starttls(context=context(ca))
        refused_at_data(
            "a broken signature from a p=reject domain is refused (5xx)",
            lambda: smtp.sendmail("bounce@lists.outside.test", ["alice@example.test"], broken),
            5,
        )
    # The same mail with DKIM results forged under this host's name, which OpenDMARC trusts:
    # Postfix must remove each (however written) before OpenDMARC reads the message.
    forged = [
        "mx1.example.test; dkim=pass header.d=outside.test",
        '"mx1.example.test"; dkim=pass header.d=outside.test',
        "(relay; checked) MX1.Example.Test 1; dkim=pass header.d=outside.test",
        "mx1.example.test/4f2a; dkim=pass\r\n\theader.d=outside.test",
    ]
    lying = b"".join(f"Authentication-Results: {value}\r\n".encode() for value in forged) + broken
    with smtplib.SMTP(HOST, 25, local_hostname="outside.test", timeout=60) as smtp:
        smtp.starttls(context=context(ca))
        refused_at_data(
            "and so is it with dkim=pass forged under this host's name, in four forms (5xx)",
            lambda: smtp.sendmail("bounce@lists.outside.test", ["alice@example.test"], lying),
            5,
        )


def blocked(port: int) -> bool:
    """Whether a connection to `port` is refused or times out (a fail2ban ban)."""
    try:
        with socket.create_connection((HOST, port), timeout=5):
            return False
    except OSError:
        return True


def until_blocked(port: int, seconds: float = 60) -> bool:
    """Whether `port` closes to this address within `seconds` (fail2ban reads the journal)."""
    deadline = time.monotonic() + seconds
    while not blocked(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def wrong_imap(ca: str) -> bool:
    """One wrong IMAP password for alice; False when the connection itself fails (banned)."""
    try:
        with imaplib.IMAP4_SSL(HOST, 993, ssl_context=context(ca), timeout=30) as imap:
            try:
                imap.login("alice@example.test", f"wrong-{uuid.uuid4().hex}")
            except imaplib.IMAP4.error:
                return True
            check("a wrong IMAP password is refused", False)
    except OSError:
        return False
    return True


def wrong_smtp_auth(ca: str) -> bool:
    """One wrong SMTP AUTH password on 587; False when the connection fails (banned)."""
    try:
        with smtplib.SMTP(HOST, 587, local_hostname="outside.test", timeout=30) as smtp:
            smtp.starttls(context=context(ca))
            try:
                smtp.login("alice@example.test", f"wrong-{uuid.uuid4().hex}")
            except smtplib.SMTPAuthenticationError:
                return True
            check("a wrong SMTP AUTH password is refused", False)
    except (OSError, smtplib.SMTPServerDisconnected):
        return False
    return True


def guess(ca: str, count: int) -> None:
    """A burst of wrong passwords from this address (10.231.250.2): fail2ban bans it, from
    IMAP (jail dovecot) and then from submission (jail postfix-sasl); the connection is
    refused. verify.yml lifts the bans afterwards."""
    tried = sum(1 for _ in range(count) if wrong_imap(ca))
    check(
        f"after {tried} wrong IMAP passwords this address is banned from IMAPS",
        until_blocked(993),
    )
    tried = sum(1 for _ in range(count) if wrong_smtp_auth(ca))
    check(
        f"after {tried} wrong SMTP AUTH passwords it is banned from submission",
        until_blocked(587),
    )


def login(ca: str, user: str) -> None:
    """`user` logs in over IMAPS from this address."""
    with imaplib.IMAP4_SSL(HOST, 993, ssl_context=context(ca), timeout=30) as imap:
        status, _ = imap.login(user, USERS[user])
    check(f"{user} logs in over IMAPS from this address", status == "OK", status)


def read(ca: str, user: str, marker: str) -> None:
    found = wait_imap(ca, user, [marker])
    check(f"{user} reads {marker!r} over IMAPS", marker in found)


def lists(ca: str) -> None:
    """Mailman's list team@lists.example.test (role mailman), from the outside."""
    with smtplib.SMTP(HOST, 25, local_hostname="outside.test", timeout=30) as smtp:
        smtp.ehlo()
        smtp.starttls(context=context(ca))
        smtp.ehlo()
        code, reply = smtp.mail("someone@outside.test")
        check("MAIL FROM accepted", code == 250, f"{code} {reply.decode(errors='replace')}")
        code, reply = smtp.rcpt("nosuch@lists.example.test")
        check("an unknown list address is refused at RCPT", *refused(code, reply, 550, "nosuch"))
        smtp.rset()
        post = message("team@lists.example.test")
        smtp.send_message(post)
    for user in ("alice@example.test", "bob@example.test"):
        got = wait_imap(ca, user, [post["Subject"]]).get(post["Subject"], b"")
        copy = email.message_from_bytes(got)
        check(
            f"{user} reads the list's copy of the post, with its List-Id",
            "team.lists.example.test" in str(copy.get("List-Id", "")),
            copy.get("List-Id"),
        )
    archive = f"https://{HOST}/hyperkitty/api/list/team@lists.example.test/emails/"
    token = post["Subject"].split()[-1]
    deadline = time.monotonic() + 60
    body = ""
    while time.monotonic() < deadline and token not in body:
        with urllib.request.urlopen(archive, context=context(ca), timeout=30) as answer:
            body = answer.read().decode()
        time.sleep(1)
    check("HyperKitty's API shows the post over HTTPS", token in body)
    page = f"https://{HOST}/postorius/lists/team.lists.example.test/"
    with urllib.request.urlopen(page, context=context(ca), timeout=30) as answer:
        shown = answer.read().decode()
    check("Postorius shows the list's page over HTTPS", "team@lists.example.test" in shown)


def everything(ca: str) -> None:
    """The checks of a plain `checks.py CA_FILE`, in order."""
    sent = port25(ca)
    read_back(ca, sent)
    submission(ca)
    tls_versions()
    junk(ca)
    spam(ca)
    managesieve(ca)
    rate_limit(ca)


# Each command and what runs it, given the CA file and the command's arguments.
COMMANDS: dict[str, Callable[..., None]] = {
    "send": send,
    "read": read,
    "banner": lambda _ca: banner(),
    "srs": srs,
    "quota": quota,
    "dkim": dkim_signed,
    "deferred": deferred,
    "retry": retry,
    "dmarc": dmarc,
    "from": from_header,
    "guess": lambda ca, count: guess(ca, int(count)),
    "login": login,
    "lists": lists,
}


def main() -> None:
    ca, command = sys.argv[1], sys.argv[2:]
    if not command:
        everything(ca)
    elif command[0] in COMMANDS:
        COMMANDS[command[0]](ca, *command[1:])
    else:
        sys.exit(f"checks.py: unknown command {command[0]!r}")


if __name__ == "__main__":
    main()
