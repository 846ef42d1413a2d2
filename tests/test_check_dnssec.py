"""The DNSSEC chain validator against real signed zones served on loopback.

The world: a signed parent `test.` (ED25519, one key) delegating to `example.test.` (a KSK in
ECDSAP256SHA256 and a ZSK in ED25519, with its DS in `test.`) and to `unsigned.test.` (no
DS, an unsigned zone). One `ZoneServer` serves all three; the validator asks it through
`mailstack.dnsquery.Dns`, as the `check` command does.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.dnssec
import dns.message
import dns.name
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from dns.dnssectypes import Algorithm
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS
from dns.rdtypes.ANY.NSEC import NSEC, Bitmap
from dns.rdtypes.ANY.RRSIG import RRSIG
from dns.rdtypes.dnskeybase import Flag

from mailstack.check.dnssec import (
    ROOT_ANCHORS,
    Anchors,
    Ask,
    Chain,
    load_anchors,
    validate,
)
from mailstack.dnsquery import Dns
from tests.dnsserver import ZoneServer

DAY = 86400
Private = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

PARENT = """\
@ 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300
@ 3600 IN NS ns.test.
ns 3600 IN A 127.0.0.1
example 3600 IN NS ns.test.
unsigned 3600 IN NS ns.test.
"""

CHILD = """\
@ 3600 IN SOA ns.test. hostmaster.example.test. 1 3600 600 86400 300
@ 3600 IN NS ns.test.
@ 3600 IN MX 10 mail.example.test.
@ 3600 IN TXT "v=spf1 mx -all"
mail 3600 IN A 192.0.2.25
host.dept 3600 IN A 192.0.2.80
"""

UNSIGNED = """\
@ 3600 IN SOA ns.test. hostmaster.unsigned.test. 1 3600 600 86400 300
@ 3600 IN NS ns.test.
@ 3600 IN MX 10 mail.unsigned.test.
"""


@dataclass(frozen=True)
class Key:
    """A private key and its DNSKEY."""

    private: Private
    dnskey: DNSKEY

    @property
    def tag(self) -> int:
        return dns.dnssec.key_id(self.dnskey)

    def ds(self, owner: str) -> DS:
        return dns.dnssec.make_ds(owner, self.dnskey, "SHA256")


def make_key(algorithm: Algorithm, *, ksk: bool) -> Key:
    private: Private
    if algorithm == Algorithm.ED25519:
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    flags = Flag.ZONE | Flag.SEP if ksk else Flag.ZONE
    return Key(private, dns.dnssec.make_dnskey(private.public_key(), algorithm, flags))


@dataclass
class World:
    """The keys and options the zones are built from."""

    parent_key: Key = field(default_factory=lambda: make_key(Algorithm.ED25519, ksk=True))
    ksk: Key = field(default_factory=lambda: make_key(Algorithm.ECDSAP256SHA256, ksk=True))
    zsk: Key = field(default_factory=lambda: make_key(Algorithm.ED25519, ksk=False))
    child_ds: list[DS] | None = None
    child_inception: float | None = None
    child_expiration: float | None = None
    child_edit: Callable[[dns.zone.Zone], None] | None = None

    def zones(self) -> dict[str, str | dns.zone.Zone]:
        ds_set = self.child_ds if self.child_ds is not None else [self.ksk.ds("example.test.")]
        parent_text = PARENT + "".join(f"example 3600 IN DS {ds}\n" for ds in ds_set)
        parent = sign("test.", parent_text, [self.parent_key])
        child = sign(
            "example.test.",
            CHILD,
            [self.ksk, self.zsk],
            inception=self.child_inception,
            expiration=self.child_expiration,
        )
        if self.child_edit is not None:
            self.child_edit(child)
        return {"test.": parent, "example.test.": child, "unsigned.test.": UNSIGNED}

    def anchors(self, at: str = "test.") -> Anchors:
        if at == "test.":
            return {dns.name.from_text(at): [self.parent_key.ds(at)]}
        return {dns.name.from_text(at): [self.ksk.ds(at)]}


def sign(
    origin: str,
    text: str,
    keys: list[Key],
    *,
    inception: float | None = None,
    expiration: float | None = None,
) -> dns.zone.Zone:
    zone = dns.zone.from_text(text, origin=origin, relativize=False)
    now = time.time()
    dns.dnssec.sign_zone(
        zone,
        keys=[(key.private, key.dnskey) for key in keys],
        inception=inception if inception is not None else now - DAY,
        expiration=expiration if expiration is not None else now + 30 * DAY,
    )
    return zone


@contextmanager
def serving(world: World) -> Iterator[Ask]:
    with ZoneServer.multi(world.zones()) as server:
        resolver = Dns("127.0.0.1", server.port, timeout=2)

        def ask(name: str, rtype: str) -> dns.message.Message:
            return resolver.message(name, rtype, cd=True)

        yield ask


def check(world: World, name: str, rtype: str, *, at: str = "test.", **kw: float) -> Chain:
    with serving(world) as ask:
        return validate(name, rtype, ask, world.anchors(at), **kw)


def edit_sigs(
    zone: dns.zone.Zone, owner: str, covered: str, change: Callable[[RRSIG], RRSIG | None]
) -> None:
    """Replace (or, for None, drop) the RRSIGs covering (owner, covered) in a signed zone."""
    name = dns.name.from_text(owner)
    rdtype = dns.rdatatype.from_text(covered)
    with zone.writer() as txn:
        sigs = txn.get(name, dns.rdatatype.RRSIG, rdtype)
        assert sigs is not None
        changed = [change(sig) for sig in sigs if isinstance(sig, RRSIG)]
        txn.delete(name, dns.rdatatype.RRSIG, rdtype)
        kept = [sig for sig in changed if sig is not None]
        if kept:
            txn.add(name, dns.rdataset.from_rdata_list(sigs.ttl, kept))


def flip(sig: RRSIG) -> RRSIG:
    """The same RRSIG with one bit of its signature flipped."""
    flipped = sig.replace(signature=bytes([sig.signature[0] ^ 0x01]) + sig.signature[1:])
    assert isinstance(flipped, RRSIG)
    return flipped


@pytest.fixture(scope="module")
def world() -> World:
    return World()


# 1. secure positive answers


def test_secure_answer_from_the_parent_anchor_down(world: World) -> None:
    chain = check(world, "example.test", "MX")
    assert chain.status == "secure", chain
    assert chain.problem is None
    p, k, z = world.parent_key.tag, world.ksk.tag, world.zsk.tag
    assert chain.steps == (
        f"test. DNSKEY: signed by key {p} (ED25519), which matches the trust anchor DS",
        f"test. DS example.test.: 1 DS record(s) signed by key {p} (ED25519)",
        f"example.test. DNSKEY: signed by key {k} (ECDSAP256SHA256), which matches the DS in test.",
        f"example.test. MX: 1 record(s) signed by key {z} (ED25519) of example.test.",
    )


def test_secure_answer_with_the_anchor_at_the_zone_itself(world: World) -> None:
    chain = check(world, "example.test.", "TXT", at="example.test.")
    assert chain.status == "secure", chain
    assert len(chain.steps) == 2
    assert chain.steps[0].startswith(f"example.test. DNSKEY: signed by key {world.ksk.tag}")
    assert chain.steps[0].endswith("which matches the trust anchor DS")
    assert chain.steps[1].startswith("example.test. TXT: 1 record(s) signed by key")


def test_secure_answer_below_an_empty_non_terminal(world: World) -> None:
    chain = check(world, "host.dept.example.test.", "A")
    assert chain.status == "secure", chain
    assert "example.test. DS dept.example.test.: no DS, proven by NSEC" in chain.steps[3]
    assert chain.steps[4] == (
        "dept.example.test.: no SOA of its own, so not a zone cut; still in example.test."
    )
    assert chain.steps[-1].startswith("host.dept.example.test. A: 1 record(s) signed by key")


# 2. secure denials


def test_secure_nodata(world: World) -> None:
    chain = check(world, "example.test.", "AAAA")
    assert chain.status == "secure", chain
    assert chain.steps[-1].startswith(
        "example.test. AAAA: NODATA, proven by NSEC and the SOA of example.test., signed by key"
    )


def test_secure_nxdomain(world: World) -> None:
    chain = check(world, "nope.example.test.", "A")
    assert chain.status == "secure", chain
    assert "example.test. DS nope.example.test.: nope.example.test. does not exist (NXDOMAIN)" in (
        chain.steps
    )
    assert chain.steps[-1].startswith(
        "nope.example.test. A: NXDOMAIN, proven by NSEC and the SOA of example.test."
    )


# 3.-5. bogus chains


def test_tampered_signature_is_bogus() -> None:
    world = World(child_edit=lambda zone: edit_sigs(zone, "example.test.", "MX", flip))
    chain = check(world, "example.test.", "MX")
    assert chain.status == "bogus", chain
    assert chain.problem == (
        f"the RRSIG of example.test. MX by key {world.zsk.tag} does not verify"
        " (verify failure: signature invalid)"
    )
    assert chain.steps[-1].startswith("example.test. DNSKEY")


def test_missing_signature_is_bogus() -> None:
    world = World(child_edit=lambda zone: edit_sigs(zone, "example.test.", "TXT", lambda _: None))
    chain = check(world, "example.test.", "TXT")
    assert chain.status == "bogus", chain
    assert chain.problem == "example.test. TXT has no RRSIG (it must be signed by example.test.)"


def test_unsigned_denial_is_bogus() -> None:
    world = World(child_edit=lambda zone: edit_sigs(zone, "example.test.", "NSEC", lambda _: None))
    chain = check(world, "example.test.", "AAAA")
    assert chain.status == "bogus", chain
    assert chain.problem == "example.test. NSEC has no RRSIG (it must be signed by example.test.)"


def test_denial_contradicted_by_its_nsec_is_bogus() -> None:
    world = World()

    def list_aaaa(zone: dns.zone.Zone) -> None:
        """Make the NSEC at the apex claim an AAAA RRset, and sign it again."""
        apex = dns.name.from_text("example.test.")
        with zone.writer() as txn:
            nsecs = txn.get(apex, dns.rdatatype.NSEC)
            assert nsecs is not None
            nsec = next(iter(nsecs))
            assert isinstance(nsec, NSEC)
            types = [
                dns.rdatatype.from_text(text)
                for text in ("SOA", "NS", "MX", "TXT", "AAAA", "DNSKEY", "RRSIG", "NSEC")
            ]
            lying = nsec.replace(windows=Bitmap.from_rdtypes(types))
            rrset = dns.rrset.from_rdata(apex, nsecs.ttl, lying)
            sig = dns.dnssec.sign(rrset, world.zsk.private, apex, world.zsk.dnskey, lifetime=DAY)
            txn.replace(apex, nsecs.ttl, lying)
            txn.delete(apex, dns.rdatatype.RRSIG, dns.rdatatype.NSEC)
            txn.add(apex, nsecs.ttl, sig)

    world.child_edit = list_aaaa
    chain = check(world, "example.test.", "AAAA")
    assert chain.status == "bogus", chain
    assert chain.problem == (
        "the NODATA answer for example.test. AAAA is contradicted by the NSEC of example.test.,"
        " which lists AAAA"
    )


def test_expired_signatures_are_bogus() -> None:
    now = time.time()
    world = World(child_inception=now - 10 * DAY, child_expiration=now - DAY)
    chain = check(world, "example.test.", "MX")
    assert chain.status == "bogus", chain
    assert chain.problem is not None
    assert chain.problem.startswith(
        f"the RRSIG of example.test. DNSKEY by key {world.ksk.tag} is an expired signature"
        " (expired "
    )
    assert len(chain.steps) == 2  # test. DNSKEY and the DS held


def test_signatures_expire_at_the_time_given(world: World) -> None:
    chain = check(world, "example.test.", "MX", now=time.time() + 365 * DAY)
    assert chain.status == "bogus", chain
    assert chain.problem is not None
    assert chain.problem.startswith(
        f"the RRSIG of test. DNSKEY by key {world.parent_key.tag} is an expired signature"
    )
    assert chain.steps == ()


def test_ds_matching_no_dnskey_is_bogus() -> None:
    stranger = make_key(Algorithm.ECDSAP256SHA256, ksk=True)
    world = World(child_ds=[stranger.ds("example.test.")])
    chain = check(world, "example.test.", "MX")
    assert chain.status == "bogus", chain
    tags = ", ".join(str(tag) for tag in sorted([world.ksk.tag, world.zsk.tag]))
    assert chain.problem == (
        f"no DNSKEY of example.test. (keys {tags}) matches the DS in test. (keys {stranger.tag})"
    )


def test_wrong_anchor_is_bogus(world: World) -> None:
    stranger = make_key(Algorithm.ED25519, ksk=True)
    with serving(world) as ask:
        chain = validate(
            "example.test.", "MX", ask, {dns.name.from_text("test."): [stranger.ds("test.")]}
        )
    assert chain.status == "bogus", chain
    assert chain.problem is not None
    assert chain.problem.startswith("no DNSKEY of test. ")
    assert chain.problem.endswith(f"matches the trust anchor DS (keys {stranger.tag})")


# 6. insecure delegation


def test_child_without_ds_is_insecure(world: World) -> None:
    chain = check(world, "unsigned.test.", "MX")
    assert chain.status == "insecure", chain
    assert chain.problem == "unsigned.test. has no DS in test.: the delegation is insecure"
    assert chain.steps[-1].startswith("test. DS unsigned.test.: no DS, proven by NSEC")


# 7. indeterminate


def test_no_anchor_above_the_name(world: World) -> None:
    with serving(world) as ask:
        chain = validate("mail.example.org.", "MX", ask, world.anchors())
    assert chain.status == "indeterminate", chain
    assert chain.problem == "no trust anchor at or above mail.example.org. (anchors: test.)"
    assert chain.steps == ()


def test_server_not_answering_is_indeterminate(world: World) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    resolver = Dns("127.0.0.1", port, timeout=0.2)
    chain = validate(
        "example.test.", "MX", lambda n, t: resolver.message(n, t, cd=True), world.anchors()
    )
    assert chain.status == "indeterminate", chain
    assert chain.problem is not None
    assert chain.problem.startswith("test. DNSKEY: ")
    assert "127.0.0.1" in chain.problem


def test_error_rcode_is_indeterminate(world: World) -> None:
    other = make_key(Algorithm.ED25519, ksk=True)
    with serving(world) as ask:
        chain = validate(
            "mail.other.", "MX", ask, {dns.name.from_text("other."): [other.ds("other.")]}
        )
    assert chain.status == "indeterminate", chain
    assert chain.problem == "other. DNSKEY: the server answered REFUSED"


# 8. trust anchors


def test_load_anchors() -> None:
    key = make_key(Algorithm.ECDSAP256SHA256, ksk=True)
    ds = key.ds("example.test.")
    text = f"""
; the lab's zones
example.test. 3600 IN DS {ds}
# another comment style
example.test IN DS {ds}
other.test. DS {ds}  ; trailing comment
"""
    anchors = load_anchors(text)
    assert list(anchors) == [dns.name.from_text("example.test."), dns.name.from_text("other.test.")]
    assert anchors[dns.name.from_text("example.test.")] == [ds, ds]


def test_root_anchors() -> None:
    anchors = load_anchors(ROOT_ANCHORS)
    assert list(anchors) == [dns.name.root]
    root = anchors[dns.name.root]
    assert [(ds.key_tag, ds.algorithm, ds.digest_type) for ds in root] == [
        (20326, 8, 2),
        (38696, 8, 2),
    ]
    assert [ds.digest.hex().upper() for ds in root] == [
        "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
        "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
    ]


@pytest.mark.parametrize(
    "line",
    [
        "example.test. IN DS 12345 13 2 not-hex",
        "example.test. IN A 192.0.2.1",
        "example.test. IN DS 12345",
    ],
)
def test_load_anchors_names_the_bad_line(line: str) -> None:
    with pytest.raises(ValueError, match=r"line 2 ") as caught:
        load_anchors(f"; ok\n{line}\n")
    assert line in str(caught.value)
