"""The trend word of a lead's score: improving, steady or declining (issue 13 item 4).

The rule, in words (``docs/api.md`` and the lead page say the same): the **change** of a
lead is its latest P(won) minus its P(won) as it stood :data:`TREND_DAYS` days ago — the
newest decision scored at or before that moment, or, for a lead first scored within the
window, its first decision. A change above ``+DEAD_BAND`` is *improving*, below
``-DEAD_BAND`` *declining*, anything between *steady*. A lead with a single decision
has no change and no trend yet. The queue's ``sort=change`` orders by the same change
(:mod:`serving.store.history`), so the page and the queue never disagree.

A difference of two scores rather than a fitted slope: a salesperson can check it
against the history table by eye, and one rescoring after a new touch moves it at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

TREND_DAYS = 7
"""How far back the reference score is: the change is "over the last week"."""

TREND_WINDOW = timedelta(days=TREND_DAYS)

DEAD_BAND = 0.02
"""Changes of P(won) within ±2 percentage points are *steady*: rescoring the same lead
as its touches age moves it by about that much without anything having happened."""

Trend = Literal["improving", "steady", "declining"]


def trend_word(change: float | None) -> Trend | None:
    """The trend word of a change of P(won); ``None`` when there is no change yet."""
    if change is None:
        return None
    if change > DEAD_BAND:
        return "improving"
    if change < -DEAD_BAND:
        return "declining"
    return "steady"
