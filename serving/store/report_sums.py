"""The marketing reports' sums read from the roll-ups: day sums, not the whole log.

The funnel and rejection sections add up per-lead flags and counts per group field
(:data:`~serving.reports.facts.GroupSums`). :mod:`serving.store.rollups` keeps those
contributions summed per cohort day, field and value, so a report for a period reads the
whole days it covers from :class:`~serving.rollup_tables.ReportDaySum` and only the leads
of its partial first and last day from :class:`~serving.rollup_tables.LeadRollup`: a few
thousand rows whatever the log's size. Both paths render the JSON the pandas path renders
(``tests/integration/test_report_sql_parity.py`` holds them to it); what a lead is, is
defined once, in :mod:`serving.store.report_leads`.

Callers refresh the roll-ups first (``serving.report_sql.store_report`` does).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, func, select

from serving.reports.attribution import MODELS, STAGES, credit_columns
from serving.reports.facts import UNKNOWN, GroupSums, natural_order
from serving.rollup_tables import MISSING, TOTAL, LeadRollup, ReportDaySum
from serving.store.rollup_attribution import FIELDS, TOTALS, metric
from serving.store.rollup_funnel import FUNNEL_METRICS, REJECTION_METRICS
from serving.store.rollups import stored_contributions

PerField = dict[str, dict[str, dict[str, float]]]
"""``field -> value -> metric -> amount`` (:data:`TOTAL` under its own name)."""


def funnel_sums(
    engine: Engine, dims: Sequence[str], start: datetime | None, end: datetime | None
) -> GroupSums:
    """The funnel's sums (``leads, mql, decided, sql, won, lost, revenue``) per group."""
    found = period_sums(engine, dims, start, end)
    return ordered_sums(found, dims, FUNNEL_METRICS, present="leads")


def rejection_sums(
    engine: Engine,
    dims: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    known_reasons: Sequence[str],
) -> tuple[GroupSums, list[str]]:
    """The rejections' sums (``decisions, rejections, returned, n_<reason>``) per group,
    and the reasons (``known_reasons``, then any other stored one, sorted)."""
    found = period_sums(engine, dims, start, end)
    total = found.get(TOTAL, {}).get(TOTAL, {})
    seen = {m[2:] for m, amount in total.items() if m.startswith("n_") and amount}
    reasons = [*known_reasons, *sorted(seen - set(known_reasons))]
    names = (*REJECTION_METRICS, *(f"n_{r}" for r in reasons))
    return ordered_sums(found, dims, names, present="decisions"), reasons


def attribution_sums(
    engine: Engine, start: datetime | None, end: datetime | None, half_life_days: float
) -> tuple[dict[str, pd.DataFrame], dict[str, Any], int]:
    """The attribution's :func:`~serving.reports.attribution.group_sums` per dimension,
    its totals and how many touches had no channel, over the leads first scored in
    ``[start, end)`` (the time decay of ``half_life_days``, which must be kept:
    ``rollup_attribution.ensure_half_life``)."""
    found = period_sums(engine, list(FIELDS.values()), start, end)
    names = {
        f"{model}.{stage}": metric(model, stage, half_life_days)
        for model in MODELS
        for stage in STAGES
    }
    sums = {}
    for dimension, field in FIELDS.items():
        groups = {
            value: [amounts.get(names[column], 0.0) for column in credit_columns()]
            for value, amounts in found.get(field, {}).items()
            # a group some lead credits has a linear share of a conversion; one whose
            # leads were all erased or moved keeps a day-sum row of (about) zero
            if sum(amounts.get(names[f"linear.{stage}"], 0.0) for stage in STAGES[:3]) > 1e-9
        }
        frame = pd.DataFrame.from_dict(groups, orient="index", columns=credit_columns())
        sums[dimension] = frame.rename_axis("group")
    total = found.get(TOTAL, {}).get(TOTAL, {})
    amounts = {name: total.get(f"attr:{name}", 0.0) for name in TOTALS}
    totals: dict[str, Any] = {
        name: float(amounts[name]) if name == "revenue" else round(amounts[name])
        for name in TOTALS
        if name != "unchanneled"
    }
    return sums, totals, round(amounts["unchanneled"])


def lead_period(
    engine: Engine, start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None, int]:
    """The first and last cohort time of the leads in ``[start, end)``, and their count."""
    r = LeadRollup.__table__
    in_period = and_(r.c.cohort_at.is_not(None), *_period(r.c.cohort_at, start, end))
    with engine.connect() as conn:
        first, last = conn.execute(
            select(func.min(r.c.cohort_at), func.max(r.c.cohort_at)).where(in_period)
        ).one()
    leads = period_sums(engine, (), start, end).get(TOTAL, {}).get(TOTAL, {}).get("leads", 0)
    return first, last, round(leads)


