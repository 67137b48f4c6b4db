"""Warnings about a loaded Policy that depend on the date: what expires soon, what has expired.

Loading never reads the clock (two loads of the same files are the same Policy); ``check``
passes ``now`` here, so a pull request shows which grants and waivers are about to lapse
while there is still time to renew them, and which already grant or waive nothing.
"""

from __future__ import annotations

from datetime import date, datetime

from webhook.loader.problems import Problem, Severity, sort_problems
from webhook.model.rules import Policy, Source

DEFAULT_EXPIRY_WARNING_DAYS = 30


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
