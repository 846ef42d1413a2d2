"""DNSSEC chain-of-trust validation for `mailstack check`: is the answer for (name, type) signed
correctly all the way down from a trust anchor?

The validator asks one server (in practice a resolver, with the CD bit so that it hands over
bogus data too; see `mailstack/dnsquery.py`) through an `Ask` callable, and walks down:

1. It starts at the closest trust anchor at or above the name (`ROOT_ANCHORS` for the real
   DNS, or the DS records of a lab's own zones). No anchor there: indeterminate.
2. For the current zone it fetches the DNSKEY RRset, finds the keys that match a DS (from the
   anchor, or from the DS RRset validated in the parent) and requires the DNSKEY RRset to carry
   an RRSIG by one of them that verifies. Any key of that validated RRset may then sign the
   zone's other RRsets.
3. For each label between the zone and the name it asks DS at the next longer name (the
   "child"), and reads the answer signed by the current zone:

   - a DS RRset that verifies: a secure zone cut, the child is the new current zone (step 2);
   - NXDOMAIN: the child, and so the name, does not exist; the walk stops and the final answer
     (its denial) is validated in the current zone;
   - a CNAME at the child: an alias, not a cut; the walk goes on in the current zone;
   - NODATA: its NSEC/NSEC3 records and SOA must verify under the current zone's keys (an NSEC
     owned by the child must not list DS). Whether the child is a zone cut is then decided by
     the **zone cut rule**: ask SOA at the child; an SOA RRset owned by the child itself means
     the child is the apex of a zone of its own, so a proven-absent DS makes the delegation
     (and everything below it) insecure; otherwise the child is an ordinary name (or an empty
     non-terminal) of the current zone and the walk goes on. This needs a server that answers
     the SOA question from the child's zone, which a recursive resolver does; an authoritative
     server answering a referral for the child is not recognised as a cut.

4. Finally it asks (name, type). A positive answer's RRset (or the CNAME at the name, whose
   target is not followed) must carry an RRSIG that verifies under the zone's keys. A negative
   answer (NXDOMAIN or NODATA) is secure when the authority section holds the zone's SOA and
   at least one NSEC or NSEC3 RRset, each with an RRSIG that verifies under the zone's keys, and,
   for NODATA, no NSEC owned by the name lists the asked type.

Not validated: that the NSEC records actually cover the name (canonical ordering, the closest
encloser and wildcard proofs) and the NSEC3 hash coverage and opt-out; that a wildcard-expanded
answer comes with its proof that no closer name exists; the DNSKEY flags beyond what
`dns.dnssec` checks (the ZONE bit, REVOKE); the RRSIG original TTLs; the targets of CNAMEs
and DNAMEs; the SOA answer the zone cut rule reads (an unsigned child's SOA cannot be).
Signature times are checked against `now` (default: the current time).

Outcomes: secure (every link verified), insecure (a proven unsigned delegation, or a DS set
whose algorithms are all unsupported), bogus (a required RRSIG or record is missing, or does not
verify, is expired, or no DNSKEY matches the DS) and indeterminate (no anchor above the name,
no answer from the server, or an answer with an error rcode such as SERVFAIL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import dns.dnssec
import dns.dnssecalgs
import dns.exception
import dns.message
import dns.name
import dns.node
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.ttl
from dns.dnssectypes import DSDigest
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS
from dns.rdtypes.ANY.NSEC import NSEC
from dns.rdtypes.ANY.RRSIG import RRSIG

from mailstack.dnsquery import DnsError

Ask = Callable[[str, str], dns.message.Message]
"""Asks (name, type), both in presentation format, and returns the server's whole response."""

Status = Literal["secure", "insecure", "bogus", "indeterminate"]
Anchors = dict[dns.name.Name, list[DS]]
_Keys = dict[dns.name.Name, dns.node.Node | dns.rdataset.Rdataset]

