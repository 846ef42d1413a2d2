"""The lab's S/MIME check, end to end (docs/smime.md, docs/lab.md). With the lab running:

    python molecule/lab/smime.py [--inventory inventories/lab]

1. `mailstack smime` issues (or renews) the certificates of alice@example.test (RSA 3072) and
   bob@peer.test (ECDSA P-256) and exports them; the zones are published again
   (ansible/lab/lab-dns.yml), now with their SMIMEA records, and the CA certificate is served
   at the http:// URL the certificates name (site.yml --tags pki).
2. Alice's side finds bob's certificate through his SMIMEA record, DNSSEC-validated (the
   client's validating resolver sets AD, and `mailstack check --smime` validates the chain
   from the lab's trust anchors), signs a message with her key and encrypts it to bob with
   `openssl cms`, and submits it on 587 from the client.
3. Bob reads it over IMAPS, decrypts it with his key and verifies alice's signature: against
   example.test's CA, and the signer's certificate is the one her DNSSEC-validated SMIMEA
   record holds. The milters on the way (DKIM, DMARC, SpamAssassin) left it intact. One
   changed byte fails the verification.
4. Alice's certificate is revoked: once published again (`site.yml --tags pki` and the zones),
   the CRL served at http://pki.example.test/ lists its serial, and her SMIMEA record is gone
   from the zone. A new certificate is then issued for her, and
   the zones published again, so that the lab is left with both addresses in DNS.

Runs on the controller in the project's environment, as e2e.py does (whose helpers it uses),
and prints each step, pass or FAIL, with its evidence. Exit 0 only when every step passes.
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mailstack.smime import pkcs12, smimea

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e  # the lab's helpers, beside this file

HERE = Path(__file__).resolve().parent
ALICE, BOB = e2e.ALICE, e2e.BOB


def mailstack(inventory: str, *args: str) -> str:
    return e2e.command([e2e.tool("mailstack"), *args, "-i", inventory]).stdout


def certify(inventory: str, address: str) -> None:
    """Issue the address's certificate, or renew the one it has."""
    domain = address.split("@")[1]
    listed = json.loads(mailstack(inventory, "smime", "list", domain, "--json"))
    valid = any(e["address"] == address and e["state"] == "valid" for e in listed)
    mailstack(inventory, "smime", "renew" if valid else "issue", address)


def publish(inventory: str) -> None:
    """The zones, with the SMIMEA records; the CAs' certificates and CRLs, over HTTP."""
    e2e.playbook(inventory, "lab/lab-dns.yml", "-e", "lab_dns_zones_only=true")
    e2e.playbook(inventory, "site.yml", "--tags", "pki")


FETCH = (
    "import base64, sys, urllib.request\n"
    "with urllib.request.urlopen(sys.argv[1], timeout=10) as r:\n"
    "    print(r.headers['Content-Type']); print(base64.b64encode(r.read()).decode())"
)


def served_by_pki(r: e2e.Result, inventory: str, name: str) -> bytes:
    """The CA file `name` (ca.crt, ca.crl) of example.test, fetched by the client from the URL
    its certificates name; it must be the one `mailstack smime` published, with its type."""
    url = f"http://pki.example.test/smime/example.test/{name}"
    kind, data = e2e.run(e2e.CLIENT, "python3", "-c", FETCH, url).split()
    body = base64.b64decode(data)
    want = "application/pkix-crl" if name.endswith(".crl") else "application/pkix-cert"
    e2e.expect(kind == want, f"{url} is served as {kind}, not {want}")
    published = Path(inventory) / "published/smime/example.test" / name
    e2e.expect(body == published.read_bytes(), f"{url} is not the published {name}")
    r.evidence.append(f"{url}: the published {name} ({len(body)} bytes, {kind})")
    return body


def exported(inventory: str, address: str, work: Path) -> pkcs12.Contents:
    """The address's key, certificate and chain, out of its exported .p12 (modern)."""
    secret = work / f"{address}.password"
    out = work / address
    args = ["smime", "export", address, "--out", str(out), "--password-file", str(secret)]
    data = json.loads(mailstack(inventory, *args, "--json"))
    return pkcs12.read(Path(data["modern"]).read_bytes(), secret.read_text().strip())


def smimea_from_dns(r: e2e.Result, address: str) -> x509.Certificate:
    """The certificate of the address's SMIMEA record, through the client's validating
    resolver: the answer must carry the AD bit."""
    name = smimea.owner(address)
    out = e2e.run(e2e.CLIENT, "dig", "+dnssec", "+tcp", "+split=0", "SMIMEA", name)
    flags = re.search(r";; flags: ([a-z ]+);", out)
    e2e.expect(flags is not None and "ad" in flags.group(1).split(), f"{name}: no AD: {out}")
    found = re.search(rf"^{re.escape(name)}\.\s+\d+\s+IN\s+SMIMEA\s+(.+)$", out, re.MULTILINE)
    if found is None:
        raise e2e.CheckFailed(f"{name}: no SMIMEA record: {out}")
    certificate = smimea.certificate_of(found.group(1))
    if certificate is None:
        raise e2e.CheckFailed(f"{name}: not a 3 0 0 record: {found.group(1)[:40]}")
    r.evidence.append(f"{name} SMIMEA 3 0 0, AD set by the client's resolver")
    return certificate


