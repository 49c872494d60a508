"""Keeping the report roll-ups current: recompute the dirty leads, move the day sums.

The triggers of migration 0009 mark a lead dirty in the same transaction as any change
to its decisions or feedback (:class:`~serving.rollup_tables.DirtyLead`).
:func:`refresh_rollups` claims dirty leads a chunk at a time, recomputes each one's
:class:`~serving.rollup_tables.LeadRollup` row with the SQL that defines a lead for
every report (:func:`serving.store.report_leads.lead_rows`, restricted to the chunk),
lets each section's :class:`RollupPart` recompute its own per-lead rows (see
:func:`parts`), and adds the difference between the leads' new and stored contributions
to :class:`~serving.rollup_tables.ReportDaySum`. A report then reads a few thousand day
sums instead of ranking a million decisions.

A section joins by adding a part: a module with a class that has ``stored`` and
``rebuild`` (its own per-lead table, its own namespaced fields and metrics), listed in
:func:`parts`, and its table in a migration. Everything in one refresh is one
transaction, so the parts and the day sums cannot disagree.

Why it is safe beside writers: the claim is a ``DELETE ... RETURNING`` in the refresh's
own transaction, so a writer that marks a claimed lead again waits for the refresh to
commit and then marks it anew — its change is picked up by the next refresh, never lost.
Refreshes run one at a time (SQLite's write lock; an advisory lock on PostgreSQL), so the
day sums never receive the same difference twice.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol, cast

from sqlalchemy import Engine, Table, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from serving.reports.report_data import GROUPABLE
from serving.rollup_tables import (
    MISSING,
    TOTAL,
    DirtyLead,
    LeadRollup,
    ReportDaySum,
)
from serving.store.engine import _writer
from serving.store.report_leads import lead_rows
from serving.store.sla_hist import add_histograms, is_hist
from serving.tables import Feedback

CHUNK = 5_000
"""At most this many leads recomputed per transaction: bounds the refresh's memory."""
FIRST_CLAIM = 200
"""Leads the incremental refresh claims in its first transaction; it then sizes each
transaction to take about :data:`TRANSACTION_SECONDS`."""
TRANSACTION_SECONDS = 1.0
"""How long one incremental transaction should hold the write lock. On SQLite every
writer waits for it — the decision log too, whose unwritten rows pile up in the serving
process meanwhile — and a lead scored a few hundred times takes long to replay: a fixed
5,000 leads held the lock for minutes (docs/benchmarks.md, the soak of 2026-12-07)."""
SQLITE_PAUSE_SECONDS = 0.2
"""SQLite: the pause between two incremental transactions. A writer waiting on the lock
polls it (SQLite's busy handler: every 100 ms at most); a refresh that begins again at
once takes it back every time, and the decision log starved behind a long refresh."""
FULL_SHARE = 0.2
"""From this share of the leads dirty on, a refresh rebuilds everything set-based."""

Contributions = dict[tuple[date, str, str, str], float]
"""``(cohort day, field, value, metric) -> amount``: what leads add to the day sums."""


class RollupPart(Protocol):
    """One section's share of the roll-ups: its per-lead rows and what they add to the
    day sums. Each part namespaces its own fields and metrics (``sla:...``, ...)."""

    def stored(self, conn: Connection, ids: Sequence[str]) -> Contributions:
        """What the leads ``ids`` add to the day sums now, read from the part's own
        per-lead rows (and the :class:`LeadRollup` rows, still the old ones)."""
        ...

    def rebuild(
        self, conn: Connection, ids: Sequence[str], leads: Mapping[str, Mapping[str, Any]]
    ) -> Contributions:
        """Replace the part's per-lead rows of ``ids`` with ones computed from the log and
        return what they add to the day sums. ``leads`` are the new :class:`LeadRollup`
        rows of the scored ones among ``ids`` (cohort time, group fields, ``handed``)."""
        ...


