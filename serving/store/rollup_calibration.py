"""The calibration section's part of the report roll-ups.

Per scored lead, :class:`~serving.rollup_tables.LeadCalibration` keeps the row
:func:`~serving.store.report_calibration.lead_calibration` defines (the SQL the section
is defined by, run for the changed leads only). Each lead adds, per cohort day (UTC):

* under each of :data:`FACETS`' fields (``cal:sql``, ``cal:won``, ``cal:decision``),
  value = the lead's keys that facet of the section groups by (:func:`facet_value`), one
  ``cal:<sum>`` metric per sum that facet adds up: the section's three parts each need
  only their own keys, and three small groupings are a few hundred rows a day where
  their cross product was three times as many;
* under field :data:`EVENT_FIELD`, value = the UTC day of its newest event (ISO), metric
  :data:`EVENT_METRIC` = 1: how many of the day's leads saw their last event on each day.

Whether a lead is *mature* cannot be summed in advance: it depends on the newest event
among the leads of the report's period. The event days say which day that newest event
falls on without reading the leads (:mod:`serving.store.calibration_sums` then reads the
leads of that one day), and the facets are summed per cohort day, so every cohort
day but the one the maturity cut falls in is wholly mature or wholly young.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import Connection

from serving.rollup_tables import MISSING, LeadCalibration
from serving.store.report_calibration import COMBO_KEYS, COMBO_SUMS, lead_calibration
from serving.store.rollups import Contributions

FACETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "cal:sql": (("y_sql", "sql_band"), ("n", "p_sql_clip_sum", "sql_sq_sum")),
    "cal:won": (("y_won", "won_band"), ("n", "p_won_clip_sum", "won_sq_sum")),
    "cal:decision": (("decision", "y_sql", "y_won"), ("n", "p_sql_n", "p_sql_sum", "p_won_sum")),
}
"""Per day-sum field: the keys its values are made of and the sums it adds up (what
``serving.reports.calibration.calibration_from_sums`` reads of each part)."""
KNOWN: dict[str, str] = {"cal:sql": "y_sql", "cal:won": "y_won"}
"""Facets that only hold leads whose label is known (the others say nothing there)."""
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
    return f"cal:{name}"


def facet_value(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    """A lead's ``keys`` as one day-sum value (``a|b|c``), a NULL as :data:`MISSING`."""

    def text(value: Any) -> str:
        if value is None:
            return MISSING
        return str(int(value)) if isinstance(value, float) else str(value)

    return SEPARATOR.join(text(row[key]) for key in keys)


def facet_keys(field: str, value: str) -> dict[str, Any]:
    """The keys :func:`facet_value` wrote: labels as floats, bands as integers."""
    out: dict[str, Any] = {}
    for key, part in zip(FACETS[field][0], value.split(SEPARATOR), strict=True):
        found = None if part == MISSING else part
        if found is not None and key.startswith("y_"):
            out[key] = float(found)
        elif found is not None and key.endswith("_band"):
            out[key] = int(found)
        else:
            out[key] = found
    return out


def facets(row: Mapping[str, Any]) -> Iterator[tuple[str, str, str, float]]:
    """``(field, value, sum, amount)``: what one lead adds to each facet."""
    sums = lead_sums(row)
    for field, (keys, names) in FACETS.items():
        if field in KNOWN and row[KNOWN[field]] is None:
            continue
        value = facet_value(row, keys)
        for name in names:
            yield field, value, name, sums[name]


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
    """Each lead's facets under its cohort day, and its newest event's day."""
    out: Contributions = defaultdict(float)
    for row in rows:
        day: date = utc_time(row["cohort_at"]).astimezone(UTC).date()
        for field, value, name, amount in facets(row):
            out[(day, field, value, metric(name))] += amount
        event = utc_time(row["last_event_at"]).astimezone(UTC).date().isoformat()
        out[(day, EVENT_FIELD, event, EVENT_METRIC)] += 1.0
    return out
