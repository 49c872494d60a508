"""Training a million leads in less memory (issue 15, item 2) must not change a number:
touches aggregated in batches, the frame joined to its labels without a merge, and the
history handed over by ``leadscore train`` give what the one-pass code gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scoring.features as features
from scoring.features import (
    DAY_NS,
    HALF_LIFE_DAYS,
    LOOKBACK_DAYS,
    TOUCH_TYPES,
    TOUCH_WEIGHTS,
    frame_features,
    touch_features,
)
from training.baseline import as_labels
from training.dataset import _join_by_lead, build_dataset
from training.pipeline import _example_leads, _handed_over_dataset
from training.synthetic import generate
from training.train import TrainConfig, split_rows


def _one_pass(pos: np.ndarray, at: np.ndarray, code: np.ndarray, as_of: np.ndarray) -> dict:
    """The columns as the one-pass code computed them (np.bincount sums, a min per group)."""
    n = len(as_of)
    age = (as_of[pos] - at) / DAY_NS
    keep = (age > 0) & (age <= LOOKBACK_DAYS)
    pos, age, code = pos[keep], age[keep], code[keep]
    weights = np.array([TOUCH_WEIGHTS[t] for t in TOUCH_TYPES])
    w = weights[code] * np.power(0.5, age / HALF_LIFE_DAYS)

    def group_min(p: np.ndarray, v: np.ndarray) -> np.ndarray:
        out = np.full(n, np.inf)
        np.minimum.at(out, p, v)
        out[np.isinf(out)] = np.nan
        return out

    return {
        "n_touches_90d": np.bincount(pos[age <= 90], minlength=n).astype(float),
        "engagement_recency": np.bincount(pos, weights=w, minlength=n),
        "days_since_last_touch": group_min(pos, age),
        "days_since_first_touch": -group_min(pos, -age),
    }


def test_touches_in_batches_give_the_one_pass_columns_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(7)
    n_leads, n_touches = 60, 5_000
    as_of = np.full(n_leads, 500 * DAY_NS, dtype=np.int64) + rng.integers(0, DAY_NS, n_leads)
    pos = rng.integers(0, n_leads, n_touches)
    at = as_of[pos] - rng.integers(-DAY_NS, 400 * DAY_NS, n_touches)  # not whole days
    code = rng.integers(0, len(TOUCH_TYPES), n_touches)
    whole = touch_features(pos, at, code, as_of)
    for key, expected in _one_pass(pos, at, code, as_of).items():
        np.testing.assert_array_equal(whole[key], expected, err_msg=key)

    leads = pd.DataFrame(
        {
            "lead_id": pd.Series([f"L{i}" for i in range(n_leads)], dtype=str),
            "created_at": pd.to_datetime(as_of - 30 * DAY_NS, utc=True),
            "mql_at": pd.to_datetime(as_of, utc=True),
        }
    )
    touches = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].to_numpy()[pos],
            "at": pd.to_datetime(at, utc=True),
            "type": np.asarray(TOUCH_TYPES, dtype=object)[code],
        }
    )
    once = frame_features(leads, touches, leads["mql_at"])
    monkeypatch.setattr(features, "_TOUCH_BATCH", 333)
    batched = frame_features(leads, touches, leads["mql_at"])
    pd.testing.assert_frame_equal(batched, once, check_exact=True)
    np.testing.assert_array_equal(once["engagement_recency"], whole["engagement_recency"])


def test_labels_join_without_a_merge_is_the_merge() -> None:
    frame = pd.DataFrame({"lead_id": pd.Series(["a", "b", "c"], dtype=str), "x": [1.0, 2, 3]})
    labels = pd.DataFrame({"lead_id": pd.Series(["a", "b", "c"], dtype=str), "y": [0.0, 1, None]})
    shuffled = labels.iloc[[2, 0, 1]]
    for other in (labels, shuffled, labels.iloc[:2]):
        expected = frame.merge(other, on="lead_id", how="left")
        pd.testing.assert_frame_equal(_join_by_lead(frame, other), expected, check_exact=True)


def test_a_handed_over_history_gives_the_same_frame_and_keeps_the_example_touches() -> None:
    config = TrainConfig()
    expected = build_dataset(generate(3_000, seed=5), config.label_rules)
    history = generate(3_000, seed=5)
    frame, kept = _handed_over_dataset(history, config)
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert history.touches.empty  # let go once the touch features were computed
    assert kept.leads.empty and kept.feedback.empty and kept.outcomes.empty
    ids = _example_leads(frame["lead_id"], split_rows(frame, kept.snapshot_at, config))
    full = generate(3_000, seed=5).touches
    pd.testing.assert_frame_equal(kept.touches, full[full["lead_id"].isin(ids)])
    assert len(kept.touches) > 0


def test_baseline_labels_are_astype_str_with_one_string_per_value() -> None:
    frame = pd.DataFrame(
        {
            "text": pd.Series(["a", None, np.nan, "b", "a", pd.NA], dtype=object),
            "flag": pd.Series([True, None, False, True, None, False], dtype="boolean"),
            "number": [1.0, np.nan, 2.5, 1.0, np.nan, 3.0],
            "count": pd.Series([1, None, 2, 1, 3, None], dtype="Int64"),
            "category": pd.Categorical(["x", None, "y", "x", "y", None]),
            "mixed": pd.Series([1, "1", 1.0, None, True, "x"], dtype=object),
        }
    )
    expected = np.asarray(frame.astype(str), dtype=object)
    got = as_labels(frame)
    assert got.shape == expected.shape
    for want, have in zip(expected.ravel(), got.ravel(), strict=True):
        assert type(have) is type(want)
        assert have == want or (pd.isna(want) and pd.isna(have))
    # equal cells share one string: memory per distinct value, not per cell
    assert got[0, 0] is got[4, 0]
