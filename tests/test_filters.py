"""The Jinja filters of the lab's playbooks (ansible/lab/filter_plugins)."""

from __future__ import annotations

import pytest

from tests.conftest import load_file

filters = (
    load_file("ansible/lab/filter_plugins/lab_network.py", "lab_network").FilterModule().filters()
)


def test_reverse_zones_of_the_lab_networks_end_where_the_prefix_does() -> None:
    assert filters["reverse_zone"]("10.231.0.0/24") == "0.231.10.in-addr.arpa"
    assert (
        filters["reverse_zone"]("fd00:6d61:696c::/64") == "0.0.0.0.c.6.9.6.1.6.d.6.0.0.d.f.ip6.arpa"
    )
    with pytest.raises(ValueError, match="multiple of 8"):
        filters["reverse_zone"]("10.231.0.0/20")


def test_a_pointer_name_lies_in_its_network_reverse_zone() -> None:
    pointer = filters["reverse_pointer"]("fd00:6d61:696c::10")
    assert pointer.startswith("0.1.0.0.")
    assert pointer.endswith("." + filters["reverse_zone"]("fd00:6d61:696c::/64"))
    assert filters["reverse_pointer"]("10.231.0.10") == "10.0.231.10.in-addr.arpa"
    assert filters["in_network"]("10.231.0.10", "10.231.0.0/24")
    assert not filters["in_network"]("fd00:6d61:696c::10", "10.231.0.0/24")
