"""The marketing reports' sums computed in the database: GROUP BY, not the whole log.

The pandas path (``serving.reports.store_inputs.from_store`` then ``lead_facts``) reads
every decision and feedback row into Python on each request, so a report's time grows with
the log. These SQLAlchemy Core queries (the same on SQLite and PostgreSQL) return only
per-combination sums — one row per combination of the grouped lead fields — and
:func:`rollup` adds them up overall and per field in Python, into the
:data:`~serving.reports.facts.GroupSums` the section builders take, so both paths render
the same JSON (``tests/integration/test_report_sql_parity.py`` holds them to it).

What a lead is, as in ``store_inputs``: a scored ``lead_id``; its cohort time and its
group fields come from its first decision (by ``as_of``, ``scored_at``, ``id``); it is an
MQL once a decision handed it to sales or sales decided on it.

One assumption the pandas path does not make: the stored feedback is what the lead
lifecycle holds. The feedback writer checks every event against the lifecycle and stores
the steps it implies (``FeedbackStore.add_feedback``), so that holds for every row it
wrote; rows written around it (before the lifecycle existed, or by hand) are counted as
they are, where the pandas path replays each lead's history and leaves out what the
lifecycle refuses. Feedback for a lead never scored is left out by both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)

from scoring.contract import HandoffDecision, SalesDecision
from scoring.feedback_tables import SALES_DECISION_KINDS
from serving.reports.facts import UNKNOWN, GroupSums, natural_order
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
    dims: Sequence[str], start: datetime | None = None, end: datetime | None = None
) -> Any:
    """One row per scored lead first scored in ``[start, end)``: ``lead_id, cohort_at,
    handed`` and the ``dims`` (``None`` where missing).

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
    ).subquery("ranked")
    conditions = [ranked.c.rank == 1]
    if start is not None:
        conditions.append(ranked.c.cohort_at >= start)
    if end is not None:
        conditions.append(ranked.c.cohort_at < end)
    return (
        select(
            ranked.c.lead_id,
            ranked.c.cohort_at,
            ranked.c.handed,
            *(ranked.c[f"g_{name}"] for name in dims),
        )
        .where(and_(*conditions))
        .subquery("leads")
    )


def _lead_feedback() -> Any:
    """Per lead with feedback: decided (a sales decision), sql (accepted), won, lost,
    revenue (the won deal's amount)."""
    f = Feedback.__table__

    def flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.max(case((condition, 1), else_=0))

    return (
        select(
            f.c.lead_id,
            flag(f.c.kind.in_(sorted(SALES_DECISION_KINDS))).label("decided"),
            flag(f.c.kind == SalesDecision.ACCEPTED.value).label("sql"),
            flag(f.c.kind == "won").label("won"),
            flag(f.c.kind == "lost").label("lost"),
            func.sum(case((f.c.kind == "won", func.coalesce(f.c.amount, 0.0)), else_=0.0)).label(
                "revenue"
            ),
        )
        .group_by(f.c.lead_id)
        .subquery("lead_feedback")
    )


def _group_keys(leads: Any, dims: Sequence[str]) -> list[ColumnElement[Any]]:
    return [leads.c[f"g_{name}"] for name in dims]


def funnel_sums(
    engine: Engine, dims: Sequence[str], start: datetime | None, end: datetime | None
) -> GroupSums:
    """The funnel's sums (``leads, mql, decided, sql, won, lost, revenue``) per group."""
    leads, fb = lead_rows(dims, start, end), _lead_feedback()
    decided = func.coalesce(fb.c.decided, 0)
    mql = case((or_(leads.c.handed == 1, decided == 1), 1), else_=0)
    keys = _group_keys(leads, dims)
    query: Select[Any] = (
        select(
            *keys,
            func.count().label("leads"),
            func.sum(mql).label("mql"),
            func.sum(decided).label("decided"),
            func.sum(func.coalesce(fb.c.sql, 0)).label("sql"),
            func.sum(func.coalesce(fb.c.won, 0)).label("won"),
            func.sum(func.coalesce(fb.c.lost, 0)).label("lost"),
            func.sum(func.coalesce(fb.c.revenue, 0.0)).label("revenue"),
        )
        .select_from(leads.outerjoin(fb, fb.c.lead_id == leads.c.lead_id))
        .group_by(*keys)
    )
    names = ("leads", "mql", "decided", "sql", "won", "lost", "revenue")
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return rollup(
        [(row[: len(dims)], dict(zip(names, row[len(dims) :], strict=True))) for row in rows],
        dims,
        names,
    )


