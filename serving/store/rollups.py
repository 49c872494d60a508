"""Keeping the report roll-ups current: recompute the dirty leads, move the day sums.

The triggers of migration 0009 mark a lead dirty in the same transaction as any change
to its decisions or feedback (:class:`~serving.rollup_tables.DirtyLead`).
:func:`refresh_rollups` claims dirty leads a chunk at a time, recomputes each one's
summary with the same SQL the reports used to run over the whole log
(:func:`serving.store.report_sums.lead_rows` and friends, restricted to the chunk), and
adds the difference between the lead's new and stored contributions to
:class:`~serving.rollup_tables.ReportDaySum`. A report then reads a few thousand day
sums instead of ranking a million decisions.

Why it is safe beside writers: the claim is a ``DELETE ... RETURNING`` in the refresh's
own transaction, so a writer that marks a claimed lead again waits for the refresh to
commit and then marks it anew — its change is picked up by the next refresh, never lost.
Refreshes run one at a time (SQLite's write lock; an advisory lock on PostgreSQL), so the
day sums never receive the same difference twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from scoring.contract import SalesDecision
from scoring.feedback_tables import SALES_DECISION_KINDS
from serving.reports.report_data import GROUPABLE
from serving.rollup_tables import (
    MISSING,
    TOTAL,
    DirtyLead,
    LeadRollup,
    LeadRollupMetric,
    ReportDaySum,
)
from serving.store.engine import _writer
from serving.store.report_leads import lead_feedback, lead_rows
from serving.tables import Feedback

CHUNK = 5_000
"""Leads recomputed per transaction: bounds the refresh's memory and each lock's length."""

FUNNEL_METRICS: tuple[str, ...] = ("leads", "mql", "decided", "sql", "won", "lost", "revenue")
"""Per-lead flags (and the won deal's revenue) the funnel adds up."""
REJECTION_METRICS: tuple[str, ...] = ("decisions", "rejections", "returned")
"""Counts of sales decisions the rejection section adds up, beside ``n_<reason>``."""

Contributions = dict[tuple[date, str, str, str], float]
"""``(cohort day, field, value, metric) -> amount``: what leads add to the day sums."""


def refresh_rollups(engine: Engine, *, chunk: int = CHUNK) -> int:
    """Bring the roll-ups up to date with the log; returns how many leads were recomputed."""
    write = _writer(engine)
    done = 0
    while True:
        with write.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("leadscore-rollups"))))
            ids = _claim(conn, chunk)
            if not ids:
                return done
            old = _stored(conn, ids)
            conn.execute(delete(LeadRollup).where(LeadRollup.lead_id.in_(ids)))
            conn.execute(delete(LeadRollupMetric).where(LeadRollupMetric.lead_id.in_(ids)))
            leads = {row.lead_id: row._asdict() for row in conn.execute(select(lead_rows(ids)))}
            metrics = _metrics(conn, ids, leads, lead_feedback(ids))
            summaries = [_summary(lead_id, leads.get(lead_id), metrics) for lead_id in ids]
            kept = [s for s in summaries if s is not None]
            if kept:
                conn.execute(insert(LeadRollup), kept)
            metric_rows = [
                {"lead_id": lead_id, "metric": metric, "amount": amount}
                for lead_id, found in metrics.items()
                if lead_id in leads
                for metric, amount in found.items()
                if amount
            ]
            if metric_rows:
                conn.execute(insert(LeadRollupMetric), metric_rows)
            new = contributions(kept, metric_rows)
            _add(conn, {k: new.get(k, 0.0) - old.get(k, 0.0) for k in old.keys() | new.keys()})
        done += len(ids)


def _claim(conn: Connection, chunk: int) -> list[str]:
    t = cast(Table, DirtyLead.__table__)  # declarative classes type it as a FromClause
    some = select(t.c.lead_id).limit(chunk).scalar_subquery()
    query = delete(t).where(t.c.lead_id.in_(some)).returning(t.c.lead_id)
    return [row[0] for row in conn.execute(query)]


def _stored(conn: Connection, ids: Sequence[str]) -> Contributions:
    """The claimed leads' contributions as the day sums hold them now."""
    r, m = LeadRollup.__table__, LeadRollupMetric.__table__
    rows = [row._asdict() for row in conn.execute(select(r).where(r.c.lead_id.in_(ids)))]
    found = [
        row._asdict()
        for row in conn.execute(select(m).where(m.c.lead_id.in_(ids) & (m.c.amount != 0)))
    ]
    return contributions(rows, found)


