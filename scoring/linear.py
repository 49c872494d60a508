"""The linear stage model: a regularised logistic regression on binned columns, in numpy.

At a few thousand leads a logistic regression often ranks and calibrates better than
boosted trees (the synthetic generator is additive on the logit scale, and so are many
real funnels), so training fits both and keeps the one that wins on the validation
period (``training.train.fit_scorer``). This module is the serving half of the linear
candidate: what it stores and how it scores, with no scikit-learn object on the hot path
and nothing to unpickle.

Every column of the encoder's matrix is cut into *levels* by a list of edges:

* a categorical column's codes (``scoring.features.LeadEncoder`` already pools rare and
  never-seen values under ``__other__``) get one level per code: edges at the
  half-integers;
* any other column (numbers, ordinals, booleans) gets quantile bins of the training
  rows: edges at the quantiles, duplicates dropped (a count that is mostly 0 gets few
  bins);
* a missing value (NaN) has a level of its own, the last one.

Optionally a non-categorical column also gets a *slope* on ``signed_log(x)``
(standardised on the training rows), so a handful of bins still follows a steady trend.

The model is one weight per level plus one per slope (the logistic regression's
coefficients on that design). Weights are stored *centred* on the training rows, so a
column's contribution to a lead (its level's weight plus its slope term) is how far it
moves the log-odds from the average training lead, and the bias is the average training
lead's log-odds. Those contributions are exact (a linear model's Shapley values with
independent columns) and add up to the raw score, in the same layout as LightGBM's
``pred_contrib``: one column per feature, the bias last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LevelBasis", "LinearModel", "signed_log"]


def signed_log(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``: counts and durations on the scale their effect is
    roughly linear on (the tenth touch adds less than the first)."""
    return np.asarray(np.sign(x) * np.log1p(np.abs(x)), dtype=float)


@dataclass(frozen=True)
class LevelBasis:
    """How each column of the model matrix is cut into levels (see the module docstring).

    ``edges[j]`` are column ``j``'s cut points, ascending: a value ``x`` is in level
    ``#{edges <= x}``; NaN is in level ``len(edges) + 1``.
    """

    edges: tuple[tuple[float, ...], ...]
    centers: tuple[float, ...] = ()
    """Per column, the mean of its slope variable ``signed_log(x)`` on the training rows."""
    scales: tuple[float, ...] = ()
    """Per column, that variable's standard deviation; 0 (or no entry) means no slope."""
    decreasing: tuple[int, ...] = ()
    """Columns whose effect may only fall as the value grows (training only: the fitted
    weights already obey it, so it is not saved)."""

    @classmethod
    def fit(
        cls,
        matrix: np.ndarray,
        categorical: Sequence[int],
        n_categories: Sequence[int],
        bins: int,
        slopes: bool = False,
        decreasing: Sequence[int] = (),
    ) -> LevelBasis:
        """Edges from training rows: half-integers for categorical codes (``n_categories``
        codes each, in the order of ``categorical``), up to ``bins`` quantile bins for the
        rest. With ``slopes``, every non-categorical column also gets a slope on
        ``signed_log(x)`` (standardised), so a few bins do not flatten a steady trend."""
        sizes = dict(zip(categorical, n_categories, strict=True))
        edges: list[tuple[float, ...]] = []
        centers, scales = [], []
        for j in range(matrix.shape[1]):
            centers.append(0.0)
            scales.append(0.0)
            if j in sizes:
                edges.append(tuple(float(k) + 0.5 for k in range(sizes[j] - 1)))
                continue
            finite = matrix[:, j][np.isfinite(matrix[:, j])]
            if finite.size == 0:
                edges.append(())
                continue
            cuts = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
            # a cut at the minimum would leave level 0 empty
            edges.append(tuple(float(c) for c in cuts if c > finite.min()))
            logged = signed_log(finite)
            if slopes and logged.std() > 0:
                centers[-1], scales[-1] = float(logged.mean()), float(logged.std())
        return cls(tuple(edges), tuple(centers), tuple(scales), tuple(decreasing))

    def monotone(self, coef: np.ndarray, design: Any) -> np.ndarray:
        """``coef`` (one per column of :meth:`one_hot`) with every ``decreasing`` column's
        level weights made non-increasing and its slope at most 0.

        The level weights are projected by weighted isotonic regression (weights: the
        design's rows per level; the missing level keeps its own weight). Why: such a
        column (``scoring.features.SILENCE_FEATURES``) reaches values at rescoring time
        that training never saw, and the top bin's free weight would decide the score.
        """
        from sklearn.isotonic import isotonic_regression  # training only

        out = np.array(coef, dtype=float)
        if not self.decreasing:
            return out
        rows_per_level = _column_sums(design)[: self.width]
        slope_at = {int(c): self.width + k for k, c in enumerate(self.slope_columns)}
        for j in self.decreasing:
            start = int(self.offsets[j])
            stop = start + int(self.n_levels[j]) - 1  # the missing level is last
            if stop - start > 1:
                out[start:stop] = isotonic_regression(
                    out[start:stop],
                    sample_weight=np.maximum(rows_per_level[start:stop], 1e-9),
                    increasing=False,
                )
            if j in slope_at:
                out[slope_at[j]] = min(out[slope_at[j]], 0.0)
        return out

    @property
    def slope_columns(self) -> np.ndarray:
        """The columns with a slope term, in order."""
        return np.flatnonzero(np.asarray(self.scales, dtype=float) > 0)

    def slope_values(self, matrix: np.ndarray) -> np.ndarray:
        """The standardised slope variables (rows x slope columns); 0 for a missing value
        (its own level carries it) and for the average training row."""
        # the slope part of _Lookup.effects alone: no level look-up of every column
        cols = self.slope_columns
        x = np.asarray(matrix, dtype=float)[:, cols]
        centers = np.asarray(self.centers, dtype=float)[cols]
        z = (signed_log(x) - centers) / np.asarray(self.scales, dtype=float)[cols]
        return np.asarray(0.0 + np.where(np.isfinite(z), z, 0.0))

    @property
    def n_levels(self) -> np.ndarray:
        """Levels per column: the bins between and around the edges, plus missing."""
        return np.array([len(e) + 2 for e in self.edges], dtype=np.int64)

    @property
    def offsets(self) -> np.ndarray:
        """Position of each column's first level in the flat list of all levels."""
        return np.concatenate([[0], np.cumsum(self.n_levels)[:-1]]).astype(np.int64)

    @property
    def width(self) -> int:
        return int(self.n_levels.sum())

    def levels(self, matrix: np.ndarray) -> np.ndarray:
        """Each cell's level, as a position in the flat list of all levels (n x columns)."""
        return _Lookup.build(self, np.zeros(self.width), np.zeros(0)).flat_levels(matrix)

    def one_hot(self, matrix: np.ndarray) -> Any:
        """The sparse design matrix a logistic regression learns on: 0/1 per level, then
        the slope variables."""
        from scipy import sparse  # training only: serving never builds the design

        flat = self.levels(matrix)
        n, f = flat.shape
        slopes = self.slope_values(matrix) if self.slope_columns.size else np.zeros((n, 0))
        k = f + slopes.shape[1]
        # per row: its f levels (in ascending columns: each column's levels come after
        # the previous column's), then its slope variables; the CSR arrays directly, as
        # a sparse hstack goes through COO copies (gigabytes at a million rows). A slope
        # of 0 (a missing value, or exactly the mean) is stored as an explicit 0: the
        # products, and so the fit, are the same
        data = np.empty((n, k))
        data[:, :f] = 1.0
        data[:, f:] = slopes
        indices = np.empty((n, k), dtype=np.int32)
        indices[:, :f] = flat
        indices[:, f:] = self.width + np.arange(k - f, dtype=np.int32)
        return sparse.csr_matrix(
            (data.ravel(), indices.ravel(), np.arange(0, n * k + 1, k)),
            shape=(n, self.width + k - f),
        )


