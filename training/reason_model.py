"""The rejection-reason model: P(reason | rejected), learned from tagged rejections and
shown only when it beats its baselines on held-out rejections (``REASON_RULE``)."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring.contract import RejectionReason, SalesDecision
from scoring.features import LeadEncoder
from scoring.model import LeadScorer
from training.train_config import TrainConfig
from training.tree_stage import _lgbm

REASON_MIN_ROWS = 20
"""A tag needs this many tagged rejections to be a class of the reason model, and the
held-out part needs this many rows for its verdict to mean anything."""


def tagged_rejections(rows: pd.DataFrame) -> np.ndarray:
    """Rejected leads whose first rejection carries a known tag.

    A missing tag is not a class: an untagged rejection says nothing about *why*, so it
    is neither learned from nor scored against (``build_dataset`` blanks the tags an
    import had to fill in).
    """
    if "first_decision" not in rows:
        return np.zeros(len(rows), dtype=bool)
    rejected = (rows["first_decision"] == SalesDecision.REJECTED.value).to_numpy()
    reasons = rows["first_reason"]
    known = reasons.notna() & reasons.astype(str).isin({r.value for r in RejectionReason})
    return rejected & known.to_numpy()


def _reason_holdout(rows: pd.DataFrame, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the reason model's fit and validation rows: the latest fifth by MQL
    time validates (a seeded random fifth when the split is stratified: no dates)."""
    n = len(rows)
    if config.split == "stratified":
        order = np.random.default_rng(config.seed).permutation(n)
    else:
        order = np.argsort(rows["mql_at"].to_numpy(), kind="stable")
    cut = int(n * 0.8)
    return order[:cut], order[cut:]


def _fit_reason_model(
    rows: pd.DataFrame, matrix: np.ndarray, encoder: LeadEncoder, config: TrainConfig
) -> tuple[lgb.Booster | None, list[str], dict[str, Any]]:
    """P(reason | rejected): why sales would turn this lead down, if it did.

    Learned only from tagged rejections. It is first fitted on the earlier 80 % of them
    and judged on the latest 20 % against two baselines fitted on the same earlier
    rows — always naming the most common reason (top-1 accuracy) and the class prior
    (log loss). It is *reliable* only if it beats both (``REASON_RULE``); serving shows a
    likely reason only then. The model kept is refitted on all tagged rejections.
    """
    tagged = tagged_rejections(rows)
    reasons = rows["first_reason"].to_numpy() if "first_reason" in rows else None
    if reasons is None or not tagged.any():
        return None, [], {"reliable": False, "rule": REASON_RULE, "why": "no tagged rejections"}
    counts = pd.Series(reasons[tagged]).value_counts()
    classes = sorted(str(c) for c in counts[counts >= REASON_MIN_ROWS].index)
    quality: dict[str, Any] = {"reliable": False, "rule": REASON_RULE, "classes": classes}
    quality["tagged_rows"] = int(tagged.sum())
    if len(classes) < 2:
        quality["why"] = f"fewer than 2 tags with {REASON_MIN_ROWS} tagged rejections"
        return None, [], quality
    keep = np.flatnonzero(tagged & np.isin(reasons, classes))
    y = pd.Categorical(reasons[keep], categories=classes).codes.astype(int)
    fit_pos, valid_pos = _reason_holdout(rows.iloc[keep], config)
    if len(valid_pos) < REASON_MIN_ROWS or len(np.unique(y[fit_pos])) < len(classes):
        quality["why"] = "too few tagged rejections of each reason to validate on"
    else:
        early = _reason_booster(matrix[keep[fit_pos]], y[fit_pos], len(classes), encoder, config)
        proba = early.predict(matrix[keep[valid_pos]]).reshape(len(valid_pos), -1)
        valid = reason_metrics(proba, y[valid_pos], class_prior(y[fit_pos], len(classes)))
        quality["valid"] = valid
        quality["reliable"] = bool(
            valid["top1_accuracy"] > valid["baseline_top1_accuracy"]
            and valid["log_loss"] < valid["prior_log_loss"]
        )
    quality["prior"] = class_prior(y, len(classes)).tolist()
    booster = _reason_booster(matrix[keep], y, len(classes), encoder, config)
    return booster, classes, quality


REASON_RULE = (
    "shown only if, on the latest 20 % of tagged rejections, top-1 accuracy beats always "
    "naming the most common reason and log loss beats the class prior"
)


def _reason_booster(
    matrix: np.ndarray, y: np.ndarray, n_classes: int, encoder: LeadEncoder, config: TrainConfig
) -> lgb.Booster:
    # one tree per class per round: kept small, it runs for every handed-over lead
    # num_class given: scikit-learn's LightGBM wrapper sets it only above 2 classes, and a
    # multiclass objective without it fails ("Number of classes should be specified")
    clf = _lgbm(
        config,
        objective="multiclass",
        num_class=n_classes,
        n_estimators=40,
        learning_rate=0.1,
        num_leaves=7,
    )
    clf.fit(matrix, y, categorical_feature=encoder.categorical_indices_)
    assert clf.n_classes_ == n_classes, "every reason must be among the rows (callers check)"
    return clf.booster_


def reason_test_metrics(scorer: LeadScorer, rows: pd.DataFrame) -> dict[str, float]:
    """The reason model's figures on held-out ``rows`` (the test period), against the
    prior of the tagged rejections it was fitted on; ``{}`` without a model or tags."""
    prior = scorer.reason_quality.get("prior")
    if scorer.reason_model is None or not prior:
        return {}
    known = tagged_rejections(rows) & rows["first_reason"].isin(scorer.reason_classes).to_numpy()
    if not known.any():
        return {}
    y = pd.Categorical(rows["first_reason"][known], categories=scorer.reason_classes).codes
    proba = scorer.reason_model.predict(scorer.encoder.transform(rows[known]))
    return reason_metrics(proba.reshape(int(known.sum()), -1), y.astype(int), np.asarray(prior))


def class_prior(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Class frequencies with add-one smoothing (a class absent from ``y`` stays finite)."""
    counts = np.bincount(y, minlength=n_classes).astype(float) + 1.0
    return counts / counts.sum()


def reason_metrics(proba: np.ndarray, y: np.ndarray, prior: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy and log loss of ``proba``, and of the two baselines: always the most
    common reason of ``prior``, and ``prior`` itself as the probabilities."""
    eps = 1e-15
    rows = np.arange(len(y))
    p = np.clip(proba, eps, 1.0)
    return {
        "rows": float(len(y)),
        "top1_accuracy": float((proba.argmax(axis=1) == y).mean()),
        "log_loss": float(-np.log(p[rows, y] / p.sum(axis=1)).mean()),
        "baseline_top1_accuracy": float((y == int(prior.argmax())).mean()),
        "prior_log_loss": float(-np.log(np.clip(prior[y], eps, 1.0)).mean()),
    }
