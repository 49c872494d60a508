"""The SLA section's times as histograms: medians and p90s without every lead's time.

Exact quantiles cannot be summed ahead: a period's median over a million leads read every
lead's time (6–8.5 s at 1M decisions). Here each cohort day and each cohort month keeps,
per group field and value, how many leads' response and decision times fall in each
bucket of a fixed grid (:class:`~serving.rollup_tables.SlaHistogram`); a report adds up
the counts of its whole months, its other whole days and the leads of its partial first
and last day, and reads the quantile off the summed counts.

**The grid and its error.** One-minute buckets below :data:`LINEAR_MINUTES` (100 min),
then buckets each :data:`RATIO` (1 %) wider than the last. A bucket's leads are taken as
spread evenly over it, so an order statistic is off by less than its bucket's width: at
most 1 minute below 100 minutes, at most 1 % of the time above. The quantile pandas
computes is a weighted mean of two order statistics, so the estimate is within
**1 minute + 1 % of the exact value** (:func:`error_bound`). A day of a group holds at
most ~450 buckets up to 48 hours, ~1,000 up to a year, and only the occupied ones.
The counts "within 8 h / 24 h" do not come from here: they stay exact day-sum counts.

How the counts move: :mod:`serving.store.rollup_sla` puts each lead's bucket among its
``sla:`` metrics (``hb_<time>:<bucket>``) and spreads it over the lead's day and month
keys under :data:`HIST` fields (:func:`hist_keys`); the refresh's difference of those
contributions reaches :func:`add_histograms` through ``rollups.add_sums``, so the
incremental refresh, the full rebuild and the erasure all keep the histograms.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, and_, delete, insert, select
from sqlalchemy.engine import Connection

from serving.reports.report_data import GROUPABLE
from serving.rollup_tables import MISSING, TOTAL, LeadRollup, LeadSla, SlaHistogram

TIMES = ("response_hours", "decision_hours")
"""The times the section reports quantiles of (columns of :class:`LeadSla`)."""
LINEAR_MINUTES = 100
RATIO = 1.01
ERROR_MINUTES = 1.0
ERROR_SHARE = RATIO - 1.0
HIST = "slah:"
"""Prefix of the contributions' fields that are histogram counts: ``slah:<span>:<field>``."""
BUCKET = "hb_"
"""Prefix of a lead's per-lead metric naming its bucket: ``hb_<time>:<bucket>``."""
SPANS = ("day", "month")
_LOG_RATIO = math.log(RATIO)
Counts = dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]]
"""``(field, value, time) -> (buckets ascending, counts)`` summed over a period."""


def error_bound(exact: float) -> float:
    """How far (hours) an estimated quantile may lie from the exact one."""
    return ERROR_MINUTES / 60.0 + ERROR_SHARE * abs(exact)


def buckets(hours: Any) -> np.ndarray:
    """The grid's bucket of each time in hours (negative times: one-minute buckets)."""
    minutes = np.asarray(hours, dtype=float) * 60.0
    out = np.floor(minutes)
    big = minutes >= LINEAR_MINUTES
    out[big] = LINEAR_MINUTES + np.floor(np.log(minutes[big] / LINEAR_MINUTES) / _LOG_RATIO)
    return out.astype(np.int64)


def _lower_minutes(bucket: np.ndarray) -> np.ndarray:
    b = np.asarray(bucket, dtype=float)
    return np.where(
        b < LINEAR_MINUTES, b, LINEAR_MINUTES * RATIO ** np.maximum(b - LINEAR_MINUTES, 0)
    )


def quantile(bins: np.ndarray, counts: np.ndarray, q: float) -> float:
    """The ``q`` quantile (hours) of the times counted, as pandas interpolates between
    order statistics, each order statistic spread evenly over its bucket."""
    n = int(counts.sum())
    if n == 0:
        return math.nan
    h = q * (n - 1)
    k = math.floor(h)
    ranks = [k] if h == k else [k, k + 1]
    ends = np.cumsum(counts)
    values = []
    for rank in ranks:
        i = int(np.searchsorted(ends, rank, side="right"))
        within = rank - (int(ends[i]) - int(counts[i]))
        lo, hi = _lower_minutes(bins[i : i + 1])[0], _lower_minutes(bins[i : i + 1] + 1)[0]
        values.append((lo + (within + 0.5) / int(counts[i]) * (hi - lo)) / 60.0)
    return float(values[0] if len(values) == 1 else values[0] + (h - k) * (values[1] - values[0]))


def bucket_metrics(times: Mapping[str, float | None]) -> dict[str, int]:
    """A lead's per-lead metrics naming the bucket of each of its known times."""
    return {
        f"{BUCKET}{time}:{int(buckets([hours])[0])}": 1
        for time, hours in times.items()
        if hours is not None
    }


def hist_keys(day: date, field: str, value: str, metric: str) -> list[tuple[date, str, str, str]]:
    """The contribution keys a lead's bucket metric is counted under for one of its
    ``(day, field, value)`` keys: that day's histogram and its month's."""
    name = metric.removeprefix(BUCKET)
    return [
        (day, f"{HIST}day:{field}", value, name),
        (day.replace(day=1), f"{HIST}month:{field}", value, name),
    ]


def is_hist(field: str) -> bool:
    return field.startswith(HIST)


