"""Cold start: a documented prior instead of a model the data cannot support.

With too little data to learn a stage (or to test what was learned), training registers
this prior instead of failing or registering noise. It is a real, versioned
:class:`~scoring.model.LeadScorer`, served, explained and gated like any model, with
``metadata["model_kind"] == "prior"`` so ``/v1/model`` can say what it is. The rule
(docs/training-rules.md):

* every stage starts from its **pooled rate**: the share of positives among the mature
  labelled leads (when no lead is mature yet: the labels known so far),
  Laplace-smoothed ``(positives + 1) / (rows + 2)`` so a stage with no outcome yet is
  not 0 or 1;
* the **first stage** (MQL→SQL, or the only one) is tilted by **engagement** when the
  features include touches: ``logit p = logit(rate) + 0.5 * z``, ``z`` the lead's
  ``log(1 + engagement_recency)`` standardised on the mature leads (one standard
  deviation more engagement multiplies the odds by e^0.5 ≈ 1.65). Engagement is what the
  domain says makes an MQL ready for sales (a demo request weighs 3, a page view 0.2; see
  ``scoring.features.TOUCH_WEIGHTS``). Without touches (a flat export) the first stage is
  the pooled rate too.

The rule is written into a LightGBM booster (fitted to the rule's log-odds on the
leads' own feature rows, with every other column blanked so no tree can split on it),
so the existing serving path, explanations and checksums work unchanged; its
calibrator is the identity.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring.calibration import Calibrator
from scoring.features import FeatureSpec, LeadEncoder
from scoring.model import LeadScorer, Stage, StageModel, quantiles
from scoring.policy import ThresholdPolicy
from training.labels import STAGE_LABELS
from training.threshold import choose_policy

ENGAGEMENT_WEIGHT = 0.5
"""Log-odds per standard deviation of ``log(1 + engagement_recency)``."""
ENGAGEMENT_FEATURE = "engagement_recency"
IDENTITY = Calibrator("platt", {"a": 1.0, "b": 0.0})


def cold_start_reasons(
    frame: pd.DataFrame,
    split: pd.Series,
    stages: tuple[str, ...],
    min_class_rows: int,
    judged: str = "y_won",
) -> list[str]:
    """Why this data cannot train and test a model; empty when it can.

    A stage needs ``min_class_rows`` positives and as many negatives among its labelled
    train + validation rows; the test period needs as many of each for the ``judged``
    label (the promotion metric's: the label the refusal rule and the gate judge on).
    """
    reasons = []
    learned = split.isin(["train", "valid"])
    for name in stages:
        y = frame.loc[learned, STAGE_LABELS[name]].dropna()
        pos, neg = int((y == 1).sum()), int((y == 0).sum())
        if min(pos, neg) < min_class_rows:
            reasons.append(
                f"stage {name}: {pos} positives, {neg} negatives in train+validation "
                f"(need {min_class_rows} of each)"
            )
    y = frame.loc[split == "test", judged].dropna() if judged in frame else pd.Series([])
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    if min(pos, neg) < min_class_rows:
        reasons.append(
            f"test period: {pos} positive, {neg} negative {judged} "
            f"(need {min_class_rows} of each to judge a model)"
        )
    return reasons


def pooled_rate(y: pd.Series) -> float:
    """Laplace-smoothed share of positives: ``(positives + 1) / (rows + 2)``."""
    y = y.dropna()
    return float((y.sum() + 1) / (len(y) + 2))


def fit_prior(
    frame: pd.DataFrame,
    split: pd.Series,
    spec: FeatureSpec,
    config: Any,
    metadata: dict[str, Any] | None = None,
    reasons: list[str] | None = None,
) -> tuple[LeadScorer, dict[str, Any]]:
    """The prior of the module docstring, as a :class:`LeadScorer` with its policy."""
    mature = frame[split != "immature"]
    rows = mature if len(mature) else frame
    encoder = LeadEncoder(spec).fit(rows)
    matrix = encoder.transform(rows)
    names = list(encoder.feature_names_out_)
    eng = names.index(ENGAGEMENT_FEATURE) if ENGAGEMENT_FEATURE in names else None
    stages: list[Stage] = []
    rates, tilt = {}, None
    for i, name in enumerate(config.stages):
        label = STAGE_LABELS[name]
        rate = pooled_rate(rows[label]) if label in rows else 0.5
        rates[name] = rate
        logit = np.full(len(rows), np.log(rate / (1 - rate)))
        keep: list[int] = []
        if i == 0 and eng is not None:
            e = np.log1p(np.nan_to_num(matrix[:, eng], nan=0.0).clip(min=0))
            if e.std() > 0:
                tilt = {
                    "feature": ENGAGEMENT_FEATURE,
                    "mean": float(e.mean()),
                    "sd": float(e.std()),
                }
                logit = logit + ENGAGEMENT_WEIGHT * (e - e.mean()) / e.std()
                keep = [eng]
        booster = _rule_booster(matrix, logit, keep, encoder, config.seed)
        stages.append(StageModel(name, booster, IDENTITY))
    prior = {
        "rule": "pooled rate per stage"
        + (", first stage tilted by engagement" if tilt else "")
        + " (docs/training-rules.md)",
        "pooled_rates": rates,
        "engagement_weight": ENGAGEMENT_WEIGHT if tilt else 0.0,
        "engagement": tilt,
        "reasons": list(reasons or []),
    }
    scorer = LeadScorer(
        spec=spec,
        encoder=encoder,
        stages=stages,
        policy=ThresholdPolicy(1.0, config.policy.disqualify_below, "unset"),
        metadata={**(metadata or {}), "model_kind": "prior", "prior": prior},
    )
    if scorer._engagement_idx is not None:
        scorer.engagement_quantiles = quantiles(matrix[:, scorer._engagement_idx])
    valid = frame[split == "valid"]
    chosen = valid if len(valid) else rows
    probs = scorer.stage_probabilities(encoder.transform(chosen))
    p_won = np.prod(list(probs.values()), axis=0)
    scorer.policy = choose_policy(p_won, probs.get("sql"), chosen["mql_at"], config.policy)
    info = {"model_kind": "prior", "prior": prior, "policy": scorer.policy.to_dict()}
    return scorer, info


def _rule_booster(
    matrix: np.ndarray, logit: np.ndarray, keep: list[int], encoder: LeadEncoder, seed: int
) -> lgb.Booster:
    """A booster whose raw score reproduces ``logit`` from the ``keep`` columns only."""
    blanked = np.zeros_like(matrix)
    blanked[:, keep] = np.nan_to_num(matrix[:, keep], nan=0.0)
    params = {
        "objective": "cross_entropy",
        "num_leaves": 16,
        "learning_rate": 0.3,
        "min_data_in_leaf": 5,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbose": -1,
    }
    target = 1.0 / (1.0 + np.exp(-logit))
    data = lgb.Dataset(blanked, label=target, categorical_feature=encoder.categorical_indices_)
    return lgb.train(params, data, num_boost_round=100 if keep else 1)
