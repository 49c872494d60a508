"""Sales feedback in: its request model and the one path from a checked request to the store.

:class:`FeedbackRequest` is the body of ``POST /v1/feedback`` and what the lead page's
forms are checked with; its rules are the feedback contract
(:func:`scoring.feedback.feedback_violation`), the one the store applies too.

``POST /v1/feedback`` and the lead page's forms (accept / reject / contacted, the
"disagree" note) both call :func:`record_feedback`, so an event is bounded in time,
linked to the newest decision, checked against the lead's lifecycle, counted in the
metrics and stored exactly once per idempotency key the same way whichever door it
came in by. The callers only turn the outcome into their own answer (JSON or a page).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, StrictBool, StringConstraints, model_validator
from starlette.datastructures import State

from scoring.contract import RejectionReason
from scoring.feedback import (
    MAX_AMOUNT,
    MAX_COMMENT_CHARS,
    MAX_CONTACT_ATTEMPTS,
    MAX_FIRST_RESPONSE_HOURS,
    feedback_violation,
)
from scoring.lifecycle import Violation, qualification_violation
from serving.future_times import times_after
from serving.schemas import MULTILINE, Instant, LeadId, Strict

__all__ = ["FeedbackRequest", "FeedbackResponse", "Qualification", "record_feedback"]


FeedbackKind = Literal[
    "accepted",
    "rejected",
    "returned_to_nurture",
    "won",
    "lost",
    "disagree",
    "contacted",
    "qualified",
]


class RuleError(ValueError):
    """A feedback rule broken, as pydantic's ``value_error``: the text is the API's
    ``"field: message"``; ``violation`` keeps the rule's code, so a page can say it in
    its reader's language."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(f"{violation.field}: {violation.message}")
        self.violation = violation


StrictCount = Annotated[int, Field(strict=True, ge=0, le=MAX_CONTACT_ATTEMPTS)]
"""A whole number, strictly: ``true`` is not 1 (booleans are never numbers)."""


class Qualification(Strict):
    """What the seller confirmed on acceptance: BANT (budget, authority, need, timeline)
    or GPCT (goals, plans, challenges, timeline). Kept for training and the reports;
    :func:`scoring.lifecycle.qualification_violation` says which criteria belong where."""

    framework: Literal["bant", "gpct"] = "bant"
    budget: StrictBool | None = None
    authority: StrictBool | None = None
    need: StrictBool | None = None
    goals: StrictBool | None = None
    plans: StrictBool | None = None
    challenges: StrictBool | None = None
    timeline: StrictBool | None = None

    @model_validator(mode="after")
    def _criteria_of_the_framework(self) -> Qualification:
        problem = qualification_violation(self.model_dump(exclude_none=True))
        if problem is not None:
            raise RuleError(problem)
        return self


class FeedbackRequest(Strict):
    """A sales event from the CRM or the lead page; ``docs/lifecycle.md`` has the rules.

    Numbers are strict: ``"amount": false`` is a 422, not a 0.0 deal. A ``won`` needs a
    positive ``amount``; the order of events is checked against the lead's history
    when it is stored (a 409 naming the rule).
    """

    lead_id: LeadId
    kind: FeedbackKind
    reason: RejectionReason | None = Field(default=None, description="Mandatory when rejected.")
    at: Instant
    contact_attempts: StrictCount | None = None
    first_response_hours: (
        Annotated[float, Field(strict=True, ge=0, le=MAX_FIRST_RESPONSE_HOURS)] | None
    ) = None
    amount: Annotated[float, Field(strict=True, ge=0, le=MAX_AMOUNT)] | None = Field(
        default=None, description="The deal's amount: required, above 0, when won."
    )
    qualification: Qualification | None = Field(
        default=None, description="On an acceptance (or a qualified event): BANT or GPCT."
    )
    comment: (
        Annotated[str, StringConstraints(max_length=MAX_COMMENT_CHARS, pattern=MULTILINE)] | None
    ) = None

    @model_validator(mode="after")
    def _contract(self) -> FeedbackRequest:
        """The feedback contract (:func:`scoring.feedback.feedback_violation`), as a 422."""
        problem = feedback_violation(
            self.kind,
            reason=None if self.reason is None else self.reason.value,
            amount=self.amount,
            contact_attempts=self.contact_attempts,
            qualification=None
            if self.qualification is None
            else self.qualification.model_dump(exclude_none=True),
        )
        if problem is not None:
            raise RuleError(problem)
        return self


class FeedbackResponse(BaseModel):
    id: str
    lead_id: str
    kind: str
    received_at: datetime
    decision_id: str | None


def record_feedback(
    state: State,
    event: FeedbackRequest,
    *,
    idempotency_key: str,
    actor: str,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Store ``event`` for ``actor``; ``(row, created)`` (``created`` is false on a retry).

    ``state`` is the app's (``request.app.state``): its settings, store, decision log
    and metrics. ``now`` is the server's clock at arrival. Raises
    :class:`~fastapi.exceptions.RequestValidationError` for a time later than ``now``
    plus the allowed clock skew, :class:`~serving.storage.IdempotencyConflict` for a
    key reused with another body or by another actor,
    :class:`~scoring.lifecycle.LifecycleViolation` for an event the lead's lifecycle
    refuses, ``ValueError`` for anything else the store refuses.
    """
    late = times_after(event, now, state.settings.clock_skew)
    if late:
        raise RequestValidationError(late)
    decision_log = getattr(state, "decision_log", None)
    if decision_log is not None:  # link the event to the newest decision
        decision_log.flush()
    metrics = getattr(state, "metrics", None)
    row, created = state.store.add_feedback(
        event.model_dump(exclude_none=True, mode="json"),
        idempotency_key=idempotency_key,
        actor=actor,
        on_breach=None if metrics is None else metrics.count_breach,
    )
    if created and metrics is not None:
        metrics.feedback.labels(row["kind"]).inc()
    return row, created