def check_audit(r: e2e.Result, inventory: str, address: str) -> None:
    """`mailstack check --smime`: the chain validated from the lab's trust anchors."""
    domain = address.split("@")[1]
    done = e2e.command(
        ["bash", str(HERE / "audit.sh"), domain, "--smime", address, "--json"],
        env={**os.environ, "INVENTORY": inventory, "MAILSTACK": e2e.tool("mailstack")},
        check=False,
    )  # fmt: skip
    data = json.loads(done.stdout)
    found = {f["check"]: f["status"] for f in data["findings"] if f["category"] == "S/MIME"}
    e2e.expect(
        found == {"smime.dnssec": "pass", "smime.match": "pass", "smime.expiry": "pass"},
        f"mailstack check --smime {address}: {found}",
    )
    r.evidence.append(f"mailstack check {domain} --smime {address}: {found}")


def pem(path: Path, contents: pkcs12.Contents) -> tuple[Path, Path]:
    cert, key = path.with_suffix(".crt"), path.with_suffix(".key")
    cert.write_bytes(contents.certificate.public_bytes(serialization.Encoding.PEM))
    key.touch(mode=0o600)
    key.write_bytes(
        contents.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return e2e.command(["openssl", *args], check=False)


def sealed(work: Path, subject: str, signer: tuple[Path, Path], recipient: Path) -> Path:
    """A message from alice to bob: signed with `signer` (certificate, key), then encrypted
    to the `recipient` certificate, with `openssl cms`."""
    alice_cert, alice_key = signer
    bob_cert = recipient
    body = work / "body.txt"
    body.write_text(f"Content-Type: text/plain\r\n\r\nSigned and sealed: {subject}\r\n")
    signed, message = work / "signed.eml", work / "message.eml"
    said = openssl("cms", "-sign", "-in", str(body), "-signer", str(alice_cert),
                   "-inkey", str(alice_key), "-md", "sha256", "-out", str(signed))  # fmt: skip
    e2e.expect(said.returncode == 0, f"openssl cms -sign: {said.stderr}")
    said = openssl("cms", "-encrypt", "-in", str(signed), "-aes-256-cbc", "-from", ALICE, "-to",
                   BOB, "-subject", subject, "-out", str(message), str(bob_cert))  # fmt: skip
    e2e.expect(said.returncode == 0, f"openssl cms -encrypt: {said.stderr}")
    # openssl writes To, From and Subject; a message also has a date and an id.
    stamp = (
        f"Date: {email.utils.formatdate()}\nMessage-ID: <{subject.replace(' ', '-')}@lab.test>\n"
    )
    message.write_text(stamp + message.read_text())
    return message


def check_exchange(r: e2e.Result, inventory: str, work: Path) -> None:
    for address in (ALICE, BOB):
        certify(inventory, address)
    publish(inventory)
    r.evidence.append("certificates issued for alice (RSA) and bob (ECDSA); zones published")
    served_by_pki(r, inventory, "ca.crt")
    alice = exported(inventory, ALICE, work)
    bob = exported(inventory, BOB, work)
    bob_from_dns = smimea_from_dns(r, BOB)
    e2e.expect(bob_from_dns == bob.certificate, "bob's SMIMEA is not his current certificate")
    for address in (ALICE, BOB):
        check_audit(r, inventory, address)
    alice_cert, alice_key = pem(work / "alice", alice)
    bob_cert = work / "bob-from-dns.crt"
    bob_cert.write_bytes(bob_from_dns.public_bytes(serialization.Encoding.PEM))
    _, bob_key = pem(work / "bob", bob)
    subject = e2e.token("smime")
    message = sealed(work, subject, (alice_cert, alice_key), bob_cert)
    e2e.run(e2e.CLIENT, "tee", "/root/probe.py", stdin=(HERE / "probe.py").read_text())
    sent = json.loads(
        e2e.run(e2e.CLIENT, "python3", "/root/probe.py", "submit-stdin", e2e.EXAMPLE, "587",
                ALICE, BOB, stdin=message.read_text()).strip().splitlines()[-1]
    )  # fmt: skip
    e2e.expect(sent.get("ok") is True, f"submission on 587 failed: {sent}")
    r.evidence.append(
        f"alice signed, encrypted to bob's SMIMEA certificate, submitted on 587: {sent['reply']}"
    )
    got = json.loads(
        e2e.run(e2e.CLIENT, "python3", "/root/probe.py", "fetch", e2e.PEER, BOB, subject)
        .strip().splitlines()[-1]
    )  # fmt: skip
    e2e.expect(got.get("found") is True, f"bob never got {subject!r}")
    received = work / "received.eml"
    received.write_bytes(base64.b64decode(got["message"]))
    headers = received.read_bytes().split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    e2e.expect("DKIM-Signature" in headers, "the message passed no DKIM signer")
    r.evidence.append(f"bob read it over IMAPS from {got['folder']}, with a DKIM-Signature added")
    decrypted, content = work / "decrypted.eml", work / "content.txt"
    said = openssl("cms", "-decrypt", "-in", str(received), "-recip", str(work / "bob.crt"),
                   "-inkey", str(bob_key), "-out", str(decrypted))  # fmt: skip
    e2e.expect(said.returncode == 0, f"bob cannot decrypt it: {said.stderr}")
    signer = work / "signer.crt"
    ca = Path(inventory) / "published/smime/example.test/ca.pem"
    said = openssl("cms", "-verify", "-in", str(decrypted), "-CAfile", str(ca), "-purpose",
                   "smimesign", "-signer", str(signer), "-out", str(content))  # fmt: skip
    e2e.expect("Verification successful" in said.stderr, f"not verified: {said.stderr}")
    e2e.expect(subject in content.read_text(), "the content is not the one alice signed")
    alice_from_dns = smimea_from_dns(r, ALICE)
    e2e.expect(
        x509.load_pem_x509_certificate(signer.read_bytes()) == alice_from_dns,
        "the signer is not the certificate of alice's SMIMEA record",
    )
    r.evidence.append(
        "bob decrypted it and verified alice's signature (example.test's CA; the signer is"
        " her DNSSEC-validated SMIMEA certificate): the milters left it intact"
    )
    data = bytearray(decrypted.read_bytes())
    at = data.index(b"Signed and sealed")
    data[at] = ord("s")
    tampered = work / "tampered.eml"
    tampered.write_bytes(bytes(data))
    said = openssl("cms", "-verify", "-in", str(tampered), "-CAfile", str(ca))
    e2e.expect(said.returncode != 0 and "Verification failure" in said.stderr, said.stderr)
    r.evidence.append("one byte changed: openssl cms -verify says Verification failure")


def check_revocation(r: e2e.Result, inventory: str, work: Path) -> None:
    revoked = json.loads(mailstack(inventory, "smime", "revoke", ALICE, "--json"))
    publish(inventory)
    crl = work / "served.crl"
    crl.write_bytes(served_by_pki(r, inventory, "ca.crl"))
    listed = openssl("crl", "-inform", "DER", "-in", str(crl), "-noout", "-text").stdout
    e2e.expect(revoked["serial"].upper().lstrip("0") in listed.replace(":", "").upper(),
               f"the served CRL does not list {revoked['serial']}: {listed}")  # fmt: skip
    r.evidence.append(
        f"alice's certificate {revoked['serial'][:16]}... revoked: the CRL served lists it"
    )
    name = smimea.owner(ALICE)
    served = e2e.run(e2e.CLIENT, "dig", "+short", "@10.231.0.2", "SMIMEA", name).strip()
    e2e.expect(served == "", f"{name} is still served: {served[:60]}")
    r.evidence.append(f"zones published again: {name} SMIMEA is gone from the zone")
    mailstack(inventory, "smime", "issue", ALICE)
    publish(inventory)
    r.evidence.append("a new certificate issued for alice, and published")


STEPS = [
    ("alice signs and encrypts to bob through SMIMEA; bob decrypts and verifies", check_exchange),
    ("revoking alice's certificate: on the CRL, its SMIMEA gone from the zone", check_revocation),
]


def main() -> int:
    parser = argparse.ArgumentParser(description="the lab's S/MIME check")
    parser.add_argument("--inventory", default="inventories/lab")
    args = parser.parse_args()
    passed = 0
    with tempfile.TemporaryDirectory(prefix="mailstack-smime-") as folder:
        work = Path(folder)
        for number, (title, step) in enumerate(STEPS, start=1):
            result = e2e.Result(number, title)
            started = time.monotonic()
            try:
                step(result, args.inventory, work)
                result.ok = True
            except (e2e.CheckFailed, subprocess.SubprocessError, KeyError, ValueError) as exc:
                result.evidence.append(f"{type(exc).__name__}: {exc}")
            print(f"{'pass' if result.ok else 'FAIL'}  {number}. {title}"
                  f"  ({time.monotonic() - started:.1f} s)")  # fmt: skip
            for line in result.evidence:
                print(f"        {line}")
            passed += result.ok
            if not result.ok:
                break
    print(f"smime: {passed} of {len(STEPS)} steps passed")
    return 0 if passed == len(STEPS) else 1


if __name__ == "__main__":
    sys.exit(main())
