"""The SLA section's sums read from the roll-ups: month and day sums, open clocks, histograms.

:mod:`serving.store.rollup_sla` keeps the section's per-lead counts summed per cohort
day and per cohort month, by group field. A report for a period reads its whole months
from the month sums and the rest as the funnel does
(:func:`~serving.store.report_sums.period_sums`), then what depends on its own moment
``as_of`` and cannot be summed ahead:

* the breaches: the sums count every clock still open at the end of time as breached;
  the clocks due at or after ``as_of`` (:class:`~serving.rollup_tables.LeadSlaDue`, by its
  ``due_at`` index: the last day or so of handoffs, not the log) are taken back out;
* the medians and p90s of the response and decision times, read off the period's summed
  histograms (:mod:`serving.store.sla_hist`: its whole months, its other whole days and
  the times of its partial days' leads), within 1 minute + 1 % of the exact quantiles.

The result is what ``serving.reports.sla._sla_sums`` makes of the whole log (the
quantiles within that bound), so
:func:`~serving.reports.sla.sla_from_sums` renders the same section from either.
Callers refresh the roll-ups first (``serving.report_sql.store_report`` does).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.engine import Connection

from serving.reports.facts import UNKNOWN, GroupSums
from serving.rollup_tables import MISSING, TOTAL, LeadRollup, LeadSlaDue, ReportDaySum
from serving.store.report_sums import (
    PerField,
    _partial_ranges,
    _period,
    _whole_days,
    ordered_sums,
    period_sums,
)
from serving.store.rollup_sla import BINS, COUNTS, SLA, SLA_MONTH, SLA_TOTAL
from serving.store.sla_hist import period_counts, quantile

QUANTILES: dict[str, tuple[str, float]] = {
    "response_hours_median": ("response_hours", 0.5),
    "response_hours_p90": ("response_hours", 0.9),
    "decision_hours_median": ("decision_hours", 0.5),
    "decision_hours_p90": ("decision_hours", 0.9),
}
"""The section's quantiles: ``name -> (time, quantile)``, linear between order
statistics as pandas' ``median`` and ``quantile`` (here between estimated ones)."""
Key = tuple[str | None, str | None]
"""``(field, group)`` of a section row; ``(None, None)`` is the total."""


def sla_sums(
    engine: Engine,
    dims: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    as_of: datetime,
) -> tuple[GroupSums, list[int]]:
    """The SLA section's sums per group as of ``as_of`` over the leads first scored in
    ``[start, end)``, and its response-time histogram."""
    found = _month_and_day_sums(engine, [SLA_TOTAL, *(SLA + d for d in dims)], start, end)
    sums: PerField = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    for field, values in found.items():
        if field == SLA_TOTAL or field.removeprefix(SLA) in dims:
            name = TOTAL if field == SLA_TOTAL else field.removeprefix(SLA)
            for value, metrics in values.items():
                for metric, amount in metrics.items():
                    sums[name][value][metric.removeprefix(SLA)] += amount
    with engine.connect() as conn:
        for (field, value, rule), n in _not_yet_due(conn, dims, start, end, as_of).items():
            sums[field][value][f"breach_{rule}"] -= n
        quantiles = _quantiles(conn, dims, start, end)
    total = sums[TOTAL][TOTAL]
    ordered = ordered_sums(sums, dims, COUNTS, present="leads")
    for dim, group, row in ordered:
        row.update(quantiles.get((dim, group), dict.fromkeys(QUANTILES, math.nan)))
    if not round(total.get("leads", 0)):  # the pandas path's zeros for no leads at all
        ordered[0][2].update(dict.fromkeys(QUANTILES, 0))
    return ordered, [round(total.get(f"hist_{i}", 0)) for i in range(BINS)]


def _month_and_day_sums(
    engine: Engine, fields: Sequence[str], start: datetime | None, end: datetime | None
) -> PerField:
    """:func:`~serving.store.report_sums.period_sums` of ``fields``, the whole months of
    the period read from their month sums (:data:`SLA_MONTH`), the rest as before."""
    lo, hi = _whole_months(start, end)
    if lo is not None and hi is not None and lo >= hi:
        return period_sums(engine, fields, start, end)
    out: PerField = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    pieces = [(start, lo)] if start is not None and lo is not None and start < lo else []
    pieces += [(hi, end)] if end is not None and hi is not None and hi < end else []
    for a, b in pieces:
        for field, values in period_sums(engine, fields, a, b).items():
            for value, metrics in values.items():
                for metric, amount in metrics.items():
                    out[field][value][metric] += amount
    s = ReportDaySum.__table__
    months = {SLA_MONTH + f.removeprefix(SLA): f for f in fields}
    query = (
        select(s.c.field, s.c.value, s.c.metric, func.sum(s.c.amount))
        .where(
            and_(
                s.c.field.in_(months),
                *(() if lo is None else (s.c.day >= lo.date(),)),
                *(() if hi is None else (s.c.day < hi.date(),)),
            )
        )
        .group_by(s.c.field, s.c.value, s.c.metric)
    )
    with engine.connect() as conn:
        for field, value, metric, amount in conn.execute(query):
            out[months[field]][value][metric] += float(amount or 0.0)
    return out


def _whole_months(
    start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """The first and the end of the UTC months lying wholly inside ``[start, end)`` (open
    ends: None): ``[lo, hi)``, empty when ``lo >= hi``."""
    lo = hi = None
    if start is not None:
        first = start.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        lo = first if first == start else (first + timedelta(days=32)).replace(day=1)
    if end is not None:
        hi = end.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return lo, hi


def _not_yet_due(
    conn: Connection,
    dims: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    as_of: datetime,
) -> dict[tuple[str, str, str], int]:
    """The open clocks of the period's leads due at or after ``as_of``, per rule and
    group: counted in the sums as breached, not breached yet at ``as_of``."""
    d, r = LeadSlaDue.__table__, LeadRollup.__table__
    groups = [r.c[f"g_{dim}"] for dim in dims]
    query = (
        select(d.c.rule, func.sum(d.c.n), *groups)
        .select_from(d.join(r, r.c.lead_id == d.c.lead_id))
        .where(and_(d.c.due_at >= as_of, *_period(r.c.cohort_at, start, end)))
        .group_by(d.c.rule, *groups)
    )
    out: dict[tuple[str, str, str], int] = defaultdict(int)
    for rule, n, *values in conn.execute(query):
        out[(TOTAL, TOTAL, rule)] += int(n)
        for dim, value in zip(dims, values, strict=True):
            out[(dim, MISSING if value is None else str(value), rule)] += int(n)
    return out


def _quantiles(
    conn: Connection, dims: Sequence[str], start: datetime | None, end: datetime | None
) -> dict[Key, dict[str, float]]:
    """The period's quantiles of the times per row of the section, from the summed
    histograms (within :func:`~serving.store.sla_hist.error_bound` of the exact ones;
    groups without any time are left out: their quantiles are unknown)."""
    first_day, last_day = _whole_days(start, end)
    partial = _partial_ranges(start, end, first_day, last_day)
    found = period_counts(conn, [TOTAL, *dims], first_day, last_day, partial)
    out: dict[Key, dict[str, float]] = {}
    for field, value, _time in found:
        key: Key = (None, None) if field == TOTAL else (field, _group(value))
        if key in out:
            continue
        out[key] = {}
        for name, (time, q) in QUANTILES.items():
            counted = found.get((field, value, time))
            out[key][name] = math.nan if counted is None else quantile(*counted, q)
    return out


def _group(value: str) -> str:
    return UNKNOWN if value == MISSING else value
