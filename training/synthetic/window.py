"""The history window: the generator keeps time as float days since ``start``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# --- the window ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """The history window; times inside the generator are float days since ``start``."""

    start: pd.Timestamp
    end: pd.Timestamp
    drift_at: pd.Timestamp | None
    days: float  # window length
    drift_day: float  # drift_at in days since start (inf without drift)
    epoch_day: float  # start in days since 1970-01-01 (for weekdays)
    month_edges: np.ndarray  # block boundaries in days since start (months + 1 values)
    hidden_channel: int = -1  # channel code with an unobservable drift (-1: none)


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _make_window(start: str, months: int, drift: bool, drift_at: str | None) -> _Window:
    begin = _utc(start)
    end = begin + pd.DateOffset(months=months)
    day = pd.Timedelta(days=1)
    edges = np.asarray([(begin + pd.DateOffset(months=m) - begin) / day for m in range(months + 1)])
    shift: pd.Timestamp | None = None
    drift_day = np.inf
    if drift:
        if drift_at is not None:
            shift = _utc(drift_at)
        elif months >= 2:  # a month boundary, so that earlier blocks are untouched
            shift = begin + pd.DateOffset(months=min(max(round(2 * months / 3), 1), months - 1))
        else:
            shift = (begin + (end - begin) * 2 / 3).floor("D")
        if not begin < shift < end:
            raise ValueError("drift_at must fall inside the history window")
        drift_day = (shift - begin) / day
    epoch_day = (begin - pd.Timestamp(0, tz="UTC")) / day
    return _Window(begin, end, shift, edges[-1], drift_day, epoch_day, edges)
