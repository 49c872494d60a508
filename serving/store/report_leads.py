"""What a lead is to the reports, in SQL: its first decision's fields and its sales flags.

As in ``serving.reports.store_inputs``: a lead is a scored ``lead_id``; its cohort time
and its group fields come from its first decision (by ``as_of``, ``scored_at``, ``id``);
it is an MQL once a decision handed it to sales or sales decided on it.

These SELECTs run over the whole log when no lead ids are given (the calibration
section's per-lead ranking) and over a chunk of leads when the roll-ups recompute the
leads that changed (:mod:`serving.store.rollups`), so the roll-ups and the queries they
replaced cannot define a lead differently.

One assumption the pandas path does not make: the stored feedback is what the lead
lifecycle holds. The feedback writer checks every event against the lifecycle and stores
the steps it implies (``FeedbackStore.add_feedback``), so that holds for every row it
wrote; rows written around it (before the lifecycle existed, or by hand) are counted as
they are, where the pandas path replays each lead's history and leaves out what the
lifecycle refuses. Feedback for a lead never scored is left out by both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select

from scoring.contract import HandoffDecision, SalesDecision
from scoring.feedback_tables import SALES_DECISION_KINDS
from serving.reports.report_data import GROUPABLE
from serving.tables import Decision, Feedback

SEGMENT_COLUMNS: frozenset[str] = frozenset({"channel", "industry", "company_size", "country"})
"""Group fields the decision log also holds as columns (copied out of ``features``)."""


def _group_value(name: str) -> ColumnElement[Any]:
    """A lead field of a decision: its feature snapshot's value, else the segment column."""
    d = Decision.__table__
    value: ColumnElement[Any] = d.c.features[name].as_string()
    if name in SEGMENT_COLUMNS:
        value = func.coalesce(value, d.c[name])
    return value


def lead_rows(
    lead_ids: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    dims: Sequence[str] = GROUPABLE,
) -> Any:
    """One row per scored lead (of ``lead_ids``, else every lead) first scored in
    ``[start, end)``: ``lead_id, cohort_at, handed`` and ``g_<field>`` for each of
    ``dims`` (``None`` where missing).

    The window carries only the grouped fields, read out of the snapshot as text in the
    same scan (not the snapshot itself, and not a lookup of each lead's first decision
    afterwards, which at 1M decisions was most of the query's time).
    """
    d = Decision.__table__
    handed = case((d.c.decision == HandoffDecision.HAND_TO_SALES.value, 1), else_=0)
    ranked = select(
        d.c.id,
        d.c.lead_id,
        d.c.as_of.label("cohort_at"),
        *(_group_value(name).label(f"g_{name}") for name in dims),
        func.max(handed).over(partition_by=d.c.lead_id).label("handed"),
        func.row_number()
        .over(partition_by=d.c.lead_id, order_by=(d.c.as_of, d.c.scored_at, d.c.id))
        .label("rank"),
    )
    if lead_ids is not None:
        ranked = ranked.where(d.c.lead_id.in_(lead_ids))
    inner = ranked.subquery("ranked")
    conditions = [inner.c.rank == 1]
    if start is not None:
        conditions.append(inner.c.cohort_at >= start)
    if end is not None:
        conditions.append(inner.c.cohort_at < end)
    return (
        select(
            inner.c.lead_id,
            inner.c.cohort_at,
            inner.c.handed,
            *(inner.c[f"g_{name}"] for name in dims),
        )
        .where(and_(*conditions))
        .subquery("leads")
    )


def lead_feedback(lead_ids: Sequence[str] | None = None) -> Any:
    """Per lead with feedback (of ``lead_ids``, else every lead): decided (a sales
    decision), sql (accepted), won, lost, revenue (the won deal's amount)."""
    f = Feedback.__table__

    def flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.max(case((condition, 1), else_=0))

    query = select(
        f.c.lead_id,
        flag(f.c.kind.in_(sorted(SALES_DECISION_KINDS))).label("decided"),
        flag(f.c.kind == SalesDecision.ACCEPTED.value).label("sql"),
        flag(f.c.kind == "won").label("won"),
        flag(f.c.kind == "lost").label("lost"),
        func.sum(case((f.c.kind == "won", func.coalesce(f.c.amount, 0.0)), else_=0.0)).label(
            "revenue"
        ),
    )
    if lead_ids is not None:
        query = query.where(f.c.lead_id.in_(lead_ids))
    return query.group_by(f.c.lead_id).subquery("lead_feedback")
