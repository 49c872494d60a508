"""Training at a million leads, faster or in less memory (issue 15): each shortcut must
give what the plain definition gives, to the bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.compose import ColumnTransformer

from scoring import drift
from scoring.features import FeatureSpec
from scoring.linear import LevelBasis, _column_sums
from tests.histories import synthetic_history
from training import baseline
from training.baseline import baseline_model
from training.dataset import build_dataset, split_rows
from training.history import CRMHistory
from training.train_config import TrainConfig
from training.validate import validate_history


def _design_rows(n: int, seed: int) -> tuple[LevelBasis, np.ndarray]:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(n, 6))
    matrix[rng.random(matrix.shape) < 0.1] = np.nan
    matrix[:, 2] = rng.integers(0, 5, n)  # a categorical column's codes
    basis = LevelBasis.fit(matrix, [2], [5], 6, slopes=True, decreasing=(0, 4))
    return basis, matrix


def test_monotone_counts_rows_per_level_as_the_column_sums_did() -> None:
    basis, matrix = _design_rows(2_000, seed=3)
    design = basis.one_hot(matrix)
    # the old count: the design's level columns sliced out and summed
    expected = np.asarray(design[:, : basis.width].sum(axis=0)).ravel()
    np.testing.assert_array_equal(_column_sums(design)[: basis.width], expected)
    coef = np.random.default_rng(4).normal(size=design.shape[1])
    # a dense design takes scipy-free ``sum``: the projection must not depend on it
    np.testing.assert_array_equal(
        basis.monotone(coef, design), basis.monotone(coef, design.toarray())
    )
    assert not np.array_equal(basis.monotone(coef, design), coef)  # the projection ran


def _baseline_rows() -> tuple[pd.DataFrame, pd.DataFrame, FeatureSpec]:
    history = synthetic_history(3_000, months=12, seed=11)
    frame = build_dataset(history)
    split = split_rows(frame, history.snapshot_at, TrainConfig())
    spec = FeatureSpec()
    labelled = frame["y_won"].notna()
    return (
        frame[split.isin(["train", "valid"]) & labelled],
        frame[(split == "test") & labelled],
        spec,
    )


def test_baseline_stacks_the_same_matrix_and_fits_the_same_model() -> None:
    train, test, spec = _baseline_rows()
    fitted = {}
    for name, stacker in (("csr", baseline._CsrColumns), ("plain", ColumnTransformer)):
        model = baseline_model(spec)
        features = model.named_steps["features"]
        plain = stacker(
            features.transformers,
            **{k: v for k, v in features.get_params(deep=False).items() if k != "transformers"},
        )
        model.steps[0] = ("features", plain)
        model.fit(train, train["y_won"].astype(int))
        fitted[name] = (model.named_steps["features"].transform(test), model)
    csr, plain = fitted["csr"][0], fitted["plain"][0]
    assert sparse.issparse(csr) and sparse.issparse(plain)
    for part in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(csr, part), getattr(plain, part))
    np.testing.assert_array_equal(
        fitted["csr"][1].predict_proba(test), fitted["plain"][1].predict_proba(test)
    )
    assert isinstance(baseline_model(spec).named_steps["features"], baseline._CsrColumns)


def test_baseline_stacker_keeps_a_dense_output_dense() -> None:
    rows = pd.DataFrame({"a": ["x", "y", "x", "y"], "b": [1.0, 2.0, 3.0, 4.0]})
    from sklearn.preprocessing import OneHotEncoder

    stacker = baseline._CsrColumns([("c", OneHotEncoder(), ["a"]), ("n", "passthrough", ["b"])])
    out = stacker.fit_transform(rows)  # density 3/4 > sparse_threshold 0.3: dense
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [[1, 0, 1], [0, 1, 2], [1, 0, 3], [0, 1, 4]])


def test_drift_labels_per_distinct_value_are_the_per_cell_labels() -> None:
    columns = [
        pd.Series(pd.array(["a", None, "True", "a", "False", "b"], dtype="str")),
        pd.Series([True, False, True]),
        pd.Series([3, 1, 2, 3], dtype="int64"),
        pd.Series([1, True, "1", None, float("nan")], dtype=object),
        pd.Series([0.0, -0.0, np.nan, 1.0]),
    ]
    for values in columns:
        expected = values.astype(object).map(drift._label)
        got = drift._categories(values)
        pd.testing.assert_series_equal(got, expected)
        pd.testing.assert_series_equal(
            got.value_counts(normalize=True), expected.value_counts(normalize=True)
        )


def test_validation_keeps_parsed_utc_times_as_parsing_them_again_would() -> None:
    """A UTC time column (as ``CRMHistory.load`` reads it) is not parsed again: the
    validated table holds what ``to_datetime`` would have returned, without the copy."""
    history = synthetic_history(300, months=6, seed=5)
    checked = validate_history(history).history
    for name, frame in checked.tables().items():
        for col in ("created_at", "mql_at", "at", "closed_at"):
            if col in frame.columns:
                again = pd.to_datetime(
                    history.tables()[name][col], utc=True, errors="coerce", format="mixed"
                )
                pd.testing.assert_series_equal(frame[col], again, check_index=False)
    # text times are still parsed, and a bad one flagged
    leads = history.leads.assign(mql_at=history.leads["mql_at"].astype(str))
    leads.loc[0, "mql_at"] = "not a time"
    text = validate_history(
        CRMHistory(leads, history.touches, history.feedback, history.outcomes, history.snapshot_at)
    )
    assert "not a date/time" in set(text.report["problem"])
    assert isinstance(text.history.leads["mql_at"].dtype, pd.DatetimeTZDtype)
