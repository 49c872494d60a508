"""The lead lifecycle: one state machine for the API, the pages, the importer and retraining.

A lead is *scored* (the decision log), *handed* to sales when a score crosses the
threshold, *accepted* (an SQL) or *rejected* by sales, and ends *won* or *lost*; a lead
sales gives back is *returned to nurture* and may be *re-handed* when a later score
crosses the threshold again. Every sales event is checked here before it is stored:

* an impossible value is a :class:`Violation` with status 422 (``won`` without a
  positive amount, a boolean where a number belongs, an event dated before the lead
  was created or first scored);
* an event that cannot follow the lead's history is a 409 (feedback for a lead never
  scored, anything after ``won``/``lost`` but a disagreement, a second acceptance, an
  event dated before the last recorded sales event);
* an event that is legal but skips a step (``won``/``lost`` with no recorded
  acceptance: a CRM that does not record the SQL step) is allowed, and the skipped
  acceptance is returned in :attr:`Transition.implied` so the caller stores it as an
  explicit event of its own.

The SLA clocks (:class:`SlaClocks`) are measured each on its own event: the sales
decision against the handoff, the first contact (a ``contacted`` event) against the
handoff, the SQL confirmation (a qualification on the acceptance, or a later
``qualified`` event) against the acceptance, and the contact attempts recorded on a
``no_response`` rejection. :func:`sla_breaches` takes the moment ``as_of`` as an
argument: this module never reads the clock. Pure and typed; ``docs/lifecycle.md``
states every rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

import pandas as pd

from scoring.contract import DATA_QUALITY_REASONS, RejectionReason, as_utc

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

QUALIFICATION_CRITERIA: dict[str, tuple[str, ...]] = {
    "bant": ("budget", "authority", "need", "timeline"),
    "gpct": ("goals", "plans", "challenges", "timeline"),
}
"""The qualification frameworks an acceptance may carry, and their criteria."""


@dataclass(frozen=True)
class SlaClocks:
    """The handoff SLA (DOMAIN.md), each clock measured on its own event."""

    decision_hours: float = 8.0  # accept / reject / return, from the handoff
    sql_confirm_hours: float = 4.0  # qualification, from the acceptance
    first_contact_hours: float = 24.0  # a ``contacted`` event, from the handoff
    min_contact_attempts: int = 3  # before a ``no_response`` rejection

    @classmethod
    def from_settings(cls, settings: Any) -> SlaClocks:
        """The clocks of a :class:`~scoring.settings.Settings` (its ``sla_*`` fields)."""
        return cls(
            decision_hours=settings.sla_decision_hours,
            sql_confirm_hours=settings.sla_sql_confirm_hours,
            first_contact_hours=settings.sla_first_contact_hours,
            min_contact_attempts=settings.sla_min_contact_attempts,
        )


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


# --- value rules --------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    """A real number: booleans are never numbers (``False`` is not a 0.0 deal)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def qualification_violation(qualification: Mapping[str, Any] | None) -> Violation | None:
    """Is ``qualification`` a framework (``bant``/``gpct``) with criteria true/false?"""
    if qualification is None:
        return None
    framework = str(qualification.get("framework", "")).lower()
    criteria = QUALIFICATION_CRITERIA.get(framework)
    if criteria is None:
        return Violation(
            "qualification_framework",
            "qualification.framework",
            422,
            "the qualification framework must be one of: bant, gpct",
        )
    for key, value in qualification.items():
        if key == "framework":
            continue
        if key not in criteria:
            return Violation(
                "qualification_criterion",
                f"qualification.{key}",
                422,
                f"not a {framework.upper()} criterion: use {', '.join(criteria)}",
            )
        if not isinstance(value, bool):
            return Violation(
                "qualification_boolean",
                f"qualification.{key}",
                422,
                "a qualification criterion is true or false",
            )
    return None


