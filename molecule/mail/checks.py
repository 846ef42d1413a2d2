"""Checks of the mail host from the outside, over the network: SMTP, IMAP and POP3 as a
sender, a mail user and an attacker see them. Run on the outside container by verify.yml:

    python3 checks.py CA_FILE                  every check below
    python3 checks.py CA_FILE send TO SUBJECT  send one message on port 25
    python3 checks.py CA_FILE read TO SUBJECT  wait until TO (alice or bob) reads it over IMAPS
    python3 checks.py CA_FILE banner           port 25 answers with its banner
    python3 checks.py CA_FILE srs              a forwarded alias leaves with an SRS sender

CA_FILE is the root of the ACME CA that issued the mail host's certificate. Prints one line
per check and exits 1 at the first failure.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import ssl
import sys
import threading
import time
import uuid
from email.message import EmailMessage

HOST = "mx1.example.test"
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
    from pathlib import Path  # noqa: PLC0415

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
    check("port 25 answers", line.startswith(b"220 mx1.example.test ESMTP"), line.decode().strip())


def sink(received: list[tuple[str, str]]) -> socket.socket:
    """A minimal SMTP receiver on port 25 of this host, recording (MAIL FROM, RCPT TO)."""
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
                    for data in f:
                        if data in (b".\r\n", b".\n"):
                            break
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


def srs(ca: str) -> None:
    received: list[tuple[str, str]] = []
    listener = sink(received)
    try:
        send(ca, "forward@example.test", "forwarded")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not received:
            time.sleep(0.5)
    finally:
        listener.close()
    check("the forwarded mail reached carol@outside.test", bool(received), received)
    sender, recipient = received[0]
    check("it went to the alias's target", recipient == "carol@outside.test", recipient)
    check(
        "its envelope sender is rewritten with SRS into our domain",
        sender.startswith("SRS0=") and sender.endswith("=outside.test=someone@example.test"),
        sender,
    )


def main() -> None:
    ca, command = sys.argv[1], sys.argv[2:]
    if command[:1] == ["send"]:
        send(ca, command[1], command[2])
    elif command[:1] == ["read"]:
        found = wait_imap(ca, command[1], [command[2]])
        check(f"{command[1]} reads {command[2]!r} over IMAPS", command[2] in found)
    elif command == ["banner"]:
        banner()
    elif command == ["srs"]:
        srs(ca)
    else:
        sent = port25(ca)
        read_back(ca, sent)
        submission(ca)
        tls_versions()


if __name__ == "__main__":
    main()