def refresh_rollups(engine: Engine, *, chunk: int = CHUNK, full: bool | None = None) -> int:
    """Bring the roll-ups up to date with the log; returns how many leads were recomputed.

    ``full``: rebuild everything from the log in one transaction
    (:func:`serving.store.rollup_rebuild.rebuild_rollups`) instead of recomputing the
    dirty leads a chunk at a time. By default the rebuild is taken when more than a chunk
    of leads is dirty and they are at least :data:`FULL_SHARE` of the dirty and the
    summarised leads together: the first refresh after an upgrade (every lead dirty,
    nothing summarised), or a change to most of the log.

    A call folds in at most as many leads as were dirty when it began: under traffic that
    re-marks leads as fast as they are folded it would otherwise never return (what
    changed meanwhile is the next call's).
    """
    from serving.store.rollup_rebuild import rebuild_rollups

    write = _writer(engine)
    done = 0
    budget: int | None = None
    size = min(chunk, FIRST_CLAIM)
    while True:
        began = time.monotonic()
        with write.begin() as conn:
            lock_rollups(conn)
            if budget is None:
                budget = _dirty_count(conn)
                if full or (full is None and _mostly_dirty(conn, chunk, budget)):
                    return rebuild_rollups(conn, parts())
            ids = _claim(conn, min(size, budget - done))
            if not ids:
                return done
            _recompute(conn, ids)
        done += len(ids)
        if len(ids) < size or done >= budget:  # drained, or all it found at the start
            return done
        size = _next_size(size, time.monotonic() - began, chunk)
        if engine.dialect.name == "sqlite":
            time.sleep(SQLITE_PAUSE_SECONDS)


def _next_size(size: int, seconds: float, most: int) -> int:
    """The next transaction's claim: scaled so it takes about :data:`TRANSACTION_SECONDS`
    (at most twice as many as the last, at least one lead, at most ``most``)."""
    scaled = int(size * TRANSACTION_SECONDS / max(seconds, 1e-3))
    return max(1, min(most, 2 * size, scaled))


def refresh_leads(conn: Connection, ids: Sequence[str]) -> None:
    """Bring the roll-ups of ``ids`` up to date in ``conn``'s transaction, dirty or not.

    The erasure calls it after deleting the leads' rows: their ids must not stay behind
    in the roll-ups, not even in the dirty set the triggers just wrote them to.
    """
    lock_rollups(conn)
    t = cast(Table, DirtyLead.__table__)
    conn.execute(delete(t).where(t.c.lead_id.in_(ids)))
    _recompute(conn, ids)


def _recompute(conn: Connection, ids: Sequence[str]) -> None:
    """Every part's rows of ``ids`` from the log, and the day sums moved by the change."""
    old = stored_contributions(conn, ids)
    leads = _rebuild_leads(conn, ids)
    new: Contributions = defaultdict(float)
    for part in parts():
        for key, amount in part.rebuild(conn, ids, leads).items():
            new[key] += amount
    add_sums(conn, {k: new.get(k, 0.0) - old.get(k, 0.0) for k in old.keys() | new.keys()})


def lock_rollups(conn: Connection) -> None:
    """Hold the roll-ups' lock until ``conn``'s transaction ends: one writer of the day
    sums at a time (SQLite's write lock already is one; an advisory lock on PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("leadscore-rollups"))))


def _dirty_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(DirtyLead)).scalar_one())


def pending_leads(engine: Engine) -> int:
    """How many changed leads the roll-ups have not taken in yet."""
    with engine.connect() as conn:
        return _dirty_count(conn)


def _mostly_dirty(conn: Connection, chunk: int, dirty: int) -> bool:
    """More than ``chunk`` leads are ``dirty``, and at least :data:`FULL_SHARE` of all."""
    if dirty <= chunk:
        return False
    known = conn.execute(select(func.count()).select_from(LeadRollup)).scalar_one()
    return bool(dirty >= FULL_SHARE * (known + dirty))


def parts() -> tuple[RollupPart, ...]:
    """Every section's part of the roll-ups (imported here: they import this module)."""
    from serving.store.rollup_attribution import AttributionPart
    from serving.store.rollup_calibration import CalibrationPart
    from serving.store.rollup_drift import DriftPart
    from serving.store.rollup_funnel import FunnelPart
    from serving.store.rollup_queue import QueuePart
    from serving.store.rollup_sla import SlaPart

    return (
        FunnelPart(),
        SlaPart(),
        DriftPart(),
        QueuePart(),
        CalibrationPart(),
        AttributionPart(),
    )


