"""Probability calibration on raw model margins, chosen on validation data.

A lead score is only a shared vocabulary between marketing and sales if "0.3" means
"three in ten such leads convert". LightGBM's raw probabilities are usually
over-confident, so each stage maps its raw margin through a calibrator fitted on the
validation period. Two candidates — Platt scaling (a logistic curve: smooth, needs
little data) and isotonic regression (any monotone shape, needs more) — are compared
by cross-validated log loss on the validation set, and the better one is kept.

Calibrators are stored as a handful of numbers, applied with numpy (no scikit-learn
object on the serving hot path, nothing to unpickle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

Method = Literal["platt", "isotonic"]
EPS = 1e-6


@dataclass(frozen=True)
class Calibrator:
    """A monotone map from a raw margin to a probability."""

    method: Method
    params: dict[str, Any]

    def transform(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "platt":
            z = self.params["a"] * raw + self.params["b"]
            return cast(np.ndarray, 1.0 / (1.0 + np.exp(-z)))
        xs, ys = np.asarray(self.params["x"]), np.asarray(self.params["y"])
        return cast(np.ndarray, np.clip(np.interp(raw, xs, ys), EPS, 1 - EPS))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(method=data["method"], params=data["params"])


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: Method) -> Calibrator:
    """Fit one calibrator of the given kind on (raw margin, 0/1 label) pairs."""
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=int)
    if method == "platt":
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y)
        return Calibrator("platt", {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])})
    iso = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(raw, y)
    return Calibrator(
        "isotonic",
        {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()},
    )


def choose_calibrator(
    raw: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0
) -> tuple[Calibrator, dict[str, float]]:
    """Pick Platt or isotonic by out-of-fold log loss on validation data; refit on all of it.

    Returns the chosen calibrator and the out-of-fold log loss of each candidate, so
    the choice can be logged and questioned.
    """
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=int)
    n_splits = int(min(folds, np.bincount(y, minlength=2).min()))
    scores: dict[str, float] = {}
    if n_splits < 2:
        return fit_calibrator(raw, y, "platt"), scores
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for method in ("platt", "isotonic"):
        oof = np.empty(len(y))
        for train_idx, test_idx in splitter.split(raw.reshape(-1, 1), y):
            cal = fit_calibrator(raw[train_idx], y[train_idx], method)
            oof[test_idx] = cal.transform(raw[test_idx])
        scores[method] = float(log_loss(y, np.clip(oof, EPS, 1 - EPS), labels=[0, 1]))
    best = cast(Method, min(scores, key=scores.__getitem__))
    return fit_calibrator(raw, y, best), scores
