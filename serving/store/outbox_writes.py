"""The outbox's writes inside other transactions: an event exists exactly when its cause does.

The decision writer (:mod:`serving.store.decisions`), the feedback writer
(:mod:`serving.store.feedback`) and the erasure (:mod:`serving.store.erasure`) call these
with their own ``Connection``, so the events are committed, or rolled back, with the
decision or feedback that causes them (the transactional outbox). An event is fanned out
to the subscriptions that want it when it is written: one ``outbox_deliveries`` row each,
and no row at all when nobody subscribes (nothing is pushed to a subscription made later).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, insert, select
from sqlalchemy.engine import Connection

from serving.outbox.events import LEAD_EVENTS, lead_events, new_event_id
from serving.store.decision_insert import driver_value
from serving.tables import Decision, OutboxDelivery, WebhookSubscription
from serving.tables import OutboxEvent as OutboxEventRow

CHUNK = 500
"""Lead ids per ``IN (...)`` list when looking up previous decisions."""

# declarative classes type ``__table__`` as a FromClause; these are Tables
_SUBS = cast(Table, WebhookSubscription.__table__)
_EVENTS = cast(Table, OutboxEventRow.__table__)
_DELIVERIES = cast(Table, OutboxDelivery.__table__)


def subscribers(conn: Connection, types: Iterable[str]) -> dict[str, list[str]]:
    """Active subscription ids by event type, for the ``types`` asked about."""
    wanted = set(types)
    found: dict[str, list[str]] = {}
    rows = conn.execute(select(_SUBS.c.id, _SUBS.c.events).where(_SUBS.c.deleted_at.is_(None)))
    for sub_id, events in rows:
        for kind in events or []:
            if kind in wanted:
                found.setdefault(kind, []).append(sub_id)
    return found


def write_events(
    conn: Connection,
    events: Sequence[tuple[str, str | None, dict[str, Any], datetime]],
    now: datetime,
    subs: Mapping[str, list[str]],
    ids: Sequence[str] | None = None,
) -> list[str]:
    """Insert ``(type, lead_id, payload, occurred_at)`` events and one pending delivery
    per subscriber (due ``now``).

    Events nobody subscribes to are not written. Returns the ids written.
    """
    rows: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    for i, (kind, lead_id, payload, occurred_at) in enumerate(events):
        targets = subs.get(kind) or []
        if not targets:
            continue
        event_id = ids[i] if ids is not None else new_event_id()
        rows.append(
            {
                "id": event_id,
                "type": kind,
                "occurred_at": occurred_at,
                "lead_id": lead_id,
                "payload": payload,
            }
        )
        deliveries += [
            {
                "event_id": event_id,
                "subscription_id": sub_id,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for sub_id in targets
        ]
    if rows:
        conn.execute(insert(_EVENTS), rows)
        conn.execute(insert(_DELIVERIES), deliveries)
    return [r["id"] for r in rows]


def _previous_decisions(conn: Connection, lead_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each lead's latest stored decision (``scored_at``, then the larger id), if any."""
    d = Decision.__table__
    latest: dict[str, dict[str, Any]] = {}
    for start in range(0, len(lead_ids), CHUNK):
        chunk = lead_ids[start : start + CHUNK]
        newest = (
            select(d.c.lead_id, func.max(d.c.scored_at).label("newest"))
            .where(d.c.lead_id.in_(chunk))
            .group_by(d.c.lead_id)
            .subquery("newest")
        )
        query = select(d.c.id, d.c.lead_id, d.c.decision, d.c.p_won).join(
            newest, and_(d.c.lead_id == newest.c.lead_id, d.c.scored_at == newest.c.newest)
        )
        for row in conn.execute(query).mappings():
            known = latest.get(row["lead_id"])
            if known is None or row["id"] > known["id"]:
                latest[row["lead_id"]] = dict(row)
    return latest


def decision_events(conn: Connection, rows: Sequence[Mapping[str, Any]], now: datetime) -> int:
    """Write the lead events of a batch of new decisions (call before inserting them).

    Only when a subscription wants a lead event: otherwise no previous decision is read.
    On PostgreSQL a transaction-scoped advisory lock makes batches from several server
    processes compare with each other one at a time (SQLite's write lock already does).
    """
    # most deployments subscribe to nothing: ask that first, in raw SQL (this runs in every
    # batch of the decision log, whose thread shares the GIL with scoring)
    active = f"SELECT 1 FROM {_SUBS.name} WHERE deleted_at IS NULL LIMIT 1"
    if driver_value(conn, active) is None:
        return 0
    subs = subscribers(conn, LEAD_EVENTS)
    if not subs:
        return 0
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("leadscore-outbox-leads"))))
    previous = _previous_decisions(conn, sorted({str(r["lead_id"]) for r in rows}))
    events: list[tuple[str, str | None, dict[str, Any], datetime]] = []
    for row in rows:
        lead_id = str(row["lead_id"])
        events += [
            (kind, lead_id, p, row["scored_at"])
            for kind, p in lead_events(row, previous.get(lead_id))
        ]
        previous[lead_id] = {k: row[k] for k in ("id", "lead_id", "decision", "p_won")}
    return len(write_events(conn, events, now, subs))


def delete_lead_events(conn: Connection, lead_ids: Sequence[str]) -> int:
    """Delete the events about these leads, for an erasure (deliveries and attempts go
    with them: ``ON DELETE CASCADE``)."""
    return int(conn.execute(delete(_EVENTS).where(_EVENTS.c.lead_id.in_(lead_ids))).rowcount)
