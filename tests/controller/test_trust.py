"""The webhook trusts the controller's own service account, and only with --reconcile."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tests.example_policy import example_policy
from webhook.cli.reconcile_options import controller_account
from webhook.server.settings import Settings, trusting

ACCOUNT = "egressguard-system:egressguard"


class Loaded:
    policy = example_policy()
    warnings = ("kept",)


def test_the_exact_account_is_trusted_and_nothing_else() -> None:
    loaded = trusting(lambda path: Loaded(), ACCOUNT)(Path("."))
    trusted = loaded.policy.config.trusted
    assert trusted.trusts(f"system:serviceaccount:{ACCOUNT}", ())
    assert not trusted.trusts("system:serviceaccount:egressguard-system:other", ())
    assert not example_policy().config.trusted.trusts(f"system:serviceaccount:{ACCOUNT}", ())
    assert loaded.warnings == ("kept",)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("reconcile", "account", "message"), [
    (False, ACCOUNT, "only for the controller"),
    (True, "egressguard", "NAMESPACE:NAME"),
    (True, "a:b:c", "NAMESPACE:NAME"),
])
def test_an_account_without_the_controller_or_malformed_is_refused(
        reconcile: bool, account: str, message: str) -> None:
    args = argparse.Namespace(reconcile=reconcile, controller_service_account=account)
    with pytest.raises(ValueError, match=message):
        controller_account(args)


def test_no_account_trusts_nobody_new() -> None:
    args = argparse.Namespace(reconcile=True, controller_service_account=None)
    assert controller_account(args) is None


def test_every_worker_trusts_the_account_though_only_the_first_runs_the_controller() -> None:
    # serve --workers clears ``reconcile`` in all but the first worker; the API server sends
    # the controller's writes to any of them.
    settings = Settings(rules=Path("."), cert=Path("c"), key=Path("k"), reconcile=None,
                        controller_account=ACCOUNT, rules_loader=lambda path: Loaded())
    trusted = settings.loader()(Path(".")).policy.config.trusted
    assert trusted.trusts(f"system:serviceaccount:{ACCOUNT}", ())
    unset = Settings(rules=Path("."), cert=Path("c"), key=Path("k"),
                     rules_loader=lambda path: Loaded())
    assert not unset.loader()(Path(".")).policy.config.trusted.trusts(
        f"system:serviceaccount:{ACCOUNT}", ())
