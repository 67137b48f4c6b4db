"""The whole review of a rules change: two Policies in, one :class:`PolicyDiff` out.

Pure, like the engine: both sides are loaded by the caller (from folders or git revisions)
and the time grants and exceptions are judged at is passed in, so the same pull request
gives the same diff in CI and on a laptop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from webhook.model.rules import Policy
from webhook.review.access import Principal
from webhook.review.access_changes import AccessChange, Direction, access_changes
from webhook.review.destinations import (
    DestinationChange,
    GatewayChange,
    destination_changes,
    gateway_changes,
)
from webhook.review.grant_files import GrantChange, grant_changes
from webhook.review.settings import SettingChange, setting_changes
from webhook.review.waivers import ExceptionChange, exception_changes


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    """What a rules change does to effective access, and the rules changes behind it."""

    now: datetime
    access: tuple[AccessChange, ...] = ()
    destinations: tuple[DestinationChange, ...] = ()
    gateways: tuple[GatewayChange, ...] = ()
    exceptions: tuple[ExceptionChange, ...] = ()
    grants: tuple[GrantChange, ...] = ()
    settings: tuple[SettingChange, ...] = ()

    @property
    def widens(self) -> bool:
        """Anyone reaches more, a check is waived for more, or egressguard is loosened."""
        return (
            any(c.widens for c in self.access)
            or any(c.widens for c in self.destinations)
            or any(c.widens for c in self.exceptions)
            or any(c.widens for c in self.settings)
        )

    @property
    def unchanged(self) -> bool:
        return not (
            self.access
            or self.destinations
            or self.gateways
            or self.exceptions
            or self.grants
            or self.settings
        )

    def principals(self, direction: Direction) -> tuple[Principal, ...]:
        """The principals with at least one change in ``direction``, sorted."""
        return tuple(sorted({c.principal for c in self.access if c.direction is direction}))


def diff_policies(base: Policy, head: Policy, *, now: datetime) -> PolicyDiff:
    """Compares the effective access of ``base`` and ``head`` at ``now``."""
    return PolicyDiff(
        now=now,
        access=access_changes(base, head, now=now),
        destinations=destination_changes(base, head, now=now),
        gateways=gateway_changes(base, head),
        exceptions=exception_changes(base, head, now=now),
        grants=grant_changes(base, head, now=now),
        settings=setting_changes(base.config, head.config),
    )
