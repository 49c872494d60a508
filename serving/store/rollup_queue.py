"""The sales queue's part of the roll-ups: one row per lead, its trend's stretches, counts.

The queue lists each lead's latest decision with its sales state
(:func:`serving.store.queue.lead_states`); over a million decisions that SELECT ranks
every decision on each request. This part keeps its answer per lead in
:class:`~serving.rollup_tables.QueueLead` — the same SELECT, run for the leads that
changed — with the status, band and "more than one decision" the filters and sorts need,
indexed for the queue's orders. :class:`~serving.rollup_tables.QueueCount` keeps how
many leads each combination of the time-free filters matches, moved by each rebuild's
difference, so a count is a sum over a few hundred rows.

What moves with time stays per lead. An open handoff's SLA state depends on "now": the
SLA filter reads the open handoffs through their index on ``handoff_at``. The change of
P(won) (:mod:`serving.trend`) depends on "now" only while the lead's newest decision is
younger than the trend window; :class:`~serving.rollup_tables.QueueChange` holds its
value for each stretch of time before that (the reference score being the newest one
at or before a week ago, else the first), and afterwards it is 0 (or none, for a lead
scored once) — so only leads scored within the window need a look-up.

The part adds nothing to the report day sums.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from serving.rollup_tables import MISSING, QueueChange, QueueCount, QueueLead
from serving.store.queue import band_of, lead_states
from serving.store.rollups import Contributions
from serving.tables import Decision

BATCH = 250
"""Leads per :func:`lead_states` query of a rebuild (see :func:`_lead_states`)."""

CountKey = tuple[int, str, str, str, int]
"""``(decided, decision, channel or MISSING, band, multi)``: a :class:`QueueCount` row."""


class QueuePart:
    """The queue's rows, trend stretches and filter counts of each changed lead."""

    def stored(self, conn: Connection, ids: Sequence[str]) -> Contributions:
        return {}

    def rebuild(
        self, conn: Connection, ids: Sequence[str], leads: Mapping[str, Mapping[str, Any]]
    ) -> Contributions:
        q = cast(Table, QueueLead.__table__)  # declarative classes type it as a FromClause
        c = cast(Table, QueueChange.__table__)
        counts: dict[CountKey, int] = defaultdict(int)
        fields = (q.c.decided, q.c.decision, q.c.channel, q.c.band, q.c.multi)
        old = select(*fields, func.count()).where(q.c.lead_id.in_(ids)).group_by(*fields)
        for decided, decision, channel, band, multi, n in conn.execute(old):
            counts[_key(decided, decision, channel, band, multi)] -= int(n)
        conn.execute(delete(q).where(q.c.lead_id.in_(ids)))
        conn.execute(delete(c).where(c.c.lead_id.in_(ids)))
        scores = _scores(conn, ids)
        rows, stretches = [], []
        for record in _lead_states(conn, ids):
            lead_scores = scores[record["lead_id"]]
            row = _queue_row(record, multi=len(lead_scores) > 1)
            rows.append(row)
            stretches += _stretches(record["lead_id"], lead_scores)
            counts[_key(*(row[f.name] for f in fields))] += 1
        if rows:
            conn.execute(insert(q), rows)
        if stretches:
            conn.execute(insert(c), stretches)
        _add_counts(conn, {key: n for key, n in counts.items() if n})
        return {}


def _lead_states(conn: Connection, ids: Sequence[str]) -> list[dict[str, Any]]:
    """:func:`lead_states` of ``ids``, :data:`BATCH` leads per query: PostgreSQL takes
    the last sales decisions of a few leads for a handful of rows and joins them by
    nested loops, which grows with the square of the leads asked for (6.5 s for 5,000
    leads, 0.12 s for 500, measured at 1M decisions)."""
    out: list[dict[str, Any]] = []
    for i in range(0, len(ids), BATCH):
        query = lead_states(datetime.min, None, ids[i : i + BATCH])
        out += [dict(found) for found in conn.execute(query).mappings()]
    return out


def _key(decided: int, decision: str, channel: str | None, band: str, multi: int) -> CountKey:
    """The :class:`QueueCount` key of a lead (a missing channel as :data:`MISSING`)."""
    return (int(decided), decision, MISSING if channel is None else channel, band, int(multi))


def _queue_row(record: Mapping[str, Any], *, multi: bool) -> dict[str, Any]:
    """A :class:`QueueLead` row from one row of :func:`lead_states`."""
    row = {name: value for name, value in record.items() if name != "id"}
    row["decision_id"] = record["id"]
    row["decided"] = int(record["decided_at"] is not None and record["handoff_at"] is None)
    row["band"] = band_of(record["p_won"])
    row["multi"] = int(multi)
    return row


def _scores(conn: Connection, ids: Sequence[str]) -> dict[str, list[tuple[datetime, float]]]:
    """Each lead's ``(scored_at, p_won)``, oldest first in the order the trend SQL ranks
    them (``scored_at``, then ``id``, compared by the database)."""
    d = Decision.__table__
    out: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    query = (
        select(d.c.lead_id, d.c.scored_at, d.c.p_won)
        .where(d.c.lead_id.in_(ids))
        .order_by(d.c.lead_id, d.c.scored_at, d.c.id)
    )
    for lead_id, scored_at, p_won in conn.execute(query):
        out[lead_id].append((scored_at, float(p_won)))
    return out


def _stretches(lead_id: str, scores: Sequence[tuple[datetime, float]]) -> list[dict[str, Any]]:
    """The lead's change of P(won) before it settles, as :class:`QueueChange` rows.

    With the cut-off ``c`` (now minus the trend window) the reference is the newest score
    at or before ``c``, else the first: before the first score time it is the first
    score; from each score time to the next, the last score of that time; from the
    newest score's time on, the newest itself (change 0: no row). A lead scored once has
    no change at all (no row either).
    """
    if len(scores) < 2:
        return []
    latest = scores[-1][1]
    times = sorted({at for at, _ in scores})
    last_at = {at: p_won for at, p_won in scores}  # the last score of each time wins
    out = [{"since": None, "until": times[0], "change": latest - scores[0][1]}]
    out += [
        {"since": at, "until": after, "change": latest - last_at[at]}
        for at, after in pairwise(times)
    ]
    return [{"lead_id": lead_id, "seq": i, **row} for i, row in enumerate(out)]


def _add_counts(conn: Connection, deltas: Mapping[CountKey, int]) -> None:
    """Add ``deltas`` to :class:`QueueCount` (an upsert; rows that reach zero stay)."""
    if not deltas:
        return
    t = QueueCount.__table__
    names = ("decided", "decision", "channel", "band", "multi")
    rows = [{**dict(zip(names, key, strict=True)), "n": n} for key, n in deltas.items()]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(t)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c[name] for name in names], set_={"n": t.c.n + stmt.excluded.n}
        ),
        rows,
    )
