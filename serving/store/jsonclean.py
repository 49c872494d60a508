"""Plain, canonical JSON for the database: the same on SQLite and PostgreSQL, no PII.

Feature snapshots and request bodies are cleaned here (NaN, NUL characters, numpy and
pandas values, personal-data keys) and hashed from their canonical text, so equal data
gives equal hashes whatever its key order or formatting.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd

from scoring.contract import PII_COLUMNS, as_utc


def _jsonable(value: Any) -> Any:
    """Turn ``value`` into plain JSON data, the same way on every backend.

    NaN and infinities become ``null`` (JSON has neither and PostgreSQL refuses them);
    NUL characters become U+FFFD (PostgreSQL text cannot hold them); numpy scalars,
    enums, decimals and timestamps (as UTC ISO 8601) are converted.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


def _clean(value: Any) -> Any:
    """``_jsonable(_strip_pii(value))`` in one pass, fast for plain JSON-like data.

    Exact built-in types (the decision log's features: dicts, lists, strings, floats,
    timestamps) are handled inline; anything else takes the general path, so the result
    is always the same as the two-step version.
    """
    kind = type(value)
    if kind is str:
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if kind is float:
        return value if math.isfinite(value) else None
    if value is None or kind is bool or kind is int:
        return value
    if kind is dict:
        out = {}
        for k, v in value.items():
            key = k if type(k) is str else str(k)
            if key not in PII_COLUMNS:
                # the common leaves inline: a call per value costs more than the check
                leaf = type(v)
                if leaf is str and "\x00" not in v:
                    out[key] = v
                elif leaf is float:
                    out[key] = v if math.isfinite(v) else None
                elif v is None or leaf is bool or leaf is int:
                    out[key] = v
                else:
                    out[key] = _clean(v)
        return out
    if kind is list or kind is tuple:
        return [_clean(v) for v in value]
    if kind is datetime:
        return as_utc(value).isoformat()
    return _jsonable(_strip_pii(value))


class _Cleaned(dict[str, Any]):
    """A mapping its maker built already clean: what :func:`_clean` would return for it.

    The decision log's rows (``serving.decision_log.build_rows``) make their feature
    snapshot this way, value by value; the store then serialises it as it is instead of
    walking it a second time (a tenth of a row's cost on the writer's thread).
    """

    __slots__ = ()


class _JSONText(str):
    """JSON text made by :func:`_canonical_dumps`; the engine stores it as it is.

    A decision's features are serialised once, for their hash, and that same text is
    what the database receives, instead of serialising them a second time.
    """

    __slots__ = ()


def _json_dumps(value: Any) -> str:
    """The engine's JSON serializer: strict (no NaN), so SQLite stores what PostgreSQL would."""
    if type(value) is _JSONText:
        return value
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def canonical_json(value: Any) -> str:
    """Canonical JSON of ``value``: sorted keys, no whitespace, UTF-8, see :func:`_jsonable`.

    Equal data gives equal text, so its sha256 identifies a feature snapshot or a request
    body independently of key order or formatting.
    """
    return _canonical_dumps(_jsonable(value))


def _canonical_dumps(data: Any) -> str:
    """Canonical JSON text of data that is already plain JSON (see :func:`canonical_json`)."""
    return json.dumps(
        data,
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def feature_hash(features: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of a feature snapshot (as stored in ``decisions``)."""
    return _sha256(canonical_json(_strip_pii(features)))


def _strip_pii(value: Any) -> Any:
    """Drop personal-data keys (``PII_COLUMNS``) at any depth: they never enter the log."""
    if isinstance(value, Mapping):
        return {k: _strip_pii(v) for k, v in value.items() if str(k) not in PII_COLUMNS}
    if isinstance(value, list | tuple):
        return [_strip_pii(v) for v in value]
    return value


def _decision_id(base: int, offset: int) -> str:
    """Hex of a version-4 UUID: ``base`` (random 128 bits) plus ``offset`` (< 2**62)."""
    return uuid.UUID(int=(base + offset) % (1 << 128), version=4).hex