def _metrics(
    conn: Connection, ids: Sequence[str], leads: Mapping[str, Any], feedback: Any
) -> dict[str, dict[str, float]]:
    """Each claimed lead's metrics: funnel flags, sales-decision counts, unscored feedback."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    flags = {row.lead_id: row for row in conn.execute(select(feedback))}
    for lead_id, lead in leads.items():
        fb = flags.get(lead_id)
        decided = int(fb.decided) if fb is not None else 0
        out[lead_id].update(
            leads=1,
            mql=int(bool(lead["handed"]) or bool(decided)),
            decided=decided,
            sql=int(fb.sql) if fb is not None else 0,
            won=int(fb.won) if fb is not None else 0,
            lost=int(fb.lost) if fb is not None else 0,
            revenue=float(fb.revenue or 0.0) if fb is not None else 0.0,
        )
    f = Feedback.__table__
    decisions = conn.execute(
        select(f.c.lead_id, f.c.kind, f.c.reason, func.count().label("n"))
        .where(f.c.lead_id.in_(ids) & f.c.kind.in_(sorted(SALES_DECISION_KINDS)))
        .group_by(f.c.lead_id, f.c.kind, f.c.reason)
    )
    for row in decisions:
        sums, n = out[row.lead_id], int(row.n)
        sums["decisions"] = sums.get("decisions", 0) + n
        if row.kind == SalesDecision.REJECTED.value:
            sums["rejections"] = sums.get("rejections", 0) + n
            name = f"n_{row.reason or 'other'}"
            sums[name] = sums.get(name, 0) + n
        elif row.kind == SalesDecision.RETURNED_TO_NURTURE.value:
            sums["returned"] = sums.get("returned", 0) + n
    unscored = [lead_id for lead_id in ids if lead_id not in leads]
    if unscored:
        counts = conn.execute(
            select(f.c.lead_id, func.count()).where(f.c.lead_id.in_(unscored)).group_by(f.c.lead_id)
        )
        for lead_id, n in counts:
            out[lead_id]["unscored_feedback"] = int(n)
    return out


def _summary(
    lead_id: str, lead: Mapping[str, Any] | None, metrics: Mapping[str, Mapping[str, float]]
) -> dict[str, Any] | None:
    """The lead's :class:`LeadRollup` row, or ``None`` for a lead with nothing left."""
    unscored = int(metrics.get(lead_id, {}).get("unscored_feedback", 0))
    if lead is None and not unscored:
        return None  # erased, or never in the log
    row: dict[str, Any] = {
        "lead_id": lead_id,
        "cohort_at": None if lead is None else lead["cohort_at"],
        "handed": 0 if lead is None else int(lead["handed"] or 0),
        "unscored_feedback": unscored if lead is None else 0,
    }
    for name in GROUPABLE:
        row[f"g_{name}"] = None if lead is None else lead[f"g_{name}"]
    return row


def contributions(
    leads: Iterable[Mapping[str, Any]], metrics: Iterable[Mapping[str, Any]]
) -> Contributions:
    """What ``leads`` (roll-up rows) with ``metrics`` add to the day sums: each metric
    under its cohort day once per group field and once under :data:`TOTAL`. Leads never
    scored (no cohort) add nothing."""
    keys: dict[str, list[tuple[date, str, str]]] = {}
    for lead in leads:
        cohort: datetime | None = lead["cohort_at"]
        if cohort is None:
            continue
        day = cohort.date()
        keys[lead["lead_id"]] = [(day, TOTAL, TOTAL)] + [
            (day, name, MISSING if lead[f"g_{name}"] is None else str(lead[f"g_{name}"]))
            for name in GROUPABLE
        ]
    out: Contributions = defaultdict(float)
    for row in metrics:
        for day, field, value in keys.get(row["lead_id"], ()):
            out[(day, field, value, row["metric"])] += float(row["amount"])
    return out


def _add(conn: Connection, deltas: Mapping[tuple[date, str, str, str], float]) -> None:
    """Add ``deltas`` to the day sums (an upsert; rows that reach zero stay, as zero)."""
    rows = [
        {"day": day, "field": field, "value": value, "metric": metric, "amount": amount}
        for (day, field, value, metric), amount in deltas.items()
        if amount
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
