"""The SLA histograms' quantiles stay within their stated bound of the exact ones.

``serving.store.sla_hist`` reads a period's medians and p90s off summed bucket counts;
the exact reference is numpy's linear quantile (what pandas computes).
"""

from __future__ import annotations

import numpy as np
import pytest

from serving.store.sla_hist import buckets, error_bound, quantile


def _estimate(hours: np.ndarray, q: float) -> float:
    bins, counts = np.unique(buckets(hours), return_counts=True)
    return quantile(bins, counts, q)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 57, 400])
@pytest.mark.parametrize("q", [0.5, 0.9])
def test_quantiles_are_within_the_bound(n: int, q: float) -> None:
    rng = np.random.default_rng(n)
    for hours in (
        rng.lognormal(mean=1.0, sigma=1.5, size=n),  # minutes to weeks
        rng.uniform(0, 1.6, size=n),  # all in the one-minute buckets
        np.round(rng.uniform(0, 30, size=n), 1),  # ties
    ):
        exact = float(np.quantile(hours, q))
        assert abs(_estimate(hours, q) - exact) <= error_bound(exact) + 1e-9


def test_the_grid_is_one_minute_then_one_percent() -> None:
    minutes = np.array([0.0, 0.99, 1.0, 99.99, 100.0, 100.99, 101.0, 60 * 24 * 365])
    got = buckets(minutes / 60).tolist()
    assert got[:4] == [0, 0, 1, 99] and got[4:7] == [100, 100, 101]
    assert got[7] < 1_200  # a year of minutes in ~1,100 buckets
    assert np.isnan(quantile(np.array([], dtype=int), np.array([], dtype=int), 0.5))
