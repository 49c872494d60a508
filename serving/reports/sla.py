"""The SLA section: the handoff SLA (DOMAIN.md) in data, per group.

Accept/reject within the decision window, first contact within the contact window,
enough contact attempts before ``no_response``, rejected leads returned to nurturing,
and — for store data — the lifecycle's breaches of each clock. The windows are the
report's :class:`~scoring.lifecycle.SlaClocks` (``LEADSCORE_SLA_*``); the JSON keys
(``within_8h_share``, ``no_response_under_3_attempts``, ...) name DOMAIN.md's defaults
and stay as they are for dashboards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scoring.drift import _num
from scoring.lifecycle import SLA_RULES, SlaClocks
from serving.reports.facts import (
    GroupSums,
    aggregate,
    check_dims,
    lead_facts,
    p90,
    ratio,
    total_and_rows,
)
from serving.reports.notes import Note
from serving.reports.report_data import DIMENSIONS, ReportData

RESPONSE_HOUR_EDGES: tuple[float, ...] = (0, 1, 2, 4, 8, 12, 24, 48, 72, math.inf)
"""Bins of the response-time histogram, in hours."""


def sla_report(
    data: ReportData, group_by: Sequence[str] = DIMENSIONS, *, facts: pd.DataFrame | None = None
) -> dict[str, Any]:
    """The handoff SLA in data (DOMAIN.md): response times, attempts, nurture returns."""
    dims = check_dims(group_by)
    facts = lead_facts(data) if facts is None else facts
    return sla_from_sums(
        _sla_sums(facts, dims),
        response_histogram(facts["response_hours"].to_numpy(dtype=float)),
        data.clocks,
        with_breaches=data.breaches is not None,
    )


def sla_from_sums(
    sums: GroupSums, histogram: Sequence[int], clocks: SlaClocks, *, with_breaches: bool
) -> dict[str, Any]:
    """The section from its sums (:func:`_sla_sums`' names) and the response-time
    histogram: what the pandas path and the roll-ups
    (:mod:`serving.store.report_sla`) both render."""
    total, rows = total_and_rows(sums, lambda _d, _g, agg: _sla_row(agg))
    return {
        "section": "sla",
        "targets": {
            "decision_hours": clocks.decision_hours,
            "sql_confirm_hours": clocks.sql_confirm_hours,
            "first_contact_hours": clocks.first_contact_hours,
            "min_attempts": clocks.min_contact_attempts,
        },
        "total": total,
        "rows": rows,
        "response_hours_histogram": {
            "edges": [e if math.isfinite(e) else None for e in RESPONSE_HOUR_EDGES],
            "counts": [int(c) for c in histogram],
        },
        "notes": _sla_notes(clocks, with_breaches=with_breaches),
    }


def response_histogram(hours: np.ndarray) -> list[int]:
    """How many of ``hours`` (NaN: unknown, not counted) fall in each bin of
    :data:`RESPONSE_HOUR_EDGES`: over a report's leads, or one lead's bin in the roll-ups."""
    known = hours[~np.isnan(hours)]
    counts, _ = np.histogram(known, bins=np.asarray(RESPONSE_HOUR_EDGES, dtype=float))
    return [int(c) for c in counts]


def _sla_sums(facts: pd.DataFrame, dims: Sequence[str]) -> GroupSums:
    """The per-lead SLA facts summed overall and per group (breaches where known)."""
    return aggregate(
        facts,
        dims,
        handed_over=("mql", "sum"),
        decided=("decided", "sum"),
        undecided=("undecided", "sum"),
        response_known=("response_known", "sum"),
        within_8h=("within_8h", "sum"),
        within_24h=("within_24h", "sum"),
        response_hours_median=("response_hours", "median"),
        response_hours_p90=("response_hours", p90),
        decision_hours_median=("decision_hours", "median"),
        decision_hours_p90=("decision_hours", p90),
        rejections=("rej_n", "sum"),
        rej_known=("rej_known", "sum"),
        rej_3plus=("rej_3plus", "sum"),
        nr_n=("nr_n", "sum"),
        nr_known=("nr_known", "sum"),
        nr_3plus=("nr_3plus", "sum"),
        not_accepted=("not_accepted", "sum"),
        returned=("returned", "sum"),
        nurture_known=("nurture_known", "sum"),
        nurtured=("nurtured", "sum"),
        **{
            f"breach_{rule}": (f"breach_{rule}", "sum")
            for rule in SLA_RULES
            if f"breach_{rule}" in facts.columns
        },
        **(
            {"sql": ("sql", "sum"), "sql_qualified": ("sql_qualified", "sum")}
            if "sql_qualified" in facts.columns
            else {}
        ),
    )


def _sla_notes(clocks: SlaClocks, *, with_breaches: bool) -> list[str]:
    decide, contact = f"{clocks.decision_hours:g}", f"{clocks.first_contact_hours:g}"
    return [
        Note(
            "sla.response",
            "response time = first_response_hours of the lead's first sales decision, or "
            "(decision time − handoff time) where it is missing; the contract records one "
            f"response time, so the {decide} h accept/reject and the {contact} h "
            "first-contact windows are both measured on it; decision_hours is the time to "
            "the recorded decision",
            decide=decide,
            contact=contact,
        ),
        Note("sla.attempts", "attempt shares count rejections whose contact_attempts is known"),
        Note(
            "sla.nurtured",
            "nurtured_after_rejection_share: leads not accepted that got a nurture touch "
            "(email, content, webinar) after the decision; needs the touches table",
        ),
        *(
            [
                Note(
                    "sla.breaches",
                    "breaches_*: SLA breaches from the lead lifecycle, each clock on its own "
                    "event (decision from the handoff, a contacted event for the first "
                    "contact, a qualification for the SQL confirmation), late or still "
                    "missing; see docs/lifecycle.md",
                ),
                Note(
                    "sla.qualified",
                    "sql_qualified_share: accepted leads whose qualification (BANT or GPCT) "
                    "sales confirmed, on the acceptance or later",
                ),
            ]
            if with_breaches
            else []
        ),
    ]


def _sla_row(agg: Mapping[str, Any]) -> dict[str, Any]:
    row = {
        "handed_over": int(agg["handed_over"]),
        "decided": int(agg["decided"]),
        "undecided": int(agg["undecided"]),
        "response_hours_median": agg["response_hours_median"],
        "response_hours_p90": agg["response_hours_p90"],
        "within_8h_share": ratio(agg["within_8h"], agg["response_known"]),
        "first_contact_within_24h_share": ratio(agg["within_24h"], agg["response_known"]),
        "decision_hours_median": agg["decision_hours_median"],
        "decision_hours_p90": agg["decision_hours_p90"],
        "rejections": int(agg["rejections"]),
        "no_response_rejections": int(agg["nr_n"]),
        "no_response_3plus_attempts_share": ratio(agg["nr_3plus"], agg["nr_known"]),
        "no_response_under_3_attempts": int(agg["nr_known"] - agg["nr_3plus"]),
        "rejections_3plus_attempts_share": ratio(agg["rej_3plus"], agg["rej_known"]),
        "not_accepted": int(agg["not_accepted"]),
        "returned_to_nurture_share": ratio(agg["returned"], agg["not_accepted"]),
        "nurtured_after_rejection_share": ratio(agg["nurtured"], agg["nurture_known"]),
    }
    for rule in SLA_RULES:
        if f"breach_{rule}" in agg:
            row[f"breaches_{rule}"] = int(agg[f"breach_{rule}"])
    if "sql_qualified" in agg:
        row["sql_qualified_share"] = ratio(agg["sql_qualified"], agg["sql"])
    return {k: _num(v) for k, v in row.items()}
