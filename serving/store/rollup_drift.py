"""The drift section's part of the report roll-ups: decisions counted per day and bin.

Drift counts *decisions* (every served row, not leads) by their own ``as_of`` day: per
watched value (:class:`~serving.store.report_drift.Watched`) how many fall in each label
or bin. The bins of a numeric value are the served model's reference-profile edges, so
the counts depend on the profile: :class:`~serving.rollup_tables.DriftRollupProfile`
holds the one they were made with, and :func:`use_profile` rebuilds the whole drift
roll-up from the log when a model with other edges is served (rare: a promotion).
Between promotions the roll-up follows the log as every part does: :class:`DriftPart`
re-bins the decisions of the leads that changed.

Per decision :class:`~serving.rollup_tables.DriftRollupDecision` keeps its bins (what
it added to the day sums, and what a period's partial first and last day count); the
day sums hold, per position ``i`` of the watched values, field ``drift:<i>``, value
the label or bin, metric ``drift:n``, and for values only snapshots hold, metric
``drift:present`` (decisions whose snapshot carries the key: a column no snapshot has is
left out, as the pandas frame has no such column). :func:`drift_period_counts` reads
them for a period.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Engine, Table, and_, case, delete, func, insert, select
from sqlalchemy.engine import Connection

from serving.rollup_tables import DriftRollupDecision, DriftRollupProfile, ReportDaySum
from serving.store.engine import _writer
from serving.store.report_drift import Watched, counts_from, served_values, watched
from serving.store.report_sums import _partial_ranges, _whole_days
from serving.store.rollups import Contributions, add_sums, lock_rollups
from serving.tables import Decision

FIELD = "drift:"
"""The day sums' fields of the drift roll-up: ``drift:<position of the watched value>``."""
COUNT, PRESENT = "drift:n", "drift:present"
PAGE = 10_000
"""Decisions binned per read while :func:`use_profile` rebuilds the roll-up."""

Spec = tuple[Watched, ...]


def spec_key(spec: Spec) -> str:
    """The identity of what the roll-up counts: the sha256 of the watched names, kinds and
    edges (a profile's shares do not change a count)."""
    return hashlib.sha256(_spec_json(spec).encode()).hexdigest()


class DriftPart:
    """Per-decision bins under the active profile (:class:`DriftRollupDecision`)."""

    def stored(self, conn: Connection, ids: Sequence[str]) -> Contributions:
        spec = _active(conn)
        if spec is None:
            return {}
        t = DriftRollupDecision.__table__
        rows = conn.execute(select(t.c.as_of, t.c.bins).where(t.c.lead_id.in_(ids)))
        return _contributions(spec, ((at, json.loads(bins)) for at, bins in rows))

    def rebuild(
        self, conn: Connection, ids: Sequence[str], leads: Mapping[str, Mapping[str, Any]]
    ) -> Contributions:
        t = cast(Table, DriftRollupDecision.__table__)  # typed as a FromClause
        conn.execute(delete(t).where(t.c.lead_id.in_(ids)))
        spec = _active(conn)
        if spec is None:
            return {}
        rows = _binned(conn, spec, Decision.__table__.c.lead_id.in_(ids))
        return _store(conn, spec, rows)


def use_profile(
    engine: Engine, profile: Mapping[str, Any], percentile_edges: Sequence[float]
) -> bool:
    """Make the drift roll-up count by ``profile``'s watched values; ``True`` when that
    meant rebuilding it from the whole log (another profile, or none, was active).

    One transaction under the roll-ups' lock: the per-decision bins, the drift day sums
    and the active profile change together, so a refresh or a report never sees them
    disagree. A decision written meanwhile marks its lead dirty and the next refresh
    re-bins it against what this stored.
    """
    spec = watched(profile, percentile_edges)
    key = spec_key(spec)
    with engine.connect() as conn:
        if _active_key(conn) == key:
            return False
    with _writer(engine).begin() as conn:
        lock_rollups(conn)
        if _active_key(conn) == key:
            return False
        p, t = cast(Table, DriftRollupProfile.__table__), cast(Table, DriftRollupDecision.__table__)
        s = cast(Table, ReportDaySum.__table__)
        conn.execute(delete(p))
        conn.execute(delete(t))
        conn.execute(delete(s).where(s.c.field.like(FIELD + "%")))
        conn.execute(insert(p), {"key": key, "spec": _spec_json(spec)})
        d = Decision.__table__
        totals: Contributions = defaultdict(float)
        last = ""
        while True:
            rows = _binned(conn, spec, d.c.id > last, page=True)
            if not rows:
                break
            for k, amount in _store(conn, spec, rows).items():
                totals[k] += amount
            last = rows[-1][0]
        add_sums(conn, totals)
    return True


