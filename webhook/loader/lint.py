"""Warnings about a loaded Policy as a whole: what expires soon, what nobody can use.

Loading never reads the clock (two loads of the same files are the same Policy); ``check``
passes ``now`` here, so a pull request shows which grants and waivers are about to lapse
while there is still time to renew them, and which already grant or waive nothing. The
usage warnings look across files, which the loader, reading one file at a time, cannot:
a restricted destination no grant names is dead weight (or a grant someone forgot), and
one granted to very many identities is open access in all but name.
"""

from __future__ import annotations

from datetime import date, datetime

from webhook.loader.problems import Problem, Severity, sort_problems
from webhook.model.rules import Access, Policy, Source

DEFAULT_EXPIRY_WARNING_DAYS = 30
DEFAULT_MAX_GRANTEES = 50


def _expiry_message(what: str, expires: date, today: date, *, window: int) -> str | None:
    days = (expires - today).days
    if days < 0:
        return f"this {what} expired on {expires}, so it does nothing now: delete the file"
    if days > window:
        return None
    when = "today" if days == 0 else ("tomorrow" if days == 1 else f"in {days} days")
    return (
        f"this {what} expires {when} (expires: {expires}, valid through that day, UTC); "
        f"extend it by pull request if it is still needed"
    )


def _warning(source: Source, message: str) -> Problem:
    return Problem(source.path, source.line, message, Severity.WARNING)


def expiry_warnings(
    policy: Policy, *, now: datetime, window_days: int = DEFAULT_EXPIRY_WARNING_DAYS
) -> tuple[Problem, ...]:
    """Grants and exceptions that have expired, or expire within ``window_days`` of ``now``."""
    today = now.date()
    found: list[Problem] = []
    for grant in policy.grants:
        if grant.expires is None:
            continue
        message = _expiry_message("grant", grant.expires, today, window=window_days)
        if message is not None:
            found.append(_warning(grant.source, message))
    for exception in policy.exceptions:
        message = _expiry_message("exception", exception.expires, today, window=window_days)
        if message is not None:
            found.append(_warning(exception.source, message))
    return sort_problems(found)


def reason_warnings(policy: Policy) -> tuple[Problem, ...]:
    """Grants that give no reason: for reviewers and audits, not for the webhook, which
    would hold one message per grant for nothing."""
    return tuple(
        _warning(
            grant.source,
            f"this grant gives no reason; write 'reason: <why {grant.namespace}/"
            f"{grant.service_account} needs {grant.host}>' in it, for reviewers and audits",
        )
        for grant in policy.grants
        if not grant.reason
    )


def _grantees(policy: Policy, *, now: datetime) -> tuple[set[str], dict[str, set[tuple[str, str]]]]:
    """Destinations any grant file names, and each one's identities with an active grant."""
    named: set[str] = set()
    active: dict[str, set[tuple[str, str]]] = {}
    for grant in policy.grants:
        named.add(grant.destination)
        if grant.active(now):
            active.setdefault(grant.destination, set()).add(grant.identity)
    return named, active


def usage_warnings(
    policy: Policy, *, now: datetime, max_grantees: int = DEFAULT_MAX_GRANTEES
) -> tuple[Problem, ...]:
    """Restricted destinations no active grant uses, or granted to over ``max_grantees``."""
    named, active = _grantees(policy, now=now)
    found: list[Problem] = []
    for destination in policy.destinations.values():
        if destination.access is Access.OPEN:
            continue
        holders = active.get(destination.name, set())
        message = None
        if destination.name not in named:
            message = (
                f"destination {destination.name!r} is restricted and no grant names it, so no "
                f"pod may use it: add grants under services/, or delete it"
            )
        elif not holders:
            message = (
                f"every grant for destination {destination.name!r} has expired, so no pod may "
                f"use it: renew a grant, or delete the destination and its grant files"
            )
        elif len(holders) > max_grantees:
            message = (
                f"restricted destination {destination.name!r} is granted to {len(holders)} "
                f"identities (more than {max_grantees}): every host or port added to it "
                f"reaches all of them; consider splitting it, or making it open"
            )
        if message is not None:
            found.append(_warning(destination.source, message))
    return sort_problems(found)
