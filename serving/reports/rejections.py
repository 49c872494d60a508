"""The rejections section: the mandatory rejection tags per group — what marketing must fix.

Counts and shares of each reason, and its lift against the overall share, per channel,
campaign and segment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scoring.contract import DATA_QUALITY_REASONS, RejectionReason, SalesDecision
from scoring.drift import _num
from scoring.feedback_tables import SALES_DECISION_KINDS
from serving.reports.facts import (
    GroupSums,
    aggregate,
    check_dims,
    lead_facts,
    ratio,
    total_and_rows,
)
from serving.reports.notes import Note
from serving.reports.report_data import DIMENSIONS, ReportData


def rejection_report(
    data: ReportData, group_by: Sequence[str] = DIMENSIONS, *, facts: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Rejection tags per group: counts, shares and the lift against the overall share."""
    dims = check_dims(group_by)
    facts = lead_facts(data) if facts is None else facts
    fb = data.feedback[data.feedback["decision"].isin(SALES_DECISION_KINDS)]
    events = fb[["lead_id", "decision", "reason"]].merge(
        facts[["lead_id", *dims]], on="lead_id", how="inner"
    )
    events["reason"] = np.where(
        events["decision"] == SalesDecision.REJECTED.value,
        events["reason"].astype(object).where(events["reason"].notna(), "other"),
        None,
    )
    known = [r.value for r in RejectionReason]
    extra = sorted({str(r) for r in events["reason"].dropna()} - set(known))
    reasons = [*known, *extra]
    flags = {f"n_{r}": (events["reason"] == r).to_numpy() for r in reasons}
    events = events.assign(
        _rejected=events["decision"] == SalesDecision.REJECTED.value,
        _returned=events["decision"] == SalesDecision.RETURNED_TO_NURTURE.value,
        **flags,
    )
    sums = aggregate(
        events,
        dims,
        decisions=("decision", "size"),
        rejections=("_rejected", "sum"),
        returned=("_returned", "sum"),
        **{name: (name, "sum") for name in flags},
    )
    return rejections_from_sums(sums, reasons)


def rejections_from_sums(sums: GroupSums, reasons: Sequence[str]) -> dict[str, Any]:
    """The rejections section from its per-group sums (``decisions, rejections,
    returned`` and ``n_<reason>`` per reason): made by :func:`aggregate` over the sales
    decisions, or by SQL (:mod:`serving.reports.store_sql`), so both render the same JSON."""
    overall: dict[str, float] = {}  # the total's shares: a group's lift compares with them

    def row_of(dimension: str | None, group: str | None, agg: dict[str, Any]) -> dict[str, Any]:
        row = _rejection_row(agg, reasons, overall)
        if dimension is None:
            overall.update({r: v["share"] or 0.0 for r, v in row["reasons"].items()})
        return row

    total, rows = total_and_rows(sums, row_of)
    return {
        "section": "rejections",
        "reasons": reasons,
        "total": total,
        "rows": rows,
        "notes": [
            Note(
                "rejections.counts",
                "counts are sales decisions (feedback rows); a lead rejected twice counts twice",
            ),
            Note(
                "rejections.lift",
                "lift = the group's share of a reason / the overall share (> 1: "
                "over-represented); most_over_represented ignores data-quality tags and "
                "reasons seen < 5 times",
            ),
        ],
    }


def _rejection_row(
    agg: Mapping[str, Any], reasons: Sequence[str], overall: Mapping[str, float]
) -> dict[str, Any]:
    n = int(agg["rejections"])
    per_reason: dict[str, dict[str, Any]] = {}
    for reason in reasons:
        count = int(agg[f"n_{reason}"])
        share = ratio(count, n)
        base = overall.get(reason)
        per_reason[reason] = {
            "count": count,
            "share": _num(share),
            "lift": _num(share / base) if share is not None and base else None,
        }
    top = max(reasons, key=lambda r: per_reason[r]["count"]) if n else None
    quality = {q.value for q in DATA_QUALITY_REASONS}
    fixable = [r for r in reasons if r not in quality and per_reason[r]["count"] >= 5]
    excess = max(fixable, key=lambda r: per_reason[r]["lift"] or 0.0, default=None)
    return {
        "decisions": int(agg["decisions"]),
        "rejections": n,
        "rejection_rate": _num(ratio(n, int(agg["decisions"]))),
        "returned_to_nurture": int(agg["returned"]),
        "top_reason": top,
        "most_over_represented": excess if overall else None,
        "reasons": per_reason,
    }
