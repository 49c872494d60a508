"""Per-lead facts: the one table every grouped report section sums over.

:func:`lead_facts` turns :class:`~serving.reports.report_data.ReportData` into one row per
lead (stage flags, first sales decision, SLA times, rejection counts, deal result), and
:func:`aggregate` sums such rows overall and per group, so every figure of the funnel,
SLA and rejection sections is a plain sum or quantile over the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scoring.contract import (
    LEAD_ORDINAL_FEATURES,
    Outcome,
    RejectionReason,
    SalesDecision,
    TouchType,
)
from scoring.feedback_tables import SALES_DECISION_KINDS
from scoring.lifecycle import SLA_RULES, SlaClocks
from serving.reports.report_data import GROUPABLE, ReportData

UNKNOWN = "(unknown)"
"""The group of a lead whose field is missing."""
NURTURE_TOUCHES: frozenset[str] = frozenset(
    {
        TouchType.EMAIL_OPEN,
        TouchType.EMAIL_CLICK,
        TouchType.CONTENT_DOWNLOAD,
        TouchType.WEBINAR_REGISTERED,
        TouchType.WEBINAR_ATTENDED,
    }
)
"""Touch types that show marketing is nurturing a lead (used after a rejection)."""


def lead_facts(data: ReportData) -> pd.DataFrame:
    """One row per lead: stage flags, first sales decision, SLA times, deal result.

    Also per-lead counts of the lead's rejections (with and without known contact
    attempts), so every per-group figure is a plain sum or quantile over these rows.
    """
    leads = data.leads.reset_index(drop=True).copy()
    leads["lead_id"] = leads["lead_id"].astype(str)
    fb = data.feedback
    fb = fb[fb["decision"].isin(SALES_DECISION_KINDS)].copy()
    fb["at"] = pd.to_datetime(fb["at"], utc=True, errors="coerce")
    fb = fb.sort_values(["lead_id", "at"], kind="stable")
    out = leads.set_index("lead_id")
    _add_first_decision(out, fb, data.clocks)
    per_lead = _rejection_counts(fb, data.clocks)
    for column in per_lead.columns:
        out[column] = per_lead[column].reindex(out.index).fillna(0).astype(np.int64)
    if data.qualifications is not None:
        out["sql_qualified"] = out["sql"] & out.index.isin(set(data.qualifications["lead_id"]))
    if data.breaches is not None:
        counts = data.breaches.groupby(["lead_id", "rule"]).size().unstack(fill_value=0)
        for rule in SLA_RULES:
            per = counts[rule] if rule in counts.columns else pd.Series(dtype=float)
            out[f"breach_{rule}"] = per.reindex(out.index).fillna(0).astype(np.int64)
    _add_deal_result(out, data.outcomes)
    _add_nurture(out, data.touches)
    for name in GROUPABLE:
        values = out[name] if name in out.columns else pd.Series(None, index=out.index)
        out[name] = np.where(values.notna(), values.astype(object).astype(str), UNKNOWN).astype(
            object
        )
    return out.reset_index()


def _add_first_decision(out: pd.DataFrame, fb: pd.DataFrame, clocks: SlaClocks) -> None:
    """The lead's first sales decision, whether it became an SQL, and its SLA times."""
    first = fb.drop_duplicates("lead_id", keep="first").set_index("lead_id")
    accepted = set(fb.loc[fb["decision"] == SalesDecision.ACCEPTED.value, "lead_id"])
    out["first_decision"] = first["decision"]
    out["first_reason"] = first["reason"]
    out["first_at"] = first["at"]
    out["first_response_hours"] = pd.to_numeric(first["first_response_hours"], errors="coerce")
    out["decided"] = out["first_decision"].notna()
    out["sql"] = out.index.isin(accepted)
    out["mql"] = out["mql"].astype(bool) | out["decided"]

    handoff = pd.to_datetime(out["handoff_at"], utc=True, errors="coerce")
    decision_hours = (out["first_at"] - handoff).dt.total_seconds() / 3600.0
    out["decision_hours"] = decision_hours.where(decision_hours >= 0)
    out["response_hours"] = out["first_response_hours"].fillna(out["decision_hours"])
    response = out["response_hours"]
    out["response_known"] = response.notna()
    # the JSON keys name DOMAIN.md's windows; the windows are the data's clocks (settings)
    out["within_8h"] = response <= clocks.decision_hours
    out["within_24h"] = response <= clocks.first_contact_hours
    out["undecided"] = out["mql"] & ~out["decided"]


