"""Cell values to contract values: categories, numbers, booleans, ordinals, size bands,
dates, and outcome statuses; errors name the column and never echo personal data.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from scoring.contract import (
    COMPANY_SIZES,
)
from training.importing.constants import DERIVE, EMAIL_LIKE, PHONE_LIKE
from training.importing.errors import MappingError
from training.importing.mapping import Column, CRMMapping, DateRule
from training.importing.readers import _norm


def _is_missing(value: Any, missing: frozenset[str]) -> bool:
    return value is None or _norm(value) in missing


def _shown(values: Iterable[str], personal: bool, limit: int = 8) -> str:
    """Quote unmapped values for an error, but never personal-looking ones."""
    counts = Counter(values)
    parts = []
    for value, n in counts.most_common(limit):
        text = str(value)
        if personal or EMAIL_LIKE.search(text) or PHONE_LIKE.match(text):
            text = "<redacted: looks like personal data>"
        elif len(text) > 60:
            text = text[:57] + "..."
        parts.append(f"{text!r} ({n} row{'s' if n != 1 else ''})")
    extra = len(counts) - limit
    return ", ".join(parts) + (f" and {extra} more" if extra > 0 else "")


def _convert(
    raw: pd.Series, column: Column, header: str, missing: frozenset[str], personal: set[str]
) -> pd.Series:
    """One file column → the mapped column's values (object series, None = missing)."""
    local_missing = column.markers(missing)
    is_personal = column.personal or header in personal
    values = [None if _is_missing(v, local_missing) else str(v) for v in raw.tolist()]
    if column.derive is not None:
        assert column.dates is not None
        stamps = _parse_dates(pd.Series(values, dtype=object), column, header, local_missing)
        names = DERIVE[column.derive]
        part = stamps.dt.month - 1 if column.derive == "month" else stamps.dt.weekday
        return pd.Series(
            [None if pd.isna(p) else names[int(p)] for p in part], index=raw.index, dtype=object
        )
    if column.kind == "numeric":
        return _numbers(values, raw.index, column, header, is_personal)
    if column.kind == "boolean":
        out: list[bool | None] = []
        bad: list[str] = []
        for v in values:
            if v is None:
                out.append(None)
            elif (key := _norm(v)) in column.true_values:
                out.append(True)
            elif key in column.false_values:
                out.append(False)
            else:
                out.append(None)
                bad.append(v)
        if bad:
            raise MappingError(
                f"column {header!r} ({column.name}, boolean): values that are neither true nor "
                f"false: {_shown(bad, is_personal)}; add them to `true_values:`/"
                "`false_values:` or `missing:`",
                column=header,
            )
        return pd.Series(out, index=raw.index, dtype=object)
    if column.name == "company_size" and column.bands:
        return _size_bands(values, raw.index, column, header, is_personal)
    return _categories(values, raw.index, column, header, is_personal)


def _categories(
    values: list[str | None], index: pd.Index, column: Column, header: str, personal: bool
) -> pd.Series:
    out: list[str | None] = []
    unmapped: list[str] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        target = _lookup(v, column)
        if target is None:
            if column.other == "keep" and column.kind == "categorical":
                target = v.lower() if column.case == "lower" else v
            elif column.other == "error":
                unmapped.append(v)
            else:
                target = column.other
        out.append(target)
    if unmapped:
        allowed = f" (targets: {', '.join(column.order)})" if column.order else ""
        raise MappingError(
            f"column {header!r} ({column.name}): unmapped values {_shown(unmapped, personal)}; "
            f"add them under `values:`{allowed} or set `other:`",
            column=header,
        )
    return pd.Series(out, index=index, dtype=object)


def _lookup(value: str, column: Column) -> str | None:
    key = _norm(value)
    target = column.values.get(key)
    if target is None and key in column.targets:
        return key
    if target is not None or column.match == "exact":
        return target
    for needle, candidate in column.values.items():
        if needle and needle in key:
            return candidate
    return None


NUMBER_NOISE = re.compile(r"[\s\u00a0\u202f'’]")
NUMBER_TEXT = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


def _parse_number(text: str) -> float | None:
    """``1 500 000,50 ₽``, ``$1,500.00``, ``1.5e3`` → float; None when it is not a number."""
    t = NUMBER_NOISE.sub("", text)
    t = re.sub(r"^[^\d+\-.,]+|[^\d]+$", "", t)  # currency before/after ("руб.", "₽")
    if "," in t and "." in t:
        t = (
            t.replace(".", "").replace(",", ".")
            if t.rfind(",") > t.rfind(".")
            else t.replace(",", "")
        )
    elif t.count(",") == 1:
        t = t.replace(",", ".")
    elif t.count(",") > 1:
        t = t.replace(",", "")
    if not NUMBER_TEXT.match(t):
        return None
    return float(t)


