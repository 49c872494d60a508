"""``GET /v1/leads/{lead_id}/scores``: every decision served for a lead, newest first.

Paged by ``limit`` and ``offset`` (as the store's decision-log reads are); the answer
says the ``total`` and the ``next_offset`` (``null`` on the last page). It also gives the
lead's change of P(won) and the trend word, by :mod:`serving.trend`'s rule. Same roles
as the other lead endpoints: sales and admin. The decision log is read by lead id
through its index (:mod:`serving.store.history`), never whole. No personal data is in
the answer: the lead's identity stays on the sales pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field

from scoring.contract import HandoffDecision
from serving.api_deps import NO_DECISION, Arrival, Sales, StoreDep
from serving.json_body import CheckedJSONRoute
from serving.store.history import score_changes, score_history
from serving.trend import DEAD_BAND, TREND_DAYS, trend_word

router = APIRouter(route_class=CheckedJSONRoute)

MAX_LIMIT = 500


class ScoreEntry(BaseModel):
    """One decision of the lead: when, by which model, the scores and the decision."""

    scored_at: datetime
    as_of: datetime
    model_name: str
    model_version: str
    p_sql: float | None = Field(description="Calibrated P(accepted as SQL | MQL)")
    p_won: float = Field(description="Calibrated P(won | MQL)")
    decision: HandoffDecision
    threshold: float


class ScoreTrend(BaseModel):
    """The lead's change of P(won) over the trend window and its word."""

    change: float | None = Field(
        description=f"Latest P(won) minus P(won) as it stood {TREND_DAYS} days ago (the "
        "newest decision at or before then, else the first decision); null with one decision"
    )
    word: Literal["improving", "steady", "declining"] | None = Field(
        description=f"improving above +{DEAD_BAND}, declining below -{DEAD_BAND}, else "
        "steady; null with one decision"
    )
    days: int = TREND_DAYS
    dead_band: float = DEAD_BAND


class ScoreHistory(BaseModel):
    lead_id: str
    total: int = Field(description="How many decisions the lead has in all")
    limit: int
    offset: int
    next_offset: int | None = Field(description="`offset` of the next page; null on the last")
    trend: ScoreTrend
    scores: list[ScoreEntry] = Field(description="Newest first")


@router.get(
    "/v1/leads/{lead_id}/scores",
    response_model=ScoreHistory,
    tags=["sales"],
    responses=NO_DECISION,
)
def lead_scores(
    lead_id: Annotated[str, Path(max_length=64, pattern=r"^[\w.:\-]+$")],
    request: Request,
    store: StoreDep,
    arrival: Arrival,
    _: Sales,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Decisions per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Decisions to skip")] = 0,
) -> ScoreHistory:
    """The lead's score history, newest first, paged; 404 for a lead never scored."""
    request.app.state.decision_log.flush()
    rows, total = score_history(store, lead_id, limit=limit, offset=offset)
    if total == 0:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no decision for this lead")
    change = score_changes(store, [lead_id], arrival).get(lead_id)
    return ScoreHistory(
        lead_id=lead_id,
        total=total,
        limit=limit,
        offset=offset,
        next_offset=offset + limit if offset + limit < total else None,
        trend=ScoreTrend(change=change, word=trend_word(change)),
        scores=[ScoreEntry.model_validate(row) for row in rows],
    )
