"""The funnel and rejection sections' part of the report roll-ups.

Per scored lead, :class:`~serving.rollup_tables.LeadRollupMetric` keeps its flags as the
funnel counts them (``leads``, ``mql``, ``decided``, ``sql``, ``won``, ``lost``, the won
deal's ``revenue``) and its sales decisions as the rejection section counts them
(``decisions``, ``rejections``, ``returned``, ``n_<reason>``); each is summed per cohort
day and group field (:func:`serving.store.rollups.lead_keys`). The flags come from
:func:`~serving.store.report_leads.lead_feedback`, the SQL that defines them for every
report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, case, delete, func, insert, literal, select, union_all
from sqlalchemy.engine import Connection

from scoring.contract import SalesDecision
from scoring.feedback_tables import SALES_DECISION_KINDS
from serving.rollup_tables import LeadRollup, LeadRollupMetric
from serving.store.report_leads import lead_feedback
from serving.store.rollups import Contributions, lead_keys, rollup_leads
from serving.tables import Feedback

FUNNEL_METRICS: tuple[str, ...] = ("leads", "mql", "decided", "sql", "won", "lost", "revenue")
"""Per-lead flags (and the won deal's revenue) the funnel adds up."""
REJECTION_METRICS: tuple[str, ...] = ("decisions", "rejections", "returned")
"""Counts of sales decisions the rejection section adds up, beside ``n_<reason>``."""


class FunnelPart:
    """Per-lead funnel flags and sales-decision counts (:class:`LeadRollupMetric`)."""

    def stored(self, conn: Connection, ids: Sequence[str]) -> Contributions:
        m = LeadRollupMetric.__table__
        rows = conn.execute(select(m).where(m.c.lead_id.in_(ids) & (m.c.amount != 0)))
        return _sums(rollup_leads(conn, ids), (row._asdict() for row in rows))

    def rebuild(
        self, conn: Connection, ids: Sequence[str], leads: Mapping[str, Mapping[str, Any]]
    ) -> Contributions:
        m = cast(Table, LeadRollupMetric.__table__)  # typed as a FromClause
        conn.execute(delete(m).where(m.c.lead_id.in_(ids)))
        rows = [
            {"lead_id": lead_id, "metric": metric, "amount": amount}
            for lead_id, found in _metrics(conn, ids, leads).items()
            for metric, amount in found.items()
            if amount
        ]
        if rows:
            conn.execute(insert(m), rows)
        return _sums(leads, rows)

    def rebuild_all(self, conn: Connection) -> Any:
        """Every scored lead's metric rows as one ``INSERT ... SELECT`` (the rebuild of
        :mod:`serving.store.rollup_rebuild`): the same flags and counts as ``_metrics``."""
        m = cast(Table, LeadRollupMetric.__table__)
        conn.execute(delete(m))
        rows = _all_metrics().subquery("all_metrics")
        conn.execute(insert(m).from_select(["lead_id", "metric", "amount"], select(rows)))
        return m


def _metrics(
    conn: Connection, ids: Sequence[str], leads: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, float]]:
    """Each scored lead's funnel flags and sales-decision counts."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    if not leads:
        return out
    feedback = lead_feedback(ids)
    flags = {row.lead_id: row for row in conn.execute(select(feedback))}
    for lead_id, lead in leads.items():
        fb = flags.get(lead_id)
        decided = 0 if fb is None else int(fb.decided)
        out[lead_id].update(
            leads=1,
            mql=int(bool(lead["handed"]) or bool(decided)),
            decided=decided,
            sql=0 if fb is None else int(fb.sql),
            won=0 if fb is None else int(fb.won),
            lost=0 if fb is None else int(fb.lost),
            revenue=0.0 if fb is None else float(fb.revenue or 0.0),
        )
    f = Feedback.__table__
    decisions = conn.execute(
        select(f.c.lead_id, f.c.kind, f.c.reason, func.count().label("n"))
        .where(f.c.lead_id.in_(list(leads)) & f.c.kind.in_(sorted(SALES_DECISION_KINDS)))
        .group_by(f.c.lead_id, f.c.kind, f.c.reason)
    )
    for row in decisions:
        sums, n = out[row.lead_id], int(row.n)
        names = ["decisions"]
        if row.kind == SalesDecision.REJECTED.value:
            names += ["rejections", f"n_{row.reason or 'other'}"]
        elif row.kind == SalesDecision.RETURNED_TO_NURTURE.value:
            names.append("returned")
        for name in names:
            sums[name] = sums.get(name, 0) + n
    return out


def _all_metrics() -> Any:
    """``lead_id, metric, amount`` of every scored lead, non-zero amounts only."""
    r, f = LeadRollup.__table__, Feedback.__table__
    fb = lead_feedback()
    flags = (
        select(
            r.c.lead_id,
            r.c.handed,
            *(
                func.coalesce(fb.c[name], 0).label(name)
                for name in ("decided", "sql", "won", "lost")
            ),
            func.coalesce(fb.c.revenue, 0.0).label("revenue"),
        )
        .select_from(r.outerjoin(fb, fb.c.lead_id == r.c.lead_id))
        .where(r.c.cohort_at.is_not(None))
        .cte("flags")
    )
    mql = case(((flags.c.handed != 0) | (flags.c.decided != 0), 1), else_=0)
    values: list[tuple[str, Any]] = [("leads", literal(1)), ("mql", mql)]
    values += [(name, flags.c[name]) for name in ("decided", "sql", "won", "lost", "revenue")]
    parts = [
        select(flags.c.lead_id, literal(name).label("metric"), value.label("amount"))
        for name, value in values
    ]
    scored = select(r.c.lead_id).where(r.c.cohort_at.is_not(None))
    decided = f.c.kind.in_(sorted(SALES_DECISION_KINDS)) & f.c.lead_id.in_(scored)
    reason = literal("n_") + func.coalesce(func.nullif(f.c.reason, ""), "other")
    rejected = decided & (f.c.kind == SalesDecision.REJECTED.value)
    returned = decided & (f.c.kind == SalesDecision.RETURNED_TO_NURTURE.value)
    for name, condition in (
        ("decisions", decided),
        ("rejections", rejected),
        ("returned", returned),
    ):
        parts.append(
            select(f.c.lead_id, literal(name).label("metric"), func.count().label("amount"))
            .where(condition)
            .group_by(f.c.lead_id)
        )
    reason = literal("n_") + func.coalesce(func.nullif(f.c.reason, ""), "other")
    parts.append(
        select(f.c.lead_id, reason.label("metric"), func.count().label("amount"))
        .where(rejected)
        .group_by(f.c.lead_id, reason)
    )
    rows = union_all(*parts).subquery("metrics")
    return select(rows.c.lead_id, rows.c.metric, rows.c.amount).where(rows.c.amount != 0)


def _sums(
    leads: Mapping[str, Mapping[str, Any]], metrics: Iterable[Mapping[str, Any]]
) -> Contributions:
    """Each metric row added under its lead's keys (leads never scored add nothing)."""
    keys = {lead_id: lead_keys(lead) for lead_id, lead in leads.items()}
    out: Contributions = defaultdict(float)
    for row in metrics:
        for day, field, value in keys.get(row["lead_id"], ()):
            out[(day, field, value, row["metric"])] += float(row["amount"])
    return out