def value_violation(event: Event) -> Violation | None:
    """The rules on an event's own values, whatever the lead's history (422s)."""
    if event.amount is not None and not _is_number(event.amount):
        return Violation("amount_number", "amount", 422, "the amount must be a number")
    if event.kind == EventKind.WON and (event.amount is None or event.amount <= 0):
        return Violation(
            "won_needs_amount", "amount", 422, "a won deal needs its amount, greater than 0"
        )
    if event.contact_attempts is not None and (
        not _is_number(event.contact_attempts)
        or isinstance(event.contact_attempts, float)
        or event.contact_attempts < 0
    ):
        return Violation(
            "attempts_integer",
            "contact_attempts",
            422,
            "contact attempts must be a non-negative whole number",
        )
    if event.kind == EventKind.REJECTED and event.reason is None:
        return Violation("rejection_reason", "reason", 422, "a rejection needs a reason tag")
    if event.qualification is not None and event.kind not in (
        EventKind.ACCEPTED,
        EventKind.QUALIFIED,
    ):
        return Violation(
            "qualification_on_acceptance",
            "qualification",
            422,
            "only an acceptance (or a qualified event) carries a qualification",
        )
    if event.kind == EventKind.QUALIFIED and event.qualification is None:
        return Violation(
            "qualified_needs_qualification",
            "qualification",
            422,
            "a qualified event carries the qualification sales confirmed",
        )
    return qualification_violation(event.qualification)


# --- transitions --------------------------------------------------------------------------


def step(state: LeadState, event: Event) -> Transition | Violation:
    """Apply one event to a lead's state: the new state, or the rule it breaks.

    Time rules compare with what the state knows (creation, first scoring, last sales
    event); :func:`check` is the entry point for a new event against a stored history.
    """
    if event.kind == EventKind.SCORED:
        return Transition(_scored(state, event))
    problem = value_violation(event)
    if problem is not None:
        return problem
    if state.stage == Stage.NOT_SCORED:
        return Violation(
            "not_scored", "lead_id", 409, "no score was served for this lead: score it first"
        )
    if state.created_at is not None and event.at < state.created_at:
        return Violation("before_created", "at", 422, "the event is dated before the lead existed")
    if state.first_scored_at is not None and event.at < state.first_scored_at - SCORE_SKEW:
        return Violation(
            "before_scored", "at", 422, "the event is dated before the lead was first scored"
        )
    if event.kind == EventKind.DISAGREE:
        return Transition(state)  # an opinion: any time after the first score, no effect
    if state.last_feedback_at is not None and event.at < state.last_feedback_at:
        return Violation(
            "out_of_order",
            "at",
            409,
            "the event is dated before the lead's last recorded sales event",
        )
    if state.stage in CLOSED_STAGES:
        return Violation(
            "closed", "kind", 409, f"the deal is already {state.stage.value}: nothing may follow"
        )
    moved = replace(state, last_feedback_at=event.at)
    kind = event.kind
    if kind == EventKind.CONTACTED:
        if state.contacted_at is None or (
            state.handed_at is not None and state.contacted_at < state.handed_at
        ):
            moved = replace(moved, contacted_at=event.at)
        return Transition(moved)
    if kind == EventKind.QUALIFIED:
        if state.stage != Stage.ACCEPTED:
            return Violation(
                "qualified_before_accepted", "kind", 409, "only an accepted lead is qualified"
            )
        return Transition(replace(moved, qualified_at=moved.qualified_at or event.at))
    if kind in SALES_DECISIONS and state.stage == Stage.ACCEPTED:
        if kind == EventKind.ACCEPTED:
            return Violation("already_accepted", "kind", 409, "the lead is already accepted")
        return Violation(
            "decided_after_acceptance",
            "kind",
            409,
            "an accepted lead ends as won or lost, not with another sales decision",
        )
    decided = moved if moved.decided_at is not None else replace(moved, decided_at=event.at)
    if kind == EventKind.ACCEPTED:
        qualified = event.at if event.qualification is not None else None
        return Transition(
            replace(decided, stage=Stage.ACCEPTED, accepted_at=event.at, qualified_at=qualified)
        )
    if kind == EventKind.REJECTED:
        stage = Stage.REJECTED if event.reason in CLOSING_REASONS else Stage.NURTURE
        return Transition(replace(decided, stage=stage, reason=event.reason))
    if kind == EventKind.RETURNED_TO_NURTURE:
        return Transition(replace(decided, stage=Stage.NURTURE, reason=None))
    if kind in OUTCOMES:
        implied: tuple[Event, ...] = ()
        if state.stage != Stage.ACCEPTED:
            # a CRM that skipped the SQL step: the acceptance it implies, made explicit
            implied = (Event(IMPLIED_BY_OUTCOME, event.at, implied=True),)
            decided = replace(decided, accepted_at=event.at)
        return Transition(replace(decided, stage=Stage(kind)), implied)
    return Violation("unknown_kind", "kind", 422, "not a lifecycle event")


