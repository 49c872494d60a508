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
argument: the package never reads the clock. Pure and typed; ``docs/lifecycle.md``
states every rule.

The package's modules: :mod:`~scoring.lifecycle.states` (the vocabulary: stages, event
kinds, events, states, violations), :mod:`~scoring.lifecycle.rules` (an event's own
values), :mod:`~scoring.lifecycle.transitions` (the state machine),
:mod:`~scoring.lifecycle.tables` (stored rows and tables as events) and
:mod:`~scoring.lifecycle.sla` (the SLA clocks and breaches). Every name is importable
from ``scoring.lifecycle``.
"""

from __future__ import annotations

from scoring.lifecycle.rules import qualification_violation, value_violation
from scoring.lifecycle.sla import (
    SLA_RULES,
    Breach,
    SlaClocks,
    SlaState,
    new_breaches,
    sla_breaches,
    sla_state,
)
from scoring.lifecycle.states import (
    CLOSED_STAGES,
    CLOSING_REASONS,
    IMPLIED_BY_OUTCOME,
    OPEN_STAGES,
    OUTCOMES,
    QUALIFICATION_CRITERIA,
    REJECTION_NEEDS_REASON,
    SALES_DECISIONS,
    SCORE_SKEW,
    Event,
    EventKind,
    LeadState,
    LifecycleViolation,
    Stage,
    Transition,
    Violation,
)
from scoring.lifecycle.tables import (
    consistent_feedback,
    feedback_row_event,
    replay_tables,
    scored_event,
)
from scoring.lifecycle.transitions import Replay, check, replay, step

__all__ = [
    "CLOSED_STAGES",
    "CLOSING_REASONS",
    "IMPLIED_BY_OUTCOME",
    "OPEN_STAGES",
    "OUTCOMES",
    "QUALIFICATION_CRITERIA",
    "REJECTION_NEEDS_REASON",
    "SALES_DECISIONS",
    "SCORE_SKEW",
    "SLA_RULES",
    "Breach",
    "Event",
    "EventKind",
    "LeadState",
    "LifecycleViolation",
    "Replay",
    "SlaClocks",
    "SlaState",
    "Stage",
    "Transition",
    "Violation",
    "check",
    "consistent_feedback",
    "feedback_row_event",
    "new_breaches",
    "qualification_violation",
    "replay",
    "replay_tables",
    "scored_event",
    "sla_breaches",
    "sla_state",
    "step",
    "value_violation",
]
