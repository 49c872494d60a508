"""The outcome of one delivery attempt, as the delivery worker records it."""

from __future__ import annotations

from dataclasses import dataclass


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
