"""The importer's fixed vocabulary: column kinds, calendar parts, words meaning empty /
true / false, date formats tried, names a feature may not take, train settings a
mapping may set, and the LightGBM defaults for flat exports.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import pandas as pd

from scoring.contract import (
    LEAD_COLUMNS,
)
from scoring.features import LEAD_TIME_FEATURES, TOUCH_FEATURES
from training.train import LGBM_KNOBS

Kind = Literal["categorical", "numeric", "boolean", "ordinal"]
KINDS: tuple[str, ...] = ("categorical", "numeric", "boolean", "ordinal")
DERIVE: dict[str, tuple[str, ...]] = {
    "month": ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    "weekday": ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
}
"""Calendar parts a feature can be derived from a date column as (named, not numbered:
a served attribute ``3`` arrives as the float ``3.0`` and would miss a ``"3"`` category)."""

NO_TIME = pd.Timestamp("1970-01-01", tz="UTC")
"""Placeholder ``created_at``/``mql_at`` for files without a time column (the contract
requires one). Such a history is split at random (stratified), never in time."""

DEFAULT_MISSING: frozenset[str] = frozenset(
    {"", "nan", "none", "null", "n/a", "na", "#n/a", "-", "—", "nat"}
)
"""Cell texts that mean "empty" in every column (compared after normalisation)."""

TRUE_WORDS: tuple[str, ...] = ("yes", "y", "true", "1", "да", "д", "истина", "on")
FALSE_WORDS: tuple[str, ...] = ("no", "n", "false", "0", "нет", "н", "ложь", "off")
DEFAULT_DATE_FORMATS: tuple[str, ...] = (
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
"""Tried in order, then ISO 8601: CRM exports in Russian use ``dd.mm.yyyy``, re-saved
spreadsheets and most datasets ISO; ``mm/dd`` is never guessed (it is ambiguous)."""

RESERVED_NAMES: frozenset[str] = frozenset(
    {
        *LEAD_COLUMNS,
        *TOUCH_FEATURES,
        *LEAD_TIME_FEATURES,
        "y_sql",
        "y_won",
        "y_won_given_sql",
        "first_decision",
        "first_reason",
        "sql_at",
        "split",
        "touches",
        "attributes",
        "as_of",
        "p_sql_true",
        "p_won_true",
    }
)
"""Names an extra feature may not take: contract columns (declare those under
``contract:``), computed features and the training frame's label columns. A feature
declared with one is renamed ``name_2`` (see :func:`_free_name`), with a note."""

FLAT_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.02,
    "num_leaves": 7,
    "min_child_samples": 20,
    "n_estimators": 3000,
    "early_stopping_rounds": 100,
}
"""LightGBM settings for flat exports (a mapping's ``train:`` overrides them). Chosen by
a small grid on X Education with a fold partition (seed 1) *other* than the one the
benchmark reports (seed 0): thousands of leads and a few dozen columns want smaller
trees and a slower rate than the synthetic 20k-lead history the TrainConfig defaults
are for. Early stopping on the validation split decides the number of trees."""

FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+")
PHONE_LIKE = re.compile(r"^\+?[\d\s().\-]{7,}$")
TRAIN_KEYS: frozenset[str] = frozenset(
    {
        "label_rules",
        "n_estimators",
        "learning_rate",
        "num_leaves",
        "min_child_samples",
        "early_stopping_rounds",
        *LGBM_KNOBS,
        "max_bad_share",
        "policy",
    }
)