def add_histograms(conn: Connection, deltas: Mapping[tuple[date, str, str, str], float]) -> None:
    """Add the counts ``deltas`` (keys of :func:`hist_keys`) to the histograms: the rows
    of the days touched are read, merged and written back (no zero counts, no empty rows)."""
    moved: dict[tuple[str, str, date, str, str], dict[int, int]] = defaultdict(
        lambda: defaultdict(int)
    )
    for (day, field, value, metric), amount in deltas.items():
        if round(amount):
            span, name = field.removeprefix(HIST).split(":", 1)
            time, at = metric.rsplit(":", 1)
            moved[(span, name, day, value, time)][int(at)] += round(amount)
    days = sorted({key[2] for key in moved})
    if not days:
        return
    t = cast(Table, SlaHistogram.__table__)
    merged: dict[tuple[str, str, date, str, str], dict[int, int]] = {}
    for some in _batches(days):
        for row in conn.execute(select(t).where(t.c.day.in_(some))):
            pairs = _decode(row.counts)
            merged[(row.span, row.field, row.day, row.value, row.time)] = dict(
                zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), strict=True)
            )
        conn.execute(delete(t).where(t.c.day.in_(some)))
    for key, counts in moved.items():
        now = merged.setdefault(key, {})
        for bucket, n in counts.items():
            now[bucket] = now.get(bucket, 0) + n
    rows = [
        {
            "span": span,
            "field": field,
            "day": day,
            "value": value,
            "time": time,
            "counts": _encode(counts),
        }
        for (span, field, day, value, time), counts in merged.items()
        if any(counts.values())
    ]
    for start in range(0, len(rows), 5_000):
        conn.execute(insert(t), rows[start : start + 5_000])


def period_counts(
    conn: Connection,
    fields: Sequence[str],
    first_day: date | None,
    last_day: date | None,
    partial: Iterable[tuple[datetime, datetime]],
) -> Counts:
    """The summed counts per ``(field, value, time)`` of the leads first scored on the
    whole days ``[first_day, last_day]`` (open ends: None) and in the ``partial`` ranges:
    whole months from the month rows, the other whole days from the day rows, the
    partial days' leads from their own times."""
    t = SlaHistogram.__table__
    found: dict[tuple[str, str, str], list[np.ndarray]] = defaultdict(list)
    if first_day is None or last_day is None or first_day <= last_day:
        lo_month = None if first_day is None else _month_at_or_after(first_day)
        hi_month = None if last_day is None else _month_after_last_whole(last_day)
        months = [t.c.span == "month"]
        days: list[Any] = []
        if lo_month is not None and hi_month is not None and lo_month >= hi_month:
            months = []
            days.append(_between(t.c.day, first_day, last_day))
        else:
            if lo_month is not None:
                months.append(t.c.day >= lo_month)
                days.append(_between(t.c.day, first_day, lo_month - timedelta(days=1)))
            if hi_month is not None:
                months.append(t.c.day < hi_month)
                days.append(_between(t.c.day, hi_month, last_day))
        spans = ([and_(*months)] if months else []) + [and_(t.c.span == "day", d) for d in days]
        for where in spans:
            query = select(t.c.field, t.c.value, t.c.time, t.c.counts).where(
                and_(t.c.field.in_(fields), where)
            )
            for field, value, time, blob in conn.execute(query):
                found[(field, value, time)].append(_decode(blob))
    for lo, hi in partial:
        for key, pairs in _lead_counts(conn, fields, lo, hi).items():
            found[key].append(pairs)
    out: Counts = {}
    for key, arrays in found.items():
        pairs = np.concatenate(arrays)
        bins, at = np.unique(pairs[:, 0], return_inverse=True)
        counts = np.zeros(len(bins), dtype=np.int64)
        np.add.at(counts, at, pairs[:, 1])
        out[key] = (bins, counts)
    return out


def _lead_counts(
    conn: Connection, fields: Sequence[str], lo: datetime, hi: datetime
) -> dict[tuple[str, str, str], np.ndarray]:
    """The bucket counts of the leads first scored in ``[lo, hi)``, from their times."""
    s, r = LeadSla.__table__, LeadRollup.__table__
    dims = [f for f in fields if f in GROUPABLE]
    query = (
        select(*(r.c[f"g_{d}"] for d in dims), *(s.c[time] for time in TIMES))
        .select_from(s.join(r, r.c.lead_id == s.c.lead_id))
        .where(and_(r.c.cohort_at >= lo, r.c.cohort_at < hi))
    )
    counted: dict[tuple[str, str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for row in conn.execute(query):
        groups, times = row[: len(dims)], row[len(dims) :]
        keys = [(TOTAL, TOTAL)] + [
            (d, MISSING if v is None else str(v)) for d, v in zip(dims, groups, strict=True)
        ]
        for time, hours in zip(TIMES, times, strict=True):
            if hours is not None:
                bucket = int(buckets([hours])[0])
                for field, value in keys:
                    counted[(field, value, time)][bucket] += 1
    return {
        key: np.array(sorted(counts.items()), dtype=np.int64).reshape(-1, 2)
        for key, counts in counted.items()
    }


def _encode(counts: Mapping[int, int]) -> bytes:
    pairs = sorted((b, n) for b, n in counts.items() if n)
    return np.array(pairs, dtype="<i4").reshape(-1, 2).tobytes()


def _decode(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<i4").reshape(-1, 2).astype(np.int64)


def _batches(days: list[date], size: int = 400) -> Iterable[list[date]]:
    for start in range(0, len(days), size):
        yield days[start : start + size]


def _month_at_or_after(day: date) -> date:
    return day if day.day == 1 else _next_month(day)


def _month_after_last_whole(last_day: date) -> date:
    """The first day of the first month not wholly at or before ``last_day``."""
    after = last_day + timedelta(days=1)
    return after if after.day == 1 else after.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _between(column: Any, lo: date | None, hi: date | None) -> Any:
    return and_(*(() if lo is None else (column >= lo,)), *(() if hi is None else (column <= hi,)))
