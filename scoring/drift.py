"""Drift: how far today's leads are from the ones a model learned from.

The population stability index (PSI) compares two distributions bin by bin. A model
stores a compact :func:`reference_profile` of its training data in its metadata, so
the server and the reports can measure drift against exactly that data later —
without keeping the training set around. Shared by training (which writes the
profile) and serving (which reads it), hence here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scoring.contract import (
    LEAD_BOOLEAN_FEATURES,
    LEAD_CATEGORICAL_FEATURES,
    LEAD_ORDINAL_FEATURES,
)
from scoring.features import LEAD_TIME_FEATURES, TOUCH_FEATURES

PSI_BINS = 10
PSI_EPSILON = 1e-4
"""Floor for an empty bin's share: a value never seen in the reference still counts."""
MAX_CATEGORIES = 30
OTHER = "__other__"
MISSING = "__missing__"

DRIFT_EXCLUDED: frozenset[str] = frozenset({"month_of_year"})
"""Features whose shift is expected (seasonality by construction), not drift."""

_CATEGORICAL_FEATURES: frozenset[str] = frozenset(
    {*LEAD_CATEGORICAL_FEATURES, *LEAD_ORDINAL_FEATURES, *LEAD_BOOLEAN_FEATURES}
)


def _num(value: Any, digits: int = 4) -> Any:
    """A JSON-safe number: NaN / inf become ``None``, numpy scalars plain Python."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    return value


def psi(expected: Sequence[float], actual: Sequence[float], eps: float = PSI_EPSILON) -> float:
    """Population stability index of two share vectors over the same bins.

    ``sum((a - e) * ln(a / e))``, with empty bins floored at ``eps`` so a value never seen
    in the reference still counts. 0 for identical distributions.
    """
    e = np.maximum(np.asarray(expected, dtype=float), eps)
    a = np.maximum(np.asarray(actual, dtype=float), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def _is_categorical(name: str, values: pd.Series) -> bool:
    if name in _CATEGORICAL_FEATURES:
        return True
    return not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(
        values.dtype
    )


def _label(v: Any) -> str:
    """One category's label (see :func:`_categories`)."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return MISSING
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    text = str(v)
    return text.lower() if text in {"True", "False"} else text


def _categories(values: pd.Series) -> pd.Series:
    """Category labels as strings; booleans as ``true``/``false``; missing as MISSING.

    Text, boolean and integer columns are labelled once per distinct value (a million
    training rows, a dozen columns: a Python call per cell was seconds); in those types
    equal values are the same value, so the labels are the ones a call per cell gives.
    Any other column (object, float: ``-0.0`` equals ``0.0`` but prints differently)
    is labelled cell by cell.
    """
    dtype = values.dtype
    if not (
        isinstance(dtype, pd.StringDtype) or (isinstance(dtype, np.dtype) and dtype.kind in "biu")
    ):
        return values.astype(object).map(_label)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    labels = np.asarray([_label(v) for v in np.asarray(uniques, dtype=object)], dtype=object)
    return pd.Series(labels[codes], index=values.index, name=values.name)


def _numeric_shares(values: pd.Series, inner: Sequence[float]) -> list[float]:
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    n = len(x)
    finite = np.isfinite(x)
    idx = np.searchsorted(np.asarray(inner, dtype=float), x[finite], side="right")
    counts = np.bincount(idx, minlength=len(inner) + 1).astype(float)
    shares = [*(counts / n if n else counts), (n - finite.sum()) / n if n else 0.0]
    return [float(s) for s in shares]


def _column_profile(name: str, values: pd.Series) -> dict[str, Any]:
    if _is_categorical(name, values):
        labels = _categories(values)
        shares = labels.value_counts(normalize=True)
        kept = shares.iloc[:MAX_CATEGORIES]
        out = {str(k): float(v) for k, v in kept.items()}
        out[OTHER] = float(shares.iloc[MAX_CATEGORIES:].sum()) + out.get(OTHER, 0.0)
        return {"kind": "categorical", "shares": out}
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    finite = x[np.isfinite(x)]
    inner: list[float] = []
    if finite.size:
        qs = np.quantile(finite, np.linspace(0, 1, PSI_BINS + 1)[1:-1])
        inner = [float(q) for q in np.unique(qs)]
    return {"kind": "numeric", "edges": inner, "shares": _numeric_shares(values, inner)}


