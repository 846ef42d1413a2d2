"""The diagnosis survives what used to lose it: a validating resolver that answers SERVFAIL for
a bogus zone (the DNSSEC audit names the broken link, the other audits still run), and a TLSA
record whose digest has the wrong length (reported as such, the rest of DANE still checked)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from mailstack.check.audit import dane, dmarc, dnssec, spf
from mailstack.check.context import Context, Options
from mailstack.check.facts import mx_hosts
from mailstack.check.runner import run
from mailstack.dnsquery import Dns
from tests.dnsserver import ZoneServer
from tests.test_check_dnssec import World, edit_sigs, flip


class ValidatingResolver(ZoneServer):
    """The zones' server, answering as a validating resolver does for the questions named
    bogus: SERVFAIL, unless the query sets CD (checking disabled), which gets the data."""

    bogus: frozenset[tuple[str, str]] = frozenset()

    def answer(self, wire: bytes, *, tcp: bool) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        asked = (question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
        if asked in self.bogus and not query.flags & dns.flags.CD:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        return super().answer(wire, tcp=tcp)


def test_a_bogus_zone_behind_a_validating_resolver_keeps_its_diagnosis() -> None:
    world = World()
    world.child_edit = lambda zone: edit_sigs(zone, "example.test.", "MX", flip)
    server = ValidatingResolver.multi(world.zones())
    server.bogus = frozenset({("example.test.", "MX")})
    # (Not the MX audit: its reverse lookups of the zone's documentation addresses have no
    # zone here.)
    audits = (("SPF", spf.audit), ("DMARC", dmarc.audit), ("DNSSEC", dnssec.audit))
    with server:
        resolver = Dns("127.0.0.1", server.port, timeout=2.0)
        ctx = Context("example.test", resolver, world.anchors(), Options(timeout=2.0))
        report = run(ctx, audits)
    assert report.errors == []  # no category "could not run"
    by_check = {f.check: f for f in report.findings}
    domain = by_check["dnssec.domain"]
    assert domain.status == "fail"
    assert domain.message.startswith("example.test MX: bogus: the RRSIG of example.test. MX")
    assert "does not verify" in domain.message
    servfail = by_check["dnssec.servfail"]
    assert "example.test. MX" in servfail.message
    # The MX records were still read (without validation), and the MX host's chain checked.
    assert mx_hosts(ctx) == [(10, "mail.example.test")]
    assert by_check["dnssec.mx"].status == "pass"
    assert by_check["spf.present"].status == "pass"


class ShortDigest(ZoneServer):
    """The zone's server, whose TLSA answer at _25._tcp.mx holds, besides a good record, one
    whose SHA-256 digest is three octets long (written as raw rdata: dnspython, rightly, will
    not make such a record from text)."""

    def answer(self, wire: bytes, *, tcp: bool) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        if question.rdtype != dns.rdatatype.TLSA:
            return super().answer(wire, tcp=tcp)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        good = dns.rdata.from_text("IN", "TLSA", f"3 1 1 {'ab' * 32}")
        short = dns.rdata.GenericRdata(
            dns.rdataclass.IN, dns.rdatatype.TLSA, bytes.fromhex("030101abcdef")
        )
        response.answer.append(dns.rrset.from_rdata(question.name, 300, good, short))
        return response.to_wire()


def test_a_tlsa_digest_of_the_wrong_length_is_named() -> None:
    zone = (
        "$ORIGIN example.test.\n$TTL 300\n"
        "@ IN SOA ns.example.test. h.example.test. 1 3600 900 1209600 300\n"
        "@ IN NS ns.example.test.\n"
        "@ IN MX 10 mx.example.test.\nmx IN A 127.0.0.1\n"
    )
    with ShortDigest(zone, "example.test") as server:
        ctx = Context(
            "example.test", Dns("127.0.0.1", server.port, timeout=2.0), {}, Options(timeout=2.0)
        )
        ctx.start()
        found = dane.audit(ctx)
    (syntax,) = [f for f in found if f.check == "dane.syntax"]
    assert syntax.status == "fail"
    assert "a TLSA record cannot be read" in syntax.message
    assert "length inconsistent with matching type" in syntax.message
    assert syntax.fix is not None
    # The well-formed record still counts, and the rest of the audit ran.
    assert [f.status for f in found if f.check == "dane.rollover"] == ["warn"]
    assert [f.check for f in found if f.check == "tls.starttls"] == ["tls.starttls"]
