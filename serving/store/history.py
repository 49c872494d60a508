"""A lead's score history, and the change of P(won) the trend word and the queue use.

Every query here reads the decision log by lead id through its index
(``ix_decisions_lead_id_scored_at``) — never the whole log — except
:func:`order_by_change`, which ranks every lead by its latest and week-old score (two
window functions over the same index): the queue's definition of ``sort=change``, which
the queue itself reads from its roll-up (``serving.store.rollup_queue``, held equal to
this). The rule of the change is :mod:`serving.trend`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, case, func, select

from serving.tables import Decision
from serving.trend import TREND_WINDOW

if TYPE_CHECKING:
    from serving.storage import Store

__all__ = ["HISTORY_COLUMNS", "order_by_change", "score_changes", "score_history"]

HISTORY_COLUMNS: tuple[str, ...] = (
    "scored_at",
    "as_of",
    "model_name",
    "model_version",
    "p_sql",
    "p_won",
    "decision",
    "threshold",
)
"""What a history entry shows: when, which model, the scores and the decision."""


def score_history(
    store: Store, lead_id: str, *, limit: int, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """A page of the lead's decisions, newest first, and how many it has in all."""
    d = Decision.__table__
    page = (
        select(*(d.c[c] for c in HISTORY_COLUMNS))
        .where(d.c.lead_id == lead_id)
        .order_by(d.c.scored_at.desc(), d.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    count = select(func.count()).select_from(d).where(d.c.lead_id == lead_id)
    with store.engine.connect() as conn:
        total = int(conn.execute(count).scalar_one())
        rows = [dict(r) for r in conn.execute(page).mappings()] if total > offset else []
    return rows, total


def _changes(now: datetime, lead_ids: Sequence[str] | None) -> Any:
    """A subquery of ``(lead_id, change)``: latest P(won) minus the reference P(won).

    The reference is the newest decision at or before ``now - TREND_WINDOW``, else the
    lead's first one; ``change`` is NULL for a lead with a single decision.
    """
    d = Decision.__table__
    only = [] if lead_ids is None else [d.c.lead_id.in_(sorted(set(lead_ids)))]
    newest = (d.c.scored_at.desc(), d.c.id.desc())
    ranked = (
        select(
            d.c.lead_id,
            d.c.p_won,
            func.row_number().over(partition_by=d.c.lead_id, order_by=newest).label("rn_new"),
            func.row_number()
            .over(partition_by=d.c.lead_id, order_by=(d.c.scored_at, d.c.id))
            .label("rn_old"),
        )
        .where(*only)
        .subquery("change_ranked")
    )
    per_lead = (
        select(
            ranked.c.lead_id,
            func.max(case((ranked.c.rn_new == 1, ranked.c.p_won))).label("latest"),
            func.max(case((ranked.c.rn_old == 1, ranked.c.p_won))).label("first"),
            func.count().label("n"),
        )
        .group_by(ranked.c.lead_id)
        .subquery("change_leads")
    )
    before = (
        select(
            d.c.lead_id,
            d.c.p_won,
            func.row_number().over(partition_by=d.c.lead_id, order_by=newest).label("rn"),
        )
        .where(d.c.scored_at <= now - TREND_WINDOW, *only)
        .subquery("change_before")
    )
    reference = func.coalesce(before.c.p_won, per_lead.c.first)
    return (
        select(
            per_lead.c.lead_id,
            case((per_lead.c.n > 1, per_lead.c.latest - reference)).label("change"),
        )
        .select_from(
            per_lead.outerjoin(
                before, (before.c.lead_id == per_lead.c.lead_id) & (before.c.rn == 1)
            )
        )
        .subquery("changes")
    )


def score_changes(store: Store, lead_ids: Sequence[str], now: datetime) -> dict[str, float | None]:
    """Each lead's change of P(won) as of ``now`` (``None``: a single decision so far)."""
    if not lead_ids:
        return {}
    changes = _changes(now, lead_ids)
    with store.engine.connect() as conn:
        found = conn.execute(select(changes.c.lead_id, changes.c.change)).all()
    # six decimals, as the decision log stores P(won): no float noise in the answer
    return {
        str(lead_id): None if change is None else round(float(change), 6)
        for lead_id, change in found
    }


def order_by_change(query: Select[Any], now: datetime) -> Select[Any]:
    """``query`` (one row per lead, with ``lead_id``, ``scored_at`` and ``id``) with each
    row's ``change``, largest rise first; leads without a change yet last."""
    inner = query.subquery("queue_rows")
    changes = _changes(now, None)
    return (
        select(inner, changes.c.change)
        .select_from(inner.outerjoin(changes, changes.c.lead_id == inner.c.lead_id))
        .order_by(changes.c.change.desc().nulls_last(), inner.c.scored_at.desc(), inner.c.id.desc())
    )
