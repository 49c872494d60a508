"""The handoff queue's queries: each lead's latest decision with its sales state and SLA.

What the sales pages read beside the store's own methods: one SELECT (SQLite and
PostgreSQL, :func:`lead_states`) defines each lead's latest decision, its last sales
decision and the start of its open handoff; :func:`lead_state` reads one lead with it.
Over the whole log that SELECT ranks every decision (16 s at a million), so
:func:`queue_page` reads the queue's roll-up instead (``serving.store.rollup_queue`` keeps
one row per lead from this same SELECT, ``serving.store.queue_rows`` pages through it);
:func:`queue_page_from_log` is the definition the roll-up is held equal to. The SLA
windows are the settings' (:class:`~scoring.lifecycle.SlaClocks`), never literals here.

The handoff is the ``as_of`` of the handing score (the moment the score is about), not
the time it was logged (``scored_at``): the lifecycle measures the SLA on event times
(:mod:`scoring.lifecycle.sla`). The SQL uses it only to filter by SLA state; each row's
SLA box and breach flag come from one :func:`~scoring.lifecycle.sla_state` of the lead's
history (:func:`flag_breaches`), so the box never says "on track" beside a breach.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select, type_coerce

from scoring.contract import HandoffDecision
from scoring.feedback_tables import SALES_DECISION_KINDS
from scoring.lifecycle import SlaClocks, SlaState, replay, sla_state
from serving.store.history import order_by_change, score_changes
from serving.tables import Decision, Feedback, UTCDateTime
from serving.trend import trend_word

if TYPE_CHECKING:
    from serving.storage import Store

__all__ = [
    "DUE_SOON",
    "PAGE_SIZE",
    "SCORE_BANDS",
    "SORTS",
    "QueueFilters",
    "band_of",
    "channels",
    "feedback_by_key",
    "feedback_history",
    "lead_state",
    "lead_states",
    "queue_page",
    "queue_page_from_log",
    "sla_window",
]

HAND = HandoffDecision.HAND_TO_SALES.value

DUE_SOON = timedelta(hours=2)
"""Less than this left to decide: the row is flagged "due soon"."""

PAGE_SIZE = 25

SCORE_BANDS: dict[str, tuple[float | None, float | None]] = {
    "top": (0.30, None),
    "high": (0.15, 0.30),
    "mid": (0.05, 0.15),
    "low": (None, 0.05),
}
"""P(won) bands of the queue filter: ``[low, high)``. The queue's roll-up keeps each
lead's band (:func:`band_of`): a change here needs a migration that marks every lead
dirty."""

_QUEUE_COLUMNS: tuple[str, ...] = (
    "id",
    "lead_id",
    "scored_at",
    "as_of",
    "model_name",
    "model_version",
    "p_sql",
    "p_won",
    "fit_score",
    "engagement_score",
    "decision",
    "threshold",
    "likely_rejection_reason",
    "channel",
    "industry",
    "company_size",
    "country",
)


SORTS: tuple[str, ...] = ("recent", "change")
"""The queue's orders: newest decision first, or largest rise of P(won) over the trend
window first (:mod:`serving.trend`; leads with a single decision last)."""


@dataclass(frozen=True)
class QueueFilters:
    decision: str | None = HAND
    channel: str | None = None
    band: str | None = None
    sla: str | None = None
    status: str = "open"
    sort: str = "recent"


def band_of(p_won: float) -> str:
    """The :data:`SCORE_BANDS` band holding ``p_won`` (the filter's comparisons)."""
    for name, (lo, hi) in SCORE_BANDS.items():
        if (lo is None or p_won >= lo) and (hi is None or p_won < hi):
            return name
    raise ValueError(f"P(won) {p_won!r} is in no score band")


def _only(column: Any, lead_ids: Sequence[str] | None) -> list[Any]:
    return [] if lead_ids is None else [column.in_(lead_ids)]


def _latest_decisions(lead_id: Sequence[str] | None) -> Any:
    """Each lead's decisions ranked newest first (``rn`` 1 is the latest)."""
    d = Decision.__table__
    return (
        select(
            *(d.c[c] for c in _QUEUE_COLUMNS),
            func.row_number()
            .over(partition_by=d.c.lead_id, order_by=(d.c.scored_at.desc(), d.c.id.desc()))
            .label("rn"),
        )
        .where(*_only(d.c.lead_id, lead_id))
        .subquery("ranked")
    )


def _last_sales_decisions(lead_id: Sequence[str] | None) -> Any:
    """Each lead's last sales decision (accepted / rejected / returned to nurture)."""
    f = Feedback.__table__
    ranked = (
        select(
            f.c.lead_id,
            f.c.kind,
            f.c.reason,
            f.c.at,
            f.c.received_at,
            func.row_number()
            .over(partition_by=f.c.lead_id, order_by=(f.c.received_at.desc(), f.c.id.desc()))
            .label("rn"),
        )
        .where(f.c.kind.in_(sorted(SALES_DECISION_KINDS)), *_only(f.c.lead_id, lead_id))
        .subquery("sales_ranked")
    )
    return (
        select(
            ranked.c.lead_id,
            ranked.c.kind.label("sales_kind"),
            ranked.c.reason.label("sales_reason"),
            ranked.c.at.label("sales_at"),
            ranked.c.received_at.label("decided_at"),
        )
        .where(ranked.c.rn == 1)
        .cte("sales")
    )


def _open_handoffs(sales: Any, lead_id: Sequence[str] | None) -> Any:
    """Each lead's first ``hand_to_sales`` decision after its last sales decision (or
    ever, without one): the start of the open handoff, the SLA clock — the ``as_of`` of
    the handing score, compared with the sales event's own time (``at``), as the
    lifecycle does."""
    h = Decision.__table__.alias("h")
    return (
        select(
            h.c.lead_id,
            type_coerce(func.min(h.c.as_of), UTCDateTime()).label("handoff_at"),
        )
        .select_from(h.outerjoin(sales, sales.c.lead_id == h.c.lead_id))
        .where(
            h.c.decision == HAND,
            or_(sales.c.sales_at.is_(None), h.c.as_of > sales.c.sales_at),
            *_only(h.c.lead_id, lead_id),
        )
        .group_by(h.c.lead_id)
        .subquery("handoff")
    )


def lead_states(
    now: datetime,
    filters: QueueFilters | None,
    lead_id: Sequence[str] | None = None,
    clocks: SlaClocks | None = None,
) -> Select[Any]:
    """Each lead's latest decision with its sales state, as one SELECT (SQLite and PostgreSQL),
    for the leads ``lead_id`` (``None``: all) and, unless ``filters`` is ``None``, narrowed
    by them.

    ``decided_at`` is when the last sales decision (accepted / rejected / returned to
    nurture) arrived; ``handoff_at`` the ``as_of`` of the first ``hand_to_sales`` decision
    *after* it (or ever, without one): the start of the open handoff, the SLA clock. A
    lead is decided when sales decided and the model has not handed it over again since.
    """
    ranked = _latest_decisions(lead_id)
    sales = _last_sales_decisions(lead_id)
    handoff = _open_handoffs(sales, lead_id)
    query = (
        select(
            *(ranked.c[c] for c in _QUEUE_COLUMNS),
            sales.c.sales_kind,
            sales.c.sales_reason,
            sales.c.sales_at,
            sales.c.decided_at,
            handoff.c.handoff_at,
        )
        .select_from(
            ranked.outerjoin(sales, sales.c.lead_id == ranked.c.lead_id).outerjoin(
                handoff, handoff.c.lead_id == ranked.c.lead_id
            )
        )
        .where(ranked.c.rn == 1)
    )
    if filters is None:
        return query
    decided = and_(sales.c.decided_at.is_not(None), handoff.c.handoff_at.is_(None))
    if filters.status == "open":
        query = query.where(not_(decided))
    elif filters.status == "decided":
        query = query.where(decided)
    return _filtered(query, ranked, handoff.c.handoff_at, filters, now, clocks or SlaClocks())


def _filtered(
    query: Select[Any],
    ranked: Any,
    started: Any,
    filters: QueueFilters,
    now: datetime,
    clocks: SlaClocks,
) -> Select[Any]:
    """``query`` narrowed by the decision, channel, P(won) band and SLA state filters."""
    if filters.decision:
        query = query.where(ranked.c.decision == filters.decision)
    if filters.channel:
        query = query.where(ranked.c.channel == filters.channel)
    if filters.band:
        lo, hi = SCORE_BANDS[filters.band]
        if lo is not None:
            query = query.where(ranked.c.p_won >= lo)
        if hi is not None:
            query = query.where(ranked.c.p_won < hi)
    if filters.sla:
        query = query.where(*sla_window(started, filters.sla, now, clocks))
    return query


def sla_window(
    started: Any, sla: str, now: datetime, clocks: SlaClocks
) -> list[ColumnElement[bool]]:
    """The conditions on an open handoff's start (``started``) of the SLA filter ``sla``."""
    decide = timedelta(hours=clocks.decision_hours)
    late, soon = now - decide, now - decide + DUE_SOON
    if sla == "overdue":  # as sla_breaches: past the due, not at it
        return [started.is_not(None), started < late]
    if sla == "due_soon":
        return [started.is_not(None), started >= late, started <= soon]
    return [started.is_not(None), started > soon]


def _sla(sla: SlaState, now: datetime, clocks: SlaClocks) -> dict[str, Any] | None:
    """The SLA timers of the handoff awaiting a sales decision (``None`` when there is
    none): overdue exactly when :func:`~scoring.lifecycle.sla_state` reports the open
    breach, so the box and the breach flag agree."""
    start = sla.waiting_since
    if start is None:
        return None
    late = {b.rule for b in sla.breaches if b.open and b.started_at == start}
    decide_left = start + timedelta(hours=clocks.decision_hours) - now
    contact_left = start + timedelta(hours=clocks.first_contact_hours) - now
    if "decision_late" in late:
        state = "overdue"
    elif decide_left <= DUE_SOON:
        state = "due_soon"
    else:
        state = "on_track"
    return {
        "state": state,
        "handoff_at": start,
        "decide_left": decide_left,
        "decide_overdue": "decision_late" in late,
        "contact_left": contact_left,
        "contact_overdue": "first_contact_late" in late,
        "contacted": sla.contacted,
    }


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(record)
    row["decided"] = row["decided_at"] is not None and row["handoff_at"] is None
    for name in ("fit_score", "engagement_score"):
        if row[name] is not None and row[name] < 0:  # -1 means "not available"
            row[name] = None
    return row


def queue_page(
    store: Store,
    filters: QueueFilters,
    *,
    page: int = 1,
    now: datetime | None = None,
    clocks: SlaClocks | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the handoff queue and the number of leads matching the filters, read
    from the queue's roll-up once it is brought up to date (a few rows and indexed
    counts, not the whole log).

    ``now`` defaults to the store's clock; ``clocks`` to the default SLA.
    """
    from serving.store.queue_rows import rollup_page  # it imports this module

    now = now or store._now()
    clocks = clocks or SlaClocks()
    store.refresh_rollups()
    with store.engine.connect() as conn:
        records, total = rollup_page(
            conn, filters, now, clocks, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    return _finished(store, records, now, clocks), total


def queue_page_from_log(
    store: Store,
    filters: QueueFilters,
    *,
    page: int = 1,
    now: datetime | None = None,
    clocks: SlaClocks | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """:func:`queue_page` straight from the log, by :func:`lead_states`: the definition
    the roll-up is held equal to (it ranks every decision: slow on a large log)."""
    now = now or store._now()
    clocks = clocks or SlaClocks()
    query = lead_states(now, filters, clocks=clocks)
    ranked_cols = query.selected_columns
    if filters.sort == "change":
        ordered = order_by_change(query, now)
    else:
        ordered = query.order_by(ranked_cols.scored_at.desc(), ranked_cols.id.desc())
    with store.engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())
        records = (
            conn.execute(ordered.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).mappings().all()
        )
    return _finished(store, records, now, clocks), total


def _finished(
    store: Store,
    records: Sequence[Mapping[str, Any]],
    now: datetime,
    clocks: SlaClocks,
) -> list[dict[str, Any]]:
    """The page's rows with their SLA, breaches, stage, change and trend word."""
    rows = [_row(r) for r in records]
    flag_breaches(store, rows, now, clocks)
    missing = [row["lead_id"] for row in rows if "change" not in row]
    if missing:  # sorted by it (or read from the roll-up), the rows carry it already
        changes = score_changes(store, missing, now)
        for row in rows:
            row.setdefault("change", changes.get(row["lead_id"]))
    for row in rows:
        row["trend"] = trend_word(row["change"])
    return rows


def flag_breaches(
    store: Store, rows: list[dict[str, Any]], now: datetime, clocks: SlaClocks
) -> None:
    """Each row's SLA as of ``now`` from one :func:`~scoring.lifecycle.sla_state`: its
    breaches (``row["breaches"]``: rule names; each clock on its own event, late or
    missing), its SLA box (``row["sla"]``: the timers of the handoff awaiting a sales
    decision, or ``None``) and its lifecycle stage (``row["stage"]``)."""
    histories = store.lifecycle_events([row["lead_id"] for row in rows])
    for row in rows:
        events = histories.get(row["lead_id"], [])
        sla = sla_state(events, now, clocks)
        row["breaches"] = list(dict.fromkeys(b.rule for b in sla.breaches))
        row["sla"] = _sla(sla, now, clocks)
        row["stage"] = replay(events).state.stage.value


def lead_state(
    store: Store, lead_id: str, now: datetime | None = None, clocks: SlaClocks | None = None
) -> dict[str, Any] | None:
    """One lead's row of the queue (whatever the filters) with its SLA, breaches and
    stage, or ``None`` if never scored."""
    now = now or store._now()
    clocks = clocks or SlaClocks()
    with store.engine.connect() as conn:
        record = conn.execute(lead_states(now, None, [lead_id])).mappings().first()
    if record is None:
        return None
    row = _row(record)
    flag_breaches(store, [row], now, clocks)
    return row


def channels(store: Store) -> list[str]:
    """The channels of the leads in the queue (at most 200), for the queue's filter: the
    roll-up's counts per channel, brought up to date first."""
    from serving.store.queue_rows import rollup_channels  # it imports this module

    store.refresh_rollups()
    with store.engine.connect() as conn:
        return rollup_channels(conn)


def feedback_history(store: Store, lead_id: str) -> list[dict[str, Any]]:
    """The lead's feedback, newest first, without comments (free text may hold PII)."""
    f = Feedback.__table__
    query = (
        select(
            f.c.kind,
            f.c.reason,
            f.c.at,
            f.c.received_at,
            f.c.actor,
            f.c.contact_attempts,
            f.c.implied,
            f.c.qualification,
        )
        .where(f.c.lead_id == lead_id)
        .order_by(f.c.received_at.desc(), f.c.id.desc())
        .limit(50)
    )
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def feedback_by_key(store: Store, key: str) -> dict[str, Any] | None:
    """Who recorded what under an idempotency key (lead, kind, reason, actor), if anyone."""
    f = Feedback.__table__
    query = select(f.c.lead_id, f.c.kind, f.c.reason, f.c.actor).where(f.c.idempotency_key == key)
    with store.engine.connect() as conn:
        found = conn.execute(query).mappings().first()
    return None if found is None else dict(found)