def _numbers(
    values: list[str | None], index: pd.Index, column: Column, header: str, personal: bool
) -> pd.Series:
    out = np.full(len(values), np.nan)
    bad: list[str] = []
    for i, v in enumerate(values):
        if v is None:
            continue
        number = _parse_number(v)
        if number is None:
            bad.append(v)
        else:
            out[i] = number
    if bad:
        raise MappingError(
            f"column {header!r} ({column.name}, numeric): {len(bad)} value(s) are not numbers: "
            f"{_shown(bad, personal, limit=3)}; add them to `missing:` if they mean empty",
            column=header,
        )
    return pd.Series(out, index=index, dtype=float)


def _size_bands(
    values: list[str | None], index: pd.Index, column: Column, header: str, personal: bool
) -> pd.Series:
    """Company size as a contract band from a band, a head count or a range ("11-50")."""
    out: list[str | None] = []
    bad: list[str] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        if v.strip() in COMPANY_SIZES:
            out.append(v.strip())
            continue
        numbers = [n for part in re.split(r"[-–—]", v) if (n := _parse_number(part)) is not None]
        if not numbers:
            numbers = [float(d) for d in re.findall(r"\d+", NUMBER_NOISE.sub("", v))]
        if numbers:
            out.append(_size_band(max(numbers)))
        else:
            out.append(None)
            bad.append(v)
    if bad:
        raise MappingError(
            f"column {header!r} ({column.name}): not a head count, a range or one of "
            f"{list(COMPANY_SIZES)}: {_shown(bad, personal, limit=3)}",
            column=header,
        )
    return pd.Series(out, index=index, dtype=object)


def _size_band(employees: float) -> str | None:
    """An employee count → the contract's company-size band."""
    if not np.isfinite(employees) or employees < 1:
        return None
    uppers = (10, 50, 200, 500, 1000, 5000)
    for band, upper in zip(COMPANY_SIZES, uppers, strict=False):
        if employees <= upper:
            return band
    return COMPANY_SIZES[-1]


def _parse_dates(raw: pd.Series, column: Column, header: str, missing: frozenset[str]) -> pd.Series:
    """Dates in the mapping's formats (then ISO 8601), made UTC; unparseable → error."""
    rule = column.dates or DateRule()
    text = pd.Series(
        [None if _is_missing(v, column.markers(missing)) else str(v) for v in raw.tolist()],
        index=raw.index,
        dtype=object,
    )
    result = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    todo = text.notna()
    for fmt in rule.formats:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        result[todo] = parsed.astype("datetime64[ns]")
        todo = text.notna() & result.isna()
    if todo.any():
        iso = pd.to_datetime(text[todo], format="ISO8601", errors="coerce", utc=True)
        result[todo] = iso.dt.tz_localize(None).astype("datetime64[ns]")
        todo = text.notna() & result.isna()
    if todo.any():
        examples = _shown(text[todo].tolist(), False, limit=3)
        raise MappingError(
            f"column {header!r} ({column.name}): {int(todo.sum())} value(s) are not dates in "
            f"the formats {list(rule.formats)} or ISO 8601: {examples}; set `formats:`",
            column=header,
        )
    if rule.timezone:
        return result.dt.tz_localize(
            rule.timezone, ambiguous="NaT", nonexistent="shift_forward"
        ).dt.tz_convert("UTC")
    return result.dt.tz_localize("UTC")


def _outcome_status(
    table: pd.DataFrame,
    m: CRMMapping,
    header: str,
    missing: frozenset[str],
    personal: set[str],
    notes: list[str],
) -> pd.Series:
    """Per row: ``won``, ``lost`` or ``open`` (open rows get no label).

    An empty outcome cell is ``open`` — no outcome recorded yet, so no label — unless the
    mapping lists ``""`` under won/lost itself; ``outcome.other`` is for unlisted *values*.
    """
    o = m.outcome
    if o.present:
        present = [not _is_missing(v, missing) for v in table[header].tolist()]
        return pd.Series(np.where(present, "won", "lost"), index=table.index, dtype=object)
    status: list[str] = []
    unmapped: list[str] = []
    empty = 0
    for v in table[header].tolist():
        key = "" if _is_missing(v, missing) else _norm(v)
        if key in o.won:
            status.append("won")
        elif key in o.lost:
            status.append("lost")
        elif key in o.open:
            status.append("open")
        elif not key:  # nothing recorded yet
            status.append("open")
            empty += 1
        elif o.other == "error":
            status.append("open")
            unmapped.append(str(v))
        else:
            status.append(o.other)
    if empty:
        notes.append(f"{empty:,} row(s) with an empty outcome column {header!r}: open, no label")
    if unmapped:
        raise MappingError(
            f"outcome column {header!r}: values not mapped to won/lost/open: "
            f"{_shown(unmapped, header in personal)}; list them under outcome.won/lost/open "
            "or set outcome.other",
            column=header,
        )
    return pd.Series(status, index=table.index, dtype=object)
