"""How each mail client imports a mailbox's .p12 and, for mailstack's CA, trusts the CA.

`mailstack smime export` prints them for the files it wrote; docs/smime.md has the same
steps. The password is never part of a command line here: each tool asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CLIENTS = ("windows", "macos", "outlook", "apple-mail", "evolution", "thunderbird")


@dataclass(frozen=True)
class Files:
    """What export wrote for one mailbox: both .p12 files, and the CA's certificate when
    mailstack's CA issued the certificate (a commercial CA is already trusted)."""

    address: str
    modern: Path
    compatible: Path
    ca: Path | None


def _windows(f: Files) -> list[str]:
    steps = [
        "Windows (certutil, in the user's own store, which Outlook reads):",
        f"  certutil -user -importpfx My {f.modern.name}",
        f"  (Windows older than 10 version 1709: {f.compatible.name} instead)",
    ]
    if f.ca is not None:
        steps.append(f"  certutil -user -addstore Root {f.ca.name}   (trust the CA; Windows asks)")
    return steps


def _macos(f: Files) -> list[str]:
    steps = [
        "macOS (the login keychain, which Apple Mail reads):",
        f"  security import {f.compatible.name} -k ~/Library/Keychains/login.keychain-db -f pkcs12",
        "  (the compatible file: the Keychain refuses the modern one as a wrong password)",
    ]
    if f.ca is not None:
        steps.append(
            "  security add-trusted-cert -r trustRoot -p smime"
            f" -k ~/Library/Keychains/login.keychain-db {f.ca.name}"
        )
    return steps


def _outlook(f: Files) -> list[str]:
    return [
        "Outlook (Windows):",
        "  import as for Windows above, then File > Options > Trust Center > Trust Center"
        " Settings > Email Security:",
        f"  Settings...: signing and encryption certificate {f.address}, hash SHA256,"
        " encryption AES (256-bit);",
        "  tick 'Add digital signature to outgoing messages' (signing by default) and 'Send"
        " clear text signed message'.",
    ]


def _apple_mail(f: Files) -> list[str]:
    return [
        "Apple Mail (macOS):",
        "  import as for macOS above and restart Mail: a new message from"
        f" {f.address} shows the sign and encrypt buttons.",
        "  Mail encrypts to a correspondent once it has a signed message from them.",
    ]


def _nss(client: str, menu: str, f: Files) -> list[str]:
    steps = [
        f"{client}:",
        f"  {menu}: Your Certificates > Import: {f.modern.name}",
    ]
    if f.ca is not None:
        steps.append(
            f"  Authorities > Import: {f.ca.name}, tick 'Trust this CA to identify email users'"
        )
    return steps


def _evolution(f: Files) -> list[str]:
    return [
        *_nss("Evolution", "Preferences > Certificates", f),
        "  then Edit > Accounts > the account > Security: choose the signing and encryption"
        " certificate.",
    ]


def _thunderbird(f: Files) -> list[str]:
    return [
        *_nss("Thunderbird", "Settings > Privacy & Security > Manage Certificates", f),
        "  then Account Settings > End-To-End Encryption > S/MIME: select the personal"
        " certificate for signing and for encryption.",
        "  Command line, for any NSS database: pk12util -i"
        f" {f.modern.name} -d sql:$HOME/.pki/nssdb"
        + (
            f"; certutil -A -d sql:$HOME/.pki/nssdb -n 'S/MIME CA' -t ,C, -i {f.ca.name}"
            if f.ca is not None
            else ""
        ),
    ]


_STEPS = {
    "windows": _windows,
    "macos": _macos,
    "outlook": _outlook,
    "apple-mail": _apple_mail,
    "evolution": _evolution,
    "thunderbird": _thunderbird,
}


def text(files: Files, clients: tuple[str, ...] = CLIENTS) -> str:
    """The steps for `clients`, for the files of one mailbox."""
    lines = [
        f"Import instructions for {files.address}: the password is the one export gave;"
        " never send it by mail.",
    ]
    for client in clients:
        lines.append("")
        lines.extend(_STEPS[client](files))
    return "\n".join(lines) + "\n"
