"""The outcome of one delivery attempt, as the delivery worker records it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER = 3600.0
"""The longest ``Retry-After`` honoured (seconds): a target cannot park events for days."""


@dataclass(frozen=True)
class Attempt:
    """``ok``: delivered. Otherwise ``permanent`` says retrying cannot help (dead-letter
    at once), ``retry_after`` is the receiver's own wait in seconds when it gave one, and
    ``error`` says what went wrong in words fit for the delivery log (never personal
    data, never a secret).
    """

    ok: bool
    status: int | None
    retry_after: float | None
    error: str | None
    permanent: bool = False


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (a number of seconds or an HTTP date), capped; else None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
        seconds = when - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
