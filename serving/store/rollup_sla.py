"""The SLA section's part of the report roll-ups.

For each lead that changed, :class:`SlaPart` replays its history through the same code
the pandas path runs (``from_store``, then ``lead_facts``: the lead lifecycle and its SLA
clocks) and keeps what the SLA section adds up:

* :class:`~serving.rollup_tables.LeadSlaMetric` — its counts under the section's names
  (``handed_over``, ``within_8h``, ``rejections``, ``breach_<rule>``, ...), summed per
  cohort day and group field into the day sums under ``sla:`` fields and metrics, and its
  response-time histogram bin (``hist_<i>``, in the total only), and the grid buckets of
  its times (``hb_<time>:<bucket>``), counted into :class:`~serving.rollup_tables.
  SlaHistogram` per day and month (:mod:`serving.store.sla_hist`);
* :class:`~serving.rollup_tables.LeadSla` — its response and decision times (a report
  bins those of its partial first and last day itself);
* :class:`~serving.rollup_tables.LeadSlaDue` — the clocks still waiting for their event
  at the end of time, with when each runs out. The breaches depend on the report's
  moment: the sums count every such clock as breached, and a report takes back the few
  not yet due at its moment (:mod:`serving.store.report_sla`).

The windows are the deployment's :class:`~scoring.lifecycle.SlaClocks`, kept in
:class:`~serving.rollup_tables.SlaRollupClocks`; :func:`use_clocks` rebuilds every lead
once when a report asks for other ones.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Table, delete, insert, select
from sqlalchemy.engine import Connection

from scoring.lifecycle import SLA_RULES, SlaClocks
from serving.reports.facts import lead_facts
from serving.reports.sla import RESPONSE_HOUR_EDGES, response_histogram
from serving.reports.store_inputs import from_store
from serving.rollup_tables import (
    TOTAL,
    DirtyLead,
    LeadRollup,
    LeadSla,
    LeadSlaDue,
    LeadSlaMetric,
    SlaRollupClocks,
)
from serving.store.decisions import decision_frame
from serving.store.engine import _writer
from serving.store.feedback import feedback_frame
from serving.store.rollups import Contributions, lead_keys, lock_rollups, rollup_leads
from serving.store.sla_hist import BUCKET, TIMES, bucket_metrics, hist_keys

SLA = "sla:"
"""The namespace of the SLA section's fields and metrics in the day sums."""
SLA_TOTAL = f"{SLA}{TOTAL}"
"""The SLA section's total field (its single value is :data:`TOTAL`)."""
SLA_MONTH = "slam:"
"""The namespace of the same sums per cohort month (``day``: the month's first day), so
a long period reads a dozen rows per group and metric instead of one per day."""
FACTS: dict[str, str] = {
    "handed_over": "mql",
    "decided": "decided",
    "undecided": "undecided",
    "response_known": "response_known",
    "within_8h": "within_8h",
    "within_24h": "within_24h",
    "rejections": "rej_n",
    "rej_known": "rej_known",
    "rej_3plus": "rej_3plus",
    "nr_n": "nr_n",
    "nr_known": "nr_known",
    "nr_3plus": "nr_3plus",
    "not_accepted": "not_accepted",
    "returned": "returned",
    "nurture_known": "nurture_known",
    "nurtured": "nurtured",
    "sql": "sql",
    "sql_qualified": "sql_qualified",
    **{f"breach_{rule}": f"breach_{rule}" for rule in SLA_RULES},
}
"""The section's sums (the names of ``serving.reports.sla._sla_sums``) and the per-lead
fact each adds up; ``breach_<rule>`` counts the still-open clocks as breached."""
COUNTS: tuple[str, ...] = ("leads", *FACTS)
"""Every per-lead count the day sums hold (``leads``: one per lead, for its groups)."""
BINS = len(RESPONSE_HOUR_EDGES) - 1
THE_END = datetime(9999, 1, 1, tzinfo=UTC)
"""The moment the roll-ups judge the clocks at: every clock still open counts as due."""


class SlaPart:
    """Per-lead SLA counts, times and open clocks (see the module's docstring)."""

    def stored(self, conn: Connection, ids: Sequence[str]) -> Contributions:
        m = LeadSlaMetric.__table__
        rows = conn.execute(select(m).where(m.c.lead_id.in_(ids)))
        return _sums(rollup_leads(conn, ids), (row._asdict() for row in rows))

    def rebuild(
        self, conn: Connection, ids: Sequence[str], leads: Mapping[str, Mapping[str, Any]]
    ) -> Contributions:
        tables = [cast(Table, t.__table__) for t in (LeadSlaMetric, LeadSla, LeadSlaDue)]
        for t in tables:  # (declarative classes type their tables as FromClause)
            conn.execute(delete(t).where(t.c.lead_id.in_(ids)))
        if not leads:
            return {}
        metrics, times, due = _lead_rows(conn, list(leads), rollup_clocks(conn))
        for t, rows in zip(tables, (metrics, times, due), strict=True):
            if rows:
                conn.execute(insert(t), rows)
        return _sums(leads, metrics)


