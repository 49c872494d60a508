"""The logistic stage candidate: its one-hot basis, the choice of basis and L2 strength on
validation, the refit and its out-of-fold margins."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from scoring.features import SILENCE_FEATURES, LeadEncoder
from scoring.linear import LevelBasis, LinearModel
from training.family_contest import _validation_scores
from training.out_of_fold import _out_of_fold, _take
from training.train_config import TrainConfig


def linear_basis(
    matrix: np.ndarray, encoder: LeadEncoder, bins: int, slopes: bool = False
) -> LevelBasis:
    """The logistic candidate's levels: one per category code of the (rare-pooling)
    encoder, ``bins`` quantile bins for every other column (with ``slopes``, plus a slope
    on its signed log), a missing level each."""
    sizes = [len(encoder.vocabularies_[col]) for col in encoder._spec().categorical]
    names = list(encoder.feature_names_out_)
    decreasing = [names.index(c) for c in SILENCE_FEATURES if c in names]
    return LevelBasis.fit(matrix, encoder.categorical_indices_, sizes, bins, slopes, decreasing)


def _fit_linear(
    basis: LevelBasis,
    matrix: np.ndarray,
    y: np.ndarray,
    l2_c: float,
    weight: np.ndarray | None,
) -> LinearModel:
    """A one-hot logistic regression with L2 strength ``1 / l2_c``, as a :class:`LinearModel`."""
    design = basis.one_hot(matrix)
    clf = LogisticRegression(C=l2_c, max_iter=2000)
    clf.fit(design, np.asarray(y, dtype=int), sample_weight=weight)
    coef = basis.monotone(clf.coef_[0], design)
    return LinearModel.from_coefficients(
        basis, coef, float(clf.intercept_[0]), matrix, l2_c, weight
    )


def fit_linear_stage(
    basis_rows: np.ndarray,
    encoder: LeadEncoder,
    train_matrix: np.ndarray,
    y_train: pd.Series | np.ndarray,
    valid_matrix: np.ndarray,
    y_valid: pd.Series | np.ndarray,
    config: TrainConfig,
    sample_weight: np.ndarray | None = None,
) -> tuple[LevelBasis, float, dict[str, Any]]:
    """The logistic candidate: the basis and L2 strength with the lowest validation log loss.

    Each (``linear_bins``, ``linear_slopes``, ``linear_c_grid``) combination is fitted
    on the training rows and scored on the validation rows, the way early stopping
    chooses the tree count for LightGBM, so both candidates are judged on the same
    period. The bin edges come from
    ``basis_rows`` (train + validation: edges need no label). Returns the chosen basis,
    ``C`` and validation figures.
    """
    y_tr = np.asarray(y_train, dtype=int)
    best: tuple[LevelBasis, float, dict[str, Any]] | None = None
    for bins, slopes in itertools.product(config.linear_bins, config.linear_slopes):
        basis = linear_basis(basis_rows, encoder, bins, slopes)
        design, valid_design = basis.one_hot(train_matrix), basis.one_hot(valid_matrix)
        # weakest penalty last, each fit starting from the previous one's coefficients
        clf = LogisticRegression(max_iter=2000, warm_start=True)
        for c in sorted(config.linear_c_grid):
            clf.set_params(C=c).fit(design, y_tr, sample_weight=sample_weight)
            coef = basis.monotone(clf.coef_[0], design)
            p = expit(valid_design @ coef + clf.intercept_[0])
            figures = {**_validation_scores(y_valid, p), "bins": bins, "slopes": slopes}
            if best is None or figures["val_log_loss"] < best[2]["val_log_loss"]:
                best = (basis, c, figures)
    if best is None:
        raise ValueError("linear_bins and linear_c_grid must not be empty")
    return best


def _out_of_fold_linear(
    basis: LevelBasis,
    matrix: np.ndarray,
    y: np.ndarray,
    l2_c: float,
    config: TrainConfig,
    weight: np.ndarray | None,
) -> np.ndarray:
    """Each row's raw margin from a logistic regression fitted without it."""

    def fold(fit_idx: np.ndarray, out_idx: np.ndarray) -> np.ndarray:
        model = _fit_linear(basis, matrix[fit_idx], y[fit_idx], l2_c, _take(weight, fit_idx))
        return model.raw(matrix[out_idx])

    return _out_of_fold(y, config, fold)
