"""The state machine: one event applied to a lead's state, a history replayed or checked.

:func:`step` applies one event (the new state, or the rule it breaks), :func:`replay`
folds a stored history leniently, :func:`check` judges a new event against a stored
history. The value rules come first (:mod:`scoring.lifecycle.rules`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from scoring.lifecycle.rules import value_violation
from scoring.lifecycle.states import (
    CLOSED_STAGES,
    CLOSING_REASONS,
    IMPLIED_BY_OUTCOME,
    OUTCOMES,
    SALES_DECISIONS,
    SCORE_SKEW,
    Event,
    EventKind,
    LeadState,
    Stage,
    Transition,
    Violation,
)


def step(state: LeadState, event: Event) -> Transition | Violation:
    """Apply one event to a lead's state: the new state, or the rule it breaks.

    Time rules compare with what the state knows (creation, first scoring, last sales
    event); :func:`check` is the entry point for a new event against a stored history.
    """
    if event.kind == EventKind.SCORED:
        return Transition(_scored(state, event))
    problem = value_violation(event) or _time_violation(state, event)
    if problem is not None:
        return problem
    if event.kind == EventKind.DISAGREE:
        return Transition(state)  # an opinion: any time after the first score, no effect
    problem = _history_violation(state, event)
    if problem is not None:
        return problem
    return _move(state, event)


def _time_violation(state: LeadState, event: Event) -> Violation | None:
    """A lead never scored, or an event dated before the lead existed or was first scored."""
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
    return None


def _history_violation(state: LeadState, event: Event) -> Violation | None:
    """A sales event out of order, or after the deal closed."""
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
    return None


def _move(state: LeadState, event: Event) -> Transition | Violation:
    """A sales event that passed the value and time rules, applied to the stage."""
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
