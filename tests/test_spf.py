"""SPF counting, checks and flattening, against the offline cache source that plans use."""

from __future__ import annotations

import ipaddress
from pathlib import Path

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


def test_more_than_ten_lookups_shows_the_chain_and_costs() -> None:
    answers: dict[str, list[str] | None] = {
        "big.vendor.test TXT": [
            "v=spf1 " + " ".join(f"include:n{i}.vendor.test" for i in range(6)) + " -all"
        ]
    }
    for i in range(6):
        answers[f"n{i}.vendor.test TXT"] = ["v=spf1 a:x.vendor.test -all"]
    answers["x.vendor.test A"] = ["192.0.2.1"]
    answers["x.vendor.test AAAA"] = None
    result = spf.check("example.test", "v=spf1 mx include:big.vendor.test -all", cache(answers))
    assert result.lookups == 1 + 1 + 6 * 2
    (error,) = result.errors
    assert "14 DNS lookups, over the limit of 10" in error
    assert "example.test: 14 lookup(s), 2 in the record itself" in error
    assert "  include:big.vendor.test costs 13 lookup(s)" in error
    assert "    include:n0.vendor.test costs 2 lookup(s)" in error


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
    assert result.lookups == expected
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
