"""The SLA section's sums read from the roll-ups: day sums, open clocks, per-lead times.

:mod:`serving.store.rollup_sla` keeps the section's per-lead counts summed per cohort
day and group field. A report for a period reads them as the funnel does
(:func:`~serving.store.report_sums.period_sums`), then what depends on its own moment
``as_of`` and cannot be summed ahead:

* the breaches: the sums count every clock still open at the end of time as breached;
  the clocks due at or after ``as_of`` (:class:`~serving.rollup_tables.LeadSlaDue`, by its
  ``due_at`` index: the last day or so of handoffs, not the log) are taken back out;
* the medians and p90s of the response and decision times, over the period's rows of
  :class:`~serving.rollup_tables.LeadSla` (one per MQL with a time): on PostgreSQL one
  ``percentile_cont`` query with a grouping set per field, elsewhere the pandas path's
  own :func:`~serving.reports.facts.aggregate` over those rows.

The result is what ``serving.reports.sla._sla_sums`` makes of the whole log, so
:func:`~serving.reports.sla.sla_from_sums` renders the same section from either.
Callers refresh the roll-ups first (``serving.report_sql.store_report`` does).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, and_, func, select, tuple_
from sqlalchemy.engine import Connection

from serving.reports.facts import UNKNOWN, GroupSums, aggregate, p90
from serving.rollup_tables import MISSING, TOTAL, LeadRollup, LeadSla, LeadSlaDue
from serving.store.report_sums import PerField, _period, ordered_sums, period_sums
from serving.store.rollup_sla import BINS, COUNTS, SLA, SLA_TOTAL

QUANTILES: dict[str, tuple[str, float]] = {
    "response_hours_median": ("response_hours", 0.5),
    "response_hours_p90": ("response_hours", 0.9),
    "decision_hours_median": ("decision_hours", 0.5),
    "decision_hours_p90": ("decision_hours", 0.9),
}
"""The section's quantiles: ``name -> (time, quantile)``, linear between order
statistics (pandas' ``median`` and ``quantile``, PostgreSQL's ``percentile_cont``)."""
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
    found = period_sums(engine, [SLA_TOTAL, *(SLA + d for d in dims)], start, end)
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
    """The period's quantiles of the times per row of the section (groups without any
    time are left out: their quantiles are unknown)."""
    s, r = LeadSla.__table__, LeadRollup.__table__
    groups = [r.c[f"g_{dim}"] for dim in dims]
    joined = s.join(r, r.c.lead_id == s.c.lead_id)
    where = and_(r.c.cohort_at.is_not(None), *_period(r.c.cohort_at, start, end))
    if conn.dialect.name != "postgresql":
        query = select(*groups, s.c.response_hours, s.c.decision_hours).select_from(joined)
        frame = pd.DataFrame(
            conn.execute(query.where(where)).all(),
            columns=[*dims, "response_hours", "decision_hours"],
        )
        if frame.empty:
            return {}
        frame[list(dims)] = (
            frame[list(dims)].astype(object).where(frame[list(dims)].notna(), UNKNOWN)
        )
        aggs = {
            name: (time, "median" if q == 0.5 else p90) for name, (time, q) in QUANTILES.items()
        }
        return {(dim, group): row for dim, group, row in aggregate(frame, dims, **aggs)}
    cuts = [func.percentile_cont(q).within_group(s.c[time]) for time, q in QUANTILES.values()]
    marks = [func.grouping(g) for g in groups]
    query = select(*groups, *marks, *cuts).select_from(joined).where(where)
    if groups:
        query = query.group_by(func.grouping_sets(tuple_(), *(tuple_(g) for g in groups)))
    out: dict[Key, dict[str, float]] = {}
    for row in conn.execute(query):
        values, grouped, found = (
            row[: len(dims)],
            row[len(dims) : 2 * len(dims)],
            row[2 * len(dims) :],
        )
        key: Key = (None, None)
        for dim, value, mark in zip(dims, values, grouped, strict=True):
            if not mark:
                key = (dim, UNKNOWN if value is None else str(value))
        out[key] = {
            name: math.nan if v is None else float(v)
            for name, v in zip(QUANTILES, found, strict=True)
        }
    return out
