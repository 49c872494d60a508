"""Stored times read for the lifecycle are the same with the short cut as through pandas.

:func:`scoring.lifecycle.tables._utc` reads ISO text of a UTC time and plain datetimes
without ``pd.Timestamp``. Compared here with the definition it replaces on random times
in every form the log or a frame may hold: the result must be equal, aware, in ``UTC``
(the same zone object), or ``None`` alike.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.contract import as_utc
from scoring.lifecycle.tables import _utc


def reference(value: Any) -> datetime | None:
    """``_utc`` as it was (commit 07bb986): everything through ``pd.Timestamp``."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if pd.isna(stamp):
        return None
    return as_utc(stamp.to_pydatetime())


@st.composite
def stored_times(draw: st.DrawFn) -> Any:
    moment = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(
        seconds=draw(st.integers(0, 60 * 365 * 86_400)),
        microseconds=draw(st.sampled_from([0, 1, 123_456, 999_999])),
    )
    form = draw(st.integers(0, 9))
    if form == 0:
        return moment.isoformat()  # what the log stores
    if form == 1:
        return moment
    if form == 2:
        return moment.replace(tzinfo=None)  # naive: UTC
    if form == 3:
        return moment.astimezone(ZoneInfo("Europe/Moscow"))
    if form == 4:
        return moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    if form == 5:
        return moment.isoformat().replace("+00:00", "Z")
    if form == 6:
        return moment.replace(tzinfo=None).isoformat()
    if form == 7:
        return pd.Timestamp(moment)
    if form == 8:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00")
    return draw(st.sampled_from([None, "", "not a time", "2025-13-01T00:00:00+00:00", "NaT"]))


@settings(max_examples=500, deadline=None)
@given(value=stored_times())
def test_a_stored_time_reads_as_pandas_reads_it(value: Any) -> None:
    got, want = _utc(value), reference(value)
    assert got == want
    if want is not None:
        assert got is not None and got.tzinfo is UTC and type(got) is type(want)
