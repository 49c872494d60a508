"""Point-in-time features: the one place a lead becomes a row of numbers.

Two steps, both shared by training and serving so they cannot drift apart:

1. :func:`touch_features` aggregates a lead's touches *strictly before* its scoring
   moment ``as_of`` (for training rows that is the MQL time) into engagement columns.
   A touch after ``as_of`` can never change a row: that is what makes the training
   set point-in-time correct.
2. :class:`LeadEncoder`, a scikit-learn transformer, turns lead fields plus those
   engagement columns into a float matrix for LightGBM. Categories are integer codes
   it owns (so the MLflow signature stays plain strings); rare and never-seen values
   share an explicit ``__other__`` code, and the never-seen ones are reported.

Both work on plain column arrays, so serving a single lead needs no DataFrame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from scoring.arrow_lookup import positions_in
from scoring.contract import (
    LEAD_BOOLEAN_FEATURES,
    LEAD_CATEGORICAL_FEATURES,
    LEAD_ORDINAL_FEATURES,
    PII_COLUMNS,
    TouchType,
)

# re-exported: they lived here, and scoring.model and the tests import them from here
from scoring.timestamps import NAT as NAT
from scoring.timestamps import _to_ns as _to_ns

OTHER = "__other__"
DAY_NS = 86_400 * 10**9

TOUCH_WEIGHTS: dict[str, float] = {
    TouchType.PAGE_VIEW: 0.2,
    TouchType.PRICING_PAGE_VIEW: 1.5,
    TouchType.EMAIL_OPEN: 0.1,
    TouchType.EMAIL_CLICK: 0.5,
    TouchType.CONTENT_DOWNLOAD: 1.0,
    TouchType.WEBINAR_REGISTERED: 0.7,
    TouchType.WEBINAR_ATTENDED: 1.5,
    TouchType.DEMO_REQUEST: 3.0,
    TouchType.FORM_SUBMIT: 1.0,
    TouchType.CHAT: 1.0,
    TouchType.CALL: 1.5,
}
"""How much one touch of each type says about intent; used for the engagement index."""

TOUCH_TYPES: tuple[str, ...] = tuple(t.value for t in TouchType)
HALF_LIFE_DAYS = 14.0
LOOKBACK_DAYS = 365.0

TOUCH_FEATURES: tuple[str, ...] = (
    *(f"n_{t}" for t in TOUCH_TYPES),
    "n_touches_14d",
    "n_touches_90d",
    "engagement_recency",
    "days_since_last_touch",
    "days_since_first_touch",
    "days_since_demo_request",
    "days_since_pricing_page_view",
)
"""Columns produced by :func:`touch_features`, in order."""

SILENCE_FEATURES: tuple[str, ...] = (
    "days_since_last_touch",
    "days_since_first_touch",
    "days_since_demo_request",
    "days_since_pricing_page_view",
)
"""Columns that only grow while a lead stays silent. Training sees them at MQL time, when
they are short; a lead rescored months later is past every training value, and a model
free to extrapolate could let silence raise its score. The linear stage model holds its
weights on them non-increasing (:meth:`scoring.linear.LevelBasis.monotone`)."""

LEAD_TIME_FEATURES: tuple[str, ...] = ("lead_age_days", "month_of_year")
"""Columns derived from the lead's own timestamps and ``as_of``."""