def _rejection_counts(fb: pd.DataFrame, clocks: SlaClocks) -> pd.DataFrame:
    """Per lead: its rejections, those with known contact attempts, those with enough."""
    rejected = fb[fb["decision"] == SalesDecision.REJECTED.value]
    attempts = pd.to_numeric(rejected["contact_attempts"], errors="coerce")
    no_response = (rejected["reason"] == RejectionReason.NO_RESPONSE.value).to_numpy()
    known = attempts.notna().to_numpy()
    enough = (attempts >= clocks.min_contact_attempts).to_numpy()
    return (
        pd.DataFrame(
            {
                "rej_n": 1,
                "rej_known": known,
                "rej_3plus": known & enough,
                "nr_n": no_response,
                "nr_known": no_response & known,
                "nr_3plus": no_response & known & enough,
            },
            index=rejected["lead_id"].to_numpy(),
        )
        .groupby(level=0)
        .sum()
    )


def _add_deal_result(out: pd.DataFrame, outcomes: pd.DataFrame) -> None:
    """The lead's last deal outcome (won / lost) and its revenue."""
    deals = outcomes.copy()
    deals["closed_at"] = pd.to_datetime(deals["closed_at"], utc=True, errors="coerce")
    last = deals.sort_values(["lead_id", "closed_at"], kind="stable").drop_duplicates(
        "lead_id", keep="last"
    )
    last = last.set_index("lead_id")
    out["outcome"] = last["outcome"]
    out["won"] = out["outcome"] == Outcome.WON.value
    out["lost"] = out["outcome"] == Outcome.LOST.value
    out["revenue"] = pd.to_numeric(last["amount"], errors="coerce").where(out["won"]).fillna(0.0)


def _add_nurture(out: pd.DataFrame, touches: pd.DataFrame | None) -> None:
    """Leads not accepted, returned to nurture, and nurtured after the decision (touches)."""
    not_accepted = out["first_decision"].isin(
        [SalesDecision.REJECTED.value, SalesDecision.RETURNED_TO_NURTURE.value]
    )
    out["not_accepted"] = not_accepted
    out["returned"] = out["first_decision"] == SalesDecision.RETURNED_TO_NURTURE.value
    out["nurture_known"] = False
    out["nurtured"] = False
    if touches is not None and len(touches):
        touches = touches[touches["type"].isin(NURTURE_TOUCHES)]
        at = pd.to_datetime(touches["at"], utc=True, errors="coerce")
        cut = pd.to_datetime(out["first_at"].reindex(touches["lead_id"]).to_numpy(), utc=True)
        later = set(touches.loc[(at > cut).to_numpy(), "lead_id"])
        out["nurture_known"] = not_accepted
        out["nurtured"] = not_accepted & out.index.isin(later)


GroupSums = list[tuple[str | None, str | None, dict[str, Any]]]
"""What :func:`aggregate` returns: ``(dimension, group, sums)``, the overall sums first."""


_TOTAL = "__total__"


def aggregate(frame: pd.DataFrame, dims: Sequence[str], **aggs: tuple[str, Any]) -> GroupSums:
    """Named aggregations overall (first, dimension ``None``) and per group of each dim."""
    out: list[tuple[str | None, str | None, dict[str, Any]]] = []
    keyed = frame.assign(**{_TOTAL: "all"})
    for dim in (_TOTAL, *dims):
        if keyed.empty:
            table = pd.DataFrame(columns=list(aggs))
        else:
            table = keyed.groupby(dim, sort=True).agg(**aggs)
            table = table.iloc[natural_order(list(table.index), dim)]
        for group, row in zip(table.index, table.to_dict("records"), strict=True):
            out.append((None, None, row) if dim == _TOTAL else (dim, str(group), row))
    if not out or out[0][0] is not None:
        out.insert(0, (None, None, {k: 0 for k in aggs}))
    return out


def natural_order(groups: Sequence[Any], dimension: str | None) -> list[int]:
    """Positions of ``groups`` in their natural order: an ordered field's levels first,
    smallest first (1-10, 11-50, ..., not the alphabet's 1-10, 1001-5000, 11-50), then any
    other value in the order given; other dimensions keep the order given."""
    levels = LEAD_ORDINAL_FEATURES.get(dimension or "")
    if not levels:
        return list(range(len(groups)))
    rank = {level: i for i, level in enumerate(levels)}
    return sorted(range(len(groups)), key=lambda i: (rank.get(str(groups[i]), len(levels)), i))


def total_and_rows(
    sums: GroupSums, row_of: Callable[[str | None, str | None, dict[str, Any]], dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The overall row and one flat row per group (``dimension``, ``group``, figures).

    ``row_of(dimension, group, sums)`` makes a section's row; it is called for the overall
    sums first (``dimension`` ``None``), so a group's row may compare with the total.
    """
    (_, _, overall), *groups = sums
    total = row_of(None, None, overall)
    return total, [{"dimension": d, "group": g, **row_of(d, g, agg)} for d, g, agg in groups]


def ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def check_dims(group_by: Sequence[str]) -> list[str]:
    bad = [d for d in group_by if d not in GROUPABLE]
    if bad:
        raise ValueError(f"cannot group by {', '.join(bad)}: use {', '.join(GROUPABLE)}")
    return list(dict.fromkeys(group_by))


def p90(values: pd.Series) -> float:
    return float(values.quantile(0.9)) if values.notna().any() else math.nan
