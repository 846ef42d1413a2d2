"""DMARC records: what mailstack writes reads back, and bad records are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailstack import dmarc
from mailstack.model import POLICIES, Dmarc

policies = st.sampled_from(POLICIES)
uris = st.lists(
    st.from_regex(r"mailto:[a-z]{1,8}@[a-z]{1,8}\.test", fullmatch=True), max_size=3
).map(tuple)


@given(
    p=policies,
    sp=st.none() | policies,
    np=st.none() | policies,
    adkim=st.sampled_from(["r", "s"]),
    aspf=st.sampled_from(["r", "s"]),
    rua=uris,
    ruf=uris,
    t=st.booleans(),
    pct=st.none() | st.integers(0, 100),
)
def test_every_built_record_parses_back(
    p: str,
    sp: str | None,
    np: str | None,
    adkim: str,
    aspf: str,
    rua: tuple[str, ...],
    ruf: tuple[str, ...],
    t: bool,
    pct: int | None,
) -> None:
    record = Dmarc(p, sp, np, adkim, aspf, rua, ruf, t, pct)  # type: ignore[arg-type]
    tags = dmarc.parse(dmarc.build(record))
    assert tags["p"] == p
    assert tags.get("sp") == sp
    assert tags.get("np") == np
    assert (tags["adkim"], tags["aspf"]) == (adkim, aspf)
    assert tags.get("rua", "") == ",".join(rua)
    assert ("pct" in tags) == (pct is not None)
    assert (tags.get("t") == "y") == t


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p=reject; v=DMARC1", "starts with v=DMARC1"),
        ("v=DMARC1", "p must be one of"),
        ("v=DMARC1; p=block", "p must be one of none, quarantine, reject, not 'block'"),
        ("v=DMARC1; p=none; p=reject", "the tag p appears twice"),
        ("v=DMARC1; p=none; adkim=x", "adkim must be r or s"),
        ("v=DMARC1; p=none; pct=101", "pct must be 0 to 100"),
        ("v=DMARC1; p=none; rua=dmarc@example.test", "is not a mailto: URI"),
        ("v=DMARC1; p=none; foo=bar", "unknown tag(s): foo"),
        ("v=DMARC1; p=none; broken", "is not a tag=value pair"),
    ],
)
def test_bad_records_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        dmarc.parse(text)
    assert message in str(exc.value)


def test_report_domains_in_order_without_repeats() -> None:
    record = Dmarc(
        rua=("mailto:a@Example.test", "mailto:b@other.test!10m"),
        ruf=("mailto:c@example.test",),
    )
    assert dmarc.report_domains(record) == ["example.test", "other.test"]
