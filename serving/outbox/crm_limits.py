"""Client-side request limits per CRM account, shared by every thread of the process.

amoCRM answers more than 7 requests a second with 429 and, if it goes on, blocks the
sender's IP; Bitrix24 counts requests in a leaky bucket (drained 2 a second on ordinary
plans) and answers ``QUERY_LIMIT_EXCEEDED`` once it overflows, and a client that never
sends more than the drain rate never sees that error (both pages are cited in
docs/crm-write-back.md). So each account gets a :class:`SlidingWindow`: at most
``max_calls`` requests in any ``period`` seconds — the CRM's own rule, measured the way
the CRM measures it. A token bucket of the same rate would not do: a full bucket of 7
plus 7 refilled within the same second lets 13 through one second.

``period`` carries a margin over the CRM's second: requests leave here at the slot's
time but reach the CRM a little later and unevenly, and a request that arrives late
must not fall into the previous second of its neighbours.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from serving.outbox.attempt import retry_after_seconds

AMOCRM_MAX_PER_SECOND = 7
BITRIX24_MAX_PER_SECOND = 2
MARGIN_SECONDS = 0.15
"""Added to the 1-second window: the spread of network and scheduling delays tolerated."""


class SlidingWindow:
    """At most ``max_calls`` starts in any ``period`` seconds (thread-safe).

    :meth:`reserve` books the earliest start the window allows and says how long to wait
    for it; a caller that will not wait that long books nothing.
    """

    def __init__(
        self,
        max_calls: int,
        period: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_calls < 1 or period <= 0:
            raise ValueError("max_calls must be ≥ 1 and period > 0")
        self.max_calls = max_calls
        self.period = period
        self._clock = clock
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def reserve(self, max_wait: float) -> float | None:
        """Seconds until this caller may send (booked), or ``None`` if over ``max_wait``."""
        with self._lock:
            now = self._clock()
            while self._starts and self._starts[0] <= now - self.period:
                self._starts.popleft()
            if len(self._starts) < self.max_calls:
                # never before a booked start, so the starts stay in order
                start = max(now, self._starts[-1]) if self._starts else now
            else:
                # the slot frees when the request max_calls back leaves the window
                start = self._starts[-self.max_calls] + self.period
            wait = max(0.0, start - now)
            if wait > max_wait:
                return None
            self._starts.append(start)
            return wait

    def acquire(self, max_wait: float, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Wait for a slot (up to ``max_wait`` seconds); ``False`` if none came that soon."""
        wait = self.reserve(max_wait)
        if wait is None:
            return False
        if wait > 0:
            sleep(wait)
        return True


_WINDOWS: dict[tuple[str, str], SlidingWindow] = {}
_WINDOWS_LOCK = threading.Lock()


def window_for(kind: str, account: str, max_calls: int) -> SlidingWindow:
    """The process's one window for the CRM account ``account`` (host, or portal + user)."""
    with _WINDOWS_LOCK:
        window = _WINDOWS.get((kind, account))
        if window is None or window.max_calls != max_calls:
            window = SlidingWindow(max_calls, 1.0 + MARGIN_SECONDS)
            _WINDOWS[(kind, account)] = window
        return window


def parse_retry_after(value: str | None, default: float) -> float:
    """``Retry-After`` in seconds (either form, capped, as the webhook deliverer reads
    it), or ``default`` when the CRM sent none or an unreadable one."""
    seconds = retry_after_seconds(value)
    return default if seconds is None else seconds


__all__ = [
    "AMOCRM_MAX_PER_SECOND",
    "BITRIX24_MAX_PER_SECOND",
    "MARGIN_SECONDS",
    "SlidingWindow",
    "parse_retry_after",
    "window_for",
]