def _scored(state: LeadState, event: Event) -> LeadState:
    """A score was served: the first one starts the lifecycle; a hand-over (re-)hands it."""
    created = state.created_at
    if event.created_at is not None and (created is None or event.created_at < created):
        created = event.created_at
    first = state.first_scored_at if state.first_scored_at is not None else event.at
    first = min(first, event.at)
    moved = replace(state, created_at=created, first_scored_at=first)
    handed = event.decision == "hand_to_sales"
    if state.stage == Stage.NOT_SCORED:
        if handed:
            return replace(moved, stage=Stage.HANDED, handed_at=event.at)
        return replace(moved, stage=Stage.NURTURE)
    if handed and state.stage in (Stage.NURTURE, Stage.REJECTED):
        # re-handed: a new handoff, new SLA clocks
        return replace(
            moved,
            stage=Stage.HANDED,
            handed_at=event.at,
            decided_at=None,
            contacted_at=None,
            reason=None,
        )
    return moved


def _order(events: Iterable[Event]) -> list[Event]:
    """Events in time order; at one instant a score comes first, then an implied step,
    then the event that implied it."""
    return sorted(events, key=lambda e: (e.at, e.kind != EventKind.SCORED, not e.implied))


@dataclass
class Replay:
    """A history replayed leniently: its final state, the events that hold, the rest."""

    state: LeadState
    events: list[Event] = field(default_factory=list)  # legal ones, implied steps included
    refused: list[tuple[Event, Violation]] = field(default_factory=list)


def replay(events: Iterable[Event]) -> Replay:
    """Fold a stored history in time order, skipping what the rules refuse.

    For data stored before the rules existed (and imports): a refused event is kept
    aside with its violation instead of failing the whole history, and implied steps
    are inserted, so retraining and the reports read one consistent story.
    """
    result = Replay(LeadState())
    for event in _order(events):
        outcome = step(result.state, event)
        if isinstance(outcome, Violation):
            result.refused.append((event, outcome))
            continue
        result.events.extend(outcome.implied)
        result.events.append(event)
        result.state = outcome.state
    return result


def check(history: Sequence[Event], event: Event) -> Transition | Violation:
    """Is ``event`` legal after the lead's stored ``history`` (scores and feedback)?

    Time rules hold against the whole history (creation, first score, last sales
    event); the stage is the history's up to the event's time, so a score served after
    the event (a re-score) does not change how the event is judged.
    """
    problem = value_violation(event)
    if problem is not None:
        return problem
    if not any(e.kind == EventKind.SCORED for e in history):
        return Violation(
            "not_scored", "lead_id", 409, "no score was served for this lead: score it first"
        )
    whole = replay(history).state
    if whole.created_at is not None and event.at < whole.created_at:
        return step(whole, event)  # before_created
    first = whole.first_scored_at
    if first is not None and event.at < first - SCORE_SKEW:
        return step(whole, event)  # before_scored
    if whole.last_feedback_at is not None and event.at < whole.last_feedback_at:
        return step(whole, event)  # out_of_order
    cut = event.at if first is None else max(event.at, first)  # within the skew: scored
    return step(replay(e for e in history if e.at <= cut).state, event)


# --- stored rows and tables -------------------------------------------------------------


