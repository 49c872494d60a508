"""The contest between model families: the validation figures each candidate is judged
on, the rule that picks the winner, and the contest as MLflow metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

FAMILY_RULE = (
    "lowest log loss on the validation period (to 4 decimals), then highest ROC AUC; "
    "the winner is refitted on train + validation"
)


def choose_family(candidates: dict[str, dict[str, Any]]) -> str:
    """The candidate with the lowest validation log loss, ROC AUC breaking a tie.

    Log losses are compared to 4 decimals: closer than that, the difference is noise on
    any validation period leadscore sees, and ranking decides. Candidates keep the order
    of ``TrainConfig.families`` when both figures tie.
    """
    if not candidates:
        raise ValueError("no model family to fit (TrainConfig.families is empty)")
    return min(
        candidates,
        key=lambda f: (round(candidates[f]["val_log_loss"], 4), -candidates[f]["val_roc_auc"]),
    )


def family_metrics(families: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The family contest as MLflow metrics:
    ``candidate_<family>_val_logloss_<stage>`` and ``candidate_<family>_val_roc_auc_<stage>``."""
    out: dict[str, float] = {}
    for stage, contest in families.items():
        for family, figures in contest["candidates"].items():
            out[f"candidate_{family}_val_logloss_{stage}"] = float(figures["val_log_loss"])
            out[f"candidate_{family}_val_roc_auc_{stage}"] = float(figures["val_roc_auc"])
    return out


def _validation_scores(y: pd.Series | np.ndarray, p: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=int)
    return {
        "val_log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "val_roc_auc": float(roc_auc_score(y, p)),
    }
