"""The LightGBM stage: the classifier settings, the early-stopped candidate, the refit of a
fixed number of trees and its out-of-fold margins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from scoring.features import FeatureSpec, LeadEncoder
from training.out_of_fold import _out_of_fold, _take
from training.train_config import LGBM_KNOBS, TrainConfig


def _lgbm(config: TrainConfig, objective: str = "binary", **extra: Any) -> lgb.LGBMClassifier:
    params: dict[str, Any] = {
        "objective": objective,
        "n_estimators": config.n_estimators,
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_child_samples": config.min_child_samples,
        "subsample": 0.8,
        "subsample_freq": 1,
        **{knob: getattr(config, knob) for knob in LGBM_KNOBS},
        "random_state": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "n_jobs": config.n_jobs,
        "verbose": -1,
    }
    return lgb.LGBMClassifier(**(params | extra))


def fit_stage(
    spec: FeatureSpec,
    train: pd.DataFrame,
    y_train: np.ndarray,
    valid: pd.DataFrame,
    y_valid: np.ndarray,
    config: TrainConfig,
    encoder: LeadEncoder | None = None,
    sample_weight: np.ndarray | None = None,
) -> tuple[Pipeline, dict[str, float]]:
    """One stage: ``Pipeline([encode, LightGBM])``, early-stopped on validation.

    ``encoder`` is the scorer's shared, already fitted encoder; it is frozen inside the
    pipeline because every stage booster must see the *same* category codes the scorer
    will feed it. Refitting it on this stage's rows (e.g. only the SQLs) would build a
    different vocabulary and silently shift the codes. Without it, one is fitted here.
    ``sample_weight`` (e.g. :func:`recency_weights`) goes to LightGBM only; the
    validation rows stay unweighted.
    """
    encoder = encoder if encoder is not None else LeadEncoder(spec).fit(train)
    model, info = fit_stage_matrices(
        encoder.transform(train),
        y_train,
        encoder.transform(valid),
        y_valid,
        config,
        encoder,
        sample_weight,
    )
    return Pipeline([("encode", FrozenEstimator(encoder)), ("model", model)]), info


def fit_stage_matrices(
    train: np.ndarray,
    y_train: np.ndarray,
    valid: np.ndarray,
    y_valid: np.ndarray,
    config: TrainConfig,
    encoder: LeadEncoder,
    sample_weight: np.ndarray | None = None,
) -> tuple[lgb.LGBMClassifier, dict[str, float]]:
    """:func:`fit_stage` on rows ``encoder`` has encoded already (training encodes each
    stage's rows once, for both families): the classifier and its best iteration."""
    stopping: list[Callable[..., Any]] = []
    if config.early_stopping_rounds:
        stopping = [lgb.early_stopping(config.early_stopping_rounds, verbose=False)]
    model = _lgbm(config).fit(
        train,
        y_train,
        sample_weight=sample_weight,
        eval_X=(valid,),
        eval_y=(y_valid,),
        categorical_feature=encoder.categorical_indices_,
        callbacks=stopping,
    )
    best = model.best_iteration_ if stopping else config.n_estimators
    return model, {"best_iteration": float(best or 0)}


def _fit_trees(
    matrix: np.ndarray,
    y: np.ndarray,
    n_trees: int,
    encoder: LeadEncoder,
    config: TrainConfig,
    weight: np.ndarray | None,
) -> lgb.Booster:
    """A booster of exactly ``n_trees`` trees (no early stopping) on encoded rows."""
    clf = _lgbm(config, n_estimators=n_trees)
    clf.fit(matrix, y, sample_weight=weight, categorical_feature=encoder.categorical_indices_)
    return clf.booster_


def _out_of_fold_raw(
    matrix: np.ndarray,
    y: np.ndarray,
    n_trees: int,
    encoder: LeadEncoder,
    config: TrainConfig,
    weight: np.ndarray | None,
) -> np.ndarray:
    """Each row's raw margin from a booster fitted without it (stratified folds)."""

    def fold(fit_idx: np.ndarray, out_idx: np.ndarray) -> np.ndarray:
        w = _take(weight, fit_idx)
        booster = _fit_trees(matrix[fit_idx], y[fit_idx], n_trees, encoder, config, w)
        return np.asarray(booster.predict(matrix[out_idx], raw_score=True))

    return _out_of_fold(y, config, fold)
