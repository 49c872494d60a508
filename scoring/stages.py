"""The stage models of a scorer's funnel chain: the :class:`Stage` protocol every family
meets, and its two families, LightGBM (:class:`StageModel`) and logistic regression
(:class:`LinearStageModel`). ``scoring.model`` bundles them into a
:class:`~scoring.model.LeadScorer` and hands these names on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, Protocol, cast

import lightgbm as lgb
import numpy as np

from scoring.calibration import Calibrator
from scoring.linear import LinearModel
from scoring.rowpredict import RowPredictor

SMALL_BATCH = 64
"""Batches smaller than this are predicted on one LightGBM thread (:func:`_threads`)."""
Family = Literal["lightgbm", "logistic"]


class Stage(Protocol):
    """One calibrated binary model of the funnel chain, whatever its family.

    ``raw`` is the log-odds margin the calibrator maps to a probability;
    ``contributions`` splits it per feature in LightGBM's ``pred_contrib`` layout (one
    column per feature, the bias last, adding up to ``raw``), which is all
    :mod:`scoring.explain` needs: reasons read the same for every family.
    """

    name: str
    calibrator: Calibrator

    @property
    def family(self) -> Family: ...

    def raw(self, matrix: np.ndarray) -> np.ndarray: ...

    def contributions(self, matrix: np.ndarray) -> np.ndarray: ...

    def importance(self) -> np.ndarray:
        """Per feature, how much the stage relies on it (for the model card's plot)."""
        ...


@dataclass
class StageModel:
    """A LightGBM stage: contributions are TreeSHAP (``pred_contrib``)."""

    name: str
    booster: lgb.Booster
    calibrator: Calibrator

    @property
    def family(self) -> Family:
        return "lightgbm"

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        if matrix.shape[0] == 1:
            return self._raw_row(matrix[0])
        return cast(
            np.ndarray,
            self.booster.predict(matrix, raw_score=True, num_threads=_threads(matrix)),
        )

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        if matrix.shape[0] == 1:
            return self._contrib_row(matrix[0])[None, :]
        return cast(
            np.ndarray,
            self.booster.predict(matrix, pred_contrib=True, num_threads=_threads(matrix)),
        )

    def importance(self) -> np.ndarray:
        """Total split gain per feature."""
        return np.asarray(self.booster.feature_importance(importance_type="gain"), dtype=float)

    @functools.cached_property
    def _raw_row(self) -> RowPredictor:
        return RowPredictor(self.booster, "raw")

    @functools.cached_property
    def _contrib_row(self) -> RowPredictor:
        return RowPredictor(self.booster, "contrib")


@dataclass
class LinearStageModel:
    """A logistic-regression stage (:mod:`scoring.linear`): contributions are exact.

    No single-row special case: the linear model's numpy path has no per-call set-up.
    """

    name: str
    linear: LinearModel
    calibrator: Calibrator

    @property
    def family(self) -> Family:
        return "logistic"

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        return self.linear.raw(matrix)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        return self.linear.contributions(matrix)

    def importance(self) -> np.ndarray:
        """Mean absolute contribution per feature on the rows it learned from."""
        return self.linear.importance


def _threads(matrix: np.ndarray) -> int:
    """One thread for small batches: LightGBM's thread start-up dominates a single row.

    A single row does not get here: it takes the fast path of :mod:`scoring.rowpredict`.
    """
    return 1 if matrix.shape[0] < SMALL_BATCH else 0
