"""What a simulation run is told (:class:`SimConfig`), what it reports each week
(:class:`WeekRow`), and how it retrains on its weekly clock (:func:`sim_train_config`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from training.labels import LabelRules
from training.train import TrainConfig

ServedTables = Callable[[], tuple[pd.DataFrame, pd.DataFrame]]
"""The server's decisions and feedback as retraining reads them (the serving store's
``decisions_for_training`` and ``feedback_frame``), read afresh at each retraining. The
caller gives it: training does not import the serving store."""

WEEK = pd.Timedelta(days=7)


@dataclass
class SimConfig:
    weeks: int = 16
    leads_per_week: int = 300
    base_leads: int | None = None
    """Leads in the 18-month history before the simulation; default: the same weekly rate."""
    seed: int = 11
    drift: bool = True
    drift_week: int = 4
    """The drift starts after this many weeks (leads created from then on)."""
    drift_channel: str = "paid_search"
    """The channel whose leads silently get worse (same look, far fewer accepted)."""
    drift_volume: float = 3.0
    """From the drift on, the drifting channel brings this many times its usual volume
    (a new lead vendor); 1 = the drift without the volume."""
    retrain_every: int = 1
    """Retrain (and gate) every N weeks; 0 freezes the first champion."""
    label_rules: LabelRules = "aware"
    """``aware-provisional``: deferred rejections still in their window count 0 for now."""
    handoff_share: float = 0.3
    """Sales capacity as a share of the daily MQL volume (sets the capacity threshold)."""
    recency_half_life_days: float | None = 28.0
    """Retraining weighs a lead ``0.5 ** (age / half_life)`` (MQL→SQL stage); None = flat."""
    valid_days: int = 7
    """Retraining: the validation period (calibration, capacity threshold, early stopping)."""
    retrain_trees: int = 100
    """Retraining: grow this many trees per stage (about what the first champion's early
    stopping chose on two months of validation) instead of early stopping on a week of
    feedback, 50-130 labelled leads, which picked anything from 4 to 250 trees week to
    week; 0 = early stopping."""
    recover_within: float = 0.05
    """``summarise``: recovered = a 3-week mean acceptance within this of the pre-drift mean."""

    @property
    def history_leads(self) -> int:
        return self.base_leads or int(self.leads_per_week * 78)

    @property
    def daily_capacity(self) -> float:
        return self.handoff_share * self.leads_per_week / 7


@dataclass
class WeekRow:
    week: int
    start: str
    mqls: int
    handoffs: int
    accepted: int
    rejected: int
    acceptance_rate: float
    drift_channel_mqls: int
    drift_channel_handoffs: int
    drift_channel_acceptance: float
    """Acceptance of the drifting channel's handoffs (NaN when it got none)."""
    other_acceptance: float
    """Acceptance of every other channel's handoffs."""
    p_sql_handed: float
    """Mean served P(SQL) of the handed leads, ..."""
    true_p_sql_handed: float
    """... and the generator's true P(SQL) for them (the oracle)."""
    p_sql_rest: float
    """Mean served P(SQL) of the leads *not* handed over (no feedback ever comes for them),
    against ``true_p_sql_rest``: calibration where the loop is blind."""
    true_p_sql_rest: float
    true_won_handed: float
    """Expected won deals from this week's handoffs: the sum of the generator's true
    P(won) over them (most of these deals close after the run; a simulation can know)."""
    true_sql_top: float
    """Expected SQLs among the week's ``capacity`` best leads by served P(won), whatever
    was handed over: ranking quality at a fixed volume, comparable across runs (the
    drifted runs see the same leads every week)."""
    true_won_top: float
    """Expected won deals among the same top leads."""
    won: int
    revenue: float
    model_version: str
    promoted: str = ""
    """After the week, the gate's verdict (:func:`gate_verdict`): ``vN`` (promoted),
    ``kept``, ``not enough evidence``, ``no new challenger`` (the refusal rule), or empty
    (frozen)."""
    gate_rows: int | None = None
    """Labelled leads (known ``y_sql``) in the challenger's test period, where the gate
    compares challenger and champion, and their ``promotion_metric`` there:"""
    gate_challenger: float | None = None
    gate_champion: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def sim_train_config(cfg: SimConfig) -> TrainConfig:
    """Retraining inside the simulation, on a weekly clock.

    A lead's first sales decision comes within days (``maturity_days=7``); the gate's test
    period is the latest five mature weeks (one week held ~50 labelled leads: the gate's
    evidence rule, docs/training-rules.md, needs 200) and the ``valid_days`` before it
    validate (calibration, the capacity threshold). Recent feedback weighs more
    (``recency_half_life_days``); the tree count is fixed (``retrain_trees``). The
    refusal rule's baseline margin is 0.1, not 0.05: the generator is additive on the
    logit scale, logistic regression's own family, and a fixed 100-tree LightGBM trails
    it by ~0.065 ROC AUC on SQL there; the simulation studies the loop, not the family.
    A fixed tree count keeps the 15 leaves a tree it was measured with (docs/loop.md):
    ``TrainConfig``'s default of 3 is chosen with early stopping, and 100 trees of 3
    leaves would learn a fifth as much. For the same reason the weekly models are
    LightGBM only (``families``): the family contest would change what docs/loop.md
    measured, and the loop, not the family, is what the simulation studies.
    """
    from training.threshold import PolicyInputs

    return TrainConfig(
        seed=cfg.seed,
        label_rules=cfg.label_rules,
        maturity_days=7,
        test_days=35,
        baseline_margin=0.1,
        valid_days=cfg.valid_days,
        recency_half_life_days=cfg.recency_half_life_days,
        families=("lightgbm",),
        **(
            {"n_estimators": cfg.retrain_trees, "early_stopping_rounds": 0, "num_leaves": 15}
            if cfg.retrain_trees
            else {}
        ),
        policy=PolicyInputs(daily_capacity=cfg.daily_capacity),
    )
