"""Rebuilding every roll-up from the log at once: the first refresh after an upgrade.

Migration 0009 marks every lead of an existing log dirty. Recomputing them a chunk at a
time (:func:`serving.store.rollups.refresh_rollups`'s incremental path) costs Python per
lead and an upsert of each chunk's day-sum differences: at 100k decisions that took
minutes, since a chunk's leads span every day. When most leads are dirty it is cheaper to
rebuild everything in a few statements: the :class:`~serving.rollup_tables.LeadRollup`
rows as one ``INSERT ... SELECT`` over the whole log, each part's per-lead rows likewise
(:meth:`BulkPart.rebuild_all`), and the day sums as one ``GROUP BY`` of those rows under
each lead's keys (the keys :func:`~serving.store.rollups.lead_keys` gives). A part
without ``rebuild_all`` is rebuilt chunk by chunk as in the incremental path, its
contributions summed in memory and written once.

The result is what the incremental path builds from an empty start
(``tests/integration/test_rollup_rebuild.py`` compares every table); it runs in one
transaction, like a chunk of the incremental path, so a writer that marks one of the
claimed leads again waits for it to commit (on SQLite every writer waits: run
``leadscore rollups refresh`` right after an upgrade, before serving).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol, cast, runtime_checkable

from sqlalchemy import (
    Date,
    Table,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.engine import Connection, Engine

from serving import rollup_tables
from serving.reports.report_data import GROUPABLE
from serving.rollup_tables import MISSING, TOTAL, DirtyLead, LeadRollup, ReportDaySum
from serving.store.engine import _writer
from serving.store.report_leads import lead_rows
from serving.store.rollups import CHUNK, Contributions, RollupPart, add_sums, lock_rollups
from serving.tables import Base, Decision, Feedback

WORK_MEM = "256MB"
"""PostgreSQL's memory for each sort or hash of the rebuild (its own transaction only)."""


@runtime_checkable
class BulkPart(Protocol):
    """A part that can rebuild every lead's rows in SQL (see :func:`rebuild_rollups`)."""

    def rebuild_all(self, conn: Connection) -> Any:
        """Replace the part's per-lead rows of every lead with ones computed from the log
        (the :class:`LeadRollup` rows are already rebuilt) and return a SELECT of
        ``lead_id, metric, amount``: what each lead adds under each of its keys."""
        ...


def rebuild_rollups(conn: Connection, parts: Sequence[RollupPart]) -> int:
    """Rebuild every roll-up table from the log in ``conn``'s transaction (the caller
    holds the refresh lock); returns how many leads were dirty."""
    if conn.dialect.name == "postgresql":
        # sorts and hashes over every lead: in memory, not in temporary files (4 MB
        # default); no JIT compiling (seconds) for plans made without statistics
        conn.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        conn.execute(text("SET LOCAL jit = off"))
    d = cast(Table, DirtyLead.__table__)
    dirty = [row[0] for row in conn.execute(delete(d).returning(d.c.lead_id))]
    for table in rollup_table_list():
        conn.execute(delete(table))
    _insert_leads(conn)
    _analyze(conn, LeadRollup.__table__)
    metrics = [part.rebuild_all(conn) for part in parts if isinstance(part, BulkPart)]
    for query in metrics:
        if isinstance(query, Table):
            _analyze(conn, query)
    sums = _day_sums(metrics, conn.dialect.name)
    if sums is not None:
        s = cast(Table, ReportDaySum.__table__)  # declarative classes type it as a FromClause
        conn.execute(insert(s).from_select(["day", "field", "value", "metric", "amount"], sums))
    rest = [part for part in parts if not isinstance(part, BulkPart)]
    if rest:
        add_sums(conn, _chunked(conn, rest, dirty))
    return len(dirty)