@dataclass(frozen=True)
class FeatureSpec:
    """Which input columns the model sees, and how each is encoded.

    The default is the data contract's lead fields plus touch aggregates; a flat CRM
    export declares its own columns (see ``training.importing``).
    """

    categorical: tuple[str, ...] = LEAD_CATEGORICAL_FEATURES
    ordinal: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(LEAD_ORDINAL_FEATURES)
    )
    boolean: tuple[str, ...] = LEAD_BOOLEAN_FEATURES
    numeric: tuple[str, ...] = ()
    use_touches: bool = True

    def __post_init__(self) -> None:
        leaked = PII_COLUMNS & set(self.input_columns)
        if leaked:
            raise ValueError(f"personal data cannot be a feature: {sorted(leaked)}")

    @property
    def computed_columns(self) -> tuple[str, ...]:
        """Features computed from the touches and the lead's times, not provided by a
        caller (the decision log keeps them as served, by these names)."""
        return (*TOUCH_FEATURES, *LEAD_TIME_FEATURES) if self.use_touches else ()

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        return (*self.numeric, *self.computed_columns)

    @property
    def input_columns(self) -> tuple[str, ...]:
        """Lead fields a caller provides (touch aggregates are computed, not provided)."""
        return (*self.categorical, *self.ordinal, *self.boolean, *self.numeric)

    def to_dict(self) -> dict[str, Any]:
        return {
            "categorical": list(self.categorical),
            "ordinal": {k: list(v) for k, v in self.ordinal.items()},
            "boolean": list(self.boolean),
            "numeric": list(self.numeric),
            "use_touches": self.use_touches,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        return cls(
            categorical=tuple(data["categorical"]),
            ordinal={k: tuple(v) for k, v in data["ordinal"].items()},
            boolean=tuple(data["boolean"]),
            numeric=tuple(data["numeric"]),
            use_touches=bool(data["use_touches"]),
        )


_TOUCH_TYPE_CODE: dict[str, int] = {t: i for i, t in enumerate(TOUCH_TYPES)}


def touch_features(
    touch_lead_pos: np.ndarray,
    touch_at_ns: np.ndarray,
    touch_type: np.ndarray,
    as_of_ns: np.ndarray,
) -> dict[str, np.ndarray]:
    """Aggregate touches strictly before each lead's ``as_of`` into engagement columns.

    ``touch_lead_pos[i]`` is the row of the lead (in ``as_of_ns``) that touch ``i``
    belongs to. ``touch_type`` holds the type names, or their positions in
    ``TOUCH_TYPES`` as integers (-1 for an unknown type: what :func:`frame_features`
    passes, looked up in Arrow). Touches at or after ``as_of``, or more than a year
    before it, are ignored: the scoring moment decides what the model may know.
    """
    totals = _TouchTotals(as_of_ns)
    totals.add(touch_lead_pos, touch_at_ns, touch_type)
    return totals.features()


class _TouchTotals:
    """:func:`touch_features` a batch of touches at a time: every column is a count, a
    running sum or a running minimum per lead, each updated touch by touch in order, so
    the result is the same (bit for bit) however the touches are batched — and ten
    million touches need not be in memory as arrays at once."""

    def __init__(self, as_of_ns: np.ndarray) -> None:
        n = len(as_of_ns)
        self.as_of_ns = as_of_ns
        self.counts = np.zeros((n, len(TOUCH_TYPES)))
        self.recent = {days: np.zeros(n, dtype=np.int64) for days in (14, 90)}
        self.recency = np.zeros(n)
        self.nearest = {key: np.full(n, np.inf) for key in ("last", "-first", *_SINCE)}

    def add(
        self, touch_lead_pos: np.ndarray, touch_at_ns: np.ndarray, touch_type: np.ndarray
    ) -> None:
        n_leads = len(self.as_of_ns)
        pos = np.asarray(touch_lead_pos, dtype=np.int64)
        at = np.asarray(touch_at_ns, dtype=np.int64)
        type_code = _touch_type_codes(touch_type)
        valid = (at != NAT) & (pos >= 0)
        age = np.full(len(at), np.nan)
        age[valid] = (self.as_of_ns[pos[valid]] - at[valid]) / DAY_NS
        keep = valid & (age > 0) & (age <= LOOKBACK_DAYS)
        pos, age, type_code = pos[keep], age[keep], type_code[keep]
        known = type_code >= 0
        np.add.at(self.counts, (pos[known], type_code[known]), 1.0)
        for days, total in self.recent.items():
            total += np.bincount(pos[age <= days], minlength=n_leads)
        weights = np.array([TOUCH_WEIGHTS[t] for t in TOUCH_TYPES])
        w = np.where(known, weights[np.clip(type_code, 0, None)], 0.0) * np.power(
            0.5, age / HALF_LIFE_DAYS
        )
        # np.add.at adds touch by touch in order from 0.0, as np.bincount(weights=) does
        np.add.at(self.recency, pos, w)
        np.minimum.at(self.nearest["last"], pos, age)
        np.minimum.at(self.nearest["-first"], pos, -age)
        for name in _SINCE:
            sel = type_code == _TOUCH_TYPE_CODE[name]
            np.minimum.at(self.nearest[name], pos[sel], age[sel])

    def features(self) -> dict[str, np.ndarray]:
        out = {f"n_{name}": self.counts[:, j] for j, name in enumerate(TOUCH_TYPES)}
        out["n_touches_14d"] = self.recent[14].astype(float)
        out["n_touches_90d"] = self.recent[90].astype(float)
        out["engagement_recency"] = self.recency
        nearest = {k: np.where(np.isinf(v), np.nan, v) for k, v in self.nearest.items()}
        out["days_since_last_touch"] = nearest["last"]
        out["days_since_first_touch"] = -nearest["-first"]
        for name in _SINCE:
            out[f"days_since_{name}"] = nearest[name]
        return out


_SINCE = ("demo_request", "pricing_page_view")


def _touch_type_codes(touch_type: np.ndarray) -> np.ndarray:
    """Each touch's position in ``TOUCH_TYPES`` (-1: unknown or missing); integer input is
    taken as codes already."""
    types = np.asarray(touch_type)
    if types.dtype.kind in "iu":
        return types.astype(np.int64)
    types = types.astype(object)
    return np.fromiter(
        (_TOUCH_TYPE_CODE.get(t, -1) for t in types), dtype=np.int64, count=len(types)
    )


def lead_time_features(created_at_ns: np.ndarray, as_of_ns: np.ndarray) -> dict[str, np.ndarray]:
    """Lead age at the scoring moment and the calendar month (seasonality)."""
    age = np.where(created_at_ns == NAT, np.nan, (as_of_ns - created_at_ns) / DAY_NS)
    month = np.full(len(as_of_ns), np.nan)
    known = as_of_ns != NAT
    months_since_epoch = as_of_ns[known].astype("datetime64[ns]").astype("datetime64[M]")
    month[known] = months_since_epoch.astype(np.int64) % 12 + 1
    return {"lead_age_days": age, "month_of_year": month}


_TOUCH_BATCH = 1_000_000


def frame_features(
    leads: pd.DataFrame, touches: pd.DataFrame | None, as_of: pd.Series | Sequence[Any]
) -> pd.DataFrame:
    """Training-side entry point: lead fields plus point-in-time touch features.

    ``as_of`` holds one scoring moment per lead (typically ``leads["mql_at"]``).
    """
    as_of_ns = _to_ns(as_of)
    # pandas copies on write: the result shares the leads' columns until one is changed
    # (a deep copy here was ~0.25 GB for a million leads, beside the leads themselves)
    result = leads.reset_index(drop=True)
    if touches is not None:
        if leads["lead_id"].duplicated().any():
            raise ValueError("frame_features needs unique lead_id values")
        # Arrow look-ups: a million leads' ten million touches, no Python string per cell,
        # a million touches at a time (the same columns: see _TouchTotals)
        totals = _TouchTotals(as_of_ns)
        for start in range(0, len(touches), _TOUCH_BATCH):
            batch = touches.iloc[start : start + _TOUCH_BATCH]
            pos = positions_in(batch["lead_id"], leads["lead_id"])
            codes = positions_in(batch["type"], TOUCH_TYPES)
            totals.add(pos, _to_ns(batch["at"]), codes)
        agg = totals.features()
        agg.update(lead_time_features(_to_ns(leads["created_at"]), as_of_ns))
        result = pd.concat([result, pd.DataFrame(agg)], axis=1)
    return result


def record_features(
    records: Sequence[Mapping[str, Any]], as_of_ns: np.ndarray
) -> dict[str, np.ndarray]:
    """Serving-side entry point: the same columns from request dicts, no DataFrame.

    Each record carries its own ``touches`` list of ``{"at", "type"}`` mappings.
    """
    pos: list[int] = []
    at: list[Any] = []
    types: list[str] = []
    for i, record in enumerate(records):
        for touch in record.get("touches") or ():
            pos.append(i)
            at.append(touch["at"])
            types.append(str(touch["type"]))
    at_ns = _to_ns(at) if at else np.empty(0, dtype=np.int64)
    agg = touch_features(
        np.asarray(pos, dtype=np.int64), at_ns, np.asarray(types, dtype=object), as_of_ns
    )
    created = _to_ns([r.get("created_at") for r in records])
    agg.update(lead_time_features(created, as_of_ns))
    return agg


class LeadEncoder(TransformerMixin, BaseEstimator):
    """Encode lead columns into a float matrix LightGBM can split on.

    Parameters
    ----------
    spec : FeatureSpec
        Which columns are categorical, ordinal, boolean and numeric.
    min_category_count : int
        Categories seen fewer times than this in training share the ``__other__``
        code, as do categories never seen at all.
    """

    def __init__(self, spec: FeatureSpec | None = None, min_category_count: int = 20) -> None:
        self.spec = spec
        self.min_category_count = min_category_count

    def _spec(self) -> FeatureSpec:
        return self.spec if self.spec is not None else FeatureSpec()

    def fit(self, X: pd.DataFrame | Mapping[str, Any], y: Any = None) -> LeadEncoder:
        spec = self._spec()
        self.vocabularies_: dict[str, dict[str, int]] = {}
        self.rare_values_: dict[str, frozenset[str]] = {}
        for col in spec.categorical:
            values = pd.Series(_column(X, col), dtype=object).dropna().map(category_key)
            counts = values.value_counts()
            frequent = counts >= self.min_category_count
            kept = sorted(counts[frequent].index)
            vocab = {v: i for i, v in enumerate(kept)}
            vocab[OTHER] = len(kept)
            self.vocabularies_[col] = vocab
            self.rare_values_[col] = frozenset(counts[~frequent].index)
        self.feature_names_out_ = np.array(
            [*spec.categorical, *spec.ordinal, *spec.boolean, *spec.numeric_columns], dtype=object
        )
        self.categorical_indices_ = list(range(len(spec.categorical)))
        self.n_features_in_ = len(spec.input_columns)
        return self

    def transform(self, X: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        # training and batch scoring only want the matrix: no per-row unseen sets (a
        # million empty sets are ~200 MB)
        return self._encode(X, want_unseen=False)[0]

    def encode(self, X: pd.DataFrame | Mapping[str, Any]) -> tuple[np.ndarray, list[set[str]]]:
        """Return the matrix and, per row, the categorical fields whose value was never seen."""
        matrix, flagged = self._encode(X, want_unseen=True)
        unseen: list[set[str]] = [set() for _ in range(len(matrix))]
        for col, rows in flagged.items():
            for i in rows:
                unseen[i].add(col)
        return matrix, unseen

    def _encode(
        self, X: pd.DataFrame | Mapping[str, Any], *, want_unseen: bool
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The matrix, and per column the rows holding a value never seen (if wanted).

        Each rule is applied once per *distinct* value (:func:`_per_value`), not once per
        row: a column of a million leads holds a few dozen sources or industries, so
        training a million leads costs a few dozen Python calls per column, not millions.
        """
        spec = self._spec()
        n = _length(X)
        matrix = np.full((n, len(self.feature_names_out_)), np.nan)
        flagged: dict[str, np.ndarray] = {}
        j = 0
        for col in spec.categorical:
            vocab = self.vocabularies_[col]
            other = vocab[OTHER]
            values = _column(X, col)

            def code(v: Any, vocab: dict[str, int] = vocab, other: int = other) -> float:
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    return np.nan
                return float(vocab.get(category_key(v), other))

            def new(v: Any, col: str = col, vocab: dict[str, int] = vocab) -> float:
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    return 0.0
                key = category_key(v)
                return float(key not in vocab and not self._is_rare_known(col, key))

            matrix[:, j] = _per_value(values, code)
            if want_unseen:
                flagged[col] = np.flatnonzero(_per_value(values, new))
            j += 1
        for col, order in spec.ordinal.items():
            rank = {v: float(i) for i, v in enumerate(order)}
            values = _column(X, col)

            def ranked(v: Any, rank: dict[str, float] = rank) -> float:
                return rank.get(str(v), np.nan) if v is not None else np.nan

            def off_scale(v: Any, rank: dict[str, float] = rank) -> float:
                missing = v is None or (isinstance(v, float) and np.isnan(v))
                return float(not missing and str(v) not in rank)

            matrix[:, j] = _per_value(values, ranked)
            if want_unseen:
                flagged[col] = np.flatnonzero(_per_value(values, off_scale))
            j += 1
        for col in spec.boolean:
            matrix[:, j] = _per_value(_column(X, col), _as_bool)
            j += 1
        for col in spec.numeric_columns:
            values = _column(X, col)
            if values.dtype.kind in "biuf":  # already numbers (touch features, numeric frames)
                matrix[:, j] = values
            else:
                matrix[:, j] = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(
                    dtype=float
                )
            j += 1
        return matrix, {col: rows for col, rows in flagged.items() if rows.size}

    def _is_rare_known(self, col: str, value: str) -> bool:
        """Rare values were seen in training (they trained ``__other__``): not flagged."""
        return value in self.rare_values_.get(col, ())

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self.feature_names_out_


def _length(X: pd.DataFrame | Mapping[str, Any]) -> int:
    if isinstance(X, pd.DataFrame):
        return len(X)
    first = next(iter(X.values()), ())
    return len(first)


def _column(X: pd.DataFrame | Mapping[str, Any], col: str) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        if col not in X.columns:
            return np.full(len(X), None, dtype=object)
        series = X[col]
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
            series.dtype
        ):
            return series.to_numpy(dtype=float)
        return series.astype(object).where(series.notna(), None).to_numpy()
    values = X.get(col)
    if values is None:
        return np.full(_length(X), None, dtype=object)
    return np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values


def _per_value(values: np.ndarray, rule: Callable[[Any], float]) -> np.ndarray:
    """``rule`` of each element, calling ``rule`` once per distinct value.

    Falls back to one call per element when the distinct values mix Python types:
    hashing treats ``1``, ``1.0`` and ``True`` as one value, the rules do not.
    """
    if len(values) > 1:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        missing = values[codes < 0] if values.dtype == object else values[:0]
        # only None and float NaN are "missing" to the rules; pd.NA, NaT... are not
        plain_missing = {type(v) for v in missing} <= {type(None), float}
        if len({type(u) for u in uniques}) <= 1 and plain_missing:
            mapped = np.array([rule(u) for u in uniques] + [rule(None)], dtype=float)
            return mapped[codes]  # the sentinel -1 picks rule(None): the missing value
    return np.array([rule(v) for v in values], dtype=float)


def category_key(value: Any) -> str:
    """How a category value is spelled in the vocabulary.

    JSON has one number type: a category sent as ``3`` may arrive as ``3.0``. Whole
    numbers are spelled without the fraction, so ``3``, ``3.0`` and ``"3"`` are one value.
    """
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _as_bool(value: Any) -> float:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    if isinstance(value, str):
        low = value.strip().lower()
        if low in {"true", "yes", "y", "1"}:
            return 1.0
        if low in {"false", "no", "n", "0"}:
            return 0.0
        return np.nan
    return float(bool(value))
