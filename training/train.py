"""Training: from a CRM history to a calibrated :class:`~scoring.model.LeadScorer`.

Steps, each a function so tests and notebooks can run them one at a time:

1. :func:`build_dataset` (``training.dataset``) — point-in-time features at each
   lead's MQL moment plus the stage labels of ``training.labels``;
2. :func:`time_split` — train / validation / test by MQL date, the latest mature
   period being the test (a lead is *mature* once its labels can no longer change);
3. :func:`fit_scorer` — per stage, two candidates on the same split: LightGBM
   (:func:`fit_stage`, early-stopped on validation to choose the number of trees) and a
   one-hot logistic regression (:func:`fit_linear_stage`, its L2 strength chosen on
   validation); the family with the lower validation log loss (:func:`choose_family`)
   is refitted on train + validation (so the most recent months are learned from, not
   only used to choose) and calibrated on out-of-fold margins; plus the fit-only,
   rejection-reason and threshold pieces (always LightGBM);
4. :func:`train` — all of the above, plus evaluation on the test period against a
   logistic-regression baseline (``training.evaluate``).

The steps live in their own modules — the settings (``training.train_config``), the
LightGBM and logistic stages (``training.tree_stage``, ``training.linear_stage``), the
family contest (``training.family_contest``), out-of-fold calibration
(``training.out_of_fold``), the rejection-reason model (``training.reason_model``) and the
baseline (``training.baseline``); this module runs them in order and hands their names on,
so ``from training.train import ...`` keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring.drift import reference_profile
from scoring.features import FeatureSpec, LeadEncoder
from scoring.linear import LevelBasis, LinearModel
from scoring.model import LeadScorer, LinearStageModel, Stage, StageModel, quantiles
from scoring.policy import ThresholdPolicy
from training.baseline import baseline_model
from training.dataset import build_dataset, split_rows, stratified_split, time_split
from training.family_contest import FAMILY_RULE, _validation_scores, choose_family, family_metrics
from training.history import CRMHistory
from training.labels import STAGE_LABELS
from training.linear_stage import (
    Start,
    _fit_linear,
    _out_of_fold_linear,
    fit_linear_stage,
    linear_basis,
)
from training.memory import release_freed_memory
from training.out_of_fold import (
    _calibrate,
    _honest_policy,
    _honest_probabilities,
    _out_of_fold,
    _take,
)
from training.prior import cold_start_reasons, fit_prior
from training.reason_model import (
    REASON_MIN_ROWS,
    REASON_RULE,
    _fit_reason_model,
    _reason_booster,
    _reason_holdout,
    class_prior,
    reason_metrics,
    reason_test_metrics,
    tagged_rejections,
)
from training.threshold import PolicyInputs
from training.train_config import FAMILIES, LGBM_KNOBS, TrainConfig
from training.tree_stage import _fit_trees, _lgbm, _out_of_fold_raw, fit_stage, fit_stage_matrices

__all__ = [
    "FAMILIES",
    "FAMILY_RULE",
    "LGBM_KNOBS",
    "REASON_MIN_ROWS",
    "REASON_RULE",
    "STAGE_LABELS",
    "PolicyInputs",
    "TrainConfig",
    "TrainResult",
    "_calibrate",
    "_fit_linear",
    "_fit_reason_model",
    "_fit_trees",
    "_honest_probabilities",
    "_latest_fifth",
    "_lgbm",
    "_out_of_fold",
    "_out_of_fold_linear",
    "_out_of_fold_raw",
    "_reason_booster",
    "_reason_holdout",
    "_take",
    "_validation_scores",
    "baseline_model",
    "build_dataset",
    "choose_family",
    "class_prior",
    "family_metrics",
    "fit_extras",
    "fit_linear_stage",
    "fit_scorer",
    "fit_stage",
    "linear_basis",
    "reason_metrics",
    "reason_test_metrics",
    "recency_weights",
    "split_rows",
    "stratified_split",
    "tagged_rejections",
    "time_split",
    "train",
    "train_frame",
]


@dataclass
class TrainResult:
    scorer: LeadScorer
    frame: pd.DataFrame
    split: pd.Series
    info: dict[str, Any]


def recency_weights(mql_at: pd.Series, half_life_days: float) -> np.ndarray:
    """``0.5 ** (age / half_life)``, the age in days before the newest ``mql_at``."""
    age = (mql_at.max() - mql_at).dt.total_seconds().to_numpy() / 86_400
    return np.power(0.5, age / half_life_days)


def fit_scorer(
    frame: pd.DataFrame,
    split: pd.Series,
    spec: FeatureSpec,
    config: TrainConfig,
    metadata: dict[str, Any] | None = None,
) -> tuple[LeadScorer, dict[str, Any]]:
    """Fit every piece of a :class:`LeadScorer`; train + validation are both learned from.

    Per stage: each family of ``config.families`` is fitted on the training rows and
    scored on the validation rows (early stopping chooses LightGBM's number of trees, the
    validation log loss the logistic regression's L2 strength); the family with the
    lower validation log loss wins (:func:`choose_family`; the comparison is kept in
    ``metadata["families"]`` and ``info["families"]``). The winner is refitted with its
    chosen settings on train + validation, and calibrated on out-of-fold margins of the
    same rows (``calibration_folds`` models, each fitted without the fold it scores).
    Validation is only used to *choose* when it is not also learned from, and on
    drifting data the latest months are the ones that matter most.
    The threshold is chosen on validation scores that no model saw the label of (the
    out-of-fold ones), so the refit does not make it optimistic.
    """
    info: dict[str, Any] = {}
    # row subsets are copies (~0.5 GB at 1M leads): stages take theirs from ``frame``,
    # and the learned rows are taken again once the stages are fitted, not held meanwhile
    learned = split.isin(["train", "valid"])
    encoder = LeadEncoder(spec).fit(frame[learned])
    fits = []
    for name in config.stages:
        fits.append(_fit_one_stage(name, frame, split, spec, encoder, config, info))
        release_freed_memory()  # the stage's designs and fold copies
    valid_rows = frame[split == "valid"]
    learned_rows = frame[learned]
    stages = [fit.model for fit in fits]
    families = {fit.model.name: fit.contest for fit in fits}
    honest_raw = {fit.model.name: fit.oof for fit in fits}
    scorer = LeadScorer(
        spec=spec,
        encoder=encoder,
        stages=stages,
        # a stand-in until the validation scores exist to choose the real one (below);
        # not choose_policy(): acceptance_rate cannot run without scores
        policy=ThresholdPolicy(1.0, config.policy.disqualify_below, "unset"),
        metadata={**(metadata or {}), "families": families},
    )
    scorer.metadata["calibration_windows"] = {
        s.name: info[s.name]["calibration_window_detail"] for s in stages
    }
    info["families"] = families
    # encoded once for the extras and the honest probabilities (~0.2 GB at 1M leads)
    learned_matrix = encoder.transform(learned_rows)
    fit_extras(scorer, learned_rows, encoder, config, learned_matrix)
    release_freed_memory()
    scorer.policy = _honest_policy(scorer, valid_rows, honest_raw, config)
    # what the model learned from, compact: serving measures drift (PSI) against it
    learned_p_won = np.prod(
        list(_honest_probabilities(scorer, learned_rows, honest_raw, learned_matrix).values()),
        axis=0,
    )
    del learned_matrix
    scorer.metadata["reference_profile"] = reference_profile(
        learned_rows.assign(p_won=learned_p_won)
    )
    info["policy"] = scorer.policy.to_dict()
    return scorer, info


@dataclass
class _StageFit:
    """One stage as :func:`fit_scorer` keeps it: the calibrated winner, its out-of-fold
    margins (indexed like the learned rows) and the family contest that chose it."""

    model: Stage
    oof: pd.Series
    contest: dict[str, Any]


@dataclass
class _Chosen:
    """What validation chose for each candidate family, for the refit of the winner."""

    tree_info: dict[str, Any] = field(default_factory=dict)
    trees: int = 0
    basis: LevelBasis | None = None
    l2_c: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    start: Start | None = None
    """The logistic candidate's last coefficients, where its refit starts."""


def _fit_one_stage(
    name: str,
    frame: pd.DataFrame,
    split: pd.Series,
    spec: FeatureSpec,
    encoder: LeadEncoder,
    config: TrainConfig,
    info: dict[str, Any],
) -> _StageFit:
    """One stage: the family contest on train / validation, then the winner refitted on
    both and calibrated on its out-of-fold margins; its figures go to ``info[name]``."""
    label = STAGE_LABELS[name]
    tr, va = _stage_rows(name, label, frame, split, info)
    # the refit pool: train then validation (the encoder is row by row: matrices stack),
    # encoded once into one array whose first and last rows *are* the train and
    # validation matrices; then only the label and the MQL moment of the rows are kept
    pool_matrix = np.empty((len(tr) + len(va), len(encoder.feature_names_out_)))
    pool_matrix[: len(tr)] = encoder.transform(tr)
    pool_matrix[len(tr) :] = encoder.transform(va)
    tr_matrix, va_matrix = pool_matrix[: len(tr)], pool_matrix[len(tr) :]
    tr, va = tr[[label, "mql_at"]], va[[label, "mql_at"]]
    weight = None
    if config.recency_half_life_days and name in config.recency_stages:
        weight = recency_weights(tr["mql_at"], config.recency_half_life_days)
    pool_index = tr.index.append(va.index)
    pool_mql_at = pd.concat([tr["mql_at"], va["mql_at"]])
    y_pool = np.concatenate([tr[label].to_numpy(), va[label].to_numpy()]).astype(int)
    pool_weight = None
    if weight is not None:
        pool_weight = recency_weights(pool_mql_at, config.recency_half_life_days or 1.0)
    candidates, chosen = _candidates(
        label, tr, va, (tr_matrix, va_matrix, pool_matrix), encoder, config, weight
    )
    release_freed_memory()  # the candidates' designs, before the refit's
    family = choose_family(candidates)
    contest = {"chosen": family, "rule": FAMILY_RULE, "candidates": candidates}
    booster, linear, oof, stage_info = _refit_winner(
        family, chosen, pool_matrix, y_pool, encoder, config, pool_weight
    )
    calibrator, cal_scores, window = _calibrate(oof, y_pool, pool_mql_at, config)
    model: Stage = (
        StageModel(name, booster, calibrator)
        if booster is not None
        else LinearStageModel(name, cast(LinearModel, linear), calibrator)
    )
    info[name] = {
        **stage_info,
        "family": family,
        "calibration": calibrator.method,
        "calibration_rows": "out-of-fold",
        **{f"calibration_logloss_{k}": v for k, v in cal_scores.items()},
        "calibration_window": window.describe(),
        "calibration_window_detail": window.to_dict(),
        "train_rows": len(tr),
        "valid_rows": len(va),
        "refit_rows": len(pool_index),
    }
    if pool_weight is not None:
        # Kish's effective sample size: how many equally weighted rows the weights are worth
        info[name]["train_effective_rows"] = float(pool_weight.sum() ** 2 / (pool_weight**2).sum())
    return _StageFit(model, pd.Series(oof, index=pool_index), contest)


def _stage_rows(
    name: str,
    label: str,
    frame: pd.DataFrame,
    split: pd.Series,
    info: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stage's labelled train and validation rows, both holding both classes."""
    labelled = frame[label].notna()
    tr = frame[labelled & (split == "train")]
    va = frame[labelled & (split == "valid")]
    if va[label].nunique() < 2:
        # Later stages mature later (a deal closes ~90 days after the SQL): when the
        # validation period has no outcomes yet, validate on the latest labelled fifth.
        tr, va = _latest_fifth(pd.concat([tr, va]), label)
        info.setdefault("validation_fallback", []).append(name)
    if tr[label].nunique() < 2 or va[label].nunique() < 2:
        raise ValueError(f"stage {name}: need both classes in train and validation")
    return tr, va


def _candidates(
    label: str,
    tr: pd.DataFrame,
    va: pd.DataFrame,
    matrices: tuple[np.ndarray, np.ndarray, np.ndarray],
    encoder: LeadEncoder,
    config: TrainConfig,
    weight: np.ndarray | None,
) -> tuple[dict[str, dict[str, Any]], _Chosen]:
    """Each family of ``config.families`` fitted on ``tr`` and scored on ``va``: their
    validation figures (the contest) and the settings validation chose for each.
    ``matrices`` are ``tr``, ``va`` and both (the refit pool), encoded."""
    tr_matrix, va_matrix, pool_matrix = matrices
    candidates: dict[str, dict[str, Any]] = {}
    chosen = _Chosen()
    if "lightgbm" in config.families:
        clf, chosen.tree_info = fit_stage_matrices(
            tr_matrix,
            tr[label].to_numpy(),
            va_matrix,
            va[label].to_numpy(),
            config,
            encoder,
            weight,
        )
        chosen.trees = max(int(chosen.tree_info["best_iteration"]), 1)
        va_p = clf.predict_proba(va_matrix)[:, 1]
        candidates["lightgbm"] = {**_validation_scores(va[label], va_p), "trees": chosen.trees}
    if "logistic" in config.families:
        chosen.basis, chosen.l2_c, chosen.figures, chosen.start = fit_linear_stage(
            pool_matrix,
            encoder,
            tr_matrix,
            tr[label],
            va_matrix,
            va[label],
            config,
            weight,
        )
        candidates["logistic"] = {**chosen.figures, "l2_c": chosen.l2_c}
    return candidates, chosen


def _refit_winner(
    family: str,
    chosen: _Chosen,
    matrix: np.ndarray,
    y: np.ndarray,
    encoder: LeadEncoder,
    config: TrainConfig,
    weight: np.ndarray | None,
) -> tuple[lgb.Booster | None, LinearModel | None, np.ndarray, dict[str, Any]]:
    """The winning family refitted with its chosen settings on train + validation, its
    out-of-fold margins and the stage figures of its settings."""
    if family == "lightgbm":
        booster = _fit_trees(matrix, y, chosen.trees, encoder, config, weight)
        oof = _out_of_fold_raw(matrix, y, chosen.trees, encoder, config, weight)
        return booster, None, oof, {**chosen.tree_info, "trees": float(chosen.trees)}
    basis = cast(LevelBasis, chosen.basis)
    linear, start = _fit_linear(basis, matrix, y, chosen.l2_c, weight, chosen.start)
    oof = _out_of_fold_linear(basis, matrix, y, chosen.l2_c, config, weight, start)
    figures = chosen.figures
    return (
        None,
        linear,
        oof,
        {"l2_c": chosen.l2_c, "bins": figures["bins"], "slopes": figures["slopes"]},
    )


def fit_extras(
    scorer: LeadScorer,
    rows: pd.DataFrame,
    encoder: LeadEncoder,
    config: TrainConfig,
    matrix: np.ndarray | None = None,
) -> None:
    """The fit-only model, the engagement distribution and the rejection-reason model.
    ``matrix`` is ``rows`` encoded, when the caller has it already."""
    matrix = encoder.transform(rows) if matrix is None else matrix
    fit_label = STAGE_LABELS[config.stages[0]]
    scorer.fit_feature_idx = scorer.fit_feature_mask()
    has_fit = rows[fit_label].notna().to_numpy()
    if scorer.fit_feature_idx and has_fit.sum() > 100:
        # small on purpose: it only ranks firmographic fit, and it runs on every request
        fit_clf = _lgbm(config, n_estimators=60, learning_rate=0.1, num_leaves=7)
        fit_idx = scorer.fit_feature_idx
        cat_in_fit = [i for i, j in enumerate(fit_idx) if j in encoder.categorical_indices_]
        fit_clf.fit(
            matrix[has_fit][:, fit_idx],
            rows.loc[has_fit, fit_label].to_numpy(),
            categorical_feature=cat_in_fit,
        )
        scorer.fit_model = fit_clf.booster_
        scorer.fit_quantiles = quantiles(
            scorer.fit_model.predict(matrix[:, fit_idx], raw_score=True)
        )
    if scorer._engagement_idx is not None:
        scorer.engagement_quantiles = quantiles(matrix[:, scorer._engagement_idx])
    scorer.reason_model, scorer.reason_classes, scorer.reason_quality = _fit_reason_model(
        rows, matrix, encoder, config
    )


def _latest_fifth(rows: pd.DataFrame, label: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split labelled rows by MQL time: the latest 20 % validate, the rest train."""
    ordered = rows.sort_values("mql_at", kind="stable")
    cut = int(len(ordered) * 0.8)
    return ordered.iloc[:cut], ordered.iloc[cut:]


def train(
    history: CRMHistory,
    config: TrainConfig | None = None,
    spec: FeatureSpec | None = None,
    metadata: dict[str, Any] | None = None,
    *,
    force: bool = False,
    judged: str = "y_won",
) -> TrainResult:
    """Build the dataset (:func:`build_dataset`), then :func:`train_frame` on it."""
    config = config or TrainConfig()
    frame = build_dataset(history, config.label_rules)
    return train_frame(
        frame, history.snapshot_at, config, spec, metadata, force=force, judged=judged
    )


def train_frame(
    frame: pd.DataFrame,
    snapshot_at: pd.Timestamp,
    config: TrainConfig | None = None,
    spec: FeatureSpec | None = None,
    metadata: dict[str, Any] | None = None,
    *,
    force: bool = False,
    judged: str = "y_won",
) -> TrainResult:
    """Split a built dataset in time, fit and evaluate a scorer (no MLflow here).

    With too little data (``training.prior.cold_start_reasons``) the scorer is the
    documented prior, ``info["model_kind"] == "prior"``; ``force`` fits a learned model
    anyway whenever the data has both classes to fit it on. ``judged`` is the label the
    test period must hold enough of both classes of (the promotion metric's).
    """
    from training.evaluate import evaluate_split

    config = config or TrainConfig()
    spec = spec or FeatureSpec()
    split = split_rows(frame, snapshot_at, config)
    shortfall = cold_start_reasons(frame, split, config.stages, config.min_class_rows, judged)
    fitted = None
    if not shortfall or force:
        try:
            fitted = fit_scorer(frame, split, spec, config, metadata)
        except ValueError as exc:  # one class only: nothing to learn, even when forced
            shortfall = [*shortfall, str(exc)]
    if fitted is None:
        scorer, info = fit_prior(frame, split, spec, config, metadata, shortfall)
    else:
        scorer, info = fitted
        info["model_kind"] = scorer.metadata["model_kind"] = "learned"
        if shortfall:
            info["forced_past"] = shortfall
    info["cold_start"] = shortfall
    info["evaluation"] = evaluate_split(scorer, frame, split, spec)
    reason = reason_test_metrics(scorer, frame[split == "test"])
    if reason:
        info["evaluation"]["reason"] = reason
    info["split_rows"] = split.value_counts().to_dict()
    return TrainResult(scorer, frame, split, info)
