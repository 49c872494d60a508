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

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.engine import Connection

from scoring.contract import SalesDecision
from scoring.feedback_tables import SALES_DECISION_KINDS
from serving.rollup_tables import LeadRollupMetric
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
