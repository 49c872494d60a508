"""The attribution section's part of the report roll-ups.

A converted lead's credits depend on that lead alone, so they are computed when the lead
changes, by the report's own code: :func:`~serving.reports.attribution.lead_credits` on
the report inputs :func:`~serving.reports.store_inputs.from_store` makes of the lead's
decisions and feedback (its lifecycle replay included), added up per group by
:func:`~serving.reports.attribution.group_sums`. What a lead adds to the day sums:

* fields ``attr:channel`` and ``attr:campaign``, value the group, metric
  ``attr:<model>:<stage>`` (``<model>`` ``time_decay@<days>`` for the time decay);
* field :data:`~serving.rollup_tables.TOTAL`: ``attr:mql``, ``attr:sql``, ``attr:won``,
  ``attr:revenue``, ``attr:touches`` and ``attr:unchanneled`` (the section's totals and
  its note).

The time decay depends on the half-life (a setting) and not linearly: its sums are kept
per half-life listed in :class:`~serving.rollup_tables.AttributionHalfLife`, each exact.
A report for a half-life not listed lists it and recomputes the converted leads first
(:func:`ensure_half_life`): slow once after the setting changes, exact after that.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import pandas as pd
from sqlalchemy import Engine, Table, delete, insert, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from serving.reports.attribution import (
    DIMENSIONS,
    MODELS,
    credit_columns,
    group_sums,
    lead_credits,
)
from serving.reports.store_inputs import from_store
from serving.rollup_tables import TOTAL, AttributionHalfLife, DirtyLead, LeadAttribution
from serving.store.decisions import decision_frame
from serving.store.feedback import feedback_frame
from serving.store.rollups import Contributions, rollup_leads
from serving.tables import Feedback

FIELDS: dict[str, str] = {dimension: f"attr:{dimension}" for dimension in DIMENSIONS}
"""The day-sum field of each dimension a touch is credited to."""
TOTALS: tuple[str, ...] = ("mql", "sql", "won", "revenue", "touches", "unchanneled")
"""The section's totals, summed under :data:`TOTAL` as ``attr:<name>``."""

Credit = tuple[str, str, str, float]
"""``(field, value, metric, amount)``: one of a lead's contributions, without its day."""


def model_key(model: str, half_life_days: float) -> str:
    """The model's name in the metrics: the time decay carries its half-life."""
    return f"{model}@{float(half_life_days)!r}" if model == "time_decay" else model


def metric(model: str, stage: str, half_life_days: float) -> str:
    """The day-sum metric of one model's credit of one stage."""
    return f"attr:{model_key(model, half_life_days)}:{stage}"


class AttributionPart:
    """Per converted lead its credits (:class:`LeadAttribution`, one JSON row)."""

    def stored(self, conn: Connection, ids: Sequence[str]) -> Contributions:
        a = LeadAttribution.__table__
        rows = conn.execute(select(a.c.lead_id, a.c.credits).where(a.c.lead_id.in_(ids)))
        return _sums(rollup_leads(conn, ids), {lead_id: json.loads(text) for lead_id, text in rows})

    def rebuild(
        self, conn: Connection, ids: Sequence[str], leads: Mapping[str, Mapping[str, Any]]
    ) -> Contributions:
        a = cast(Table, LeadAttribution.__table__)  # typed as a FromClause
        conn.execute(delete(a).where(a.c.lead_id.in_(ids)))
        credits = lead_contributions(conn, leads, half_lives(conn))
        rows = [
            {"lead_id": lead_id, "credits": json.dumps(found, separators=(",", ":"))}
            for lead_id, found in credits.items()
            if found
        ]
        if rows:
            conn.execute(insert(a), rows)
        return _sums(leads, credits)


def half_lives(conn: Connection) -> list[float]:
    """The half-lives whose time-decay sums are kept, smallest first."""
    h = AttributionHalfLife.__table__
    return [
        float(v) for (v,) in conn.execute(select(h.c.half_life_days).order_by(h.c.half_life_days))
    ]


