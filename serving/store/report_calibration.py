"""The calibration section's per-lead rows, defined once in SQL.

The pandas path (``serving.reports.calibration``) reads every decision and feedback row,
builds one row per lead and bins it in numpy. :func:`lead_calibration` makes those
per-lead rows inside the database (SQLAlchemy Core, the same on SQLite and PostgreSQL)
for the leads given: the compared prediction and handoff decision, the observed labels,
the P(SQL) and P(won) bands and the clipped predictions and squared errors the section
sums. The roll-ups run it for the leads that changed
(:mod:`serving.store.rollup_calibration`) and a report adds up what they stored
(:mod:`serving.store.calibration_sums`), so no request ranks the whole log.

Per lead, as ``lead_facts`` and ``_compared_predictions`` define it: the first sales
decision (by ``at``, then the order ``feedback_frame`` reads rows in) and its reason;
whether sales ever accepted; the last deal outcome by close date; and the prediction
made last at or before the first sales decision (else the lead's first one). As in
:mod:`serving.store.report_leads`, the stored feedback is taken as what the lead
lifecycle holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select

from scoring.contract import DATA_QUALITY_REASONS, Outcome, SalesDecision
from scoring.feedback_tables import CLOSING_KINDS, SALES_DECISION_KINDS
from serving.reports.calibration import P_SQL_EDGES, P_WON_EDGES
from serving.store.report_leads import lead_rows
from serving.tables import Decision, Feedback

COMBO_SUMS: tuple[str, ...] = (
    "n",
    "p_sql_n",
    "p_sql_sum",
    "p_sql_clip_sum",
    "sql_sq_sum",
    "p_won_sum",
    "p_won_clip_sum",
    "won_sq_sum",
)
"""The sums each combination of :data:`COMBO_KEYS` carries: ``n`` leads, ``p_sql_n``
with a P(SQL), the predictions' sums (``*_clip`` clipped to [0, 1] as the bands see
them) and the squared errors against the combination's label (``*_sq_sum``)."""
COMBO_KEYS: tuple[str, ...] = ("decision", "y_sql", "y_won", "sql_band", "won_band")
"""What a lead's combination is: handoff decision, labels (NULL: not known) and bands."""


def _band(p: ColumnElement[Any], edges: Sequence[float]) -> ColumnElement[Any]:
    """The band index of ``p`` as ``numpy.searchsorted(edges[1:-1], p, "right")`` gives it
    (below the first inner edge: 0; at or past the last: the last band); NULL stays NULL."""
    inner = list(edges[1:-1])
    return case(
        (p.is_(None), None),
        *((p < edge, literal(i)) for i, edge in enumerate(inner)),
        else_=literal(len(inner)),
    )


