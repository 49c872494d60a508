"""The refusal rule: which learned models training will not register.

A model that cannot help sales must not become a version anyone can promote. Training
refuses, with one line saying why, a learned model whose test period shows it is (judged
on MQL→won, or on the stage the promotion metric names, e.g. MQL→SQL for
``roc_auc_sql``: the rule judges what the gate will):

1. **constant** — every test lead gets the same score (spread below ``1e-9``): it ranks
   nothing, and its threshold either hands every lead to sales or none;
2. **no better than chance** — test ROC AUC below ``min_test_auc`` (0.52);
3. **worse than the logistic baseline** — test ROC AUC below the baseline's minus the
   margin (the baseline is trained on the same rows, see ``training.pipeline``);
4. **unjudgeable** — fewer than ``min_class_rows`` positive or negative test leads (with the
   default data rules this case trains the prior of ``training.prior`` instead; it can
   only reach here through ``--force``).

``margin`` is ``TrainConfig.baseline_margin`` (0.05: about one standard error of a test
ROC AUC on ~50 positives; 0.02 refused models within noise of the baseline) and
``min_class_rows`` is ``TrainConfig.min_class_rows`` (20). ``--force`` registers the
model anyway and records the overridden reason on the run and the version (tag
``refusal_overridden``); such a version never becomes champion as the *first* model
(there is nothing to measure it against), and against a champion it must win on the
gate's evidence like any other.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def refusal_reason(
    test_p: np.ndarray,
    metrics: dict[str, Any],
    baseline: dict[str, Any],
    *,
    margin: float,
    min_class_rows: int,
    min_auc: float,
) -> str | None:
    """The first rule of the module docstring the model breaks, as one line; else None.

    ``test_p`` and ``metrics`` are the judged stage's (MQL→won unless the promotion
    metric names another stage: the rule judges what the gate will).
    """
    rows = int(metrics.get("rows", 0))
    positives = round(rows * float(metrics.get("positive_rate", 0.0) or 0.0))
    p = np.asarray(test_p, dtype=float)
    if p.size and float(np.ptp(p)) < 1e-9:
        return f"the model is constant: every test lead scores {p[0]:.4f}, so it ranks nothing"
    if min(positives, rows - positives) < min_class_rows:
        return (
            f"the test period has {positives} positive and {rows - positives} negative "
            f"leads: too few to judge a model (need {min_class_rows} of each)"
        )
    auc = float(metrics.get("roc_auc", float("nan")))
    if not auc >= min_auc:
        return f"test ROC AUC {auc:.3f} is no better than chance (needs >= {min_auc:.2f})"
    base = baseline.get("roc_auc")
    if base is not None and auc < float(base) - margin:
        return (
            f"test ROC AUC {auc:.3f} is below the logistic baseline's {float(base):.3f} "
            f"minus the margin {margin}"
        )
    return None
