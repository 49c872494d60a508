"""The promotion gate's evidence rule: decide on enough data, or say there is not enough.

The gate compares challenger and champion on the challenger's test period. A
difference measured on 35 labelled rows, or on 3 wins in 849 rows, is noise; deciding
on it either way teaches nothing and churns the model sales work with. The rule
(docs/training-rules.md):

1. **Minimum sample**: the rows where the metric's label is known must hold at least
   ``promotion_min_rows`` rows and ``promotion_min_positives`` positives *and* as many
   negatives. Below that the answer is "not enough evidence": the champion stays and
   the challenger stays challenger.
2. **Paired bootstrap**: both models score the *same* rows; ``promotion_bootstrap``
   resamples of those rows (seeded) give the distribution of the difference
   challenger − champion, and its central ``promotion_confidence`` interval ``[low,
   high]``:

   * **promote** when the measured gain is at least ``promotion_margin`` *and* ``low``
     is above 0 (the challenger is better, and not by luck);
   * **keep the champion** when ``high`` is below ``promotion_margin`` (the challenger
     is, with that confidence, not better by the margin);
   * otherwise **not enough evidence** (the interval is too wide to tell).

Metrics where lower is better are not used as promotion metrics (the setting names a
``roc_auc_*`` or ``pr_auc_*`` metric); the bootstrap supports ROC AUC and PR AUC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from sklearn.metrics import average_precision_score

Verdict = Literal["promote", "keep", "not_enough_evidence"]


@dataclass(frozen=True)
class Evidence:
    """What the gate measured, kept on the run, the version and ``/v1/model``."""

    metric: str
    rows: int
    positives: int
    negatives: int
    challenger: float
    champion: float
    gain: float
    ci_low: float | None
    ci_high: float | None
    confidence: float
    resamples: int
    verdict: Verdict

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def fast_roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC from ranks (Mann-Whitney U), ties counted half: cheap enough to bootstrap."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


METRIC_STAGES: tuple[tuple[str, str], ...] = (
    ("won_given_sql", "y_won_given_sql"),
    ("sql", "y_sql"),
    ("won", "y_won"),
)


def metric_stage(metric: str) -> tuple[str, str]:
    """``roc_auc_sql`` → (``sql``, ``y_sql``): the stage and label a metric judges."""
    for stage, label in METRIC_STAGES:
        if metric.endswith(f"_{stage}"):
            return stage, label
    raise ValueError(f"promotion metric {metric!r} names no stage (…_won, …_sql, …_won_given_sql)")


def metric_function(metric: str):
    """``roc_auc_won`` → the ROC AUC function; the stage suffix is the caller's business."""
    if metric.startswith("roc_auc"):
        return fast_roc_auc
    if metric.startswith("pr_auc"):
        return lambda y, p: float(average_precision_score(y, p))
    raise ValueError(f"the promotion gate cannot bootstrap {metric!r}: use roc_auc_* or pr_auc_*")


def weigh(
    y: np.ndarray,
    p_challenger: np.ndarray,
    p_champion: np.ndarray,
    *,
    metric: str,
    margin: float,
    min_rows: int,
    min_positives: int,
    confidence: float,
    resamples: int,
    seed: int,
) -> Evidence:
    """Apply the rule of the module docstring to paired scores of labelled rows."""
    y = np.asarray(y, dtype=int)
    p_ch, p_cm = np.asarray(p_challenger, float), np.asarray(p_champion, float)
    fn = metric_function(metric)
    positives = int(y.sum())
    negatives = len(y) - positives
    enough = len(y) >= min_rows and min(positives, negatives) >= min_positives
    both = positives > 0 and negatives > 0
    ch = fn(y, p_ch) if both else float("nan")
    cm = fn(y, p_cm) if both else float("nan")
    gain = ch - cm
    if not enough:
        return Evidence(
            metric, len(y), positives, negatives, ch, cm, gain, None, None,
            confidence, 0, "not_enough_evidence",
        )  # fmt: skip
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        yy = y[idx]
        if yy.min() == yy.max():
            continue
        diffs.append(fn(yy, p_ch[idx]) - fn(yy, p_cm[idx]))
    tail = (1 - confidence) / 2
    low, high = (float(q) for q in np.quantile(diffs, [tail, 1 - tail]))
    if gain >= margin and low > 0:
        verdict: Verdict = "promote"
    elif high < margin:
        verdict = "keep"
    else:
        verdict = "not_enough_evidence"
    return Evidence(
        metric, len(y), positives, negatives, ch, cm, gain, low, high,
        confidence, len(diffs), verdict,
    )  # fmt: skip
