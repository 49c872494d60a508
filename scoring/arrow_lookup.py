"""Look-ups of string columns in Arrow, without a Python object per value.

A million leads have ten million touches: turning their ``lead_id`` or ``type`` into a
NumPy object array (what ``Series.to_numpy()`` does for strings) costs a Python string
per cell — seconds, and hundreds of megabytes that the process keeps after the arrays
are freed. Arrow's hash look-ups (``is_in``, ``index_in``) work on the column's own
buffers instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["arrow_strings", "positions_in", "within"]


def arrow_strings(values: pd.Series | Sequence[str]) -> Any:
    """``values`` as strings in one Arrow array (missing values stay missing).

    An Arrow-backed column converts to a *chunked* array, one chunk per block the CSV
    reader produced; wrapping it in ``pa.chunked_array([...])`` or passing it as a
    ``value_set`` iterates it value by value (8 s for two million ids), so the chunks
    are joined in Arrow instead.
    """
    import pyarrow as pa

    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=str)
    column = pa.array(series.astype(str))
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def within(values: pd.Series, pool: pd.Series | Sequence[str]) -> np.ndarray:
    """``values.isin(pool)`` for strings; a missing value matches a missing one in the pool,
    as in pandas."""
    import pyarrow.compute as pc

    found = pc.is_in(arrow_strings(values), value_set=arrow_strings(pool))
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def positions_in(values: pd.Series, pool: pd.Series | Sequence[str]) -> np.ndarray:
    """Each value's position in ``pool`` (its first occurrence), -1 when absent or missing:
    ``pd.Index(pool).get_indexer(values)`` for a ``pool`` without duplicates."""
    import pyarrow.compute as pc

    found = pc.index_in(arrow_strings(values), value_set=arrow_strings(pool), skip_nulls=True)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
