#!/usr/bin/python3
"""Check dkimpy-milter's configuration before it is used (it has no check mode of its own).

    dkimpy_milter_check.py [--staged DIR] /etc/dkimpy-milter/dkimpy-milter.conf

The file is read by dkimpy-milter's own parser, as the milter will read it; then each key of
its Ed25519 key table signs a message, and the signature must verify against the public half
beside the key (<selector>.pem, the key the inventory publishes in DNS). Exit 1 with every
problem found, else 0 with what would sign.

With --staged, the files are checked before they are put in place: the configuration and the
tables it names in its own directory are read from DIR, where they wait to be copied.

With --stamp FILE and --keys DIR, a check that passes writes FILE: a digest of the files
checked (every file of the staged directory and of the key directory DIR), of this program
and of the versions of dkimpy and dkimpy-milter. When FILE holds the digest of what is there
now, what was checked has not changed: the check says so and passes without importing
dkimpy (a third of a second). A failed check writes no stamp, so it is never skipped. With
--keys, every key of the table must lie in DIR, which the stamp covers, or the check fails.
dkimpy, dkimpy-milter and cryptography are imported where they are used, not at the top, so
that a stamped check never loads them.

Managed by mailstack (role opendkim).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

MESSAGE = b"From: check@{domain}\r\nTo: check@{domain}\r\nSubject: check\r\n\r\ncheck\r\n"


def public_txt(pem: Path) -> bytes:
    """The DKIM TXT record of an Ed25519 public key file (RFC 8463: the raw 32 bytes)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 (see the docstring)
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415 (see the docstring)

    key = serialization.load_pem_public_key(pem.read_bytes())
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ValueError(f"{pem} is not an Ed25519 public key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)


def check_key(name: str, entry: list[str], path: str) -> str | None:
    """Sign with one key table entry; why it cannot sign, or None."""
    import dkim  # noqa: PLC0415 (see the docstring)

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
    from dkimpy_milter import config  # noqa: PLC0415 (see the docstring)

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


def digest(dirs: list[Path]) -> str:
    """The digest of every file under DIRS (names and contents), this program and dkimpy's."""
    sha = hashlib.sha256(Path(__file__).read_bytes())
    for package in ("dkimpy", "dkimpy-milter"):
        sha.update(f"\0{package} {importlib.metadata.version(package)}".encode())
    for top in dirs:
        for file in sorted(p for p in top.rglob("*") if p.is_file()):
            sha.update(f"\0{file}\0".encode() + file.read_bytes())
    return sha.hexdigest()


def write_stamp(stamp: Path, value: str) -> None:
    """Write the stamp readable by root only (it is a digest of private keys), atomically:
    created 0600, never readable by others even for a moment, and never through a link."""
    part = stamp.with_name(stamp.name + ".part")
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    part.replace(stamp)


def main(
    path: str, staged: str | None = None, stamp: str | None = None, keys: str | None = None
) -> int:
    covered = [Path(staged or Path(path).parent)] + ([Path(keys)] if keys else [])
    value = digest(covered) if stamp else ""
    if stamp and Path(stamp).is_file() and Path(stamp).read_text().strip() == value:
        print(f"{path}: unchanged since its last check ({stamp})")
        return 0
    problems = check(path, staged, Path(keys) if keys else None)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    if stamp:
        write_stamp(Path(stamp), value)
    return 0


def check(path: str, staged: str | None, keys: Path | None) -> list[str]:
    """Every problem of the configuration at PATH (or its staged copy) and of its keys."""
    from dkimpy_milter import util  # noqa: PLC0415 (see the docstring)

    conf = read_config(path, staged)
    problems = []
    if conf.get("Mode") != "s":
        problems.append(f"Mode is {conf.get('Mode')!r}: OpenDKIM verifies, this one only signs")
    if not str(conf.get("Socket") or "").startswith("local:/"):
        # A TCP socket on the loopback would let any local account have mail signed.
        problems.append(f"Socket {conf.get('Socket')!r} is not a Unix socket (local:/path)")
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
            table_keys = conf["privateEd25519Table"]
            for pattern, values in signing.items():
                if values[-1] not in table_keys:
                    problems.append(f"signing table {pattern}: no key named {values[-1]}")
            for name, entry in table_keys.items():
                key_file = files[name][-1]
                if keys is not None and not Path(key_file).resolve().is_relative_to(keys.resolve()):
                    problems.append(f"{entry[0]}/{entry[1]}: {key_file} is not under {keys}")
                    continue
                problem = check_key(name, entry, key_file)
                if problem:
                    problems.append(problem)
                else:
                    print(f"{entry[0]}/{entry[1]}: signs with Ed25519, verified")
    return problems


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="check dkimpy-milter's configuration and keys")
    parser.add_argument("--staged", metavar="DIR", help="read the files from this directory")
    parser.add_argument("--stamp", metavar="FILE", help="skip what has passed, stamped here")
    parser.add_argument("--keys", metavar="DIR", help="the key directory, covered by the stamp")
    parser.add_argument("config")
    args = parser.parse_args()
    if args.stamp and not args.keys:
        parser.error("--stamp needs --keys: the stamp must cover the keys it vouches for")
    sys.exit(main(args.config, args.staged, args.stamp, args.keys))
