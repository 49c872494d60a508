"""The per-account request window of the CRM deliverers (serving/outbox/crm_limits.py)."""

from __future__ import annotations

import pytest

from serving.outbox.crm_limits import SlidingWindow, parse_retry_after


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _most_in_any_window(starts: list[float], period: float) -> int:
    return max(sum(1 for u in starts if t <= u < t + period) for t in starts)


@pytest.mark.parametrize("limit", [2, 7])
def test_window_never_lets_more_than_the_limit_start_in_one_period(limit: int) -> None:
    clock = FakeClock()
    window = SlidingWindow(limit, 1.0, clock=clock)
    starts = []
    for _ in range(25):
        assert window.acquire(max_wait=5.0, sleep=clock.sleep)
        starts.append(clock.now)
    assert _most_in_any_window(starts, 1.0) == limit
    # and it does not wait more than needed: 25 starts take ceil(25 / limit) - 1 periods
    assert clock.now - 100.0 == pytest.approx(-(-25 // limit) - 1)


def test_a_caller_who_will_not_wait_books_nothing() -> None:
    clock = FakeClock()
    window = SlidingWindow(2, 1.0, clock=clock)
    assert window.reserve(0.0) == 0.0
    assert window.reserve(0.0) == 0.0
    assert window.reserve(0.5) is None  # next slot is 1 s away
    assert window.reserve(1.0) == pytest.approx(1.0)  # booked: the refused one took nothing
    assert window.reserve(1.0) == pytest.approx(1.0)  # the second slot of that second
    assert window.reserve(1.5) is None  # the next is 2 s away


def test_retry_after() -> None:
    assert parse_retry_after("3", 1.0) == 3.0
    assert parse_retry_after(None, 1.0) == 1.0
    assert parse_retry_after("soon", 1.0) == 1.0  # unreadable: the CRM's usual wait
    # read as the webhook deliverer reads it: a date already past, or a negative wait,
    # means now
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1.0) == 0.0
    assert parse_retry_after("-4", 1.0) == 0.0
