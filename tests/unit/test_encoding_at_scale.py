"""The encoder and the level lookup compute each rule once per distinct value (issue 15,
training at scale): the results must be the ones the per-row rules give."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scoring import linear
from scoring.arrow_lookup import positions_in, within
from scoring.features import (
    TOUCH_TYPES,
    FeatureSpec,
    LeadEncoder,
    _per_value,
    category_key,
    touch_features,
)
from scoring.linear import LevelBasis
from training.csv_times import utc_seconds_as_text
from training.evaluate import ece_floor, expected_calibration_error


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
        np.testing.assert_array_equal(within(ids, pool), ids.isin(pool.astype(str)).to_numpy())


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


def test_positions_in_is_get_indexer_for_unique_string_ids() -> None:
    pool = pd.Series(["L2", "L1", "L3"], dtype=str)
    ids = pd.Series(["L1", None, "L9", "L3", "L1"], dtype=str)
    expected = pd.Index(pool.to_numpy()).get_indexer(ids.to_numpy())
    np.testing.assert_array_equal(positions_in(ids, pool), expected)
    np.testing.assert_array_equal(positions_in(ids, TOUCH_TYPES), [-1, -1, -1, -1, -1])


def test_touch_features_give_the_same_columns_from_type_codes_and_names() -> None:
    rng = np.random.default_rng(3)
    names = np.array([*TOUCH_TYPES, "not_a_type"], dtype=object)
    types = pd.Series(rng.choice(names, 500), dtype=str)
    types[::17] = None
    pos = rng.integers(-1, 40, 500)
    as_of = np.full(40, 400 * 86_400 * 10**9, dtype=np.int64)
    at = as_of[0] - rng.integers(0, 420, 500) * 86_400 * 10**9
    by_name = touch_features(pos, at, types.to_numpy(dtype=object), as_of)
    by_code = touch_features(pos, at, positions_in(types, TOUCH_TYPES), as_of)
    assert by_name.keys() == by_code.keys()
    for key in by_name:
        np.testing.assert_array_equal(by_name[key], by_code[key], err_msg=key)


def test_utc_times_as_text_write_the_csv_pandas_writes() -> None:
    stamps = pd.Series(
        pd.to_datetime(
            ["2025-01-09 01:36:08", None, "1999-12-31 23:59:59", "2026-07-04 00:00:00"],
            utc=True,
        )
    )
    frame = pd.DataFrame({"at": stamps, "n": [1, 2, 3, 4]})
    text = utc_seconds_as_text(frame["at"])
    assert text is not None
    assert frame.assign(at=text).to_csv(index=False) == frame.to_csv(index=False)
    # pandas prints fractions and other zones its own way: left to pandas
    assert utc_seconds_as_text(stamps + pd.Timedelta(milliseconds=5)) is None
    assert utc_seconds_as_text(stamps.dt.tz_localize(None)) is None
    assert utc_seconds_as_text(pd.Series([1, 2])) is None


def test_one_hot_design_is_the_levels_then_the_slopes() -> None:
    from scipy import sparse

    rng = np.random.default_rng(4)
    x = rng.lognormal(size=(300, 3))
    x[::6, 0], x[::7, 2] = np.nan, 0.0
    for slopes in (False, True):
        basis = LevelBasis.fit(x[:200], [], [], 4, slopes, [])
        levels = np.zeros((len(x), basis.width))
        levels[np.arange(len(x))[:, None], basis.levels(x)] = 1.0
        expected = np.hstack([levels, basis.slope_values(x)]) if slopes else levels
        design = basis.one_hot(x)
        assert sparse.issparse(design) and design.has_sorted_indices
        np.testing.assert_array_equal(design.toarray(), expected)