ROOT_ANCHORS = """\
; The DNS root zone's trust anchors as IANA publishes them
; (https://data.iana.org/root-anchors/root-anchors.xml): SHA-256 digests of the root KSKs.
; KSK-2017
. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
; KSK-2024
. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
"""
"""The IANA root trust anchors (KSK-2017 and KSK-2024) as DS records, for `load_anchors`."""


def load_anchors(text: str) -> Anchors:
    """Trust anchors from zone-file DS lines, by owner name.

    Each line is `<owner> [ttl] [IN] DS <key tag> <algorithm> <digest type> <digest>`; text
    after `;`, lines starting with `#` and blank lines are ignored. A line that is not such a
    record raises ValueError naming it (number and text).
    """
    anchors: Anchors = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        try:
            owner, ds = _parse_ds_line(line)
        except (dns.exception.DNSException, ValueError) as error:
            raise ValueError(f"trust anchor line {number} {raw.strip()!r}: {error}") from error
        anchors.setdefault(owner, []).append(ds)
    return anchors


def _parse_ds_line(line: str) -> tuple[dns.name.Name, DS]:
    """The owner and DS record of one anchor line (comments already removed)."""
    tokens = line.split()
    owner = dns.name.from_text(tokens[0])
    rest = tokens[1:]
    if rest and rest[0][:1].isdigit():
        dns.ttl.from_text(rest[0])
        rest = rest[1:]
    if rest and rest[0].upper() == "IN":
        rest = rest[1:]
    if not rest or rest[0].upper() != "DS":
        raise ValueError("expected '<owner> [ttl] [IN] DS <tag> <algorithm> <type> <digest>'")
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DS, " ".join(rest[1:]))
    if not isinstance(rdata, DS):  # pragma: no cover - from_text of type DS makes a DS
        raise TypeError(f"not a DS record: {rdata}")
    return owner, rdata


@dataclass(frozen=True)
class Chain:
    """The verdict on one (name, type): its status, the links checked, and what went wrong."""

    status: Status
    steps: tuple[str, ...]
    """One sentence per link verified, from the trust anchor down."""
    problem: str | None
    """For any status but secure: one sentence saying what is wrong (or unsigned) and where."""


class _Stop(Exception):
    """Ends the walk with a verdict other than secure."""

    def __init__(self, status: Status, problem: str) -> None:
        super().__init__(problem)
        self.status: Status = status
        self.problem = problem


def validate(
    name: str, rtype: str, ask: Ask, anchors: Anchors, *, now: float | None = None
) -> Chain:
    """Validate the answer for (name, rtype) from the closest trust anchor down.

    `ask` is asked DNSKEY, DS and SOA along the way, then (name, rtype); `now` (seconds since
    the epoch, default the current time) is the time signatures must be valid at. See the
    module docstring for the rules.
    """
    qname = dns.name.from_text(name)
    rdtype = dns.rdatatype.from_text(rtype)
    walk = _Walk(ask, now)
    try:
        walk.run(qname, rdtype, anchors)
    except _Stop as stop:
        return Chain(stop.status, tuple(walk.steps), stop.problem)
    return Chain("secure", tuple(walk.steps), None)


def _closest_anchor(qname: dns.name.Name, anchors: Anchors) -> dns.name.Name | None:
    """The deepest anchor owner at or above `qname`."""
    above = [owner for owner in anchors if qname.is_subdomain(owner)]
    return max(above, key=len, default=None)


def _tag(rrsig: RRSIG) -> str:
    """`key 12345 (ECDSAP256SHA256)`: the key that made a signature."""
    return f"key {rrsig.key_tag} ({dns.dnssec.algorithm_to_text(rrsig.algorithm)})"