def ensure_half_life(engine: Engine, half_life_days: float) -> bool:
    """Keep time-decay sums for ``half_life_days`` from now on; returns whether it was new.

    New: it is listed and every lead with credits is marked dirty in one transaction, so
    the caller's next refresh adds the new sums for all of them (and a concurrent one
    finds the leads dirty). Marking all leads with credits is the price of an exact sum
    for a half-life no one computed before: it happens once per value the setting takes.
    """
    h = cast(Table, AttributionHalfLife.__table__)
    value = float(half_life_days)
    with engine.begin() as conn:
        if conn.execute(select(h.c.half_life_days).where(h.c.half_life_days == value)).first():
            return False
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(h).values(half_life_days=value).on_conflict_do_nothing())
        a, d = LeadAttribution.__table__, DirtyLead.__table__
        # WHERE true: SQLite would read the ON CONFLICT as the SELECT's join constraint
        credited = select(a.c.lead_id).where(true())
        mark = dialect.insert(d).from_select(["lead_id"], credited)
        conn.execute(mark.on_conflict_do_nothing())
    return True


def lead_contributions(
    conn: Connection, leads: Mapping[str, Mapping[str, Any]], kept: Sequence[float]
) -> dict[str, list[Credit]]:
    """Each converted lead's credits (of the scored ``leads``) for every model, the time
    decay once per half-life in ``kept``, and its totals."""
    out: dict[str, list[Credit]] = defaultdict(list)
    candidates = _candidates(conn, leads)
    if not candidates or not kept:
        return out
    data = from_store(
        decision_frame(conn, lead_ids=candidates),
        feedback_frame(conn, lead_ids=candidates),
    )
    for i, half_life in enumerate(kept):
        conversions, credits, unchanneled = lead_credits(data, half_life)
        models = MODELS if i == 0 else ("time_decay",)
        for dimension in DIMENSIONS:
            sums = group_sums(credits, dimension, by=("lead_id",))[credit_columns(models)]
            stacked = cast(pd.Series, sums.stack(future_stack=True))
            stacked = stacked[stacked != 0]
            levels = [stacked.index.get_level_values(k) for k in range(3)]
            for lead_id, group, column, amount in zip(*levels, stacked.to_numpy(), strict=True):
                model, stage = str(column).split(".")
                name = metric(model, stage, half_life)
                out[str(lead_id)].append((FIELDS[dimension], str(group), name, float(amount)))
        if i == 0:
            for lead_id, totals in _totals(conversions, credits, unchanneled).items():
                out[lead_id] += [
                    (TOTAL, TOTAL, f"attr:{name}", amount)
                    for name, amount in totals.items()
                    if amount
                ]
    return out


def _candidates(conn: Connection, leads: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The scored leads that may have converted: handed to sales, or with feedback (the
    others have no MQL, SQL or deal to credit)."""
    f = Feedback.__table__
    with_feedback = {
        lead_id
        for (lead_id,) in conn.execute(
            select(f.c.lead_id).where(f.c.lead_id.in_(list(leads))).distinct()
        )
    }
    return sorted(i for i, lead in leads.items() if lead["handed"] or i in with_feedback)


def _totals(conversions: Any, credits: Any, unchanneled: Any) -> dict[str, dict[str, float]]:
    """Per lead what :func:`~serving.reports.attribution.credit_totals` adds up."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    stages = conversions.groupby(["lead_id", "stage"]).size()
    for (lead_id, stage), n in stages.items():
        out[str(lead_id)][str(stage)] = float(n)
    won = conversions[conversions["stage"] == "won"].groupby("lead_id")["value"].sum()
    for lead_id, amount in won.items():
        out[str(lead_id)]["revenue"] = float(amount)
    touches = credits.drop_duplicates(["lead_id", "touch"]).groupby("lead_id").size()
    for lead_id, n in touches.items():
        out[str(lead_id)]["touches"] = float(n)
    for lead_id, n in unchanneled.items():
        out[str(lead_id)]["unchanneled"] = float(n)
    return out


def _sums(
    leads: Mapping[str, Mapping[str, Any]], credits: Mapping[str, Iterable[Sequence[Any]]]
) -> Contributions:
    """Each lead's credits under its cohort day (leads never scored add nothing)."""
    out: Contributions = defaultdict(float)
    for lead_id, found in credits.items():
        lead = leads.get(lead_id)
        if lead is None:
            continue
        day = lead["cohort_at"].date()
        for field, value, name, amount in found:
            out[(day, field, value, name)] += float(amount)
    return out