def _utc(value: Any) -> datetime | None:
    """A stored time (datetime, pandas timestamp or ISO text) as an aware UTC datetime."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if pd.isna(stamp):
        return None
    return as_utc(stamp.to_pydatetime())  # the contract's rule: no zone means UTC


def _present(value: Any) -> Any:
    if value is None or (not isinstance(value, Mapping | list) and pd.isna(value)):
        return None
    return value


def scored_event(as_of: Any, decision: str, features: Mapping[str, Any] | None) -> Event:
    """A served score (a decision-log row's fields) as a ``scored`` event."""
    moment = _utc(as_of)
    if moment is None:
        raise ValueError("a served score needs its as_of")
    return Event(
        EventKind.SCORED,
        moment,
        decision=decision,
        created_at=_utc((features or {}).get("created_at")),
    )


def feedback_row_event(row: Mapping[str, Any], ref: Any = None) -> Event:
    """A stored feedback row (the table's columns, or a feedback frame's) as an event."""
    moment = _utc(row["at"])
    if moment is None:
        raise ValueError("a feedback event needs its time")
    attempts = _present(row.get("contact_attempts"))
    return Event(
        str(row["kind"]),
        moment,
        reason=_present(row.get("reason")),
        amount=_present(row.get("amount")),
        contact_attempts=None if attempts is None else int(attempts),
        qualification=_present(row.get("qualification")),
        implied=bool(_present(row.get("implied")) or False),
        ref=ref,
    )


def replay_tables(decisions: pd.DataFrame, feedback: pd.DataFrame) -> dict[str, Replay]:
    """Every scored lead's history replayed: the decision log plus the feedback table.

    Feedback events carry their row label in ``ref``; leads never scored are absent
    (their feedback cannot be placed in a lifecycle).
    """
    events: dict[str, list[Event]] = {}
    for lead_id, as_of, decision, features in zip(
        decisions["lead_id"],
        decisions["as_of"],
        decisions["decision"],
        decisions["features"] if "features" in decisions else [None] * len(decisions),
        strict=True,
    ):
        events.setdefault(lead_id, []).append(scored_event(as_of, decision, features))
    records = cast(list[dict[str, Any]], feedback.to_dict(orient="records"))
    for label, row in zip(feedback.index, records, strict=True):
        if row["lead_id"] in events:
            events[row["lead_id"]].append(feedback_row_event(row, ref=label))
    return {lead_id: replay(history) for lead_id, history in events.items()}


def consistent_feedback(decisions: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """The feedback rows the lifecycle holds, plus the implied steps, in the same columns.

    For retraining and the reports: rows stored before the rules (a ``won`` after a
    ``lost``, a deal without an amount, feedback on a lead never scored) are left out,
    and a deal without a recorded acceptance gets its acceptance (``implied``), so
    SQL→won can never exceed 100 %.
    """
    if feedback.empty or decisions.empty:
        return feedback.iloc[0:0].assign(implied=False)
    keep: list[Any] = []
    implied: list[dict[str, Any]] = []
    for lead_id, result in replay_tables(decisions, feedback).items():
        for event in result.events:
            if event.ref is not None:
                keep.append(event.ref)
            elif event.kind != EventKind.SCORED and event.implied:
                implied.append(
                    {"lead_id": lead_id, "kind": event.kind, "at": event.at, "implied": True}
                )
    kept = feedback.loc[keep].copy()
    if "implied" not in kept.columns:
        kept["implied"] = False
    if not implied:
        return kept
    made = pd.DataFrame(implied).reindex(columns=kept.columns)
    made["at"] = pd.to_datetime(made["at"], utc=True)
    if "received_at" in made:
        made["received_at"] = made["at"]
    return pd.concat([kept, made], ignore_index=True).sort_values(["at"], kind="stable")


# --- SLA ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    """An SLA clock that ran out: which rule, for which handoff, due when, and whether
    the event it waited for has come (``open``: still missing at ``as_of``)."""

    rule: str
    due_at: datetime
    started_at: datetime
    open: bool


SLA_RULES: tuple[str, ...] = (
    "decision_late",
    "first_contact_late",
    "sql_confirm_late",
    "no_response_few_attempts",
)
"""The breach kinds :func:`sla_breaches` reports (the ``rule`` label in ``/metrics``)."""


def sla_breaches(events: Iterable[Event], as_of: datetime, clocks: SlaClocks) -> list[Breach]:
    """The SLA breaches in one lead's history, as of ``as_of``.

    Each handoff starts the decision and first-contact clocks; each acceptance without
    a qualification starts the SQL confirmation clock (an acceptance that carries one is
    confirmed at once). A clock breaches when its event came too late, or has not come
    and ``as_of`` is past the deadline while the lead still waits for it (``open``). A
    first contact is not owed once sales gave the lead back before it was due (given
    back later without one, it is a closed breach), nor a confirmation once the deal
    closed. A ``no_response`` rejection with fewer than the minimum contact attempts is
    a breach of its own.
    """
    breaches: list[Breach] = []
    handed_at: datetime | None = None
    given_back_at: datetime | None = None  # the lead left sales: rejected, returned, closed
    decided = contacted = False
    accepted_at: datetime | None = None
    confirm_pending = False

    def hours(start: datetime, n: float) -> datetime:
        return start + timedelta(hours=n)

    def close_handoff() -> None:
        if handed_at is None:
            return
        due = hours(handed_at, clocks.decision_hours)
        if not decided and as_of > due:
            breaches.append(Breach("decision_late", due, handed_at, True))
        due = hours(handed_at, clocks.first_contact_hours)
        if not contacted:
            if given_back_at is None and as_of > due:
                breaches.append(Breach("first_contact_late", due, handed_at, True))
            elif given_back_at is not None and given_back_at > due:
                breaches.append(Breach("first_contact_late", due, handed_at, False))

    for event in replay(events).events:
        kind = event.kind
        if kind == EventKind.SCORED:
            if event.decision == "hand_to_sales" and (
                handed_at is None or (given_back_at is not None and accepted_at is None)
            ):
                close_handoff()
                handed_at, decided, contacted, given_back_at = event.at, False, False, None
            continue
        if handed_at is not None and kind in SALES_DECISIONS and not decided:
            decided = True
            due = hours(handed_at, clocks.decision_hours)
            if event.at > due:
                breaches.append(Breach("decision_late", due, handed_at, False))
        if handed_at is not None and kind == EventKind.CONTACTED and not contacted:
            contacted = True
            due = hours(handed_at, clocks.first_contact_hours)
            if event.at > due:
                breaches.append(Breach("first_contact_late", due, handed_at, False))
        if kind in (EventKind.REJECTED, EventKind.RETURNED_TO_NURTURE, *OUTCOMES):
            given_back_at = given_back_at or event.at
        if (
            kind == EventKind.REJECTED
            and event.reason == RejectionReason.NO_RESPONSE
            and (event.contact_attempts or 0) < clocks.min_contact_attempts
        ):
            breaches.append(Breach("no_response_few_attempts", event.at, event.at, False))
        if kind == EventKind.ACCEPTED and accepted_at is None and not event.implied:
            accepted_at = event.at
            confirm_pending = event.qualification is None
        if confirm_pending and accepted_at is not None and kind == EventKind.QUALIFIED:
            confirm_pending = False
            due = hours(accepted_at, clocks.sql_confirm_hours)
            if event.at > due:
                breaches.append(Breach("sql_confirm_late", due, accepted_at, False))
        if confirm_pending and accepted_at is not None and kind in OUTCOMES:
            confirm_pending = False  # closed unconfirmed: late if it closed past the due
            due = hours(accepted_at, clocks.sql_confirm_hours)
            if event.at > due:
                breaches.append(Breach("sql_confirm_late", due, accepted_at, False))
    if confirm_pending and accepted_at is not None:
        due = hours(accepted_at, clocks.sql_confirm_hours)
        if as_of > due:
            breaches.append(Breach("sql_confirm_late", due, accepted_at, True))
    close_handoff()
    return breaches


def new_breaches(
    before: Iterable[Event], event: Event, as_of: datetime, clocks: SlaClocks
) -> list[Breach]:
    """The *closed* breaches that ``event`` reveals (for counting each breach once)."""
    previous = {(b.rule, b.started_at) for b in sla_breaches(before, as_of, clocks) if not b.open}
    now = sla_breaches([*before, event], as_of, clocks)
    return [b for b in now if not b.open and (b.rule, b.started_at) not in previous]
