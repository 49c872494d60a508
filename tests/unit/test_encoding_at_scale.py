"""The encoder and the level lookup compute each rule once per distinct value (issue 15,
training at scale): the results must be the ones the per-row rules give."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scoring import linear
from scoring.features import FeatureSpec, LeadEncoder, _per_value, category_key
from scoring.linear import LevelBasis
from training.evaluate import ece_floor, expected_calibration_error
from training.validate import _within


def _code(v: Any) -> float:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return np.nan
    return float({"1": 0, "True": 1, "x": 2}.get(category_key(v), 9))


def test_per_value_matches_the_per_row_rule_even_for_values_that_hash_alike() -> None:
    # 1, 1.0 and True hash alike but are spelled "1", "1" and "True": one call per
    # distinct hash would give True the code of 1
    mixed = np.array([1, True, "1", 1.0, None, "x", float("nan"), pd.NA], dtype=object)
    strings = np.array(["x", None, "1", "x", "y", None], dtype=object)
    for values in (mixed, strings, np.array([1.0, np.nan, 3.0, 1.0])):
        expected = np.array([_code(v) for v in values], dtype=float)
        np.testing.assert_array_equal(_per_value(values, _code), expected)


def test_encode_flags_unseen_values_per_row_and_transform_gives_the_same_matrix() -> None:
    spec = FeatureSpec()
    col = spec.categorical[0]
    fit = pd.DataFrame({col: ["a"] * 30 + ["b"] * 30 + ["rare"]})
    encoder = LeadEncoder(spec).fit(fit)
    frame = pd.DataFrame({col: ["a", "never-seen", None, "rare", "b", "never-seen"]})
    matrix, unseen = encoder.encode(frame)
    assert [sorted(u) for u in unseen] == [[], [col], [], [], [], [col]]
    np.testing.assert_array_equal(encoder.transform(frame), matrix)
    vocab = encoder.vocabularies_[col]
    other = vocab["__other__"]
    expected = [vocab["a"], other, np.nan, other, vocab["b"], other]
    np.testing.assert_array_equal(matrix[:, 0], expected)


def test_level_lookup_by_binary_search_equals_the_broadcast_comparison() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3))
    x[::7, 0], x[::11, 1], x[::13, 2] = np.nan, np.inf, -np.inf
    basis = LevelBasis.fit(x[:300], [], [], 6, False, [])
    many = basis.levels(x)  # more rows than the broadcast limit: binary search
    assert len(x) > linear._BROADCAST_ROWS
    few = np.vstack([basis.levels(x[i : i + 100]) for i in range(0, len(x), 100)])
    np.testing.assert_array_equal(many, few)


def test_within_is_isin_for_string_ids_missing_included() -> None:
    ids = pd.Series(["a", "b", None, "c", "a"], dtype=str)
    for pool in (pd.Series(["a", "c"]), pd.Series(["a", None]), pd.Series([], dtype=str)):
        np.testing.assert_array_equal(_within(ids, pool), ids.isin(pool.astype(str)).to_numpy())


def test_ece_floor_is_the_mean_ece_of_labels_drawn_from_the_predictions() -> None:
    p = np.random.default_rng(1).random(777) * 0.5
    rng = np.random.default_rng(0)  # ece_floor's default seed: the same label draws
    draws = [expected_calibration_error(rng.random(len(p)) < p, p) for _ in range(50)]
    assert ece_floor(p, draws=50) == float(np.mean(draws))


def test_slope_values_are_the_slope_part_of_the_effects() -> None:
    rng = np.random.default_rng(2)
    x = rng.lognormal(size=(400, 3))
    x[::5, 1], x[::9, 2] = np.nan, -x[::9, 2]
    basis = LevelBasis.fit(x[:200], [], [], 5, True, [])
    cols = basis.slope_columns
    lookup = linear._Lookup.build(basis, np.zeros(basis.width), np.ones(cols.size))
    np.testing.assert_array_equal(basis.slope_values(x), lookup.effects(x)[:, cols])


def test_one_hot_is_the_design_built_from_coordinates() -> None:
    from scipy import sparse

    rng = np.random.default_rng(4)
    x = rng.lognormal(size=(500, 3))
    x[::6, 0] = np.nan
    for slopes in (False, True):
        basis = LevelBasis.fit(x[:250], [], [], 4, slopes, [])
        flat = basis.levels(x)
        n, f = flat.shape
        rows = np.repeat(np.arange(n), f)
        levels = sparse.csr_matrix((np.ones(n * f), (rows, flat.ravel())), shape=(n, basis.width))
        if slopes:
            levels = sparse.hstack([levels, sparse.csr_matrix(basis.slope_values(x))]).tocsr()
        design = basis.one_hot(x)
        assert design.shape == levels.shape and (design != levels).nnz == 0
        np.testing.assert_array_equal(design.toarray(), levels.toarray())