def _clip(p: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((p < 0.0, 0.0), (p > 1.0, 1.0), else_=p)


def lead_feedback(lead_ids: Sequence[str]) -> Any:
    """Per lead of ``lead_ids`` with feedback: its first sales decision's time and reason
    (``first_at``, ``first_reason``), ``decided`` and ``sql`` (0/1), its last deal
    ``outcome`` and its newest sales decision or close (``last_at``).

    One pass over the feedback with two rankings and one GROUP BY, not a join per
    ranking: a filter on a window's rank hides the row count from PostgreSQL's planner,
    which then nests loops over the whole feedback table (seconds at 10k leads).
    """
    f = Feedback.__table__
    sales = f.c.kind.in_(sorted(SALES_DECISION_KINDS))
    closes = f.c.kind.in_(sorted(CLOSING_KINDS))
    ranked = (
        select(
            f.c.lead_id,
            f.c.kind,
            f.c.reason,
            f.c.at,
            sales.label("is_sales"),
            func.row_number()
            .over(
                partition_by=(f.c.lead_id, sales),
                order_by=(f.c.at, f.c.received_at, f.c.implied.desc(), f.c.id),
            )
            .label("first_rank"),
            func.row_number()
            .over(
                partition_by=(f.c.lead_id, sales),
                order_by=(f.c.at.desc(), f.c.received_at.desc(), f.c.implied, f.c.id.desc()),
            )
            .label("last_rank"),
        )
        .where(or_(sales, closes) & f.c.lead_id.in_(lead_ids))
        .subquery("feedback_ranked")
    )
    is_sales = ranked.c.is_sales
    first = and_(is_sales, ranked.c.first_rank == 1)
    last_close = and_(~is_sales, ranked.c.last_rank == 1)
    return (
        select(
            ranked.c.lead_id,
            func.max(case((first, ranked.c.at), else_=None)).label("first_at"),
            func.max(case((first, ranked.c.reason), else_=None)).label("first_reason"),
            func.max(case((is_sales, 1), else_=0)).label("decided"),
            func.max(case((ranked.c.kind == SalesDecision.ACCEPTED.value, 1), else_=0)).label(
                "sql"
            ),
            func.max(case((last_close, ranked.c.kind), else_=None)).label("outcome"),
            func.max(ranked.c.at).label("last_at"),
        )
        .group_by(ranked.c.lead_id)
        .subquery("lead_feedback")
    )


def lead_labels(lead_ids: Sequence[str]) -> Any:
    """One row per scored lead of ``lead_ids``: ``lead_id, cohort_at, last_at, p_sql,
    p_won, decision`` (the compared prediction) and ``y_sql, y_won`` (NULL: not known)."""
    leads = lead_rows(lead_ids, dims=())
    fb = lead_feedback(lead_ids)
    per_lead = (
        select(
            leads.c.lead_id,
            leads.c.cohort_at,
            fb.c.first_at,
            fb.c.first_reason,
            func.coalesce(fb.c.sql, 0).label("sql"),
            func.coalesce(fb.c.decided, 0).label("decided"),
            fb.c.outcome,
            fb.c.last_at,
        )
        .select_from(leads.outerjoin(fb, fb.c.lead_id == leads.c.lead_id))
        .subquery("per_lead")
    )
    d = Decision.__table__
    eligible = or_(fb.c.first_at.is_(None), d.c.as_of <= fb.c.first_at)

    def if_eligible(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return case((eligible, column), else_=None)

    # the last eligible prediction, else (none eligible) the first one: within a lead the
    # CASE columns are all set or all NULL, so NULL ordering never decides
    ranked = (
        select(
            d.c.lead_id,
            d.c.p_sql,
            d.c.p_won,
            d.c.decision,
            func.row_number()
            .over(
                partition_by=d.c.lead_id,
                order_by=(
                    case((eligible, 0), else_=1),
                    if_eligible(d.c.as_of).desc(),
                    if_eligible(d.c.scored_at).desc(),
                    if_eligible(d.c.id).desc(),
                    d.c.as_of,
                    d.c.scored_at,
                    d.c.id,
                ),
            )
            .label("rn"),
        )
        .select_from(d.outerjoin(fb, fb.c.lead_id == d.c.lead_id))
        .where(d.c.lead_id.in_(lead_ids))
        .subquery("predictions")
    )
    quality = [r.value for r in DATA_QUALITY_REASONS]
    y_sql = case(
        (per_lead.c.sql == 1, 1.0),
        (per_lead.c.decided == 0, None),
        (per_lead.c.first_reason.in_(quality), None),
        else_=0.0,
    )
    y_won = case(
        (per_lead.c.outcome == Outcome.WON.value, 1.0),
        (per_lead.c.outcome == Outcome.LOST.value, 0.0),
        (y_sql == 0.0, 0.0),
        else_=None,
    )
    return (
        select(
            per_lead.c.lead_id,
            per_lead.c.cohort_at,
            per_lead.c.last_at,
            ranked.c.p_sql,
            ranked.c.p_won,
            ranked.c.decision,
            y_sql.label("y_sql"),
            y_won.label("y_won"),
        )
        .select_from(
            per_lead.join(ranked, and_(ranked.c.lead_id == per_lead.c.lead_id, ranked.c.rn == 1))
        )
        .subquery("labelled")
    )


def lead_calibration(
    lead_ids: Sequence[str],
    *,
    sql_edges: Sequence[float] = P_SQL_EDGES,
    won_edges: Sequence[float] = P_WON_EDGES,
) -> Any:
    """One row per scored lead of ``lead_ids``: ``lead_id, cohort_at, last_at`` (its
    newest sales decision or close, NULL without), its :data:`COMBO_KEYS` and what it adds
    to each of :data:`COMBO_SUMS` (``p_sql, p_won``, the clipped ``p_*_clip`` and the
    squared errors ``*_sq``; NULL where the prediction or label is not known)."""
    rows = lead_labels(lead_ids)
    p_sql, p_won = rows.c.p_sql, rows.c.p_won
    sql_clip, won_clip = _clip(p_sql), _clip(p_won)
    return select(
        rows.c.lead_id,
        rows.c.cohort_at,
        rows.c.last_at,
        rows.c.decision,
        rows.c.y_sql,
        rows.c.y_won,
        _band(p_sql, sql_edges).label("sql_band"),
        _band(p_won, won_edges).label("won_band"),
        p_sql,
        p_won,
        sql_clip.label("p_sql_clip"),
        won_clip.label("p_won_clip"),
        ((sql_clip - rows.c.y_sql) * (sql_clip - rows.c.y_sql)).label("sql_sq"),
        ((won_clip - rows.c.y_won) * (won_clip - rows.c.y_won)).label("won_sq"),
    )
