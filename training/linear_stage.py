"""The logistic stage candidate: its one-hot basis, the choice of basis and L2 strength on
validation, the refit and its out-of-fold margins.

Every fit after the first starts L-BFGS from the coefficients of a fit of the same basis
on overlapping rows (a *warm start*, :data:`Start`): the problem is convex, so the
optimum is the same and only the number of iterations to reach it falls. At a million
leads this, and searching the grid on a sample (:func:`fit_linear_stage`), is what
keeps the logistic candidate from dominating the training time.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

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


Start = tuple[np.ndarray, np.ndarray]
"""A fitted :class:`~sklearn.linear_model.LogisticRegression`'s raw ``coef_`` and
``intercept_`` (before :meth:`LevelBasis.monotone`): where a later fit of the same basis
starts."""


def _logistic(l2_c: float, start: Start | None = None) -> LogisticRegression:
    """The logistic regression every fit of this module uses, warm-started from ``start``."""
    clf = LogisticRegression(C=l2_c, max_iter=2000, warm_start=start is not None)
    if start is not None:
        # scikit-learn starts a warm_start fit from these attributes when they are set
        clf.coef_, clf.intercept_ = start[0].copy(), start[1].copy()
    return clf


def _fit_linear(
    basis: LevelBasis,
    matrix: np.ndarray,
    y: np.ndarray,
    l2_c: float,
    weight: np.ndarray | None,
    start: Start | None = None,
) -> tuple[LinearModel, Start]:
    """A one-hot logistic regression with L2 strength ``1 / l2_c``, as a :class:`LinearModel`,
    and its raw coefficients (to warm-start the next fit of the same basis)."""
    design = basis.one_hot(matrix)
    clf = _logistic(l2_c, start).fit(design, np.asarray(y, dtype=int), sample_weight=weight)
    coef = basis.monotone(clf.coef_[0], design)
    del design  # ~0.25 GB at a million rows: not alive beside the centring's temporaries
    model = LinearModel.from_coefficients(
        basis, coef, float(clf.intercept_[0]), matrix, l2_c, weight
    )
    return model, (clf.coef_, clf.intercept_)


def _search_rows(y: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Positions of the training rows the grid is searched on: all of them, or a seeded
    sample of ``limit`` rows stratified on the label when there are more."""
    if limit is None or len(y) <= limit:
        return np.arange(len(y))
    sample, _ = train_test_split(np.arange(len(y)), train_size=limit, stratify=y, random_state=seed)
    return np.sort(sample)


def fit_linear_stage(
    basis_rows: np.ndarray,
    encoder: LeadEncoder,
    train_matrix: np.ndarray,
    y_train: pd.Series | np.ndarray,
    valid_matrix: np.ndarray,
    y_valid: pd.Series | np.ndarray,
    config: TrainConfig,
    sample_weight: np.ndarray | None = None,
) -> tuple[LevelBasis, float, dict[str, Any], Start]:
    """The logistic candidate: the basis and L2 strength with the lowest validation log loss.

    Each (``linear_bins``, ``linear_slopes``, ``linear_c_grid``) combination is fitted
    on the training rows and scored on the validation rows, the way early stopping
    chooses the tree count for LightGBM, so both candidates are judged on the same
    period. The bin edges come from ``basis_rows`` (train + validation: edges need no
    label).

    With more than ``config.linear_search_rows`` training rows the grid is searched on a
    stratified sample of that many (the *choice* only: every validation row still scores
    each combination). The chosen combination is then refitted on every training row,
    starting from the sample's coefficients, and its validation figures are that fit's,
    so the family contest compares LightGBM and the logistic regression fitted on the
    same rows. Returns the chosen basis, ``C``, validation figures and the coefficients
    of the last fit (to warm-start the refit).
    """
    y_tr = np.asarray(y_train, dtype=int)
    rows = _search_rows(y_tr, config.linear_search_rows, config.seed)
    sampled = len(rows) < len(y_tr)
    search_weight = None if sample_weight is None else sample_weight[rows]
    search_matrix = train_matrix[rows] if sampled else train_matrix
    best = _search_grid(
        basis_rows, encoder, search_matrix, y_tr[rows], valid_matrix, y_valid, config, search_weight
    )
    if not sampled:
        return best
    del search_matrix  # the sample's rows: not alive beside the refit's design
    basis, c, figures, start = best
    model, start = _fit_linear(basis, train_matrix, y_tr, c, sample_weight, start)
    p = expit(model.raw(valid_matrix))
    figures = {
        **figures,
        **_validation_scores(y_valid, p),
        "search_rows": len(rows),
        **{f"search_{k}": v for k, v in figures.items() if k.startswith("val_")},
    }
    return basis, c, figures, start


def _search_grid(
    basis_rows: np.ndarray,
    encoder: LeadEncoder,
    matrix: np.ndarray,
    y: np.ndarray,
    valid_matrix: np.ndarray,
    y_valid: pd.Series | np.ndarray,
    config: TrainConfig,
    weight: np.ndarray | None,
) -> tuple[LevelBasis, float, dict[str, Any], Start]:
    """:func:`fit_linear_stage`'s grid on ``matrix``: the best combination, its validation
    figures and coefficients (a function of its own so its designs die with it)."""
    best: tuple[LevelBasis, float, dict[str, Any], Start] | None = None
    for bins, slopes in itertools.product(config.linear_bins, config.linear_slopes):
        basis = linear_basis(basis_rows, encoder, bins, slopes)
        design, valid_design = basis.one_hot(matrix), basis.one_hot(valid_matrix)
        # weakest penalty last, each fit starting from the previous one's coefficients
        clf = LogisticRegression(max_iter=2000, warm_start=True)
        for c in sorted(config.linear_c_grid):
            clf.set_params(C=c).fit(design, y, sample_weight=weight)
            coef = basis.monotone(clf.coef_[0], design)
            p = expit(valid_design @ coef + clf.intercept_[0])
            figures = {**_validation_scores(y_valid, p), "bins": bins, "slopes": slopes}
            if best is None or figures["val_log_loss"] < best[2]["val_log_loss"]:
                best = (basis, c, figures, (clf.coef_.copy(), clf.intercept_.copy()))
        del design, valid_design  # before the next combination's are built
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
    start: Start | None = None,
) -> np.ndarray:
    """Each row's raw margin from a logistic regression fitted without it (each fold's
    fit warm-started from ``start``, typically the refit on every row)."""

    def fold(fit_idx: np.ndarray, out_idx: np.ndarray) -> np.ndarray:
        w = _take(weight, fit_idx)
        model, _ = _fit_linear(basis, matrix[fit_idx], y[fit_idx], l2_c, w, start)
        return model.raw(matrix[out_idx])

    return _out_of_fold(y, config, fold)
