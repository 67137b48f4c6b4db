"""Blocks minus exceptions, judged against the internal ranges."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from webhook.model.addresses import DEFAULT_INTERNAL_RANGES, InternalRanges
from webhook.model.ipsets import EVERYWHERE, first_outside

VPC6 = InternalRanges((ipaddress.ip_network("2600:1f18:4c2b:8a00::/56"),))
ALIBABA = ["100.100.100.200/32", "100.100.2.136/30"]


@pytest.mark.parametrize(
    ("blocks", "exceptions"),
    [
        (["10.0.0.0/8"], []),
        (["100.64.0.0/10"], ALIBABA),
        (["fc00::/7"], ["fd00:ec2::/64"]),
        (["0.0.0.0/0"], ["0.0.0.0/1", "128.0.0.0/1"]),  # everything excepted
        (["10.1.2.3"], []),
        (["10.0.0.1/8"], []),  # host bits are masked, as Kubernetes parses it
        ([], []),
    ],
)
def test_inside(blocks: list[Any], exceptions: list[Any]) -> None:
    assert first_outside(DEFAULT_INTERNAL_RANGES, blocks, exceptions) is None


@pytest.mark.parametrize(
    ("blocks", "exceptions", "outside"),
    [
        (["0.0.0.0/0"], ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"], "0.0.0.0/5"),
        (["100.64.0.0/10"], ["100.100.100.200/32"], "100.100.0.0/18"),
        (["100.64.0.0/10"], [], "100.64.0.0/10"),
        (["fc00::/7"], [], "fc00::/7"),
        (["::/0"], ["::/1"], "8000::/1"),
        (["10.0.0.0/8", "8.8.8.8/32"], [], "8.8.8.8/32"),
        (["169.254.169.254/32"], ["169.254.0.0/16", "::/0"], None),
        (["not-a-cidr"], [], "not-a-cidr"),
        ([None], [], "None"),
        # exceptions that cannot be read, or of the other family, take nothing away
        (["0.0.0.0/0"], ["x", None, "::/0"], "0.0.0.0/0"),
    ],
)
def test_outside(blocks: list[Any], exceptions: list[Any], outside: str | None) -> None:
    assert first_outside(DEFAULT_INTERNAL_RANGES, blocks, exceptions) == outside


def test_configured_ranges_count() -> None:
    assert first_outside(VPC6, ["2600:1f18:4c2b:8a00::/60"]) is None
    assert first_outside(DEFAULT_INTERNAL_RANGES, ["2600:1f18:4c2b:8a00::/60"]) is not None


def test_everywhere_is_both_families() -> None:
    assert first_outside(DEFAULT_INTERNAL_RANGES, EVERYWHERE, ["0.0.0.0/0"]) == "::/0"


def test_many_exceptions_stay_fast() -> None:
    exceptions = [f"10.{i // 256}.{i % 256}.0/24" for i in range(20000)]
    assert first_outside(DEFAULT_INTERNAL_RANGES, ["0.0.0.0/0"], exceptions) == "0.0.0.0/5"
