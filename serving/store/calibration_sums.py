"""The calibration section's sums read from the roll-ups: day sums, not the whole log.

:mod:`serving.store.rollup_calibration` keeps each scored lead's combination of decision,
labels and bands (and what it adds to the combination's sums) per cohort day. A report
for a period needs those sums split by maturity: a lead is mature when its cohort time
is at least ``maturity`` before the *horizon*, the newest cohort time, sales decision or
close among the period's leads (as ``serving.reports.calibration`` sees it). So a
request

1. finds the horizon: the newest event day with leads from the day sums of the whole
   days, then the newest event among the leads of that one day (an index on
   ``last_event_at``; with no period, that index's last entry), and the newest among the
   leads of the partial first and last day;
2. sums the facets (see :mod:`serving.store.rollup_calibration`) of the whole days
   before the day of the maturity cut as mature and after it as young, from the day sums;
3. reads the per-lead rows of the cut's own day and of the partial days, and sums them
   with each lead's own maturity.

That is a few thousand rows whatever the log's size; :func:`calibration_sums` answers
what ``calibration_from_sums`` takes (``tests/integration/test_report_sql_parity.py``
and ``test_report_rollups.py`` hold it equal to the pandas path).

Callers refresh the roll-ups first (``serving.report_sql.store_report`` does).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, func, select
from sqlalchemy.engine import Connection

from serving.rollup_tables import LeadCalibration, ReportDaySum
from serving.store.report_sums import _partial_ranges, _whole_days
from serving.store.rollup_calibration import (
    EVENT_FIELD,
    FACETS,
    facet_keys,
    facets,
    metric,
    utc_time,
)

Key = tuple[str, str, bool]
"""A facet's field and value (:func:`~serving.store.rollup_calibration.facet_value`),
and whether its leads are mature."""
Rows = list[dict[str, Any]]
COUNTS = ("n", "p_sql_n")
"""Sums that are counts: integers in the answer (the day sums hold doubles)."""


def calibration_sums(
    engine: Engine, start: datetime | None, end: datetime | None, *, maturity: timedelta
) -> tuple[Rows, Rows, Rows]:
    """The sums ``serving.reports.calibration.calibration_from_sums`` takes (per P(SQL)
    band, per P(won) band and maturity, per decision) over the leads first scored in
    ``[start, end)``; groups without leads are left out."""
    first_day, last_day = _whole_days(start, end)
    whole = first_day is None or last_day is None or first_day <= last_day
    partial = _partial_ranges(start, end, first_day, last_day)
    sums: dict[Key, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    with engine.connect() as conn:
        leads = [lead for lo, hi in partial for lead in _leads(conn, lo, hi)]
        horizon = _horizon(conn, whole, first_day, last_day, leads)
        if horizon is None:
            return [], [], []
        cut = horizon - maturity
        cut_day = cut.astimezone(UTC).date()
        if whole:
            _add_day_sums(conn, sums, first_day, last_day, cut_day)
            if (first_day is None or first_day <= cut_day) and (
                last_day is None or cut_day <= last_day
            ):
                leads += _leads(conn, _midnight(cut_day), _midnight(cut_day, 1))
    _add_lead_sums(sums, leads, cut)
    out: dict[str, Rows] = {field: [] for field in FACETS}
    for (field, value, mature), found in sorted(sums.items()):
        if round(found["n"]):
            named = {n: round(found[n]) if n in COUNTS else found[n] for n in FACETS[field][1]}
            out[field].append({**facet_keys(field, value), "mature": int(mature), **named})
    return out["cal:sql"], out["cal:won"], out["cal:decision"]


def _horizon(
    conn: Connection,
    whole: bool,
    first_day: date | None,
    last_day: date | None,
    leads: Iterable[dict[str, Any]],
) -> datetime | None:
    """The newest cohort time, sales decision or close among the period's leads (of the
    whole days from the day sums; ``leads``: those of the partial days)."""
    c = LeadCalibration.__table__
    stamps = []
    if first_day is None and last_day is None:  # every lead: the index's last entry
        stamps.append(conn.execute(select(func.max(c.c.last_event_at))).scalar())
    elif whole:
        s = ReportDaySum.__table__
        newest = (
            select(s.c.value)
            .where(and_(s.c.field == EVENT_FIELD, *_days(s.c.day, first_day, last_day)))
            .group_by(s.c.value)
            .having(func.sum(s.c.amount) > 0.5)
            .order_by(s.c.value.desc())
            .limit(1)
        )
        found = conn.execute(newest).scalar()
        if found is not None:
            day = date.fromisoformat(found)
            in_days = [
                *(() if first_day is None else (c.c.cohort_at >= _midnight(first_day),)),
                *(() if last_day is None else (c.c.cohort_at < _midnight(last_day, 1),)),
            ]
            on_day = and_(
                c.c.last_event_at >= _midnight(day), c.c.last_event_at < _midnight(day, 1), *in_days
            )
            stamps.append(conn.execute(select(func.max(c.c.last_event_at)).where(on_day)).scalar())
    # the partial days' leads are read anyway: a MAX here would let PostgreSQL walk the
    # last_event_at index backwards from the newest lead of all (seconds at 1M)
    stamps += [lead["last_event_at"] for lead in leads]
    found_stamps = [utc_time(stamp) for stamp in stamps if stamp is not None]
    return max(found_stamps) if found_stamps else None


def _add_day_sums(
    conn: Connection,
    sums: dict[Key, dict[str, float]],
    first_day: date | None,
    last_day: date | None,
    cut_day: date,
) -> None:
    """Add the whole days' facets: mature before ``cut_day``, young after it (one scan of
    the day sums; the cut's own day is read per lead)."""
    s = ReportDaySum.__table__
    in_days = and_(
        s.c.field.in_(list(FACETS)), s.c.day != cut_day, *_days(s.c.day, first_day, last_day)
    )
    # the side made in a subquery and grouped on by name: PostgreSQL cannot tell that two
    # CASE expressions with their own bound parameters are the same grouping key
    sided = (
        select(
            s.c.field,
            s.c.value,
            s.c.metric,
            case((s.c.day < cut_day, 1), else_=0).label("mature"),
            s.c.amount,
        )
        .where(in_days)
        .subquery("sided")
    )
    keys = (sided.c.field, sided.c.value, sided.c.metric, sided.c.mature)
    query = select(*keys, func.sum(sided.c.amount)).group_by(*keys)
    names = {metric(name): name for _, sums_of in FACETS.values() for name in sums_of}
    for field, value, name, mature, amount in conn.execute(query):
        if name in names:
            sums[(field, value, bool(mature))][names[name]] += float(amount or 0.0)


def _leads(conn: Connection, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
    """The :class:`LeadCalibration` rows of the leads first scored in ``[lo, hi)`` (a
    day's leads at most: partial days and the day of the maturity cut)."""
    c = LeadCalibration.__table__
    rows = conn.execute(select(c).where(and_(c.c.cohort_at >= lo, c.c.cohort_at < hi)))
    return [row._asdict() for row in rows]


def _add_lead_sums(
    sums: dict[Key, dict[str, float]], leads: Iterable[dict[str, Any]], cut: datetime
) -> None:
    """Add the facets of ``leads``, each mature when its cohort time is at or before
    ``cut``: the same :func:`~serving.store.rollup_calibration.facets` the day sums hold."""
    for lead in leads:
        mature = utc_time(lead["cohort_at"]) <= cut
        for field, value, name, amount in facets(lead):
            sums[(field, value, mature)][name] += amount


def _days(column: Any, first_day: date | None, last_day: date | None) -> list[Any]:
    return [
        *(() if first_day is None else (column >= first_day,)),
        *(() if last_day is None else (column <= last_day,)),
    ]


def _midnight(day: date, days: int = 0) -> datetime:
    return datetime.combine(day + timedelta(days=days), time(0), tzinfo=UTC)
