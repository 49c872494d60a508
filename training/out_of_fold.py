"""Out-of-fold margins, shared by both model families: the calibrator fitted on them and
the honest probabilities the threshold policy is chosen on.

Each stage is calibrated on margins from models that did not see the row's label (the
final model learned from every row, so its own margins would be optimistic).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from scoring.calibration import Calibrator, Window, choose_calibration_window
from scoring.model import LeadScorer
from scoring.policy import ThresholdPolicy
from training.memory import release_freed_memory
from training.threshold import choose_policy
from training.train_config import TrainConfig


def _out_of_fold(
    y: np.ndarray,
    config: TrainConfig,
    fold: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Each row's raw margin from a model fitted without it: ``fold(fit_idx, out_idx)``
    fits on the first positions and returns the margins of the second (stratified folds,
    the same for every family)."""
    folds = int(min(config.calibration_folds, np.bincount(y, minlength=2).min()))
    if folds < 2:
        raise ValueError("out-of-fold calibration needs at least 2 rows of each class")
    oof = np.empty(len(y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    for fit_idx, out_idx in splitter.split(np.zeros((len(y), 1)), y):
        oof[out_idx] = fold(fit_idx, out_idx)
        release_freed_memory()  # the fold's row copies and design, before the next fold's
    return oof


def _calibrate(
    oof: np.ndarray, y: np.ndarray, mql_at: pd.Series, config: TrainConfig
) -> tuple[Calibrator, dict[str, float], Window]:
    """The stage's calibrator, on the out-of-fold margins of the window drift calls for.

    :func:`scoring.calibration.choose_calibration_window` compares calibrating on every
    learned row with calibrating on the most recent third, forward in time; a flat export
    without dates (every ``mql_at`` the placeholder) is calibrated on all rows.
    """
    when = pd.to_datetime(mql_at, utc=True).dt.tz_localize(None).to_numpy()
    return choose_calibration_window(oof, y, when, seed=config.seed)


def _take(weight: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if weight is None else weight[idx]


def _honest_probabilities(
    scorer: LeadScorer,
    rows: pd.DataFrame,
    honest_raw: dict[str, pd.Series],
    matrix: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Stage probabilities of ``rows`` from margins no model saw the label of.

    A row a stage learned from gets its out-of-fold margin; any other row (e.g. a lead
    that never became an SQL, for the SQL→won stage) is out of sample for the final
    booster already. ``matrix`` is ``rows`` encoded, when the caller has it already.
    """
    matrix = scorer.encoder.transform(rows) if matrix is None else matrix
    out: dict[str, np.ndarray] = {}
    for stage in scorer.stages:
        raw = pd.Series(stage.raw(matrix), index=rows.index)
        oof = honest_raw.get(stage.name)
        if oof is not None:
            known = raw.index.isin(oof.index)
            raw[known] = oof.reindex(raw.index[known]).to_numpy()
        out[stage.name] = stage.calibrator.transform(raw.to_numpy())
    return out


def _honest_policy(
    scorer: LeadScorer,
    valid_rows: pd.DataFrame,
    honest_raw: dict[str, pd.Series],
    config: TrainConfig,
) -> ThresholdPolicy:
    """The threshold policy, chosen on validation scores no model saw the label of."""
    probs = _honest_probabilities(scorer, valid_rows, honest_raw)
    p_won = np.prod(list(probs.values()), axis=0)
    y_sql = valid_rows["y_sql"].to_numpy() if "y_sql" in valid_rows else None
    if y_sql is not None and np.isnan(y_sql).any():
        y_sql = None
    return choose_policy(p_won, probs.get("sql"), valid_rows["mql_at"], config.policy, y_sql)
