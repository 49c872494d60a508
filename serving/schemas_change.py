"""The API's ``what_would_change`` field: its request switch and its answer's shape.

Kept out of :mod:`serving.schemas` (at its size limit), which imports these. The changes
come from :func:`scoring.counterfactual.what_would_change`; ``docs/what-would-change.md``
says what counts as an action and how the list is ordered.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from scoring.contract import HandoffDecision

COUNTERFACTUALS_DESCRIPTION = (
    "Also answer `what_would_change`: the smallest realistic changes (touches sales or "
    "marketing can bring about, or time without activity) that would move the lead across "
    "the handoff line, each re-scored through the model. Costs a few dozen re-scorings a "
    "lead; off by default."
)


def counterfactuals_field() -> Any:
    """The opt-in switch of a request body (``"counterfactuals": true``)."""
    return Field(default=False, description=COUNTERFACTUALS_DESCRIPTION)


class ChangeStep(BaseModel):
    code: str = Field(
        description="`add_touch.<touch type>` (params: `type`, `at`) or `no_activity` "
        "(params: `days`, days without any touch after `as_of`)",
        examples=["add_touch.demo_request"],
    )
    params: dict[str, Any]


class Change(BaseModel):
    steps: list[ChangeStep] = Field(description="All of them together (one or two)")
    as_of: str = Field(description="The moment the modified lead was scored at")
    p_won: float = Field(description="Calibrated P(won | MQL) of the modified lead")
    p_sql: float | None
    decision: HandoffDecision = Field(description="The decision the modified lead gets")
    text: str = Field(description="The steps in English words")


class WhatWouldChange(BaseModel):
    """Only when asked for (`counterfactuals`). `up`: what would raise the decision of a
    lead below the handoff line (to hand to sales; a disqualified lead to nurture or
    better); `down`: for a handed-over lead, how many days without activity would take
    it out of the hand-over. Smallest first; `found` is false (and `changes` empty) when
    nothing within reach crosses."""

    direction: Literal["up", "down"]
    found: bool
    changes: list[Change]