def drift_period_counts(
    engine: Engine,
    profile: Mapping[str, Any],
    percentile_edges: Sequence[float],
    start: datetime | None,
    end: datetime | None,
) -> tuple[int, dict[str, Any], dict[str, list[int]]]:
    """The decisions of ``[start, end)`` (by ``as_of``) counted as ``drift_from_counts``
    takes them: whole UTC days from the day sums, the partial days at either end from the
    per-decision bins. The roll-up must count by ``profile`` (:func:`use_profile`)."""
    spec = watched(profile, percentile_edges)
    first_day, last_day = _whole_days(start, end)
    s = ReportDaySum.__table__
    days: list[ColumnElement[bool]] = []
    if first_day is not None:
        days.append(s.c.day >= first_day)
    if last_day is not None:
        days.append(s.c.day <= last_day)
    in_period = and_(*days) if days else None
    if first_day is not None and last_day is not None and first_day > last_day:
        in_period = s.c.day < s.c.day  # no whole day inside: never
    amount = s.c.amount if in_period is None else case((in_period, s.c.amount), else_=0.0)
    fields = [f"{FIELD}{i}" for i in range(len(spec))]
    query = (
        select(s.c.field, s.c.value, s.c.metric, func.sum(amount), func.sum(s.c.amount))
        .where(s.c.field.in_(fields))
        .group_by(s.c.field, s.c.value, s.c.metric)
    )
    found: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    present: set[int] = set()
    with engine.connect() as conn:
        if _active_key(conn) != spec_key(spec):
            raise RuntimeError("the drift roll-up counts by another profile: use_profile first")
        for field, value, metric, in_range, everywhere in conn.execute(query):
            i = int(field[len(FIELD) :])
            if metric == PRESENT and round(everywhere or 0):
                present.add(i)
            elif metric == COUNT:
                found[i][value] += round(in_range or 0)
        t = DriftRollupDecision.__table__
        for lo, hi in _partial_ranges(start, end, first_day, last_day):
            rows = conn.execute(select(t.c.bins).where((t.c.as_of >= lo) & (t.c.as_of < hi)))
            for (bins,) in rows:
                for i, value in enumerate(json.loads(bins)[: len(spec)]):
                    found[i][value] += 1
    return counts_from(spec, found, present)


def _spec_json(spec: Spec) -> str:
    return json.dumps([[w.name, w.kind, list(w.edges)] for w in spec], separators=(",", ":"))


def _active_key(conn: Connection) -> str | None:
    p = DriftRollupProfile.__table__
    return conn.execute(select(p.c.key)).scalar()


def _active(conn: Connection) -> Spec | None:
    """The watched values the roll-up counts by now (``None``: no profile yet)."""
    p = DriftRollupProfile.__table__
    found = conn.execute(select(p.c.spec)).scalar()
    if found is None:
        return None
    return tuple(Watched(name, kind, tuple(edges)) for name, kind, edges in json.loads(found))


def _binned(
    conn: Connection, spec: Spec, condition: ColumnElement[bool], *, page: bool = False
) -> list[tuple[str, str, datetime, list[str]]]:
    """``(decision id, lead, as_of, bins)`` of the decisions matching ``condition``
    (``page``: the first :data:`PAGE` of them by id)."""
    d = Decision.__table__
    query = select(d.c.id, d.c.lead_id, d.c.as_of, *served_values(conn.dialect.name, spec))
    query = query.where(condition)
    if page:
        query = query.order_by(d.c.id).limit(PAGE)
    return [(row[0], row[1], row[2], [str(v) for v in row[3:]]) for row in conn.execute(query)]


def _store(
    conn: Connection, spec: Spec, rows: Sequence[tuple[str, str, datetime, list[str]]]
) -> Contributions:
    """Insert the decisions' bins; returns what they add to the day sums."""
    if rows:
        t = cast(Table, DriftRollupDecision.__table__)
        conn.execute(
            insert(t),
            [
                {"decision_id": i, "lead_id": lead, "as_of": at, "bins": json.dumps(bins)}
                for i, lead, at, bins in rows
            ],
        )
    return _contributions(spec, ((at, bins) for _, _, at, bins in rows))


def _contributions(spec: Spec, rows: Iterable[tuple[datetime, list[str]]]) -> Contributions:
    """Per decision one count under its UTC day for each watched value's label or bin,
    and one ``drift:present`` for each snapshot-only value its snapshot carries."""
    flagged = [i for i, w in enumerate(spec) if w.snapshot_only]
    out: Contributions = defaultdict(float)
    for at, bins in rows:
        day = at.date()  # as_of is read back in UTC (serving.tables.UTCDateTime)
        for i in range(len(spec)):
            out[(day, f"{FIELD}{i}", bins[i], COUNT)] += 1
        for i, flag in zip(flagged, bins[len(spec) :], strict=True):
            if flag == "1":
                out[(day, f"{FIELD}{i}", "", PRESENT)] += 1
    return out