def _lead_rows(
    conn: Connection, ids: list[str], clocks: SlaClocks
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The per-lead rows of the scored leads ``ids``: counts, times, open clocks."""
    data = from_store(
        decision_frame(conn, lead_ids=ids),
        feedback_frame(conn, lead_ids=ids),
        clocks=clocks,
        as_of=THE_END,
    )
    facts = lead_facts(data).set_index("lead_id")
    metrics: list[dict[str, Any]] = []
    times: list[dict[str, Any]] = []
    for lead_id, row in zip(facts.index, facts.to_dict("records"), strict=True):
        counts = {"leads": 1, **{name: int(row[fact]) for name, fact in FACTS.items()}}
        hours = [_hours(row["response_hours"]), _hours(row["decision_hours"])]
        if hours[0] is not None:
            found = response_histogram(np.asarray([hours[0]], dtype=float))
            counts.update({f"hist_{i}": n for i, n in enumerate(found) if n})
        counts.update(bucket_metrics(dict(zip(TIMES, hours, strict=True))))
        metrics += [
            {"lead_id": lead_id, "metric": name, "amount": float(n)}
            for name, n in counts.items()
            if n
        ]
        if hours != [None, None]:
            times.append(
                {"lead_id": lead_id, "response_hours": hours[0], "decision_hours": hours[1]}
            )
    return metrics, times, _open_clocks(data.breaches)


def _open_clocks(breaches: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The clocks still open at the end of time, one row per lead, rule and due time."""
    if breaches is None or breaches.empty:
        return []
    still_open = breaches[breaches["open"].astype(bool)]
    counts = still_open.groupby(["lead_id", "rule", "due_at"]).size()
    return [
        {"lead_id": lead_id, "rule": rule, "due_at": pd.Timestamp(at).to_pydatetime(), "n": int(n)}
        for (lead_id, rule, at), n in zip(counts.index.to_list(), counts.to_list(), strict=True)
    ]


def _hours(value: Any) -> float | None:
    number = float(value) if value is not None else math.nan
    return None if math.isnan(number) else number


def _sums(
    leads: Mapping[str, Mapping[str, Any]], metrics: Iterable[Mapping[str, Any]]
) -> Contributions:
    """Each metric row under its lead's ``sla:`` keys and the same keys of its month
    (:data:`SLA_MONTH`; a histogram bin: the total only; a time's bucket: under the day and
    month histograms of each key, :func:`hist_keys`).

    Each lead's keys are built once, not once per metric: this loop runs for every
    metric of every lead the refresh folds in."""
    keys: dict[str, list[tuple[date, str, str]]] = {}
    sums: dict[str, list[tuple[date, str, str]]] = {}
    for lead_id, lead in leads.items():
        keys[lead_id] = found = lead_keys(lead)
        sums[lead_id] = [
            key
            for day, field, value in found
            for key in ((day, SLA + field, value), (day.replace(day=1), SLA_MONTH + field, value))
        ]
    out: Contributions = defaultdict(float)
    for row in metrics:
        lead_id, metric, amount = row["lead_id"], row["metric"], float(row["amount"])
        if lead_id not in keys:
            continue
        if metric.startswith(BUCKET):
            for day, field, value in keys[lead_id]:
                for key in hist_keys(day, field, value, metric):
                    out[key] += amount
            continue
        name = SLA + metric
        # a histogram bin: the total's day and month keys only (the first two)
        for day, field, value in sums[lead_id][:2] if metric.startswith("hist_") else sums[lead_id]:
            out[(day, field, value, name)] += amount
    return out


def rollup_clocks(conn: Connection) -> SlaClocks:
    """The clocks the SLA roll-ups hold (the defaults until :func:`use_clocks` says)."""
    t = SlaRollupClocks.__table__
    row = conn.execute(select(t).where(t.c.id == 1)).one_or_none()
    if row is None:
        return SlaClocks()
    return SlaClocks(
        decision_hours=row.decision_hours,
        sql_confirm_hours=row.sql_confirm_hours,
        first_contact_hours=row.first_contact_hours,
        min_contact_attempts=row.min_contact_attempts,
    )


def use_clocks(engine: Engine, clocks: SlaClocks) -> bool:
    """Make ``clocks`` the roll-ups' clocks; returns whether they changed.

    A change marks every lead dirty in the same transaction (the next refresh rebuilds
    all of them: a deployment changes its SLA windows seldom), under the refresh's lock,
    so no refresh under way rebuilds a lead with the old clocks after the mark.
    """
    with engine.connect() as conn:  # the usual case, without the lock or a write
        if rollup_clocks(conn) == clocks:
            return False
    with _writer(engine).begin() as conn:
        lock_rollups(conn)
        if rollup_clocks(conn) == clocks:  # another request made the change meanwhile
            return False
        t = cast(Table, SlaRollupClocks.__table__)
        conn.execute(delete(t))
        conn.execute(
            insert(t),
            {
                "id": 1,
                "decision_hours": clocks.decision_hours,
                "sql_confirm_hours": clocks.sql_confirm_hours,
                "first_contact_hours": clocks.first_contact_hours,
                "min_contact_attempts": clocks.min_contact_attempts,
            },
        )
        dirty, r = cast(Table, DirtyLead.__table__), LeadRollup.__table__
        marked = select(dirty.c.lead_id)
        conn.execute(
            insert(dirty).from_select(
                ["lead_id"], select(r.c.lead_id).where(r.c.lead_id.not_in(marked))
            )
        )
        return True
