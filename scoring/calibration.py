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

    def shifted(self, delta: float) -> Calibrator:
        """The same map with ``delta`` added to its output's log-odds (a prior shift).

        Stays a calibrator of the same kind (Platt: the intercept moves; isotonic: each
        step's level moves on the logit scale, which keeps it monotone), so a shifted
        calibrator is stored and served like any other.
        """
        if self.method == "platt":
            return Calibrator("platt", {**self.params, "b": float(self.params["b"]) + delta})
        ys = np.clip(np.asarray(self.params["y"], dtype=float), EPS, 1 - EPS)
        moved = 1.0 / (1.0 + np.exp(-(np.log(ys / (1 - ys)) + delta)))
        return Calibrator("isotonic", {**self.params, "y": np.clip(moved, EPS, 1 - EPS).tolist()})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(method=data["method"], params=data["params"])


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: Method) -> Calibrator:
    """Fit one calibrator of the given kind on (raw margin, 0/1 label) pairs.

    scikit-learn's estimators are imported here, not at the top: only training fits a
    calibrator, and the server, which only applies one, is spared their memory.
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

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
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

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


def fit_prior_shift(p: np.ndarray, y: np.ndarray, *, max_shift: float = 5.0) -> float:
    """The log-odds offset that makes probabilities ``p`` match labels ``y`` on average.

    The maximum-likelihood intercept of ``logit(p) + delta`` (Newton's method on a convex
    one-parameter log loss): at the optimum the shifted probabilities' mean equals the
    observed rate. Under a pure prior shift — the base rate moved, the ranking did not —
    this is all a calibrator needs to relearn, and one number is estimated far more
    precisely from a few recent rows than a whole new curve.
    """
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    y = np.asarray(y, dtype=float)
    z = np.log(p / (1 - p))
    delta = 0.0
    for _ in range(50):
        q = 1.0 / (1.0 + np.exp(-(z + delta)))
        grad, hess = float(np.sum(q - y)), float(np.sum(q * (1 - q)))
        if hess <= 0:
            break
        step = grad / hess
        delta = float(np.clip(delta - step, -max_shift, max_shift))
        if abs(step) < 1e-10:
            break
    return delta


RECENT_SHARE = 1 / 3
"""The recent calibration window: the latest third of a stage's labelled rows."""
HOLDOUT_SHARE = 0.2
"""The latest rows the two windows are compared on (before either is refitted)."""
MIN_WINDOW_CLASS_ROWS = 30
"""Fewest rows of each class the recent window and the comparison need; else all rows."""


WindowKind = Literal["all", "recent", "shift"]
"""``all`` rows; the ``recent`` third, refitted; or the all-rows curve with its intercept
re-estimated on the recent third (``shift``, a prior-shift correction)."""


@dataclass(frozen=True)
class Window:
    """Which labelled rows a calibrator was fitted on, for the run and the scorer."""

    kind: WindowKind
    start: Any  # first and last row's time, as given (None without times)
    end: Any
    rows: int
    reason: str
    holdout_logloss: dict[str, float]
    recent_gain: tuple[float, float] | None = None
    """The better recent candidate's mean held-out log-loss gain over all rows, and the two
    standard errors it had to exceed (None when the windows were not compared)."""
    shift: float | None = None
    """For ``shift``: the log-odds offset the recent window added to the all-rows curve."""

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
            **({"shift": self.shift} if self.shift is not None else {}),
        }

    def describe(self) -> str:
        """One line for an MLflow parameter: what the calibrator learned from."""
        span = f" {_day(self.start)} → {_day(self.end)}" if self.start is not None else ""
        if self.kind == "shift" and self.shift is not None:
            span += f" (intercept {self.shift:+.3f} on the all-rows curve)"
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
    """Calibrate on all labelled rows, or to the most recent ones if drift says so.

    Under drift the conversion rate of the latest months is the one new leads will have,
    and a calibrator fitted on two years of history pulls them towards the old rate. The
    choice is made the way it will be used — forward in time: the latest
    ``holdout_share`` of the rows (by ``when``) is held out and three candidates are
    fitted on the rows before it: on every row (``all``), on only the latest
    ``recent_share`` of them (``recent``), and the all-rows curve with its intercept
    re-estimated on that recent window (``shift``: a prior-shift correction, one number
    learned from the recent rows instead of a whole curve). The better recent candidate
    is kept only if its held-out log loss beats ``all`` by more than two standard errors;
    the winner's window is then moved to the end and refitted there. Without times, or
    with too few rows of a class to compare, all rows are used. Returns the calibrator,
    its method's out-of-fold log losses and the :class:`Window`.
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

    kind: WindowKind = "all"
    losses: dict[str, float] = {}
    recent_gain: tuple[float, float] | None = None
    if enough(hold) and enough(recent_early):
        cal_all, _ = choose_calibrator(raw[early], y[early], seed=seed)
        cal_recent, _ = choose_calibrator(raw[recent_early], y[recent_early], seed=seed)
        delta = fit_prior_shift(cal_all.transform(raw[recent_early]), y[recent_early])
        row_loss = {}
        for name, cal in (
            ("all", cal_all),
            ("recent", cal_recent),
            ("shift", cal_all.shifted(delta)),
        ):
            p = np.clip(cal.transform(raw[hold]), EPS, 1 - EPS)
            row_loss[name] = -(y[hold] * np.log(p) + (1 - y[hold]) * np.log(1 - p))
            losses[name] = float(row_loss[name].mean())
        # the recent candidate must win by more than the held-out rows' noise (two standard
        # errors of the paired per-row difference): a one-off swing in the latest months
        # is not drift, and calibrating on a third of the rows costs precision
        best: WindowKind = "shift" if losses["shift"] <= losses["recent"] else "recent"
        gain = row_loss["all"] - row_loss[best]
        noise = 2.0 * float(gain.std(ddof=1)) / float(np.sqrt(len(gain)))
        recent_gain = (float(gain.mean()), noise)
        kind = best if recent_gain[0] > noise else "all"
        reason = f"log loss on the latest {holdout_share:.0%} of rows: the recent window " + (
            f"({best}) wins by more than two standard errors"
            if kind != "all"
            else "does not win by more than two standard errors"
        )
    else:
        reason = f"fewer than {MIN_WINDOW_CLASS_ROWS} rows of a class to compare windows on"
    recent = slice(n - n_recent, n)
    shift: float | None = None
    if kind == "recent":
        cal, scores = choose_calibrator(raw[recent], y[recent], seed=seed)
    else:
        cal, scores = choose_calibrator(raw, y, seed=seed)
        if kind == "shift":
            shift = fit_prior_shift(cal.transform(raw[recent]), y[recent])
            cal = cal.shifted(shift)
    final = slice(0, n) if kind == "all" else recent
    rows = final.stop - final.start
    window = Window(kind, when[final][0], when[final][-1], rows, reason, losses, recent_gain, shift)
    return cal, scores, window
