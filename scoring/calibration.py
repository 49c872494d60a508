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


RECENT_SHARE = 1 / 3
"""The recent calibration window: the latest third of a stage's labelled rows."""
HOLDOUT_SHARE = 0.2
"""The latest rows the two windows are compared on (before either is refitted)."""
MIN_WINDOW_CLASS_ROWS = 30
"""Fewest rows of each class the recent window and the comparison need; else all rows."""


@dataclass(frozen=True)
class Window:
    """Which labelled rows a calibrator was fitted on, for the run and the scorer."""

    kind: Literal["all", "recent"]
    start: Any  # first and last row's time, as given (None without times)
    end: Any
    rows: int
    reason: str
    holdout_logloss: dict[str, float]
    recent_gain: tuple[float, float] | None = None
    """The recent window's mean held-out log-loss gain over all rows, and the two standard
    errors it had to exceed (None when the windows were not compared)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.kind,
            "from": _day(self.start),
            "to": _day(self.end),
            "rows": self.rows,
            "reason": self.reason,
            **{f"holdout_logloss_{k}": v for k, v in self.holdout_logloss.items()},
            **(
                {"recent_gain": self.recent_gain[0], "recent_gain_noise": self.recent_gain[1]}
                if self.recent_gain is not None
                else {}
            ),
        }

    def describe(self) -> str:
        """One line for an MLflow parameter: what the calibrator learned from."""
        span = f" {_day(self.start)} → {_day(self.end)}" if self.start is not None else ""
        return f"{self.kind}: {self.rows} rows{span}"


def _day(value: Any) -> str | None:
    """A window edge as a calendar day (``when`` is usually datetime64)."""
    if value is None:
        return None
    if isinstance(value, np.datetime64):
        return str(value.astype("datetime64[D]"))
    return str(value)


def choose_calibration_window(
    raw: np.ndarray,
    y: np.ndarray,
    when: np.ndarray | None,
    *,
    seed: int = 0,
    recent_share: float = RECENT_SHARE,
    holdout_share: float = HOLDOUT_SHARE,
) -> tuple[Calibrator, dict[str, float], Window]:
    """Calibrate on all labelled rows, or only on the most recent ones if drift says so.

    Under drift the conversion rate of the latest months is the one new leads will have,
    and a calibrator fitted on two years of history pulls them towards the old rate. The
    choice is made the way it will be used — forward in time: the latest
    ``holdout_share`` of the rows (by ``when``) is held out, a calibrator is fitted on
    every row before it and another on only the latest ``recent_share`` of all rows
    before it, and the one with the lower log loss on the held-out rows wins. The winner's
    window is then moved to the end (all rows, or the latest ``recent_share``) and refitted
    there. Without times, or with too few rows of a class to compare, all rows are used.
    Returns the calibrator, its method's out-of-fold log losses and the :class:`Window`.
    """
    raw, y = np.asarray(raw, dtype=float), np.asarray(y, dtype=int)
    n = len(y)
    if when is None or len(np.unique(when)) < 2:
        cal, scores = choose_calibrator(raw, y, seed=seed)
        return cal, scores, Window("all", None, None, n, "no times", {})
    order = np.argsort(when, kind="stable")
    raw, y, when = raw[order], y[order], np.asarray(when)[order]
    n_hold, n_recent = int(n * holdout_share), int(n * recent_share)
    early, hold = slice(0, n - n_hold), slice(n - n_hold, n)
    recent_early = slice(max(0, n - n_hold - n_recent), n - n_hold)

    def enough(part: slice) -> bool:
        return bool(np.bincount(y[part], minlength=2).min() >= MIN_WINDOW_CLASS_ROWS)

    kind: Literal["all", "recent"] = "all"
    losses: dict[str, float] = {}
    recent_gain: tuple[float, float] | None = None
    if enough(hold) and enough(recent_early):
        row_loss = {}
        for name, part in (("all", early), ("recent", recent_early)):
            cal, _ = choose_calibrator(raw[part], y[part], seed=seed)
            p = np.clip(cal.transform(raw[hold]), EPS, 1 - EPS)
            row_loss[name] = -(y[hold] * np.log(p) + (1 - y[hold]) * np.log(1 - p))
            losses[name] = float(row_loss[name].mean())
        # the recent window must win by more than the held-out rows' noise (two standard
        # errors of the paired per-row difference): a one-off swing in the latest months
        # is not drift, and calibrating on a third of the rows costs precision
        gain = row_loss["all"] - row_loss["recent"]
        noise = 2.0 * float(gain.std(ddof=1)) / float(np.sqrt(len(gain)))
        recent_gain = (float(gain.mean()), noise)
        kind = "recent" if recent_gain[0] > noise else "all"
        reason = (
            f"log loss on the latest {holdout_share:.0%} of rows: the recent window "
            f"{'wins' if kind == 'recent' else 'does not win'} by more than two standard errors"
        )
    else:
        reason = f"fewer than {MIN_WINDOW_CLASS_ROWS} rows of a class to compare windows on"
    final = slice(0, n) if kind == "all" else slice(n - n_recent, n)
    cal, scores = choose_calibrator(raw[final], y[final], seed=seed)
    rows = final.stop - final.start
    return (
        cal,
        scores,
        Window(kind, when[final][0], when[final][-1], rows, reason, losses, recent_gain),
    )
