"""``serve --audit-interval``: durations, and a Lease to elect the one replica that audits."""

from __future__ import annotations

import argparse

import pytest

from webhook.cli.audit_options import audit_options, duration
from webhook.cli.main import build_parser


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("10m", 600),
                                              ("1h30m", 5400)])
def test_durations_read_as_kubernetes_writes_them(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten", "10d", "5s", "1.5m"])
def test_a_bad_or_too_short_interval_is_refused_saying_what_to_write(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"10m|at least"):
        duration(text)


def test_off_by_default_and_elected_through_its_own_lease() -> None:
    parser = build_parser()
    assert audit_options(parser.parse_args(["serve"])) is None
    options = audit_options(parser.parse_args(
        ["serve", "--audit-interval", "5m", "--own-namespace", "egressguard-system"]))
    assert options is not None
    assert options.interval_seconds == 300
    assert (options.lease.name, options.lease.namespace) == ("egressguard-audit",
                                                             "egressguard-system")


def test_without_a_namespace_for_the_lease_it_says_which_option_to_give() -> None:
    args = build_parser().parse_args(["serve", "--audit-interval", "5m", "--own-namespace", ""])
    with pytest.raises(ValueError, match="--lease-namespace"):
        audit_options(args)