def unscored_feedback(engine: Engine) -> int:
    """Feedback rows for leads never scored: what no lifecycle can place."""
    r = LeadRollup.__table__
    query = select(func.coalesce(func.sum(r.c.unscored_feedback), 0)).where(r.c.cohort_at.is_(None))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def period_sums(
    engine: Engine, dims: Sequence[str], start: datetime | None, end: datetime | None
) -> PerField:
    """Every metric's sum per value of each of ``dims`` (and :data:`TOTAL`) over the
    leads first scored in ``[start, end)``: whole UTC days from the day sums, the partial
    days at either end from the leads themselves."""
    fields = [TOTAL, *dims]
    first_day, last_day = _whole_days(start, end)
    out: PerField = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    s = ReportDaySum.__table__
    conditions = [s.c.field.in_(fields)]
    if first_day is not None:
        conditions.append(s.c.day >= first_day)
    if last_day is not None:
        conditions.append(s.c.day <= last_day)
    query = (
        select(s.c.field, s.c.value, s.c.metric, func.sum(s.c.amount))
        .where(and_(*conditions))
        .group_by(s.c.field, s.c.value, s.c.metric)
    )
    with engine.connect() as conn:
        if first_day is None or last_day is None or first_day <= last_day:
            for field, value, metric, amount in conn.execute(query):
                out[field][value][metric] += float(amount or 0.0)
        for lo, hi in _partial_ranges(start, end, first_day, last_day):
            for (_, field, value, metric), amount in _lead_sums(conn, lo, hi).items():
                if field in fields:
                    out[field][value][metric] += amount
    return out


def ordered_sums(
    found: PerField, dims: Sequence[str], names: Sequence[str], *, present: str
) -> GroupSums:
    """``found`` in the order ``facts.aggregate`` gives: the total first (zeros when there
    is nothing), then each field's groups with a non-zero ``present`` metric, sorted as
    text, an ordered field's levels in their natural order; a missing value is
    :data:`~serving.reports.facts.UNKNOWN`."""
    total = _named(found.get(TOTAL, {}).get(TOTAL, {}), names)
    out: GroupSums = [(None, None, total)]
    for dim in dims:
        groups = {
            UNKNOWN if value == MISSING else value: _named(sums, names)
            for value, sums in found.get(dim, {}).items()
            if round(sums.get(present, 0.0))
        }
        ordered = sorted(groups)
        for position in natural_order(ordered, dim):
            out.append((dim, ordered[position], groups[ordered[position]]))
    return out


def _named(sums: Mapping[str, float], names: Sequence[str]) -> dict[str, Any]:
    """The ``names`` of ``sums``, counts as integers (the day sums hold doubles)."""
    return {
        name: float(sums.get(name, 0.0)) if name == "revenue" else round(sums.get(name, 0))
        for name in names
    }


def _whole_days(start: datetime | None, end: datetime | None) -> tuple[Any | None, Any | None]:
    """The first and last UTC day lying wholly inside ``[start, end)`` (open ends: None)."""
    first = None
    if start is not None:
        start = start.astimezone(UTC)
        first = start.date() if start.time() == time(0) else start.date() + timedelta(days=1)
    last = None if end is None else end.astimezone(UTC).date() - timedelta(days=1)
    return first, last


def _partial_ranges(
    start: datetime | None, end: datetime | None, first_day: Any, last_day: Any
) -> list[tuple[datetime, datetime]]:
    """The parts of ``[start, end)`` outside its whole days, as ``[lo, hi)`` ranges."""

    def midnight(day: Any) -> datetime:
        return datetime.combine(day, time(0), tzinfo=UTC)

    if start is not None and end is not None and first_day > last_day:
        return [(start, end)] if start < end else []  # no whole day inside
    ranges = []
    if start is not None and midnight(first_day) > start:
        ranges.append((start, midnight(first_day)))
    if end is not None and midnight(last_day + timedelta(days=1)) < end:
        ranges.append((midnight(last_day + timedelta(days=1)), end))
    return ranges


def _lead_sums(conn: Any, lo: datetime, hi: datetime) -> dict[Any, float]:
    """The contributions of the leads first scored in ``[lo, hi)``, from their roll-ups."""
    r = LeadRollup.__table__
    query = select(r.c.lead_id).where(and_(r.c.cohort_at >= lo, r.c.cohort_at < hi))
    ids = [row[0] for row in conn.execute(query)]
    return stored_contributions(conn, ids) if ids else {}


def _period(column: Any, start: datetime | None, end: datetime | None) -> list[Any]:
    return [
        *(() if start is None else (column >= start,)),
        *(() if end is None else (column < end,)),
    ]
