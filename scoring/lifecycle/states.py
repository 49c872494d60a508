"""The lifecycle's vocabulary: stages, event kinds, events, states and violations.

What the other lifecycle modules speak in (:mod:`scoring.lifecycle.rules`,
:mod:`~scoring.lifecycle.transitions`, :mod:`~scoring.lifecycle.tables`,
:mod:`~scoring.lifecycle.sla`), and the rule constants the pages and the importer read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from scoring.contract import DATA_QUALITY_REASONS, RejectionReason

SCORE_SKEW = timedelta(minutes=1)
"""How far before the first score an event may be dated: a CRM that records times to the
minute, or a clock slightly behind the scorer's, is not refused for it."""


class Stage(StrEnum):
    """Where a lead is. ``NURTURE`` and ``HANDED`` are *open*: re-scoring is for them."""

    NOT_SCORED = "not_scored"
    NURTURE = "nurture"  # with marketing: never handed, returned, or rejected "not yet"
    HANDED = "handed"  # with sales, no decision yet
    ACCEPTED = "accepted"  # an SQL, deal open
    REJECTED = "rejected"  # rejected for a reason nurturing cannot change
    WON = "won"
    LOST = "lost"


OPEN_STAGES: frozenset[Stage] = frozenset({Stage.NURTURE, Stage.HANDED})
"""Stages whose leads are re-scored as time passes (``leadscore rescore``)."""

CLOSED_STAGES: frozenset[Stage] = frozenset({Stage.WON, Stage.LOST})
"""Terminal stages: no sales event may follow, only a disagreement."""


class EventKind(StrEnum):
    """What can happen to a lead. ``SCORED`` comes from the decision log, the rest are feedback."""

    SCORED = "scored"
    CONTACTED = "contacted"  # first (or a further) contact by sales
    ACCEPTED = "accepted"
    QUALIFIED = "qualified"  # the SQL confirmed (BANT/GPCT) after an acceptance
    REJECTED = "rejected"
    RETURNED_TO_NURTURE = "returned_to_nurture"
    WON = "won"
    LOST = "lost"
    DISAGREE = "disagree"  # an opinion about the score: never changes the stage


SALES_DECISIONS: frozenset[str] = frozenset(
    {EventKind.ACCEPTED, EventKind.REJECTED, EventKind.RETURNED_TO_NURTURE}
)
OUTCOMES: frozenset[str] = frozenset({EventKind.WON, EventKind.LOST})

IMPLIED_BY_OUTCOME: str = EventKind.ACCEPTED.value
"""The step a deal outcome implies when none was recorded: only an SQL has a deal. The
importer labels its won rows with it too (``training.importing``)."""

CLOSING_REASONS: frozenset[str] = frozenset(
    {
        *(r.value for r in DATA_QUALITY_REASONS),
        RejectionReason.NOT_ICP.value,
        RejectionReason.COMPETITOR_WON.value,
    }
)
"""Rejections after which nurturing is pointless: the record is a duplicate or unusable,
the company is outside the ICP, or it bought elsewhere. Every other rejection
(``too_early``, ``no_budget``, ``no_response``, ``other``) returns the lead to nurture,
as the SLA says (DOMAIN.md: "a lead sales does not accept is returned to marketing")."""

REJECTION_NEEDS_REASON = (
    "a rejection needs a reason tag (the reason is required when kind is rejected)"
)
"""What a rejection without its tag is told (the pages translate it)."""

QUALIFICATION_CRITERIA: dict[str, tuple[str, ...]] = {
    "bant": ("budget", "authority", "need", "timeline"),
    "gpct": ("goals", "plans", "challenges", "timeline"),
}
"""The qualification frameworks an acceptance may carry, and their criteria."""


@dataclass(frozen=True)
class Event:
    """One thing that happened to a lead, at ``at`` (timezone-aware).

    ``decision`` and ``created_at`` belong to ``scored`` events (the handoff band and
    the lead's creation time the decision log kept); ``reason``, ``amount``,
    ``contact_attempts`` and ``qualification`` to feedback. ``implied`` marks an event
    the state machine made explicit (see :class:`Transition`).
    """

    kind: str
    at: datetime
    reason: str | None = None
    amount: Any = None
    contact_attempts: Any = None
    qualification: Mapping[str, Any] | None = None
    decision: str | None = None
    created_at: datetime | None = None
    implied: bool = False
    ref: Any = field(default=None, compare=False)  # the stored row it came from, if any


@dataclass(frozen=True)
class Violation:
    """Why an event was refused: a rule code, the field at fault, an HTTP status, a message.

    The message names the rule and never the submitted value (it may be personal data).
    """

    rule: str
    field: str
    status: int
    message: str

    def as_detail(self) -> dict[str, str]:
        """The API's error item: ``{"field", "message", "rule"}``."""
        return {"field": self.field, "message": self.message, "rule": self.rule}


class LifecycleViolation(ValueError):
    """A :class:`Violation` raised by a store; the API answers ``violation.status``."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(f"{violation.field}: {violation.message} [{violation.rule}]")
        self.violation = violation


@dataclass(frozen=True)
class LeadState:
    """What the lifecycle knows of one lead after its events so far."""

    stage: Stage = Stage.NOT_SCORED
    created_at: datetime | None = None
    first_scored_at: datetime | None = None
    last_feedback_at: datetime | None = None
    handed_at: datetime | None = None  # the current handoff (None: never handed)
    decided_at: datetime | None = None  # first sales decision since the handoff
    contacted_at: datetime | None = None  # first contact since the handoff
    accepted_at: datetime | None = None
    qualified_at: datetime | None = None
    reason: str | None = None

    @property
    def open(self) -> bool:
        return self.stage in OPEN_STAGES


@dataclass(frozen=True)
class Transition:
    """A legal event's result: the new state, and the implied steps to store before it."""

    state: LeadState
    implied: tuple[Event, ...] = ()
