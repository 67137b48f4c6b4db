"""The one set of internal ranges every address check uses."""

from __future__ import annotations

import ipaddress

import pytest

from webhook.model.addresses import DEFAULT_INTERNAL_RANGES, InternalRanges

VPC6 = InternalRanges((ipaddress.ip_network("2600:1f18:4c2b:8a00::/56"),))


@pytest.mark.parametrize(
    "value",
    ["10.1.2.3", "10.0.0.0/8", "172.20.0.0/16", "192.168.1.1", "100.64.1.1", "fd12::1",
     "127.0.0.1", "::1", "100.100.100.199", "100.100.2.135"],
)
def test_private_and_loopback_addresses_are_internal(value: str) -> None:
    assert DEFAULT_INTERNAL_RANGES.contains(value)


@pytest.mark.parametrize(
    "value",
    [
        "169.254.169.254",  # every cloud's metadata server
        "169.254.169.253",  # AWS's resolver
        "fd00:ec2::254",  # AWS IMDS over IPv6, inside fc00::/7
        "fd00:ec2::/64",
        "fd00::/8",  # a range that contains the IMDS address
        "100.100.100.200",  # Alibaba Cloud's metadata server, inside 100.64.0.0/10
        "100.100.2.137",  # Alibaba Cloud's resolvers
        "100.64.0.0/10",
        "8.8.8.8",
        "0.0.0.0/0",
        "::/0",
        "not-an-address",
        "",
    ],
)
def test_metadata_resolvers_public_and_unreadable_values_are_outside(value: str) -> None:
    assert not DEFAULT_INTERNAL_RANGES.contains(value)


def test_configured_ranges_are_internal_but_never_metadata() -> None:
    assert VPC6.contains("2600:1f18:4c2b:8a00::10")
    assert VPC6.contains("2600:1f18:4c2b:8aff::/64")
    assert not VPC6.contains("2600:1f18:4c2b:8b00::1")
    assert not DEFAULT_INTERNAL_RANGES.contains("2600:1f18:4c2b:8a00::10")
    metadata_inside = InternalRanges((ipaddress.ip_network("169.254.0.0/16"),))
    assert not metadata_inside.contains("169.254.169.254")
