"""Pages of the sales queue read from its roll-up (``serving.store.rollup_queue``).

A page is about 25 rows and a count, and neither reads every lead:

* the rows come through an index in the page's order — newest first, within a status
  and decision (``ix_queue_leads_status``) or overall — or, with an SLA filter, through
  the open handoffs' index on the start of their clock;
* the count is a sum over :class:`~serving.rollup_tables.QueueCount` (a few hundred rows),
  or, with an SLA filter (which moves with "now"), a count of the open handoffs in the
  filter's window through that same index;
* the "largest change first" order splits the leads into four runs whose order is
  known: rising, then unchanged (0, every lead whose newest decision is older than the
  trend window), then falling, then scored once (no change). Only leads scored within
  the window can rise or fall, so the first and third runs are read with their
  change from :class:`~serving.rollup_tables.QueueChange`; the other two are newest-first
  reads like the default order, and the page takes its slice of the runs.

Rows equal :func:`serving.store.queue.queue_page_from_log`'s, in the same order (the
tests compare every filter, sort and page on SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, not_, or_, select
from sqlalchemy.engine import Connection

from scoring.lifecycle import SlaClocks
from serving.rollup_tables import MISSING, QueueChange, QueueCount, QueueLead
from serving.store.queue import SCORE_BANDS, QueueFilters, sla_window
from serving.trend import TREND_WINDOW

__all__ = ["rollup_channels", "rollup_page"]

_ROLLUP_ONLY = frozenset({"decision_id", "decided", "band", "multi"})
"""Columns of :class:`QueueLead` the queue rows do not show."""

Q = QueueLead.__table__
C = QueueChange.__table__
K = QueueCount.__table__


def rollup_page(
    conn: Connection,
    filters: QueueFilters,
    now: datetime,
    clocks: SlaClocks,
    *,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """``limit`` queue rows from ``offset`` in the filters' order, and how many match."""
    total = _count(conn, filters, now, clocks)
    where = _where(Q, filters, now, clocks)
    if filters.sort != "change":
        query = select(*_columns(), Q.c.multi).where(*where).order_by(*_newest())
        rows = [dict(r) for r in conn.execute(query.limit(limit).offset(offset)).mappings()]
        _with_changes(conn, rows, now)
        return rows, total
    return _by_change(conn, filters, now, clocks, where, total, offset, limit), total


def _with_changes(conn: Connection, rows: list[dict[str, Any]], now: datetime) -> None:
    """Each row's change of P(won) as :func:`~serving.store.history.score_changes` gives
    it (six decimals), from the roll-up: a stretch's while the lead's newest decision is
    within the trend window, else 0 — or none for a lead scored once (``multi`` 0)."""
    cutoff = now - TREND_WINDOW
    query = select(C.c.lead_id, C.c.change).where(
        C.c.lead_id.in_([row["lead_id"] for row in rows]), *_current(cutoff)
    )
    stretches = {lead_id: float(change) for lead_id, change in conn.execute(query)}
    for row in rows:
        change = stretches.get(row["lead_id"], 0.0 if row.pop("multi") else None)
        row["change"] = None if change is None else round(change, 6)


def _current(cutoff: datetime) -> list[ColumnElement[bool]]:
    """The stretch of :class:`QueueChange` that holds at ``cutoff`` (one per lead at most)."""
    return [or_(C.c.since.is_(None), C.c.since <= cutoff), C.c.until > cutoff]


def rollup_channels(conn: Connection) -> list[str]:
    """The channels of the queue's leads (at most 200), for its filter."""
    query = (
        select(K.c.channel)
        .distinct()
        .where(K.c.n > 0, K.c.channel != MISSING)
        .order_by(K.c.channel)
        .limit(200)
    )
    return [str(v) for v in conn.execute(query).scalars()]


def _columns() -> list[Any]:
    shown = [c for c in Q.c if c.name not in _ROLLUP_ONLY]
    return [Q.c.decision_id.label("id"), *shown]


def _newest() -> tuple[Any, ...]:
    return (Q.c.scored_at.desc(), Q.c.decision_id.desc())


def _where(
    table: Any, filters: QueueFilters, now: datetime, clocks: SlaClocks
) -> list[ColumnElement[bool]]:
    """The filters as conditions on ``table`` (:class:`QueueLead` or, without an SLA
    filter, :class:`QueueCount`: the column names are the same)."""
    out: list[ColumnElement[bool]] = []
    if filters.status == "open":
        out.append(table.c.decided == 0)
    elif filters.status == "decided":
        out.append(table.c.decided == 1)
    if filters.decision:
        out.append(table.c.decision == filters.decision)
    if filters.channel:
        out.append(table.c.channel == filters.channel)
    if filters.band:
        SCORE_BANDS[filters.band]  # an unknown band is an error, as on the log's path
        out.append(table.c.band == filters.band)
    if filters.sla:
        out += sla_window(table.c.handoff_at, filters.sla, now, clocks)
    return out


def _count(
    conn: Connection,
    filters: QueueFilters,
    now: datetime,
    clocks: SlaClocks,
    *,
    multi: bool = False,
) -> int:
    """How many rows match (only leads with more than one decision, if ``multi``)."""
    more = [Q.c.multi == 1] if multi else []
    if filters.sla:  # moves with now: count the open handoffs in the window
        query = select(func.count()).select_from(Q).where(*_where(Q, filters, now, clocks), *more)
        return int(conn.execute(query).scalar_one())
    if filters.channel == MISSING:  # the counts' stand-in for "no channel", not a channel
        return 0
    where = _where(K, filters, now, clocks)
    query = select(func.coalesce(func.sum(K.c.n), 0)).where(
        *where, *([K.c.multi == 1] if multi else [])
    )
    return int(conn.execute(query).scalar_one())


def _by_change(
    conn: Connection,
    filters: QueueFilters,
    now: datetime,
    clocks: SlaClocks,
    where: Sequence[ColumnElement[bool]],
    total: int,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """The page of the "largest change first" order, taken from its four runs."""
    cutoff = now - TREND_WINDOW
    current = and_(C.c.lead_id == Q.c.lead_id, *_current(cutoff))
    moving = (
        select(*_columns(), C.c.change)
        .select_from(Q.join(C, current))
        .where(*where, Q.c.scored_at > cutoff, C.c.change != 0)
    )
    signs = moving.with_only_columns(
        func.count(case((C.c.change > 0, 1))), func.count(case((C.c.change < 0, 1)))
    )
    rising, falling = (int(n) for n in conn.execute(signs).one())
    multi = _count(conn, filters, now, clocks, multi=True)
    moved = exists().where(current, C.c.change != 0)
    flat = select(*_columns()).where(
        *where, Q.c.multi == 1, or_(Q.c.scored_at <= cutoff, not_(moved))
    )
    single = select(*_columns()).where(*where, Q.c.multi == 0)
    by_change = (C.c.change.desc(), *_newest())
    runs: list[tuple[int, Select[Any], float | None]] = [
        (rising, moving.where(C.c.change > 0).order_by(*by_change), None),
        (multi - rising - falling, flat.order_by(*_newest()), 0.0),
        (falling, moving.where(C.c.change < 0).order_by(*by_change), None),
        (total - multi, single.order_by(*_newest()), None),
    ]
    out: list[dict[str, Any]] = []
    skip = offset
    for size, query, change in runs:
        if len(out) >= limit:
            break
        if skip >= size:
            skip -= size
            continue
        found = conn.execute(query.limit(min(limit - len(out), size - skip)).offset(skip))
        out += [{**row, "change": row.get("change", change)} for row in found.mappings()]
        skip = 0
    return out