def _column_sums(design: Any) -> np.ndarray:
    """``design.sum(axis=0)`` as a flat array. A CSR design (:meth:`LevelBasis.one_hot`)
    is summed from its stored entries in place: slicing its level columns first copied
    the whole design (~0.3 GB at a million rows) to count rows per level. Its level
    entries are 1.0, so the sums are exact counts either way."""
    from scipy import sparse  # training only

    if sparse.isspmatrix_csr(design) or isinstance(design, sparse.csr_array):
        return np.bincount(design.indices, weights=design.data, minlength=design.shape[1])
    return np.asarray(design.sum(axis=0), dtype=float).ravel()


_BROADCAST_ROWS = 256
"""Up to this many rows, :meth:`_Lookup.flat_levels` compares with all edges at once."""


@dataclass
class _Lookup:
    """The basis in the arrays scoring needs, built once per model."""

    edges: np.ndarray  # columns x max edges, padded with +inf
    missing: np.ndarray  # each column's missing level (local)
    offsets: np.ndarray
    weights: np.ndarray  # flat, one per level
    slope_columns: np.ndarray
    centers: np.ndarray  # of the slope columns
    scales: np.ndarray
    slopes: np.ndarray  # one per slope column

    @classmethod
    def build(cls, basis: LevelBasis, weights: np.ndarray, slopes: np.ndarray) -> _Lookup:
        width = max((len(e) for e in basis.edges), default=0)
        edges = np.full((len(basis.edges), max(width, 1)), np.inf)
        for j, e in enumerate(basis.edges):
            edges[j, : len(e)] = e
        cols = basis.slope_columns
        return cls(
            edges,
            basis.n_levels - 1,
            basis.offsets,
            np.asarray(weights, dtype=float),
            cols,
            np.asarray(basis.centers, dtype=float)[cols],
            np.asarray(basis.scales, dtype=float)[cols],
            np.asarray(slopes, dtype=float),
        )

    def flat_levels(self, matrix: np.ndarray) -> np.ndarray:
        x = np.asarray(matrix, dtype=float)
        # how many edges each cell reaches. A few rows (serving): one broadcast
        # comparison, the fewest numpy calls; many rows (training): a binary search per
        # column, as the n x columns x edges comparison array is gigabytes at 1M rows
        if len(x) <= _BROADCAST_ROWS:
            local = (x[:, :, None] >= self.edges[None, :, :]).sum(axis=2)
        else:
            local = np.empty(x.shape, dtype=np.int64)
            for j in range(x.shape[1]):
                local[:, j] = np.searchsorted(self.edges[j], x[:, j], side="right")
        # +inf also passes the +inf padding: back to the top bin; NaN to the missing level
        # in place: at a million rows each n x columns temporary is ~0.25 GB
        np.minimum(local, self.missing - 1, out=local)
        nan = np.isnan(x)
        local[nan] = np.broadcast_to(self.missing, x.shape)[nan]
        local += self.offsets
        return np.asarray(local)

    def effects(self, matrix: np.ndarray) -> np.ndarray:
        """Each cell's effect on the raw score: its level's weight plus its slope term."""
        effects = self.weights[self.flat_levels(matrix)]
        if self.slope_columns.size:
            z = (signed_log(matrix[:, self.slope_columns]) - self.centers) / self.scales
            effects[:, self.slope_columns] += np.where(np.isfinite(z), z, 0.0) * self.slopes
        return np.asarray(effects)


