"""Checks of the untyped values a store method receives, and frames with stable dtypes.

Every message names the field and never the value (it may be personal data). The
column sizes come from :mod:`serving.tables`: PostgreSQL enforces them, SQLite does not,
so both backends refuse the same inputs here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Double, Integer

from scoring.contract import as_utc
from serving.tables import UTCDateTime


def _timestamp(value: Any, field: str) -> datetime:
    """A datetime or an ISO 8601 string, as an aware UTC datetime (naive = UTC)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{field} is not an ISO 8601 timestamp") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{field} must be a timestamp")
    return as_utc(value)


def _text(value: Any, field: str, max_len: int) -> str:
    """A required, non-blank string of at most ``max_len`` characters (no NUL)."""
    checked = _optional_text(value, field, max_len)
    if checked is None:
        raise ValueError(f"{field} is required")
    if not checked.strip():
        raise ValueError(f"{field} must not be empty")
    return checked


def _optional_text(value: Any, field: str, max_len: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string")
    if len(value) > max_len:
        raise ValueError(f"{field} is longer than {max_len} characters")
    if "\x00" in value:
        raise ValueError(f"{field} must not contain NUL characters")
    return value


def _number(
    value: Any,
    field: str,
    *,
    required: bool = True,
    lo: float | None = None,
    hi: float | None = None,
) -> float | None:
    if value is None:
        if required:
            raise ValueError(f"{field} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | np.number):
        raise ValueError(f"{field} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{field} must be finite")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise ValueError(f"{field} must be within [{lo}, {hi}]")
    return number


def _vocabulary(value: Any, field: str, allowed: type[Enum], *, required: bool) -> str | None:
    if value is None:
        if required:
            raise ValueError(f"{field} is required")
        return None
    try:
        return str(allowed(value).value)
    except ValueError:
        choices = ", ".join(str(m.value) for m in allowed)  # type: ignore[attr-defined]
        raise ValueError(f"{field} must be one of: {choices}") from None


def _unknown_keys(given: Mapping[str, Any], known: frozenset[str] | set[str], what: str) -> None:
    unknown = sorted(str(k) for k in given if k not in known)
    if unknown:
        raise ValueError(f"unknown {what} field(s): {', '.join(unknown)}")


def _frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], table: Any) -> pd.DataFrame:
    """Rows as a DataFrame with stable dtypes (also when empty): UTC datetimes, floats."""
    frame = pd.DataFrame([dict(r) for r in rows], columns=list(columns))
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, UTCDateTime):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        elif isinstance(column_type, Double):
            frame[name] = frame[name].astype("float64")
        elif isinstance(column_type, Integer) and name != "id":
            frame[name] = frame[name].astype("Int64")
    return frame
