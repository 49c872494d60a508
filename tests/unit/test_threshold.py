"""Threshold methods of ``training.threshold`` and the bands of ``ThresholdPolicy``.

Scores are hand-made so every expected threshold can be computed by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.policy import BANDS, ThresholdPolicy
from tests.trainings import small_training
from training.threshold import Method, PolicyInputs, choose_policy
from training.train import TrainConfig

DAYS = 50


def _validation(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """``n`` leads spread evenly over ``DAYS`` days, P(won) ~ Beta, P(SQL) a bit higher."""
    rng = np.random.default_rng(seed)
    p_won = rng.beta(1.2, 10.0, n)
    p_sql = np.clip(p_won * 3.0, 0.0, 1.0)
    start = pd.Timestamp("2026-03-01", tz="UTC")
    mql_at = pd.Series(start + pd.to_timedelta(np.linspace(0, DAYS, n), unit="D"))
    return p_won, p_sql, mql_at


def test_expected_value_threshold_is_cost_over_value() -> None:
    p_won, p_sql, mql_at = _validation()
    inputs = PolicyInputs(method="expected_value", expected_deal_value=50_000, contact_cost=1_000)
    policy = choose_policy(p_won, p_sql, mql_at, inputs)
    assert policy.handoff_threshold == pytest.approx(0.02)
    assert policy.method == "expected_value"
    assert policy.inputs["breakeven_threshold"] == pytest.approx(0.02)
    assert policy.inputs["handoff_share_validation"] == pytest.approx(np.mean(p_won >= 0.02))


@pytest.mark.parametrize("capacity", [5.0, 12.0, 30.0])
def test_capacity_hands_over_about_capacity_leads_a_day(capacity: float) -> None:
    p_won, p_sql, mql_at = _validation()
    inputs = PolicyInputs(method="capacity", daily_capacity=capacity, contact_cost=1.0)
    policy = choose_policy(p_won, p_sql, mql_at, inputs)
    per_day = np.sum(p_won >= policy.handoff_threshold) / DAYS
    assert per_day == pytest.approx(capacity, abs=0.1)
    assert policy.inputs["validation_days"] == pytest.approx(DAYS)


def test_capacity_never_goes_below_break_even() -> None:
    """Capacity is a ceiling: with few good leads sales gets fewer, not worse ones."""
    p_won, p_sql, mql_at = _validation()
    inputs = PolicyInputs(
        method="capacity", daily_capacity=30.0, expected_deal_value=10_000, contact_cost=1_000
    )
    policy = choose_policy(p_won, p_sql, mql_at, inputs)
    assert policy.handoff_threshold == pytest.approx(0.1)  # the break-even, not the 30th lead
    assert np.sum(p_won >= policy.handoff_threshold) / DAYS < 30.0


def test_capacity_larger_than_the_validation_set_falls_back_to_break_even() -> None:
    p_won, p_sql, mql_at = _validation(n=100)
    inputs = PolicyInputs(method="capacity", daily_capacity=12.0)
    policy = choose_policy(p_won, p_sql, mql_at, inputs)
    assert policy.handoff_threshold == pytest.approx(
        inputs.contact_cost / inputs.expected_deal_value
    )


@pytest.mark.parametrize("target", [0.45, 0.6, 0.75])
def test_acceptance_rate_on_observed_acceptance(target: float) -> None:
    rng = np.random.default_rng(1)
    p_won, p_sql, mql_at = _validation()
    y_sql = (rng.random(len(p_sql)) < p_sql).astype(float)
    assert y_sql.mean() < target  # so the threshold has something to do
    inputs = PolicyInputs(method="acceptance_rate", min_acceptance_rate=target)
    policy = choose_policy(p_won, p_sql, mql_at, inputs, y_sql=y_sql)
    handed = p_won >= policy.handoff_threshold
    assert handed.any()
    assert y_sql[handed].mean() >= target
    # the *lowest* such threshold: one more lead would break the target
    lower = p_won[p_won < policy.handoff_threshold].max()
    assert y_sql[p_won >= lower].mean() < target


def test_acceptance_rate_falls_back_on_p_sql() -> None:
    p_won, p_sql, mql_at = _validation()
    inputs = PolicyInputs(method="acceptance_rate", min_acceptance_rate=0.5)
    policy = choose_policy(p_won, p_sql, mql_at, inputs)
    handed = p_won >= policy.handoff_threshold
    assert p_sql[handed].mean() >= 0.5
    assert policy.inputs["expected_acceptance_rate"] == pytest.approx(p_sql[handed].mean())


def test_acceptance_rate_never_cuts_inside_tied_scores() -> None:
    """A threshold hands over every lead with that score; ties (isotonic steps) count."""
    p_won = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    y_sql = np.array([1.0, 1.0, 0.0, 0.0, 0.0])
    mql_at = pd.Series(pd.date_range("2026-01-01", periods=5, tz="UTC"))
    inputs = PolicyInputs(method="acceptance_rate", min_acceptance_rate=0.6)
    policy = choose_policy(p_won, None, mql_at, inputs, y_sql=y_sql)
    handed = p_won >= policy.handoff_threshold
    assert y_sql[handed].mean() >= 0.6
    assert policy.handoff_threshold == 0.9


def test_acceptance_rate_without_any_acceptance_signal_is_refused() -> None:
    p_won, _, mql_at = _validation()
    with pytest.raises(ValueError, match="acceptance_rate needs"):
        choose_policy(p_won, None, mql_at, PolicyInputs(method="acceptance_rate"))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["expected_value", "capacity", "acceptance_rate"])
def test_training_stores_the_policy_of_each_method(method: Method) -> None:
    """Every method the CLI offers must survive a real training run."""
    inputs = PolicyInputs(method=method)
    # capacity is the default method: the default training, shared (tests/trainings.py)
    result = small_training(TrainConfig(policy=inputs))
    policy = result.scorer.policy
    assert policy.method == method
    assert policy.inputs["daily_capacity"] == inputs.daily_capacity
    assert 0.0 < policy.handoff_threshold < 1.0
    if method == "acceptance_rate":
        assert policy.inputs["expected_acceptance_rate"] >= inputs.min_acceptance_rate


def test_unknown_method_is_refused() -> None:
    p_won, p_sql, mql_at = _validation()
    with pytest.raises(ValueError, match="unknown threshold method"):
        choose_policy(p_won, p_sql, mql_at, PolicyInputs(method="gut_feeling"))  # type: ignore[arg-type]


POLICY = ThresholdPolicy(handoff_threshold=0.2, disqualify_below=0.05, method="test")


@pytest.mark.parametrize(
    ("p_won", "p_sql", "band"),
    [
        (0.2, 0.9, "hand_to_sales"),  # exactly at the threshold: handed over
        (0.19999, 0.9, "nurture"),
        (0.01, 0.05, "nurture"),  # exactly at disqualify_below: not disqualified
        (0.01, 0.04999, "disqualify"),
        (0.25, 0.01, "hand_to_sales"),  # a high P(won) wins over a low P(SQL) gate
        (0.0, 0.0, "disqualify"),
    ],
)
def test_policy_bands_on_edge_values(p_won: float, p_sql: float, band: str) -> None:
    assert POLICY.decisions(np.array([p_won]), np.array([p_sql])) == [band]
    assert BANDS[POLICY.decide(np.array([p_won]), np.array([p_sql]))[0]].value == band


def test_policy_without_p_sql_gates_on_p_won() -> None:
    """A single-stage model (flat export) has no P(SQL): the gate falls back on P(won)."""
    decided = POLICY.decisions(np.array([0.01, 0.1, 0.3]))
    assert decided == ["disqualify", "nurture", "hand_to_sales"]


def test_policy_round_trips_through_its_dict() -> None:
    policy = ThresholdPolicy(0.1, 0.02, "capacity", inputs={"daily_capacity": 12.0})
    assert ThresholdPolicy.from_dict(policy.to_dict()) == policy
