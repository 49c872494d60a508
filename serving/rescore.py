"""Re-scoring open leads as time passes: cold leads decay, warm ones cross the line.

A lead in nurturing is not scored once and forgotten. Engagement is recency-weighted,
so the same touches count less every day; new touches (sent to ``POST /v1/score``)
count more. :func:`rescore_open_leads` takes every lead whose latest decision is still
open — nurtured, or handed over without a sales decision yet — re-scores it as of a
new moment from the snapshot the decision log kept (its fields and touch timeline),
stores the new decisions, and reports who crossed the threshold either way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from scoring.model import LeadScorer
from serving.decision_log import build_outputs

CLOSED_KINDS = frozenset({"accepted", "rejected", "won", "lost"})


@dataclass
class Crossing:
    lead_id: str
    before: str
    after: str
    p_won_before: float
    p_won_after: float


def open_leads(decisions: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """Latest decision per lead, for leads sales has not closed (accepted/rejected/won/lost)."""
    if decisions.empty:
        return decisions
    latest = decisions.sort_values("scored_at").drop_duplicates("lead_id", keep="last")
    closed = (
        set(feedback.loc[feedback["kind"].isin(CLOSED_KINDS), "lead_id"])
        if len(feedback)
        else set()
    )
    return latest[~latest["lead_id"].isin(closed) & (latest["decision"] != "disqualify")]


def rescore_open_leads(
    scorer: LeadScorer,
    decisions: pd.DataFrame,
    feedback: pd.DataFrame,
    as_of: datetime,
    model_version: str,
    model_name: str = "leadscore",
) -> tuple[list[Crossing], list[dict[str, Any]]]:
    """Re-score open leads at ``as_of``; return threshold crossings and new decision rows."""
    leads = open_leads(decisions, feedback)
    if leads.empty:
        return [], []
    records = []
    for lead_id, features in zip(leads["lead_id"], leads["features"], strict=True):
        record = {k: v for k, v in features.items() if k != "as_of"}
        record["lead_id"] = lead_id
        record["touches"] = features.get("touches") or []
        records.append(record)
    moments = [as_of] * len(records)
    scores = scorer.score_records(records, moments, reasons=3)
    results, rows = build_outputs(
        scorer, records, moments, scores, model_name, model_version, uuid.uuid4().hex
    )
    crossings = [
        Crossing(
            result["lead_id"], before.decision, result["decision"], before.p_won, result["p_won"]
        )
        for result, before in zip(results, leads.itertuples(), strict=True)
        if (result["decision"] == "hand_to_sales") != (before.decision == "hand_to_sales")
    ]
    return crossings, rows
