"""TLS quality, as internet.nl grades it (the NCSC-NL TLS guidelines), on port 25 of every MX
address and on every client port the SRV records announce: versions, cipher suites and their
order, key exchange groups and DH parameters, the key exchange's hash, compression, secure
and client-initiated renegotiation, and the certificate's public keys and signatures.

Grades map to findings: insufficient fails; phase-out warns without lowering the score (as
internet.nl shows it); good and sufficient pass. A probe that fails is never a pass: it is a
warning saying what could not be tested. RPKI (route origin validation of each address) needs
routing data this checker does not have: it is said to be untested, never passed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from mailstack.check import tlshello
from mailstack.check.context import Context
from mailstack.check.facts import addresses, client_services, is_null_mx, mx_hosts, tls_handshake
from mailstack.check.report import Finding, failed, info, passed, warned
from mailstack.check.tlshello import GROUP_NAMES, SIGALG_NAMES, TLS12, TLS13, VERSION_NAMES
from mailstack.check.tlsprobe import Handshake, ProbeError, Starttls
from mailstack.check.tlsscan import OLD_VERSIONS, Grade, Scan, Target, dh_grade, scan

CATEGORY = "TLS quality"
CLIENT = "Client TLS"
FIX_VERSIONS = "allow TLS 1.2 and 1.3 only (Postfix: smtpd_tls_protocols = >=TLSv1.2)"
FIX_CIPHERS = (
    "offer only ECDHE suites with AES-GCM or ChaCha20-Poly1305 (Postfix: smtpd_tls_ciphers ="
    " high, tls_high_cipherlist of Mozilla intermediate; Dovecot: ssl_cipher_list)"
)
FIX_PHASE_OUT = "drop the phase-out suites, or prefer your own order (tls_preempt_cipherlist = yes)"
GOOD_SIGNATURES = {
    x509.SignatureAlgorithmOID.RSA_WITH_SHA256,
    x509.SignatureAlgorithmOID.RSA_WITH_SHA384,
    x509.SignatureAlgorithmOID.RSA_WITH_SHA512,
    x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    x509.SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    x509.SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    x509.SignatureAlgorithmOID.RSASSA_PSS,
    x509.SignatureAlgorithmOID.ED25519,
    x509.SignatureAlgorithmOID.ED448,
}
GOOD_CURVES = (
    ec.SECP256R1,
    ec.SECP384R1,
    ec.SECP521R1,
    ec.BrainpoolP256R1,
    ec.BrainpoolP384R1,
    ec.BrainpoolP512R1,
)


def audit(ctx: Context) -> list[Finding]:
    """Port 25 of every MX address."""
    if is_null_mx(ctx):
        return [info(CATEGORY, "tls.null", "no TLS to grade: the domain receives no mail")]
    targets = [
        (host, Target(address, 25, "smtp", host))
        for _, host in mx_hosts(ctx)
        for address in addresses(ctx, host)
    ]
    out = _all(ctx, CATEGORY, targets)
    out.append(
        info(
            CATEGORY,
            "tls.rpki",
            "RPKI not tested: validating the route origin of each MX and name server address"
            " needs BGP routing data, which this checker does not have",
        )
    )
    return out


def audit_clients(ctx: Context) -> list[Finding]:
    """Every client port the SRV records announce."""
    targets = [
        (service.target, Target(address, service.port, service.starttls, service.target))
        for service in client_services(ctx)
        if service.target is not None
        for address in addresses(ctx, service.target)
    ]
    return _all(ctx, CLIENT, targets)


def _all(ctx: Context, category: str, targets: list[tuple[str, Target]]) -> list[Finding]:
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        results = list(pool.map(lambda t: _one(ctx, category, t[1]), targets))
    return [f for found in results for f in found]


def _one(ctx: Context, category: str, target: Target) -> list[Finding]:
    where = target.where
    starttls: Starttls = target.starttls
    try:
        got = tls_handshake(ctx, target.server_name, (target.address, target.port, starttls))
    except ProbeError:
        return [
            info(category, "tls.quality", f"{where}: no TLS to grade (see the TLS checks above)")
        ]
    found = scan(target, ctx.budget)
    out = [_versions(category, where, found)]
    out += _suites(category, where, found)
    out += _exchange(category, where, found)
    out += _renegotiation(category, where, found)
    out += _certificate(category, where, got, port25=target.port == 25)
    return out


def _untested(category: str, check: str, where: str, what: str, found: Scan) -> Finding:
    reasons = "; ".join(found.errors) or "the probe failed"
    return warned(
        category,
        check,
        f"{where}: {what} not tested: {reasons}",
        "run the check again; if this stays, the server mishandles some TLS hellos",
    )


def _versions(category: str, where: str, found: Scan) -> Finding:
    accepted = [VERSION_NAMES[v] for v in OLD_VERSIONS if found.versions.get(v)]
    unknown = [
        VERSION_NAMES[v] for v in (*OLD_VERSIONS, TLS12, TLS13) if found.versions.get(v) is None
    ]
    if accepted:
        return failed(
            category,
            "tls.versions",
            f"{where}: accepts {', '.join(accepted)}: insufficient, senders can be made to use"
            " broken versions (RFC 8996)",
            FIX_VERSIONS,
        )
    if unknown:
        return _untested(category, "tls.versions", where, ", ".join(unknown), found)
    modern = [VERSION_NAMES[v] for v in (TLS12, TLS13) if found.versions.get(v)]
    if not modern:
        return failed(
            category, "tls.versions", f"{where}: accepts neither TLS 1.2 nor TLS 1.3", FIX_VERSIONS
        )
    note = "" if found.accepts(TLS13) else " (TLS 1.3 would be good; TLS 1.2 alone is sufficient)"
    return passed(category, "tls.versions", f"{where}: accepts {' and '.join(modern)} only{note}")


def _names(codes: list[int]) -> str:
    return ", ".join(tlshello.suite_name(c) for c in codes)


@dataclass(frozen=True)
class Graded:
    """What one graded check found: what is insufficient (None: nothing), the message when
    nothing is, and what is to be phased out (None: nothing), each with its fix."""

    insufficient: str | None
    sufficient: str
    fix: str
    phase_out: str | None
    phase_out_fix: str


def _graded(category: str, check: str, found: Graded) -> list[Finding]:
    """A failure for what is insufficient, else a pass; and a warning, not scored, for what is
    to be phased out."""
    out = [
        failed(category, check, found.insufficient, found.fix)
        if found.insufficient is not None
        else passed(category, check, found.sufficient)
    ]
    if found.phase_out is not None:
        out.append(
            warned(
                category,
                f"{check}.phase_out",
                found.phase_out,
                found.phase_out_fix,
                mandatory=False,
            )
        )
    return out


def _suites(category: str, where: str, found: Scan) -> list[Finding]:
    if not found.suites_tested:
        return [_untested(category, "tls.ciphers", where, "cipher suites", found)]
    bad = found.suites.get(Grade.INSUFFICIENT, [])
    weak = found.suites.get(Grade.PHASE_OUT, [])
    out = _graded(
        category,
        "tls.ciphers",
        Graded(
            f"{where}: accepts insufficient cipher suites: {_names(bad)}" if bad else None,
            f"{where}: no insufficient cipher suite accepted",
            FIX_CIPHERS,
            f"{where}: accepts cipher suites to be phased out: {_names(weak)}" if weak else None,
            FIX_PHASE_OUT,
        ),
    )
    if found.order_violation is not None:
        chosen, better = found.order_violation
        out.append(
            failed(
                category,
                "tls.cipher_order",
                f"{where}: picks {tlshello.suite_name(chosen)} (phase-out) over"
                f" {tlshello.suite_name(better)}, which it accepts: it follows the client's order",
                "make the server prefer its own order (Postfix: tls_preempt_cipherlist = yes;"
                " Dovecot: ssl_prefer_server_ciphers = yes), or drop the phase-out suites",
            )
        )
    elif found.order_tested:
        out.append(
            passed(
                category,
                "tls.cipher_order",
                f"{where}: never picks a phase-out suite over a better one",
            )
        )
    else:
        out.append(_untested(category, "tls.cipher_order", where, "the cipher order", found))
    return out


def _exchange(category: str, where: str, found: Scan) -> list[Finding]:
    out: list[Finding] = []
    if not found.groups_tested:
        out.append(_untested(category, "tls.groups", where, "key exchange groups", found))
    else:
        bad = found.groups.get(Grade.INSUFFICIENT, [])
        weak = found.groups.get(Grade.PHASE_OUT, [])
        out += _graded(
            category,
            "tls.groups",
            Graded(
                f"{where}: accepts insufficient key exchange groups: "
                + ", ".join(GROUP_NAMES.get(g, hex(g)) for g in bad)
                if bad
                else None,
                f"{where}: no insufficient elliptic curve accepted",
                "allow X25519, secp256r1 and secp384r1 only (Postfix: tls_eecdh_auto_curves)",
                f"{where}: accepts secp224r1, to be phased out" if weak else None,
                "drop secp224r1",
            ),
        )
    out.append(_dh(category, where, found))
    out.append(_kex_hash(category, where, found))
    return out


def _dh(category: str, where: str, found: Scan) -> Finding:
    if not found.dh_primes:
        return passed(category, "tls.dh", f"{where}: no finite-field DHE offered (ECDHE only)")
    grade, name = dh_grade(found.dh_primes[0])
    if grade == Grade.INSUFFICIENT:
        return failed(
            category,
            "tls.dh",
            f"{where}: DHE with {name}: insufficient",
            "drop DHE suites, or use ffdhe3072 or larger (RFC 7919; Postfix:"
            " smtpd_tls_dh1024_param_file)",
        )
    return warned(
        category,
        "tls.dh",
        f"{where}: DHE with {name}, to be phased out",
        "prefer ECDHE; drop DHE suites",
        mandatory=False,
    )


def _kex_hash(category: str, where: str, found: Scan) -> Finding:
    if not found.accepts(TLS12):
        return passed(
            category,
            "tls.kex_hash",
            f"{where}: TLS 1.3 only: the key exchange is signed with SHA-2",
        )
    if found.kex_hash is None:
        return _untested(category, "tls.kex_hash", where, "the key exchange hash", found)
    names = [SIGALG_NAMES.get(s, hex(s)) for s in found.kex_hash]
    if any("sha1" in n for n in names):
        return failed(
            category,
            "tls.kex_hash",
            f"{where}: signs the key exchange with SHA-1 when asked ({', '.join(names)})",
            "raise the OpenSSL security level (CipherString = DEFAULT@SECLEVEL=2), which"
            " refuses SHA-1 signatures",
        )
    if names:
        return warned(
            category,
            "tls.kex_hash",
            f"{where}: signs the key exchange with SHA-224 when asked",
            "allow SHA-256 and better only",
            mandatory=False,
        )
    return passed(category, "tls.kex_hash", f"{where}: signs the key exchange with SHA-2 only")


def _renegotiation(category: str, where: str, found: Scan) -> list[Finding]:
    out: list[Finding] = []
    if found.compression:
        out.append(
            failed(
                category,
                "tls.compression",
                f"{where}: TLS compression is on (CRIME)",
                "turn TLS compression off (OpenSSL: Options = NoCompression)",
            )
        )
    elif found.compression is False or found.accepts(TLS13):
        out.append(passed(category, "tls.compression", f"{where}: no TLS compression"))
    else:
        out.append(_untested(category, "tls.compression", where, "compression", found))
    if not found.accepts(TLS12) and found.accepts(TLS13):
        out.append(
            passed(category, "tls.renegotiation", f"{where}: TLS 1.3 only: no renegotiation")
        )
        return out
    if found.secure_renegotiation is False:
        out.append(
            failed(
                category,
                "tls.renegotiation",
                f"{where}: no secure renegotiation (RFC 5746 renegotiation_info missing)",
                "update the TLS library: every maintained one supports RFC 5746",
            )
        )
    elif found.secure_renegotiation:
        out.append(
            passed(category, "tls.renegotiation", f"{where}: secure renegotiation (RFC 5746)")
        )
    else:
        out.append(_untested(category, "tls.renegotiation", where, "secure renegotiation", found))
    if found.client_renegotiation:
        out.append(
            failed(
                category,
                "tls.client_renegotiation",
                f"{where}: allows client-initiated renegotiation (a cheap way to load the server)",
                "disallow it (OpenSSL 3 does by default; Postfix: tls_ssl_options ="
                " NO_RENEGOTIATION)",
            )
        )
    elif found.client_renegotiation is False:
        out.append(
            passed(
                category,
                "tls.client_renegotiation",
                f"{where}: refuses client-initiated renegotiation",
            )
        )
    else:
        note = found.client_renegotiation_note
        if note:
            out.append(
                warned(
                    category,
                    "tls.client_renegotiation",
                    f"{where}: client-initiated renegotiation {note}",
                    "install the openssl command to test it",
                )
            )
        else:
            out.append(
                _untested(
                    category,
                    "tls.client_renegotiation",
                    where,
                    "client-initiated renegotiation",
                    found,
                )
            )
    return out


def _key_grade(key: object) -> tuple[Grade, str]:
    if isinstance(key, rsa.RSAPublicKey):
        size = key.key_size
        grade = (
            Grade.GOOD if size >= 3072 else Grade.PHASE_OUT if size >= 2048 else Grade.INSUFFICIENT
        )
        return grade, f"RSA {size} bits"
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = key.curve
        if isinstance(curve, GOOD_CURVES):
            return Grade.GOOD, f"EC {curve.name}"
        grade = Grade.PHASE_OUT if isinstance(curve, ec.SECP224R1) else Grade.INSUFFICIENT
        return grade, f"EC {curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return Grade.GOOD, type(key).__name__.removesuffix("PublicKey")
    if isinstance(key, dsa.DSAPublicKey):
        return Grade.INSUFFICIENT, f"DSA {key.key_size} bits"
    return Grade.INSUFFICIENT, type(key).__name__


def _certificate(category: str, where: str, got: Handshake, *, port25: bool) -> list[Finding]:
    certs = []
    for der in got.chain:
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    graded = [c for c in certs if not (c.issuer == c.subject and c is not certs[0])]
    keys = [(c, *_key_grade(c.public_key())) for c in graded]
    bad = [
        f"{c.subject.rfc4514_string()}: {what}" for c, g, what in keys if g == Grade.INSUFFICIENT
    ]
    weak = [f"{c.subject.rfc4514_string()}: {what}" for c, g, what in keys if g == Grade.PHASE_OUT]
    out = _graded(
        category,
        "tls.cert_key",
        Graded(
            f"{where}: insufficient public key(s) in the certificate chain: {'; '.join(bad)}"
            if bad
            else None,
            f"{where}: the certificates' keys are strong enough",
            "use an RSA key of 3072 bits or more, or ECDSA P-256/P-384 (role tls)",
            f"{where}: public key(s) to be phased out: {'; '.join(weak)}" if weak else None,
            "move to RSA 3072 or ECDSA P-256 at the next key change",
        ),
    )
    signed = [c for c in graded if c.issuer != c.subject]
    weak_sigs = [
        f"{c.subject.rfc4514_string()}: {c.signature_algorithm_oid._name}"
        for c in signed
        if c.signature_algorithm_oid not in GOOD_SIGNATURES
    ]
    if weak_sigs:
        out.append(
            failed(
                category,
                "tls.cert_signature",
                f"{where}: certificate(s) signed with an insufficient hash: {'; '.join(weak_sigs)}",
                "get a certificate signed with SHA-256 or better",
            )
        )
    else:
        out.append(
            passed(
                category, "tls.cert_signature", f"{where}: the certificates are signed with SHA-2"
            )
        )
    if port25:
        if got.verify_error:
            out.append(
                warned(
                    category,
                    "tls.cert_trust",
                    f"{where}: {got.verify_error} (informational on port 25, where DANE"
                    " authenticates)",
                    "serve a certificate from a public CA for the MX name too, for MTA-STS"
                    " senders (role tls)",
                    mandatory=False,
                )
            )
        else:
            out.append(
                passed(
                    category,
                    "tls.cert_trust",
                    f"{where}: the certificate chain is trusted and names the host",
                    mandatory=False,
                )
            )
    return out
