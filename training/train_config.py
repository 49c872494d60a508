"""The settings of a training run: :class:`TrainConfig`, and the LightGBM knobs and model
families it may set (its own module so every training step can take it without importing
the orchestration in ``training.train``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from training.labels import LabelRules
from training.threshold import PolicyInputs

LGBM_KNOBS: tuple[str, ...] = (
    "reg_lambda",
    "min_child_weight",
    "colsample_bytree",
    "cat_smooth",
    "cat_l2",
    "min_data_per_group",
    "max_cat_threshold",
    "max_cat_to_onehot",
)
"""LightGBM settings that :func:`_lgbm` takes from :class:`TrainConfig` as they are (a
mapping's ``train:`` may set them); their defaults are the values used before they were
settings (LightGBM's own defaults, except ``reg_lambda`` 1 and ``colsample_bytree`` 0.8)."""


FAMILIES: tuple[str, ...] = ("lightgbm", "logistic")
"""The stage model families training can fit (``scoring.model.Family``)."""


@dataclass
class TrainConfig:
    """Everything that decides a training run (logged as MLflow parameters)."""

    seed: int = 42
    label_rules: LabelRules = "aware"
    maturity_days: int = 180
    test_days: int = 60
    valid_days: int = 60
    n_estimators: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 3
    """Leaves per tree. 3 (was 15): on the synthetic history, whose effects are additive on
    the logit scale, small trees learn the sum of many categorical effects from fewer rows;
    chosen on the *validation* period (trained on train only, early-stopped): at 20,000
    leads validation log loss 0.5146 vs 0.5200 for P(SQL) and 0.5111 vs 0.5228 for
    P(won | SQL); at 200,000 leads (up to 1,500 trees) 0.5215 vs 0.5225 and 0.5021 vs 0.5043
    (docs/metrics.md, "Closing the gap to the oracle"). Flat exports have their own
    defaults (``training.importing.FLAT_DEFAULTS``)."""
    min_child_samples: int = 40
    early_stopping_rounds: int = 40
    """0 = no early stopping: each stage grows all ``n_estimators`` trees (for validation
    periods too small to choose a tree count on, e.g. a week of sales feedback)."""
    reg_lambda: float = 1.0
    """L2 penalty on leaf values (LightGBM ``lambda_l2``)."""
    min_child_weight: float = 1e-3
    """Smallest sum of hessians in a leaf (LightGBM ``min_sum_hessian_in_leaf``)."""
    colsample_bytree: float = 0.8
    """Share of features each tree may use (LightGBM ``feature_fraction``)."""
    cat_smooth: float = 10.0
    """Categorical splits, LightGBM's defaults: ``cat_smooth`` is added to a category's
    hessian sum before categories are sorted by gradient ratio, and categories with fewer
    rows than it are never listed in a sorted split."""
    cat_l2: float = 10.0
    """L2 penalty in a categorical split's gain."""
    min_data_per_group: int = 100
    """Fewest rows per group of categories in a categorical split."""
    max_cat_threshold: int = 32
    """Most categories listed on one side of a sorted categorical split."""
    max_cat_to_onehot: int = 4
    """Features with at most this many categories get one-vs-rest splits instead."""
    n_jobs: int = 1
    """LightGBM threads. 1 by default: its OpenMP threads busy-wait, and on a small shared
    machine (2 cores, tests or a server next to it) 2 threads were 3-8x *slower* than 1
    (a 6,000-lead training: 6-16 s against 1.9 s). Scores do not depend on it."""
    max_bad_share: float = 0.05
    stages: tuple[str, ...] = ("sql", "won_given_sql")
    split: Literal["time", "stratified"] = "time"
    """``stratified`` is for flat exports without a usable time column."""
    policy: PolicyInputs = field(default_factory=PolicyInputs)
    calibration_folds: int = 5
    """Folds of the out-of-fold margins each stage is calibrated on (see :func:`fit_scorer`)."""
    min_class_rows: int = 20
    """Cold start: each stage needs at least this many positives *and* negatives in train +
    validation, and the test period this many of each for the final outcome, or training
    falls back to the prior of ``training.prior`` (docs/training-rules.md)."""
    baseline_margin: float = 0.05
    """Refusal rule: the model's test ROC AUC must reach the logistic baseline's minus this
    margin, about one standard error of a test ROC AUC measured on ~50 positives
    (docs/training-rules.md)."""
    min_test_auc: float = 0.52
    """Refusal rule: the test ROC AUC a model needs to count as ranking better than chance."""
    recency_half_life_days: float | None = None
    """Sample weight ``0.5 ** (age / half_life)`` by MQL age (relative to the newest
    training row) for the stages in ``recency_stages``: recent feedback counts more than
    old history, so a drift shows up in the model before it dominates the data. ``None``
    (the default) weighs every row the same."""
    recency_stages: tuple[str, ...] = ("sql",)
    """Stages the recency weight applies to. Not ``won_given_sql`` by default: its newest
    labels are the deals that closed fastest (right-censoring), and up-weighting them
    would teach the model the fast closers' profile."""

    families: tuple[str, ...] = FAMILIES
    """Model families each stage fits on the same split; the one that wins on the
    validation period is kept (:func:`choose_family`). One family skips the contest."""
    linear_bins: tuple[int, ...] = (4, 10)
    """Quantile bins per numeric column the logistic candidate tries (plus a missing bin);
    validation log loss picks one, with the L2 strength. Few bins suit a small stage
    (4,000 leads have ~1,500 SQLs), more bins a large one."""
    linear_slopes: tuple[bool, ...] = (False, True)
    """Whether the logistic candidate adds a slope on ``signed_log(x)`` to each numeric
    column's bins; both are tried, validation log loss picks."""
    linear_c_grid: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    """Inverse L2 strengths the logistic candidate tries; validation log loss picks one.
    On the synthetic histories 0.03-0.1 won at 4,000 and 20,000 leads (docs/metrics.md);
    each value is one fit per basis, so the grid is kept short."""
    linear_search_rows: int | None = 100_000
    """Most training rows the logistic candidate's grid (bins x slopes x C) is searched on:
    above it, a seeded sample stratified on the label, the chosen combination then
    refitted on every training row (``training.linear_stage.fit_linear_stage``). The
    grid's 16 fits per stage were ~40 % of a million-lead training; 100,000 rows (the
    training period of ~200,000 leads) choose as well. ``None`` searches on every row."""

    def __post_init__(self) -> None:
        unknown = set(self.families) - set(FAMILIES)
        if unknown or not self.families:
            raise ValueError(
                f"families must be a non-empty subset of {FAMILIES}, got {self.families!r}"
            )

    def params(self) -> dict[str, Any]:
        flat = {k: v for k, v in self.__dict__.items() if k != "policy"}
        flat["stages"] = ",".join(self.stages)
        flat["families"] = ",".join(self.families)
        flat["linear_bins"] = ",".join(str(b) for b in self.linear_bins)
        flat["linear_slopes"] = ",".join(str(b) for b in self.linear_slopes)
        flat["linear_c_grid"] = ",".join(str(c) for c in self.linear_c_grid)
        flat["recency_stages"] = ",".join(self.recency_stages)
        flat.pop("__doc__", None)
        flat.update({f"policy_{k}": v for k, v in self.policy.__dict__.items()})
        return flat