def _analyze(conn: Connection, table: Any) -> None:
    """PostgreSQL: statistics of a table just filled, for the plans that read it next."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ANALYZE {table.name}"))


def reset_rollups(engine: Engine) -> int:
    """Empty every roll-up table and mark every lead of the log dirty: the state
    migration 0009 leaves an existing store in (the bench times the first refresh from
    it; the tests build the roll-ups both ways from it). Returns how many leads."""
    d = cast(Table, DirtyLead.__table__)
    with _writer(engine).begin() as conn:
        lock_rollups(conn)
        for table in (d, *rollup_table_list()):
            conn.execute(delete(table))
        ids = union_all(select(Decision.lead_id), select(Feedback.lead_id)).subquery()
        conn.execute(insert(d).from_select(["lead_id"], select(ids.c.lead_id).distinct()))
        return int(conn.execute(select(func.count()).select_from(d)).scalar_one())


def rollup_table_list() -> list[Table]:
    """Every table of :mod:`serving.rollup_tables` but the dirty set and the settings the
    roll-ups were made with (the SLA clocks, the drift profile, the attribution half-lives):
    the sections' per-lead tables are declared there too."""
    kept = (
        DirtyLead,
        rollup_tables.SlaRollupClocks,
        rollup_tables.DriftRollupProfile,
        rollup_tables.AttributionHalfLife,
    )
    return [
        cast(Table, value.__table__)
        for value in vars(rollup_tables).values()
        if isinstance(value, type)
        and issubclass(value, Base)
        and value.__module__ == rollup_tables.__name__
        and value not in kept
    ]


def _insert_leads(conn: Connection) -> None:
    """Every lead's :class:`LeadRollup` row: the scored ones from their first decision,
    the ones with only feedback with a count of it (as ``_rebuild_leads`` makes them)."""
    r, f, d = cast(Table, LeadRollup.__table__), Feedback.__table__, Decision.__table__
    leads = lead_rows()
    names = ["lead_id", "cohort_at", "handed", *(f"g_{name}" for name in GROUPABLE)]
    scored = select(*(leads.c[name] for name in names), literal(0).label("unscored_feedback"))
    conn.execute(insert(r).from_select([*names, "unscored_feedback"], scored))
    unscored = (
        select(
            f.c.lead_id,
            literal(None).label("cohort_at"),
            literal(0).label("handed"),
            *(literal(None).label(f"g_{name}") for name in GROUPABLE),
            func.count().label("unscored_feedback"),
        )
        # NOT EXISTS, an anti-join: PostgreSQL runs ``NOT IN (SELECT ...)`` once per row
        # when the subquery's ids do not fit in ``work_mem``
        .where(~exists().where(d.c.lead_id == f.c.lead_id))
        .group_by(f.c.lead_id)
    )
    conn.execute(insert(r).from_select([*names, "unscored_feedback"], unscored))


def _day_sums(metrics: Sequence[Any], dialect: str) -> Any | None:
    """The day sums of ``(lead_id, metric, amount)`` rows: each added under the lead's
    cohort day and :data:`TOTAL`, then under each group field's value (or
    :data:`MISSING`), as :func:`~serving.store.rollups.lead_keys` keys them — one
    ``GROUP BY`` over the rows joined with the field names (one pass, not one per field)."""
    if not metrics:
        return None
    r = LeadRollup.__table__
    m = union_all(*(select(q.c.lead_id, q.c.metric, q.c.amount) for q in metrics)).subquery("m")
    k = union_all(*(select(literal(name).label("field")) for name in (TOTAL, *GROUPABLE)))
    fields = k.subquery("k")
    day = cohort_day(r.c.cohort_at, dialect)
    value = case(
        *((fields.c.field == name, func.coalesce(r.c[f"g_{name}"], MISSING)) for name in GROUPABLE),
        else_=literal(TOTAL),
    )
    total = func.sum(m.c.amount)
    return (
        select(day, fields.c.field, value, m.c.metric, total)
        .select_from(r.join(m, m.c.lead_id == r.c.lead_id).join(fields, true()))
        .where(r.c.cohort_at.is_not(None))
        .group_by(day, fields.c.field, value, m.c.metric)
        .having(total != 0)
    )


def cohort_day(column: Any, dialect: str) -> Any:
    """The UTC day of a stored timestamp, in SQL: PostgreSQL converts to UTC first (a
    plain cast takes the session's time zone), SQLite stores UTC text already."""
    if dialect == "postgresql":
        return sql_cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _chunked(conn: Connection, parts: Sequence[RollupPart], dirty: Sequence[str]) -> Contributions:
    """The parts without ``rebuild_all``, rebuilt a chunk of leads at a time; their
    contributions summed in memory (written once, not a chunk at a time)."""
    r = LeadRollup.__table__
    ids = sorted({*dirty, *(row[0] for row in conn.execute(select(r.c.lead_id)))})
    out: Contributions = defaultdict(float)
    for i in range(0, len(ids), CHUNK):
        some = ids[i : i + CHUNK]
        query = select(r).where(r.c.lead_id.in_(some) & r.c.cohort_at.is_not(None))
        leads = {row.lead_id: row._asdict() for row in conn.execute(query)}
        for part in parts:
            for key, amount in part.rebuild(conn, some, leads).items():
                out[key] += amount
    return out
