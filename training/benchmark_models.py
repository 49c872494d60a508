"""The three models the benchmark compares, each fitted on the rows it is given.

``logistic`` and ``lightgbm_default`` are the baselines (:data:`FITTERS`); ``leadscore``
is :func:`training.train.fit_scorer` itself, with the split it would use in training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring.features import FeatureSpec, LeadEncoder
from training.train import TrainConfig, baseline_model, fit_scorer


def _logistic(
    train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, spec: FeatureSpec, seed: int
) -> np.ndarray:
    return baseline_model(spec).fit(train, y).predict_proba(test)[:, 1]


def _lightgbm_default(
    train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, spec: FeatureSpec, seed: int
) -> np.ndarray:
    """Library defaults on the encoded matrix; only the seed, the log level and the thread
    count are set (one thread: on a busy machine OpenMP's spinning threads make LightGBM
    ~10x slower, and the fitted model is the same)."""
    encoder = LeadEncoder(spec).fit(train)
    model = lgb.LGBMClassifier(random_state=seed, verbose=-1, n_jobs=1)
    model.fit(encoder.transform(train), y, categorical_feature=encoder.categorical_indices_)
    return model.predict_proba(encoder.transform(test))[:, 1]


FITTERS: dict[str, Callable[..., np.ndarray]] = {
    "logistic": _logistic,
    "lightgbm_default": _lightgbm_default,
}


def leadscore_fit(
    frame: pd.DataFrame,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    spec: FeatureSpec,
    config: TrainConfig,
    fold: int,
    time_parts: pd.Series | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """The training path: out of time, ``train``'s own split; in a CV fold, an inner
    80/20 stratified split of the training fold."""
    y = frame["y_won"].to_numpy()
    if time_parts is not None:
        split = time_parts.where(time_parts.isin(["train", "valid", "test"]), "immature")
    else:
        split = pd.Series("immature", index=frame.index, name="split")
        rng = np.random.default_rng(config.seed + 1000 * (fold + 1))
        for value in (0.0, 1.0):
            idx = train_idx[y[train_idx] == value].copy()
            rng.shuffle(idx)
            n_valid = max(1, round(len(idx) * 0.2))
            split.iloc[idx[:n_valid]] = "valid"
            split.iloc[idx[n_valid:]] = "train"
        split.iloc[test_idx] = "test"
    scorer, _ = fit_scorer(frame, split, spec, config)
    test = frame.iloc[test_idx]
    matrix = scorer.encoder.transform(test)
    p = scorer.stage_probabilities(matrix)["won"]
    return p, _reason_eval(scorer, frame.iloc[train_idx], test, matrix)


def _reason_eval(
    scorer: Any, train: pd.DataFrame, test: pd.DataFrame, matrix: np.ndarray
) -> dict[str, float]:
    """Top-1 accuracy of the rejection-reason model on the fold's rejected leads."""
    if scorer.reason_model is None:
        return {}
    classes = list(scorer.reason_classes)
    rejected = (test["first_decision"] == "rejected").to_numpy()
    known = rejected & test["first_reason"].isin(classes).to_numpy()
    if not known.any():
        return {}
    proba = scorer.reason_model.predict(matrix[known]).reshape(known.sum(), -1)
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    truth = test["first_reason"].to_numpy()[known]
    train_reasons = train.loc[train["first_decision"] == "rejected", "first_reason"]
    majority = train_reasons[train_reasons.isin(classes)].value_counts().idxmax()
    return {
        "rows": float(known.sum()),
        "correct": float((predicted == truth).sum()),
        "majority_correct": float((truth == majority).sum()),
        "classes": float(len(classes)),
    }


def pool_reason(hits: list[dict[str, float]]) -> dict[str, Any]:
    if not hits:
        return {}
    rows = sum(h["rows"] for h in hits)
    return {
        "rows": int(rows),
        "accuracy": sum(h["correct"] for h in hits) / rows,
        "majority_accuracy": sum(h["majority_correct"] for h in hits) / rows,
        "classes": int(max(h["classes"] for h in hits)),
    }


__all__ = ["FITTERS", "leadscore_fit", "pool_reason"]
