"""Grant files added, removed or edited, whether or not access changes with them.

The access table already shows what grants change; this list explains the files that
change nothing — a second port of a destination already granted, a grant added already
expired, a new reason — so a reviewer is not left wondering why a file in the pull request
has no row in the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from webhook.engine.entitlement import grant_file
from webhook.model.rules import Grant, Policy


@dataclass(frozen=True, slots=True)
class GrantChange:
    file: str  # services/<namespace>/<serviceaccount>/<host>:<port>.rule
    before: Grant | None
    after: Grant | None
    active_before: bool
    active_after: bool

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        return "removed" if self.after is None else "changed"


def _key(grant: Grant) -> str:
    return grant_file(grant.namespace, grant.service_account, grant.host, grant.port)


def _comparable(grant: Grant) -> tuple[object, ...]:
    return (grant.destination, grant.reason, grant.expires)


def grant_changes(base: Policy, head: Policy, *, now: datetime) -> tuple[GrantChange, ...]:
    """Every grant file whose destination, reason or expiry differ between the sides."""
    old = {_key(g): g for g in base.grants}
    new = {_key(g): g for g in head.grants}
    found = []
    for file in sorted(old.keys() | new.keys()):
        before, after = old.get(file), new.get(file)
        if before and after and _comparable(before) == _comparable(after):
            continue
        found.append(
            GrantChange(
                file,
                before,
                after,
                active_before=before is not None and before.active(now),
                active_after=after is not None and after.active(now),
            )
        )
    return tuple(found)