def stored_contributions(conn: Connection, ids: Sequence[str]) -> Contributions:
    """What the leads ``ids`` add to the day sums now, over every part."""
    out: Contributions = defaultdict(float)
    for part in parts():
        for key, amount in part.stored(conn, ids).items():
            out[key] += amount
    return out


def _claim(conn: Connection, chunk: int) -> list[str]:
    t = cast(Table, DirtyLead.__table__)  # declarative classes type it as a FromClause
    some = select(t.c.lead_id).limit(chunk).scalar_subquery()
    query = delete(t).where(t.c.lead_id.in_(some)).returning(t.c.lead_id)
    return [row[0] for row in conn.execute(query)]


def _rebuild_leads(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Replace the :class:`LeadRollup` rows of ``ids``; returns the scored leads' rows.

    A lead with feedback but no decision keeps a row without a cohort, counting that
    feedback (what no lifecycle can place); a lead with neither (erased) has none.
    """
    r, f = cast(Table, LeadRollup.__table__), Feedback.__table__
    conn.execute(delete(r).where(r.c.lead_id.in_(ids)))
    leads = {row.lead_id: row._asdict() for row in conn.execute(select(lead_rows(ids)))}
    rows = [{**lead, "unscored_feedback": 0} for lead in leads.values()]
    unscored = [lead_id for lead_id in ids if lead_id not in leads]
    if unscored:
        counts = conn.execute(
            select(f.c.lead_id, func.count()).where(f.c.lead_id.in_(unscored)).group_by(f.c.lead_id)
        )
        empty = {"cohort_at": None, "handed": 0, **{f"g_{name}": None for name in GROUPABLE}}
        rows += [
            {"lead_id": lead_id, "unscored_feedback": int(n), **empty} for lead_id, n in counts
        ]
    if rows:
        conn.execute(insert(r), rows)
    return leads


def lead_keys(lead: Mapping[str, Any]) -> list[tuple[date, str, str]]:
    """The ``(cohort day, field, value)`` keys a scored lead's metrics are summed under:
    :data:`TOTAL` once, then each group field with the lead's value (or :data:`MISSING`)."""
    cohort: datetime = lead["cohort_at"]
    day = cohort.date()
    return [(day, TOTAL, TOTAL)] + [
        (day, name, MISSING if lead[f"g_{name}"] is None else str(lead[f"g_{name}"]))
        for name in GROUPABLE
    ]


def rollup_leads(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored :class:`LeadRollup` rows of the scored leads among ``ids``."""
    r = LeadRollup.__table__
    query = select(r).where(r.c.lead_id.in_(ids) & r.c.cohort_at.is_not(None))
    return {row.lead_id: row._asdict() for row in conn.execute(query)}


def add_sums(conn: Connection, deltas: Mapping[tuple[date, str, str, str], float]) -> None:
    """Add ``deltas`` to the day sums (an upsert; rows that reach zero stay, as zero); the
    SLA histograms' counts (:func:`~serving.store.sla_hist.is_hist` fields) to theirs."""
    add_histograms(conn, {key: n for key, n in deltas.items() if is_hist(key[1])})
    rows = [
        {"day": day, "field": field, "value": value, "metric": metric, "amount": amount}
        for (day, field, value, metric), amount in deltas.items()
        if amount and not is_hist(field)
    ]
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(ReportDaySum.__table__)
    t = ReportDaySum.__table__
    upsert = stmt.on_conflict_do_update(
        index_elements=[t.c.day, t.c.field, t.c.value, t.c.metric],
        set_={"amount": t.c.amount + stmt.excluded.amount},
    )
    conn.execute(upsert, rows)