def _when(timestamp: int) -> str:
    """A signature time in ISO 8601, UTC."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _what(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> str:
    """`example.test. MX`: an RRset named in problems and steps."""
    return f"{name} {dns.rdatatype.to_text(rdtype)}"


def _usable(ds: DS) -> bool:
    """Whether dnspython can check `ds`: a digest type it computes and its policy allows, and a
    key algorithm it implements."""
    try:
        digest = DSDigest(ds.digest_type)
        dns.dnssecalgs.get_algorithm_cls(ds.algorithm)
    except (ValueError, dns.exception.UnsupportedAlgorithm):
        return False
    computable = (DSDigest.SHA1, DSDigest.SHA256, DSDigest.SHA384)
    return digest in computable and bool(dns.dnssec.default_policy.ok_to_validate_ds(digest))


def _matches(zone: dns.name.Name, key: DNSKEY, ds: DS) -> bool:
    """Whether `ds` (a usable one) is the digest of `key`, owned by `zone`."""
    if key.algorithm != ds.algorithm or dns.dnssec.key_id(key) != ds.key_tag:
        return False
    try:
        made = dns.dnssec.make_ds(zone, key, DSDigest(ds.digest_type), validating=True)
    except (dns.exception.UnsupportedAlgorithm, dns.exception.DeniedByPolicy):
        return False
    return made.digest == ds.digest


def _lists_type(nsec: NSEC, rdtype: dns.rdatatype.RdataType) -> bool:
    """Whether an NSEC record's type bitmap lists `rdtype`."""
    window, offset = divmod(int(rdtype), 256)
    byte, bit = divmod(offset, 8)
    for number, bitmap in nsec.windows:
        if number == window and byte < len(bitmap):
            return bool(bitmap[byte] & (0x80 >> bit))
    return False


def _failure(what: str, sig: RRSIG, reason: str) -> str:
    """One sentence on why the RRSIG of `what` made by `sig`'s key does not validate."""
    head = f"the RRSIG of {what} by key {sig.key_tag}"
    if reason == "expired":
        return f"{head} is an expired signature (expired {_when(sig.expiration)})"
    if reason == "not yet valid":
        return f"{head} is not yet valid (valid from {_when(sig.inception)})"
    if reason == "unknown key":
        return f"{head} does not verify (unknown key: {sig.signer} has no such DNSKEY)"
    if reason == "verify failure":
        reason = "verify failure: signature invalid"
    return f"{head} does not verify ({reason})"


@dataclass(frozen=True)
class _Zone:
    """A zone whose DNSKEY RRset has been validated: the keys that sign its data."""

    name: dns.name.Name
    keys: _Keys


