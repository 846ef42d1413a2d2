"""TXT splitting and quoting: every value survives the round trip, every string fits."""

from __future__ import annotations

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailstack import txt

ascii_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=2000)


@given(ascii_text)
def test_split_strings_fit_and_join_back(value: str) -> None:
    chunks = txt.split(value)
    assert all(len(c.encode()) <= txt.MAX_STRING for c in chunks)
    assert "".join(chunks) == value
    assert all(chunks) or value == ""


@given(ascii_text)
def test_presentation_parses_back(value: str) -> None:
    rdata = txt.presentation(value)
    assert txt.joined(rdata) == value
    assert txt.parse(rdata) == txt.split(value)


@given(ascii_text)
def test_dnspython_reads_our_presentation_the_same(value: str) -> None:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, txt.presentation(value))
    assert b"".join(rdata.strings).decode() == value  # type: ignore[attr-defined]


def test_a_2048_bit_dkim_key_needs_two_strings() -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 392
    assert len(txt.split(value)) == 2
    assert txt.presentation(value).count('" "') == 1


def test_quotes_and_backslashes_are_escaped() -> None:
    assert txt.presentation('a"b\\c') == '"a\\"b\\\\c"'


def test_non_ascii_is_refused() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        txt.split("é")
