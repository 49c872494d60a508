"""The trend word's rule (issue 13 item 4): a dead band of ±0.02 around no change."""

from __future__ import annotations

import pytest

from serving.trend import DEAD_BAND, trend_word


@pytest.mark.parametrize(
    ("change", "word"),
    [
        (None, None),  # a single decision: no trend yet
        (0.0, "steady"),
        (DEAD_BAND, "steady"),  # the band's edges are still steady
        (-DEAD_BAND, "steady"),
        (0.0201, "improving"),
        (0.35, "improving"),
        (-0.0201, "declining"),
        (-0.5, "declining"),
    ],
)
def test_trend_word_has_a_dead_band_of_two_points(change: float | None, word: str | None) -> None:
    assert trend_word(change) == word