class _Walk:
    """One validation: the questions, the keys trusted so far, and the steps taken."""

    def __init__(self, ask: Ask, now: float | None) -> None:
        self.ask = ask
        self.now = now
        self.steps: list[str] = []

    def run(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, anchors: Anchors) -> None:
        """Walk from the closest anchor to (qname, rdtype); raise _Stop unless secure."""
        apex = _closest_anchor(qname, anchors)
        if apex is None:
            owners = ", ".join(sorted(str(owner) for owner in anchors)) or "none"
            raise _Stop("indeterminate", f"no trust anchor at or above {qname} (anchors: {owners})")
        zone = self.zone_keys(apex, anchors[apex], "the trust anchor DS")
        below = apex
        while below != qname:
            child = qname.split(len(below) + 1)[1]
            found = self.delegation(zone, child)
            if found == "nxdomain":
                break
            if isinstance(found, list):
                zone = self.zone_keys(child, found, f"the DS in {zone.name}")
            below = child
        self.final(zone, qname, rdtype)

    def query(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        """The server's NOERROR or NXDOMAIN response; _Stop (indeterminate) otherwise."""
        try:
            response = self.ask(str(name), dns.rdatatype.to_text(rdtype))
        except DnsError as error:
            raise _Stop("indeterminate", str(error)) from error
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise _Stop(
                "indeterminate",
                f"{_what(name, rdtype)}: the server answered {dns.rcode.to_text(rcode)}",
            )
        return response

    def verify(
        self,
        response: dns.message.Message,
        rrset: dns.rrset.RRset,
        zone: _Zone,
        *,
        only: Sequence[tuple[int, int]] | None = None,
        by: str = "",
    ) -> RRSIG:
        """The RRSIG in `response` by which `rrset` verifies under the keys of `zone`.

        `only` restricts the signatures considered to those made by keys (tag, algorithm), which
        `by` describes. A missing RRSIG, or none that verifies, raises _Stop (bogus) with
        dnspython's reason.
        """
        what = _what(rrset.name, rrset.rdtype)
        sigs = [
            sig
            for section in (response.answer, response.authority)
            for found in [
                response.get_rrset(
                    section, rrset.name, rrset.rdclass, dns.rdatatype.RRSIG, rrset.rdtype
                )
            ]
            for sig in found or ()
            if isinstance(sig, RRSIG)
        ]
        candidates = sigs
        if only is not None:
            candidates = [sig for sig in sigs if (sig.key_tag, sig.algorithm) in only]
        if not candidates:
            if sigs and only is not None:
                tags = ", ".join(str(tag) for tag, _ in only)
                raise _Stop("bogus", f"{what} has no RRSIG by {by} (keys {tags})")
            raise _Stop("bogus", f"{what} has no RRSIG (it must be signed by {zone.name})")
        failures: list[str] = []
        for sig in candidates:
            try:
                dns.dnssec.validate_rrsig(rrset, sig, zone.keys, now=self.now)
            except dns.exception.ValidationFailure as error:
                failures.append(_failure(what, sig, str(error)))
                continue
            except dns.exception.UnsupportedAlgorithm as error:
                failures.append(f"the RRSIG of {what} by {_tag(sig)} cannot be checked ({error})")
                continue
            return sig
        raise _Stop("bogus", "; ".join(failures))

    def zone_keys(self, apex: dns.name.Name, ds_set: list[DS], source: str) -> _Zone:
        """The zone at `apex` with its DNSKEY RRset validated by a key that matches `ds_set`."""
        tags = ", ".join(str(ds.key_tag) for ds in ds_set)
        usable = [ds for ds in ds_set if _usable(ds)]
        if not usable:
            raise _Stop(
                "insecure",
                f"{source} for {apex} (keys {tags}) uses only digest types or algorithms"
                " that cannot be checked",
            )
        response = self.query(apex, dns.rdatatype.DNSKEY)
        dnskeys = response.get_rrset(response.answer, apex, dns.rdataclass.IN, dns.rdatatype.DNSKEY)
        if dnskeys is None:
            raise _Stop("bogus", f"{apex} has no DNSKEY, but {source} says it is signed")
        keys = [key for key in dnskeys if isinstance(key, DNSKEY)]
        matching = [key for key in keys if any(_matches(apex, key, ds) for ds in usable)]
        if not matching:
            have = ", ".join(str(tag) for tag in sorted(map(dns.dnssec.key_id, keys)))
            raise _Stop(
                "bogus", f"no DNSKEY of {apex} (keys {have}) matches {source} (keys {tags})"
            )
        anchor = _Zone(apex, {apex: dns.rdataset.from_rdata_list(dnskeys.ttl, matching)})
        only = [(dns.dnssec.key_id(key), key.algorithm) for key in matching]
        sig = self.verify(response, dnskeys, anchor, only=only, by=f"a key matching {source}")
        self.steps.append(f"{apex} DNSKEY: signed by {_tag(sig)}, which matches {source}")
        return _Zone(apex, {apex: dnskeys})

    def delegation(
        self, zone: _Zone, child: dns.name.Name
    ) -> list[DS] | Literal["nxdomain"] | None:
        """What `zone` says of `child`: its validated DS set (a secure cut), "nxdomain", or
        None (not a cut); _Stop (insecure) for a cut proven to have no DS."""
        response = self.query(child, dns.rdatatype.DS)
        ds = response.get_rrset(response.answer, child, dns.rdataclass.IN, dns.rdatatype.DS)
        here = f"{zone.name} DS {child}"
        if ds is not None:
            sig = self.verify(response, ds, zone)
            self.steps.append(f"{here}: {len(ds)} DS record(s) signed by {_tag(sig)}")
            return [rd for rd in ds if isinstance(rd, DS)]
        if response.rcode() == dns.rcode.NXDOMAIN:
            self.steps.append(f"{here}: {child} does not exist (NXDOMAIN)")
            return "nxdomain"
        cname = response.get_rrset(response.answer, child, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if cname is not None:
            sig = self.verify(response, cname, zone)
            self.steps.append(f"{here}: {child} is an alias (CNAME) signed by {_tag(sig)}")
            return None
        proof = self.denial(response, zone, child, dns.rdatatype.DS, "NODATA")
        self.steps.append(f"{here}: no DS, proven by {proof}")
        soa = self.query(child, dns.rdatatype.SOA)
        if soa.get_rrset(soa.answer, child, dns.rdataclass.IN, dns.rdatatype.SOA) is not None:
            raise _Stop("insecure", f"{child} has no DS in {zone.name}: the delegation is insecure")
        self.steps.append(f"{child}: no SOA of its own, so not a zone cut; still in {zone.name}")
        return None

    def denial(
        self,
        response: dns.message.Message,
        zone: _Zone,
        qname: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        kind: str,
    ) -> str:
        """Check a negative answer's signed SOA and NSEC/NSEC3 records; describe the proof."""
        what = _what(qname, rdtype)
        authority = response.authority
        soa = next((r for r in authority if r.rdtype == dns.rdatatype.SOA), None)
        if soa is None:
            raise _Stop("bogus", f"the {kind} answer for {what} has no SOA")
        proofs = [r for r in authority if r.rdtype in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)]
        if not proofs:
            raise _Stop(
                "bogus", f"the {kind} answer for {what} has no NSEC or NSEC3 record to prove it"
            )
        tags: list[str] = []
        for rrset in [soa, *proofs]:
            tag = _tag(self.verify(response, rrset, zone))
            if tag not in tags:
                tags.append(tag)
        for rrset in proofs:
            listed = any(isinstance(rd, NSEC) and _lists_type(rd, rdtype) for rd in rrset)
            if kind == "NODATA" and rrset.name == qname and listed:
                raise _Stop(
                    "bogus",
                    f"the NODATA answer for {what} is contradicted by the NSEC of {qname},"
                    f" which lists {dns.rdatatype.to_text(rdtype)}",
                )
        types = " and ".join(sorted({dns.rdatatype.to_text(r.rdtype) for r in proofs}))
        return f"{types} and the SOA of {zone.name}, signed by {', '.join(tags)}"

    def final(self, zone: _Zone, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> None:
        """Validate the answer for (qname, rdtype) under the keys of `zone`."""
        what = _what(qname, rdtype)
        response = self.query(qname, rdtype)
        rrset = response.get_rrset(response.answer, qname, dns.rdataclass.IN, rdtype)
        if rrset is not None:
            sig = self.verify(response, rrset, zone)
            self.steps.append(
                f"{what}: {len(rrset)} record(s) signed by {_tag(sig)} of {zone.name}"
            )
            return
        cname = response.get_rrset(response.answer, qname, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if cname is not None:
            sig = self.verify(response, cname, zone)
            target = next(iter(cname)).to_text()
            self.steps.append(
                f"{what}: an alias (CNAME to {target}, not followed) signed by {_tag(sig)}"
            )
            return
        kind = "NXDOMAIN" if response.rcode() == dns.rcode.NXDOMAIN else "NODATA"
        proof = self.denial(response, zone, qname, rdtype, kind)
        self.steps.append(f"{what}: {kind}, proven by {proof}")
