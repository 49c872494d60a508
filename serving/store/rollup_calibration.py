"""The calibration section's part of the report roll-ups.

Per scored lead, :class:`~serving.rollup_tables.LeadCalibration` keeps the row
:func:`~serving.store.report_calibration.lead_calibration` defines (the SQL the section
is defined by, run for the changed leads only). Each lead adds, per cohort day (UTC):

* under field :data:`COMBO_FIELD`, value = its combination of decision, labels and bands
  (:func:`combo_value`), one ``cal:<sum>`` metric per of
  :data:`~serving.store.report_calibration.COMBO_SUMS`;
* under field :data:`EVENT_FIELD`, value = the UTC day of its newest event (ISO), metric
  :data:`EVENT_METRIC` = 1: how many of the day's leads saw their last event on each day.

Whether a lead is *mature* cannot be summed in advance: it depends on the newest event
among the leads of the report's period. The event days say which day that newest event
falls on without reading the leads (:mod:`serving.store.calibration_sums` then reads the
leads of that one day), and the combinations are summed per cohort day, so every cohort
day but the one the maturity cut falls in is wholly mature or wholly young.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import Connection

from serving.rollup_tables import MISSING, LeadCalibration
from serving.store.report_calibration import COMBO_KEYS, COMBO_SUMS, lead_calibration
from serving.store.rollups import Contributions

COMBO_FIELD = "cal"
"""The day sums' field whose values are combinations (:func:`combo_value`)."""
EVENT_FIELD = "cal:event"
"""The day sums' field whose values are the days of the leads' newest events."""
EVENT_METRIC = "cal:leads"
SEPARATOR = "|"
COLUMNS: tuple[str, ...] = (
    "lead_id",
    "cohort_at",
    "last_event_at",
    *COMBO_KEYS,
    "p_sql",
    "p_won",
    "p_sql_clip",
    "p_won_clip",
    "sql_sq",
    "won_sq",
)


def metric(name: str) -> str:
    """The day sums' metric of one of :data:`~serving.store.report_calibration.COMBO_SUMS`."""
    return f"{COMBO_FIELD}:{name}"


def combo_value(row: Mapping[str, Any]) -> str:
    """A lead's :data:`~serving.store.report_calibration.COMBO_KEYS` as one day-sum value:
    ``decision|y_sql|y_won|sql_band|won_band``, a NULL as :data:`MISSING`."""

    def text(value: Any) -> str:
        if value is None:
            return MISSING
        return str(int(value)) if isinstance(value, float) else str(value)

    return SEPARATOR.join(text(row[key]) for key in COMBO_KEYS)


def combo_keys(value: str) -> dict[str, Any]:
    """The combination :func:`combo_value` wrote: labels as floats, bands as integers."""
    decision, y_sql, y_won, sql_band, won_band = (
        None if part == MISSING else part for part in value.split(SEPARATOR)
    )
    return {
        "decision": decision,
        "y_sql": None if y_sql is None else float(y_sql),
        "y_won": None if y_won is None else float(y_won),
        "sql_band": None if sql_band is None else int(sql_band),
        "won_band": None if won_band is None else int(won_band),
    }


def lead_sums(row: Mapping[str, Any]) -> dict[str, float]:
    """What one lead adds to each of :data:`~serving.store.report_calibration.COMBO_SUMS`
    (a NULL adds nothing, as SQL's SUM and COUNT leave it out)."""

    def value(name: str) -> float:
        return 0.0 if row[name] is None else float(row[name])

    sums = {
        "n": 1.0,
        "p_sql_n": 0.0 if row["p_sql"] is None else 1.0,
        "p_sql_sum": value("p_sql"),
        "p_sql_clip_sum": value("p_sql_clip"),
        "sql_sq_sum": value("sql_sq"),
        "p_won_sum": value("p_won"),
        "p_won_clip_sum": value("p_won_clip"),
        "won_sq_sum": value("won_sq"),
    }
    return {name: sums[name] for name in COMBO_SUMS}  # a sum added there must be added here


class CalibrationPart:
    """Per-lead calibration rows (:class:`LeadCalibration`) and their day sums."""

    def stored(self, conn: Connection, ids: Sequence[str]) -> Contributions:
        c = LeadCalibration.__table__
        rows = conn.execute(select(c).where(c.c.lead_id.in_(ids)))
        return _sums(row._asdict() for row in rows)

    def rebuild(
        self, conn: Connection, ids: Sequence[str], leads: Mapping[str, Mapping[str, Any]]
    ) -> Contributions:
        c = cast(Table, LeadCalibration.__table__)  # typed as a FromClause
        conn.execute(delete(c).where(c.c.lead_id.in_(ids)))
        if not leads:
            return {}
        rows = [_row(found._asdict()) for found in conn.execute(lead_calibration(list(leads)))]
        if rows:
            conn.execute(insert(c), rows)
        return _sums(rows)


def _row(found: Mapping[str, Any]) -> dict[str, Any]:
    """A :class:`LeadCalibration` row: ``last_event_at`` the newest of the cohort time and
    the last sales decision or close (the events the section's horizon is made of)."""
    cohort = utc_time(found["cohort_at"])
    last = utc_time(found["last_at"])
    row = {name: found[name] for name in COLUMNS if name not in ("cohort_at", "last_event_at")}
    newest = cohort if last is None else max(cohort, last)
    return {**row, "cohort_at": cohort, "last_event_at": newest}


def utc_time(value: Any) -> Any:
    """A UTC time as a timezone-aware ``datetime``: SQLite may answer a MAX over a UTC
    column as text or a naive time (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _sums(rows: Iterable[Mapping[str, Any]]) -> Contributions:
    """Each lead's sums under its cohort day and combination, and its newest event's day."""
    out: Contributions = defaultdict(float)
    for row in rows:
        day: date = utc_time(row["cohort_at"]).astimezone(UTC).date()
        combo = combo_value(row)
        for name, amount in lead_sums(row).items():
            out[(day, COMBO_FIELD, combo, metric(name))] += amount
        event = utc_time(row["last_event_at"]).astimezone(UTC).date().isoformat()
        out[(day, EVENT_FIELD, event, EVENT_METRIC)] += 1.0
    return out
