"""``--now``: the time grants and exceptions are judged at, for reproducible answers.

Expiry is by UTC day, so a reviewer re-running a diff next week, or a test, needs to pin
the time; a time without a zone is read as UTC, like every expiry.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime


def now_option(value: str) -> datetime:
    """``2027-01-10``, ``2027-01-10T09:30:00Z`` or with an offset; naive means UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{value!r}: not an ISO 8601 date or time") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def now_or_clock(value: datetime | None) -> datetime:
    return value if value is not None else datetime.now(UTC)
