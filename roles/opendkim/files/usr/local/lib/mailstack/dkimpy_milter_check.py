#!/usr/bin/python3
"""Check dkimpy-milter's configuration before it is used (it has no check mode of its own).

    dkimpy_milter_check.py [--staged DIR] /etc/dkimpy-milter/dkimpy-milter.conf

The file is read by dkimpy-milter's own parser, as the milter will read it; then each key of
its Ed25519 key table signs a message, and the signature must verify against the public half
beside the key (<selector>.pem, the key the inventory publishes in DNS). Exit 1 with every
problem found, else 0 with what would sign.

With --staged, the files are checked before they are put in place: the configuration and the
tables it names in its own directory are read from DIR, where they wait to be copied.

Managed by mailstack (role opendkim).
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
from pathlib import Path
from typing import Any

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from dkimpy_milter import config, util

MESSAGE = b"From: check@{domain}\r\nTo: check@{domain}\r\nSubject: check\r\n\r\ncheck\r\n"


def public_txt(pem: Path) -> bytes:
    """The DKIM TXT record of an Ed25519 public key file (RFC 8463: the raw 32 bytes)."""
    key = serialization.load_pem_public_key(pem.read_bytes())
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ValueError(f"{pem} is not an Ed25519 public key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)


def check_key(name: str, entry: list[str], path: str) -> str | None:
    """Sign with one key table entry; why it cannot sign, or None."""
    if len(entry) != 3:
        return f"key table entry {name}: needs domain:selector:key file, not {':'.join(entry)}"
    domain, selector, seed = entry
    key_file = Path(path)
    pem = key_file.with_suffix(".pem")
    message = MESSAGE.replace(b"{domain}", domain.encode())
    try:
        header = dkim.sign(
            message,
            selector.encode(),
            domain.encode(),
            seed.encode(),
            signature_algorithm=b"ed25519-sha256",
        )
        txt = public_txt(pem)
    except (dkim.DKIMException, ValueError, OSError) as exc:
        return f"{domain}/{selector} ({key_file}): cannot sign: {exc}"

    def dnsfunc(_name: bytes, timeout: int = 5) -> bytes:
        return txt

    if not dkim.verify(header + message, dnsfunc=dnsfunc):
        return f"{domain}/{selector}: {key_file} does not match its public key {pem}"
    return None


def parse(path: str) -> dict[str, Any]:
    """The configuration file as dkimpy-milter itself reads it."""
    conf: dict[str, Any] = config._processConfigFile(filename=path)
    return conf


def read_config(path: str, staged: str | None) -> dict[str, Any]:
    """The configuration at PATH, or its staged copy in STAGED with the files beside it."""
    if staged is None:
        return parse(path)
    installed = str(Path(path).parent) + "/"
    text = (Path(staged) / Path(path).name).read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as copy:
        copy.write(text.replace(installed, str(Path(staged)) + "/"))
        copy.flush()
        return parse(copy.name)


def main(path: str, staged: str | None = None) -> int:
    conf = read_config(path, staged)
    problems = []
    if conf.get("Mode") != "s":
        problems.append(f"Mode is {conf.get('Mode')!r}: OpenDKIM verifies, this one only signs")
    if not str(conf.get("Socket") or "").startswith("inet:"):
        problems.append(f"Socket {conf.get('Socket')!r} is not a loopback inet socket")
    if conf.get("MacroListVerify") != ["daemon_name|INBOUND"]:
        problems.append("MacroListVerify must be daemon_name|INBOUND: inbound mail would be signed")
    signing = conf.get("SigningTable")
    table = conf.get("KeyTableEd25519")
    files = dict(table) if isinstance(table, dict) else {}
    if signing is not None or table is not None:
        if not isinstance(signing, dict) or not isinstance(table, dict):
            problems.append("the signing table and the Ed25519 key table must both have entries")
        else:
            conf = util.get_keys(conf)
            keys = conf["privateEd25519Table"]
            for pattern, values in signing.items():
                if values[-1] not in keys:
                    problems.append(f"signing table {pattern}: no key named {values[-1]}")
            for name, entry in keys.items():
                problem = check_key(name, entry, files[name][-1])
                if problem:
                    problems.append(problem)
                else:
                    print(f"{entry[0]}/{entry[1]}: signs with Ed25519, verified")
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="check dkimpy-milter's configuration and keys")
    parser.add_argument("--staged", metavar="DIR", help="read the files from this directory")
    parser.add_argument("config")
    args = parser.parse_args()
    sys.exit(main(args.config, args.staged))