def drift_columns(frame: pd.DataFrame) -> list[str]:
    """The model-input columns of a feature frame worth watching (no ids, times, PII)."""
    known = [
        *LEAD_CATEGORICAL_FEATURES,
        *LEAD_ORDINAL_FEATURES,
        *LEAD_BOOLEAN_FEATURES,
        *TOUCH_FEATURES,
        *LEAD_TIME_FEATURES,
    ]
    return [c for c in known if c in frame.columns and c not in DRIFT_EXCLUDED]


def reference_profile(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    score_column: str | None = "p_won",
) -> dict[str, Any]:
    """A compact, JSON-able picture of a (training) feature distribution, for PSI later.

    Numeric columns keep their decile edges and bin shares (plus a missing share),
    categorical ones the shares of their top categories (the rest as ``__other__``).
    Small enough to store in a model's metadata at training time, so serving can measure
    drift against the data the model actually learned from.
    """
    columns = list(columns) if columns is not None else drift_columns(frame)
    if score_column and score_column in frame.columns and score_column not in columns:
        columns.append(score_column)
    return {
        "version": 1,
        "n": len(frame),
        "columns": {c: _column_profile(c, frame[c]) for c in columns if c in frame.columns},
    }


def population_stability(profile: Mapping[str, Any], values: pd.Series) -> dict[str, Any]:
    """PSI of ``values`` against one column of a :func:`reference_profile`."""
    if profile["kind"] == "categorical":
        labels = _categories(values)
        counts = labels.value_counts(normalize=False)
        return population_stability_counts(
            profile, {str(k): int(v) for k, v in counts.items()}, len(labels)
        )
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(x)
    inner = np.asarray(profile["edges"], dtype=float)
    idx = np.searchsorted(inner, x[finite], side="right")
    bins = np.bincount(idx, minlength=len(inner) + 1)
    return population_stability_counts(
        profile, [*(int(c) for c in bins), int(len(x) - finite.sum())], len(x)
    )


def population_stability_counts(
    profile: Mapping[str, Any], counts: Mapping[str, int] | Sequence[int], n: int
) -> dict[str, Any]:
    """:func:`population_stability` from counts instead of values, so a database can do
    the counting: for a categorical column the count per label (as :func:`_categories`
    labels them, most frequent first), for a numeric one the count per bin of the
    profile's edges (``searchsorted(edges, x, "right")``) then the count of missing."""
    if profile["kind"] == "categorical":
        assert isinstance(counts, Mapping)
        ref = dict(profile["shares"])
        ref.setdefault(OTHER, 0.0)
        unseen = [(label, c) for label, c in counts.items() if label not in ref]
        new_values = {label: float(c) / n for label, c in unseen[:5]}
        mapped: dict[str, int] = {}
        for label, c in counts.items():
            key = label if label in ref else OTHER
            mapped[key] = mapped.get(key, 0) + c
        bins = list(ref)
        expected = [ref[b] for b in bins]
        actual = [float(mapped.get(b, 0)) / n if n else 0.0 for b in bins]
        names = bins
    else:
        edges = list(profile["edges"])
        expected = list(profile["shares"])
        assert not isinstance(counts, Mapping)
        found = np.asarray(list(counts)[: len(edges) + 1], dtype=float)
        missing = float(counts[len(edges) + 1])
        actual = [float(s) for s in (found / n if n else found)]
        actual.append(missing / n if n else 0.0)
        bounds = [-math.inf, *edges, math.inf]
        names = [f"({_short(bounds[i])}, {_short(bounds[i + 1])}]" for i in range(len(edges) + 1)]
        names.append(MISSING)
        new_values = {}
    value = psi(expected, actual) if n else None
    diffs = np.asarray(actual) - np.asarray(expected)
    j = int(np.argmax(np.abs(diffs))) if len(diffs) else 0
    return {
        "psi": value,
        "bins": len(names),
        "top_shift": {
            "bin": names[j],
            "reference_share": _num(expected[j]),
            "current_share": _num(actual[j]),
        }
        if len(names)
        else None,
        "new_values": {k: _num(v) for k, v in new_values.items()},
    }


def _short(x: float) -> str:
    if not math.isfinite(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.3g}"