def rejection_sums(
    engine: Engine,
    dims: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    known_reasons: Sequence[str],
) -> tuple[GroupSums, list[str]]:
    """The rejections' sums (``decisions, rejections, returned, n_<reason>``) per group,
    and the reasons (``known_reasons``, then any other stored one, sorted)."""
    leads, f = lead_rows(dims, start, end), Feedback.__table__
    keys = _group_keys(leads, dims)
    query = (
        select(*keys, f.c.kind, f.c.reason, func.count().label("n"))
        .select_from(leads.join(f, f.c.lead_id == leads.c.lead_id))
        .where(f.c.kind.in_(sorted(SALES_DECISION_KINDS)))
        .group_by(*keys, f.c.kind, f.c.reason)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    rejected = SalesDecision.REJECTED.value
    seen = {str(r.reason or "other") for r in rows if r.kind == rejected}
    reasons = [*known_reasons, *sorted(seen - set(known_reasons))]
    names = ("decisions", "rejections", "returned", *(f"n_{r}" for r in reasons))
    combos = []
    for row in rows:
        n = int(row.n)
        sums = dict.fromkeys(names, 0)
        sums["decisions"] = n
        if row.kind == rejected:
            sums["rejections"] = n
            sums[f"n_{row.reason or 'other'}"] = n
        elif row.kind == SalesDecision.RETURNED_TO_NURTURE.value:
            sums["returned"] = n
        combos.append((tuple(row[: len(dims)]), sums))
    return rollup(combos, dims, names), reasons


def lead_period(
    engine: Engine, start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None, int]:
    """The first and last cohort time of the leads in ``[start, end)``, and their count."""
    leads = lead_rows((), start, end)
    query = select(func.min(leads.c.cohort_at), func.max(leads.c.cohort_at), func.count())
    with engine.connect() as conn:
        first, last, count = conn.execute(query).one()
    return first, last, int(count)


def unscored_feedback(engine: Engine) -> int:
    """Feedback rows for leads never scored: what no lifecycle can place."""
    d, f = Decision.__table__, Feedback.__table__
    scored = select(literal(1)).where(d.c.lead_id == f.c.lead_id).exists()
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(f).where(~scored)).scalar_one())


def rollup(
    combos: Sequence[tuple[Sequence[Any], dict[str, Any]]],
    dims: Sequence[str],
    names: Sequence[str],
) -> GroupSums:
    """Per-combination sums added up overall and per field, as ``facts.aggregate`` orders
    them: the total first (zeros when there is nothing), then each field's groups sorted
    as text, an ordered field's levels in their natural order; a missing value is
    :data:`~serving.reports.facts.UNKNOWN`."""
    total: dict[str, Any] = dict.fromkeys(names, 0)
    per_dim: list[dict[str, dict[str, Any]]] = [
        defaultdict(lambda: dict.fromkeys(names, 0)) for _ in dims
    ]
    for keys, found in combos:
        sums = {name: found[name] or 0 for name in names}  # SUM over no rows is NULL
        for name in names:
            total[name] += sums[name]
        for i, key in enumerate(keys):
            group = per_dim[i][UNKNOWN if key is None else str(key)]
            for name in names:
                group[name] += sums[name]
    out: GroupSums = [(None, None, total)]
    for dim, groups in zip(dims, per_dim, strict=True):
        ordered = sorted(groups)
        for position in natural_order(ordered, dim):
            out.append((dim, ordered[position], groups[ordered[position]]))
    return out
