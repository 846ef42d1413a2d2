"""Which of our zones holds a name: the deepest one, by whole labels."""

from __future__ import annotations

import pytest

from mailstack.records import zone_of

ZONES = frozenset({"example.test", "mail.example.test", "peer.test"})


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        ("example.test", "example.test"),
        ("mx1.example.test", "example.test"),
        ("mx1.mail.example.test", "mail.example.test"),
        ("mail.example.test", "mail.example.test"),
        ("_dmarc.peer.test", "peer.test"),
        # A suffix that is not made of whole labels is not the zone.
        ("otherexample.test", None),
        ("test", None),
        ("example.org", None),
    ],
)
def test_the_deepest_zone_by_whole_labels(name: str, zone: str | None) -> None:
    assert zone_of(name, ZONES) == zone