@dataclass
class LinearModel:
    """A fitted linear stage: one centred weight per level, and the bias.

    ``raw`` and ``contributions`` are a handful of numpy operations for any number of
    rows, one row included (a few microseconds: no per-call set-up to amortise, unlike
    a LightGBM ``predict``).
    """

    basis: LevelBasis
    weights: np.ndarray
    bias: float
    l2_c: float
    """The inverse L2 strength the weights were fitted with (scikit-learn's ``C``)."""
    importance: np.ndarray
    """Per column: the mean absolute contribution over the rows the model learned from."""
    slopes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """One per slope column of the basis (:attr:`LevelBasis.slope_columns`)."""

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights, dtype=float)
        self.slopes = np.asarray(self.slopes, dtype=float)
        self.importance = np.asarray(self.importance, dtype=float)
        if self.weights.shape != (self.basis.width,):
            raise ValueError(f"expected {self.basis.width} weights, got {self.weights.shape}")
        if self.slopes.shape != self.basis.slope_columns.shape:
            raise ValueError(
                f"expected {self.basis.slope_columns.size} slopes, got {self.slopes.shape}"
            )
        self._lookup = _Lookup.build(self.basis, self.weights, self.slopes)

    @classmethod
    def from_coefficients(
        cls,
        basis: LevelBasis,
        coef: np.ndarray,
        intercept: float,
        rows: np.ndarray,
        l2_c: float,
        sample_weight: np.ndarray | None = None,
    ) -> LinearModel:
        """Centre a fitted logistic regression's coefficients (one per column of
        :meth:`LevelBasis.one_hot`) on its training ``rows``: the raw score is unchanged,
        the bias becomes the average row's."""
        coef = np.asarray(coef, dtype=float)
        levels, slopes = coef[: basis.width], coef[basis.width :]
        effects = _Lookup.build(basis, levels, slopes).effects(rows)
        w = np.ones(len(rows)) if sample_weight is None else np.asarray(sample_weight, float)
        means = (effects * w[:, None]).sum(axis=0) / w.sum()
        # every level of column j shifts by column j's mean: the level weights' sum per
        # row drops by sum(means), the bias gains it back
        centred = levels - np.repeat(means, basis.n_levels)
        effects -= means[None, :]  # in place: the rows x columns effects are not needed after
        importance = np.abs(effects, out=effects).mean(axis=0)
        return cls(basis, centred, float(intercept + means.sum()), l2_c, importance, slopes)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Per-column contributions plus the bias last (LightGBM's ``pred_contrib`` layout)."""
        effects = self._lookup.effects(matrix)
        return np.concatenate([effects, np.full((effects.shape[0], 1), self.bias)], axis=1)

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """The log-odds: the bias plus every column's contribution."""
        return np.asarray(self._lookup.effects(matrix).sum(axis=1) + self.bias, dtype=float)

    @property
    def n_features(self) -> int:
        return len(self.basis.edges)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "binned-logistic",
            "edges": [list(e) for e in self.basis.edges],
            "centers": list(self.basis.centers),
            "scales": list(self.basis.scales),
            "weights": self.weights.tolist(),
            "slopes": self.slopes.tolist(),
            "bias": self.bias,
            "l2_c": self.l2_c,
            "importance": self.importance.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearModel:
        if data.get("kind") != "binned-logistic":
            raise ValueError(f"unknown linear model kind {data.get('kind')!r}")
        basis = LevelBasis(
            tuple(tuple(float(x) for x in e) for e in data["edges"]),
            tuple(float(x) for x in data["centers"]),
            tuple(float(x) for x in data["scales"]),
        )
        return cls(
            basis,
            np.asarray(data["weights"], dtype=float),
            float(data["bias"]),
            float(data["l2_c"]),
            np.asarray(data["importance"], dtype=float),
            np.asarray(data["slopes"], dtype=float),
        )
