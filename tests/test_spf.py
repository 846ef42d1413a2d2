"""SPF counting, checks and flattening, against the offline cache source that plans use."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailstack import spf
from mailstack.dnssource import CacheSource


def cache(answers: dict[str, list[str] | None]) -> CacheSource:
    return CacheSource(Path("spf-cache.json"), dict(answers))


def test_ip_and_all_cost_nothing_includes_cost_recursively() -> None:
    source = cache(
        {
            "_spf.vendor.test TXT": ["v=spf1 include:_a.vendor.test include:_b.vendor.test -all"],
            "_a.vendor.test TXT": ["v=spf1 ip4:192.0.2.0/24 -all"],
            "_b.vendor.test TXT": ["v=spf1 a:out.vendor.test -all"],
            "out.vendor.test A": ["192.0.2.9"],
            "example.test MX": ["10 mx1.example.test."],
        }
    )
    result = spf.check(
        "example.test", "v=spf1 mx ip4:198.51.100.1 include:_spf.vendor.test -all", source
    )
    assert result.errors == []
    # mx 1 + include 1 + (include 1 + include 1 + a 1) = 5
    assert result.lookups == 5
    assert [c.name for c in result.tree.children] == ["_spf.vendor.test"]


def test_more_than_ten_lookups_stops_at_the_eleventh_with_the_chain_and_costs() -> None:
    answers: dict[str, list[str] | None] = {
        "big.vendor.test TXT": [
            "v=spf1 " + " ".join(f"include:n{i}.vendor.test" for i in range(6)) + " -all"
        ]
    }
    for i in range(6):
        answers[f"n{i}.vendor.test TXT"] = ["v=spf1 a:x.vendor.test -all"]
    answers["x.vendor.test A"] = ["192.0.2.1"]
    answers["x.vendor.test AAAA"] = None
    answers["example.test MX"] = ["10 mx1.example.test."]
    result = spf.check("example.test", "v=spf1 mx include:big.vendor.test -all", cache(answers))
    # mx 1 + include 1 + 4 * (include 1 + a 1) + include n4: the 11th, where receivers stop.
    assert result.lookups == spf.LOOKUP_LIMIT + 1
    (error,) = result.errors
    assert error.startswith("11 DNS lookups, over the limit of 10: receivers stop at")
    assert "include:n4.vendor.test (in example.test -> big.vendor.test)" in error
    assert "example.test: 11 lookup(s), 2 in the record itself" in error
    assert "  include:big.vendor.test costs at least 10 lookup(s)" in error
    assert "    include:n0.vendor.test costs 2 lookup(s)" in error
    assert "n5.vendor.test" not in error
    assert result.fixes[error] == spf.FIX_LOOKUPS


def test_exactly_ten_lookups_passes() -> None:
    answers: dict[str, list[str] | None] = {}
    terms = []
    for i in range(10):
        answers[f"s{i}.vendor.test TXT"] = [f"v=spf1 ip4:192.0.2.{i} -all"]
        terms.append(f"include:s{i}.vendor.test")
    result = spf.check("example.test", "v=spf1 " + " ".join(terms) + " -all", cache(answers))
    assert result.lookups == 10
    assert result.errors == []


def test_include_loop_is_an_error_with_its_path() -> None:
    source = cache(
        {
            "a.vendor.test TXT": ["v=spf1 include:b.vendor.test -all"],
            "b.vendor.test TXT": ["v=spf1 include:a.vendor.test -all"],
        }
    )
    result = spf.check("example.test", "v=spf1 include:a.vendor.test -all", source)
    assert "include loop: example.test -> a.vendor.test -> b.vendor.test -> a.vendor.test" in (
        result.errors
    )


def test_more_than_two_void_lookups() -> None:
    source = cache(
        {
            "gone1.test A": None,
            "gone1.test AAAA": None,
            "gone2.test MX": None,
            "gone3.test A": None,
            "gone3.test AAAA": None,
        }
    )
    result = spf.check(
        "example.test", "v=spf1 a:gone1.test mx:gone2.test a:gone3.test -all", source
    )
    assert any("3 void lookups, over the limit of 2" in e for e in result.errors)
    two = spf.check("example.test", "v=spf1 a:gone1.test mx:gone2.test -all", source)
    assert two.errors == []
    assert len(two.voids) == 2


def test_include_without_spf_and_with_two_spf_records() -> None:
    source = cache(
        {
            "none.vendor.test TXT": ["google-site-verification=abc"],
            "two.vendor.test TXT": ["v=spf1 -all", "v=spf1 ip4:192.0.2.1 -all"],
        }
    )
    result = spf.check(
        "example.test", "v=spf1 include:none.vendor.test include:two.vendor.test -all", source
    )
    assert any("none.vendor.test: no SPF record there" in e for e in result.errors)
    assert any("two.vendor.test: 2 SPF records, at most one" in e for e in result.errors)


def test_record_over_450_bytes() -> None:
    terms = " ".join(f"ip4:198.51.100.{i}" for i in range(40))
    result = spf.check("example.test", f"v=spf1 {terms} -all", cache({}))
    assert any("bytes; keep it under 450" in e for e in result.errors)


def test_missing_cache_entry_says_how_to_refresh() -> None:
    result = spf.check("example.test", "v=spf1 include:new.vendor.test -all", cache({}))
    (error,) = result.errors
    assert "not in the offline cache" in error
    assert "mailstack spf refresh" in error


@given(st.lists(st.integers(min_value=0, max_value=3), min_size=0, max_size=8))
def test_lookup_count_is_the_sum_over_the_include_tree(fanouts: list[int]) -> None:
    """A chain of includes, level i holding `fanouts[i]` `a` mechanisms and the next include."""
    answers: dict[str, list[str] | None] = {"h.test A": ["192.0.2.1"]}
    for level, fanout in enumerate(fanouts):
        nxt = f" include:l{level + 1}.test" if level + 1 < len(fanouts) else ""
        answers[f"l{level}.test TXT"] = ["v=spf1" + " a:h.test" * fanout + nxt + " -all"]
    top = "v=spf1 include:l0.test -all" if fanouts else "v=spf1 -all"
    result = spf.check("example.test", top, cache(answers))
    expected = len(fanouts) + sum(fanouts)
    # Counted up to the limit, and one more where receivers stop.
    assert result.lookups == min(expected, spf.LOOKUP_LIMIT + 1)
    assert (expected > spf.LOOKUP_LIMIT) == any("over the limit of 10" in e for e in result.errors)


def test_flatten_merges_networks_into_continuations_under_the_limits() -> None:
    answers: dict[str, list[str] | None] = {
        "_spf.big.test TXT": ["v=spf1 include:_n1.big.test include:_n2.big.test ~all"],
        "_n1.big.test TXT": [
            "v=spf1 "
            + " ".join(f"ip4:10.{2 * i}.0.0/17 ip4:10.{2 * i}.128.0/17" for i in range(30))
            + " ~all"
        ],
        "_n2.big.test TXT": [
            "v=spf1 "
            + " ".join(f"ip6:2001:db8:{2 * i:x}::/48" for i in range(30))
            + " a:relay.big.test ~all"
        ],
        "relay.big.test A": ["203.0.113.7"],
        "relay.big.test AAAA": None,
    }
    source = cache(answers)
    flat = spf.flatten("example.test", ["mx", "include:_spf.big.test"], "-all", source)
    assert flat.warnings == []
    assert flat.main.startswith("v=spf1 mx include:_spf1.example.test")
    assert flat.main.endswith("-all")
    assert all(len(value) <= 255 for _, value in flat.continuations)
    nets = [
        ipaddress.ip_network(t.split(":", 1)[1])
        for _, value in flat.continuations
        for t in value.split()[1:]
    ]
    # 60 /17s merge into 30 /16s; the 30 /48s and the relay stay.
    assert ipaddress.ip_network("10.6.0.0/16") in nets
    assert ipaddress.ip_network("203.0.113.7/32") in nets
    assert len([n for n in nets if n.version == 4]) == 31
    # The flattened record and its continuations, checked as receivers will see them.
    answers.update({f"{name} TXT": [value] for name, value in flat.continuations})
    result = spf.check("example.test", flat.main, cache({**answers, "example.test MX": ["10 mx."]}))
    assert result.errors == []
    assert result.lookups == 1 + len(flat.continuations)


def test_flatten_keeps_what_it_cannot_flatten() -> None:
    source = cache({"_spf.macro.test TXT": ["v=spf1 exists:%{i}._spf.macro.test -all"]})
    flat = spf.flatten("example.test", ["include:_spf.macro.test"], "-all", source)
    assert flat.main == "v=spf1 include:_spf.macro.test -all"
    assert flat.continuations == []
    assert "known only when mail arrives" in flat.warnings[0]


class Budget:
    """A real source that fails the test past `limit` questions: an unbounded walk ends at
    once instead of running for hours."""

    def __init__(self, inner: CacheSource, limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.asked: list[tuple[str, str]] = []

    def query(self, name: str, rdtype: str) -> tuple[str, ...] | None:
        self.asked.append((name, rdtype))
        assert len(self.asked) <= self.limit, f"more than {self.limit} DNS questions"
        return self.inner.query(name, rdtype)


def fan_out(count: int, width: int = 3) -> dict[str, list[str] | None]:
    """`count` records, each including the next `width`: paths multiply at every level."""
    answers: dict[str, list[str] | None] = {}
    for i in range(count):
        nxt = " ".join(
            f"include:n{j}.hostile.test" for j in range(i + 1, min(i + 1 + width, count))
        )
        answers[f"n{i}.hostile.test TXT"] = [f"v=spf1 {nxt} a:h{i}.hostile.test -all"]
        answers[f"h{i}.hostile.test A"] = ["192.0.2.1"]
        answers[f"h{i}.hostile.test AAAA"] = None
    return answers


def test_an_include_fan_out_stops_at_the_limit_asking_each_name_once() -> None:
    source = Budget(cache(fan_out(70)), limit=40)
    result = spf.check("example.test", "v=spf1 include:n0.hostile.test -all", source)
    assert result.lookups == spf.LOOKUP_LIMIT + 1
    assert len(source.asked) == len(set(source.asked)) == result.queries
    assert any(e.startswith("11 DNS lookups, over the limit of 10") for e in result.errors)


def test_a_shared_include_is_asked_once() -> None:
    answers: dict[str, list[str] | None] = {
        "a.test TXT": ["v=spf1 include:shared.test -all"],
        "b.test TXT": ["v=spf1 include:shared.test -all"],
        "shared.test TXT": ["v=spf1 ip4:192.0.2.1 -all"],
    }
    source = Budget(cache(answers), limit=10)
    result = spf.check("example.test", "v=spf1 include:a.test include:b.test -all", source)
    assert result.errors == []
    assert result.lookups == 4
    assert source.asked.count(("shared.test", "TXT")) == 1


def test_the_third_void_lookup_stops_the_walk() -> None:
    answers: dict[str, list[str] | None] = {f"gone{i}.test MX": None for i in range(5)}
    answers["late.test TXT"] = ["v=spf1 -all"]
    terms = " ".join(f"mx:gone{i}.test" for i in range(5))
    source = Budget(cache(answers), limit=10)
    result = spf.check("example.test", f"v=spf1 {terms} include:late.test -all", source)
    (error,) = result.errors
    assert error.startswith("3 void lookups, over the limit of 2: mx:gone0.test, mx:gone1.test")
    assert ("gone3.test", "MX") not in source.asked
    assert ("late.test", "TXT") not in source.asked


def test_an_mx_of_more_than_ten_hosts_is_a_permerror() -> None:
    answers: dict[str, list[str] | None] = {
        "big.test MX": [f"10 mx{i}.big.test." for i in range(11)]
    }
    result = spf.check("example.test", "v=spf1 mx:big.test -all", cache(answers))
    assert any("mx:big.test names 11 hosts" in e for e in result.errors)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("ip4:999.1.2.3", "'999.1.2.3' is not an IPv4 address"),
        ("ip4:192.0.2.0/33", "/33 is not a prefix length of 0 to 32"),
        ("ip4:192.0.2.0/024", "/024 is not a prefix length"),
        ("ip4:2001:db8::1", "is not an IPv4 address"),
        ("ip6:2001:db8::/129", "/129 is not a prefix length of 0 to 128"),
        ("ip6:192.0.2.1", "'192.0.2.1' is not an IPv6 address"),
        ("ip6:fe80::1%eth0", "is not an IPv6 address"),
        ("ip4", "'' is not an IPv4 address"),
        ("include:_spf.vendor.test-all", "a space is missing before -all"),
        ("a~all", "a space is missing before ~all"),
        ("include:", "include needs a domain"),
        ("frobnicate:x.test", "unknown mechanism 'frobnicate:x.test'"),
    ],
)
def test_syntax_errors_of_a_term(term: str, expected: str) -> None:
    result = spf.check("example.test", f"v=spf1 {term} -all", cache({}))
    (error,) = result.errors
    assert error.startswith("example.test: ")
    assert expected in error
    assert result.fixes[error] == spf.FIX_SYNTAX


def test_repeated_modifiers_and_all() -> None:
    source = cache({"r.test TXT": ["v=spf1 -all"]})
    twice = spf.check("example.test", "v=spf1 redirect=r.test redirect=r.test", source)
    assert "example.test: the redirect= modifier appears 2 times: once at most" in twice.errors
    exp = spf.check("example.test", "v=spf1 -all exp=e.test exp=f.test", source)
    assert "example.test: the exp= modifier appears 2 times: once at most" in exp.errors
    alls = spf.check("example.test", "v=spf1 -all ip4:192.0.2.1 ~all", source)
    assert alls.errors == []
    assert "example.test: all appears 2 times: only the first counts" in alls.warnings
    assert "example.test: terms after all are never evaluated: ip4:192.0.2.1 ~all" in (
        alls.warnings
    )
    ignored = spf.check("example.test", "v=spf1 -all redirect=r.test", source)
    assert "example.test: redirect= is ignored: the record has an all mechanism" in (
        ignored.warnings
    )
    assert ignored.lookups == 0  # receivers never follow it


def test_syntax_errors_of_an_included_record_name_the_chain() -> None:
    source = cache({"v.test TXT": ["v=spf1 ip4:999.1.2.3 include:x.test-all"]})
    result = spf.check("example.test", "v=spf1 include:v.test -all", source)
    assert "example.test -> v.test: 'ip4:999.1.2.3': '999.1.2.3' is not an IPv4 address" in (
        result.errors
    )
    assert any("example.test -> v.test: 'include:x.test-all'" in e for e in result.errors)


def test_syntax_problems_of_one_record_are_summed_up_past_five() -> None:
    terms = " ".join(f"ip4:999.0.0.{i}" for i in range(400))
    result = spf.check("example.test", f"v=spf1 {terms} -all", cache({}))
    syntax = [e for e in result.errors if e.startswith("example.test: ")]
    assert len(syntax) == spf.SYNTAX_REPORTED + 1
    assert syntax[-1] == "example.test: 395 more syntax problem(s)"


def test_sender_id_records_are_named() -> None:
    found = spf.sender_id(["v=spf1 -all", "spf2.0/pra ip4:192.0.2.1 -all", "other"])
    assert found == ["an old Sender ID record is published: 'spf2.0/pra ip4:192.0.2.1 -all'"]


def test_flatten_reads_each_include_once_and_stays_bounded() -> None:
    answers = fan_out(70)
    source = Budget(cache(answers), limit=400)
    flat = spf.flatten("example.test", ["include:n0.hostile.test"], "-all", source)
    assert flat.main == "v=spf1 include:n0.hostile.test -all"
    assert flat.warnings == [
        f"include:n0.hostile.test is kept as it is: more than {spf.FLATTEN_INCLUDES} includes"
        " below it"
    ]
    assert len(source.asked) == len(set(source.asked))
    small = spf.flatten("example.test", ["include:n0.hostile.test"], "-all", cache(fan_out(20)))
    assert small.warnings == []
    assert small.continuations == [("_spf1.example.test", "v=spf1 ip4:192.0.2.1")]


def test_flatten_keeps_an_include_with_a_bad_address() -> None:
    source = cache({"v.test TXT": ["v=spf1 ip4:999.1.2.3 -all"]})
    flat = spf.flatten("example.test", ["include:v.test"], "-all", source)
    assert flat.main == "v=spf1 include:v.test -all"
    assert "999.1.2.3" in flat.warnings[0]
    missing = spf.flatten("example.test", ["include:v.test"], "-all", cache({}))
    assert "not in the offline cache" in missing.warnings[0]
