"""Exceptions added, removed or changed, and whether the checks waived grow.

An Exception switches checks off for a namespace (or one service account's pods in it):
a reviewer needs to see exactly what stops being refused, and until when. Whether the
change widens is judged on what the active exceptions waive at ``now``, so renewing an
expired exception counts, and an exception added already expired does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from webhook.model.rules import Policy, PolicyException

# (namespace, service account or None for the whole namespace, code)
Waiver = tuple[str, str | None, str]


def waivers(policy: Policy, *, now: datetime) -> frozenset[Waiver]:
    """Everything the policy's active exceptions waive at ``now``."""
    return frozenset(
        (e.namespace, e.service_account, code)
        for e in policy.exceptions
        if e.active(now)
        for code in e.codes
    )


def _covered(waiver: Waiver, by: frozenset[Waiver]) -> bool:
    namespace, _, code = waiver
    return (namespace, None, code) in by or waiver in by


@dataclass(frozen=True, slots=True)
class ExceptionChange:
    """One exception file added, removed or changed.

    ``waives_more`` lists what the head side waives at ``now`` that the base side did not:
    non-empty exactly when the change widens what is admitted.
    """

    name: str
    before: PolicyException | None
    after: PolicyException | None
    active_before: bool
    active_after: bool
    waives_more: tuple[Waiver, ...] = ()

    @property
    def widens(self) -> bool:
        return bool(self.waives_more)

    @property
    def codes_added(self) -> tuple[str, ...]:
        old = self.before.codes if self.before else frozenset()
        return tuple(sorted((self.after.codes if self.after else frozenset()) - old))

    @property
    def codes_removed(self) -> tuple[str, ...]:
        new = self.after.codes if self.after else frozenset()
        return tuple(sorted((self.before.codes if self.before else frozenset()) - new))


def _comparable(exception: PolicyException) -> tuple[object, ...]:
    return (
        exception.namespace,
        exception.service_account,
        tuple(sorted(exception.codes)),
        exception.expires,
        exception.reason,
    )


def exception_changes(base: Policy, head: Policy, *, now: datetime) -> tuple[ExceptionChange, ...]:
    """Every exception whose scope, codes, expiry or reason differ between the two sides."""
    old = {e.name: e for e in base.exceptions}
    new = {e.name: e for e in head.exceptions}
    waived_before = waivers(base, now=now)
    found = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before and after and _comparable(before) == _comparable(after):
            continue
        more: tuple[Waiver, ...] = ()
        if after is not None and after.active(now):
            more = tuple(
                sorted(
                    (w for w in _own_waivers(after) if not _covered(w, waived_before)),
                    key=str,
                )
            )
        found.append(
            ExceptionChange(
                name,
                before,
                after,
                active_before=before is not None and before.active(now),
                active_after=after is not None and after.active(now),
                waives_more=more,
            )
        )
    return tuple(found)


def _own_waivers(exception: PolicyException) -> frozenset[Waiver]:
    return frozenset((exception.namespace, exception.service_account, c) for c in exception.codes)
