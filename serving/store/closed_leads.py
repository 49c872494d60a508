"""Leads certainly closed, found without replaying their histories.

Finding the open leads (:mod:`serving.store.open_leads`) replays the lifecycle of every
lead that has feedback. Most of those leads are closed for good (20,000 of 22,000 in
``bench/rescore_bench.py``), and replaying them was most of the time spent finding the
open leads (docs/benchmarks.md). This pre-filter
drops the leads a replay would *certainly* call closed, by two rules that follow from
the state machine (``scoring.lifecycle.transitions``):

1. **An accepted, won or lost lead stays closed.** From ``accepted`` a lead only moves
   to ``won`` or ``lost`` (another sales decision is refused), nothing moves a won or
   lost lead, and a score never moves any of the three. So if one ``accepted``,
   ``won`` or ``lost`` event of a lead is legal where it stands, the lead is closed,
   whatever came before or after it.
2. **A lead whose last sales event is a closing rejection** (``not_icp``, a duplicate,
   ``competitor_won``: :data:`~scoring.lifecycle.CLOSING_REASONS`) stays closed unless
   a later ``hand_to_sales`` score re-hands it. So if the lead's last feedback row (alone
   at its time) is such a rejection, legal where it stands, and no hand-over score
   follows it, the lead is closed.

Whether an event is legal where it stands is :func:`scoring.lifecycle.step`'s answer,
not a rule written again here: its own values (a won deal's amount, a qualification's
criteria), and the lead's creation time and first score as of that moment — both known
from the scores served up to then, which the decision log gives per distinct
``created_at`` (one JSON read per score, no snapshots). The stage before the event
does not matter to the rules above: from ``nurture``, ``handed`` or ``rejected`` the
event closes the lead, and from ``accepted``, ``won`` or ``lost`` (refused or not) the
lead is closed already. Events dated before the lead's first score, before it
existed, or with values the rules refuse leave the lead to the full replay, as do
leads whose last feedback rows share a time: the pre-filter only ever answers "closed"
when the replay would, and says nothing otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select, type_coerce
from sqlalchemy.engine import Connection

from scoring.contract import HandoffDecision
from scoring.lifecycle import (
    CLOSING_REASONS,
    Event,
    EventKind,
    LeadState,
    Stage,
    Transition,
    feedback_row_event,
    scored_event,
    step,
)
from serving.tables import Decision, Feedback, UTCDateTime

_HAND = HandoffDecision.HAND_TO_SALES.value
_NURTURE = HandoffDecision.NURTURE.value

FINAL_STAGES: frozenset[Stage] = frozenset({Stage.ACCEPTED, Stage.WON, Stage.LOST})
"""Stages no later event leads out of to an open one (rule 1 of the module's doc)."""

FINAL_KINDS: frozenset[str] = frozenset({EventKind.ACCEPTED, EventKind.WON, EventKind.LOST})
"""The feedback kinds that lead to :data:`FINAL_STAGES` (rule 1)."""

CLOSING_KINDS: tuple[str, ...] = (*sorted(FINAL_KINDS), EventKind.REJECTED.value)
"""The feedback kinds that may close a lead (rules 1 and 2)."""

_REJECTED: frozenset[Stage] = frozenset({Stage.REJECTED})

_f = Feedback.__table__
_EVENT_COLUMNS = (_f.c.lead_id, _f.c.kind, _f.c.at, _f.c.reason, _f.c.amount,
                  _f.c.contact_attempts, _f.c.qualification, _f.c.implied)  # fmt: skip
"""What :func:`scoring.lifecycle.feedback_row_event` reads."""


def certainly_closed(conn: Connection, candidates: Iterable[str]) -> set[str]:
    """The ``candidates`` a full lifecycle replay would certainly call closed.

    Three reads, whatever the number of leads: SQL picks each lead's one event that may
    close it (its latest acceptance or outcome, or its last feedback row if that is a
    closing rejection no hand-over score follows) and the lead's scores up to it by
    distinct ``created_at``; :func:`scoring.lifecycle.step` judges the event. See the
    module's doc for why that is safe.
    """
    wanted = set(candidates)
    closing: dict[str, list[Event]] = {}
    for row in [*conn.execute(_latest_final()), *conn.execute(_last_rejection())]:
        if row.lead_id in wanted:
            closing.setdefault(row.lead_id, []).append(feedback_row_event(row._mapping))
    if not closing:
        return set()
    served: dict[str, list[Event]] = {}
    for lead, created, first in conn.execute(_first_served()):
        if lead in closing:
            served.setdefault(lead, []).append(
                scored_event(first, _NURTURE, {"created_at": created})
            )
    return {
        lead
        for lead, events in closing.items()
        if any(_closes(event, served.get(lead, [])) for event in events)
    }


def _latest_final() -> Select[Any]:
    """Each lead's latest ``accepted``, ``won`` or ``lost`` rows (rule 1), passing over a
    ``won`` without a positive amount: the rules refuse it whatever else holds."""
    f = Feedback.__table__
    final = and_(
        f.c.kind.in_(sorted(FINAL_KINDS)), or_(f.c.kind != EventKind.WON.value, f.c.amount > 0)
    )
    latest = (
        select(f.c.lead_id, func.max(f.c.at).label("at"))
        .where(final)
        .group_by(f.c.lead_id)
        .subquery("latest_final")
    )
    return (
        select(*_EVENT_COLUMNS)
        .join(latest, and_(f.c.lead_id == latest.c.lead_id, f.c.at == latest.c.at))
        .where(final)
    )


def _last_rejection() -> Select[Any]:
    """Each lead's last feedback row, if it is a closing rejection alone at its time and
    no hand-over score follows it (rule 2). A score at its very time does not count:
    the replay orders it first."""
    f = Feedback.__table__
    d = Decision.__table__
    other = Feedback.__table__.alias("other")
    last = select(f.c.lead_id, func.max(f.c.at).label("at")).group_by(f.c.lead_id).subquery("last")
    return (
        select(*_EVENT_COLUMNS)
        .join(last, and_(f.c.lead_id == last.c.lead_id, f.c.at == last.c.at))
        .where(
            f.c.kind == EventKind.REJECTED.value,
            f.c.reason.in_(sorted(CLOSING_REASONS)),
            ~exists().where(other.c.lead_id == f.c.lead_id, other.c.at == f.c.at,
                            other.c.id != f.c.id),
            ~exists().where(d.c.lead_id == f.c.lead_id, d.c.decision == _HAND,
                            d.c.as_of > f.c.at),
        )
    )  # fmt: skip


def _first_served() -> Select[Any]:
    """``(lead_id, created_at, first served)`` per lead and distinct ``created_at``, for
    the scores up to the lead's last closing event: what the rules for it read."""
    f = Feedback.__table__
    d = Decision.__table__
    cut = (
        select(f.c.lead_id, func.max(f.c.at).label("cut"))
        .where(f.c.kind.in_(CLOSING_KINDS))
        .group_by(f.c.lead_id)
        .subquery("cut")
    )
    created = d.c.features["created_at"].as_string()
    return (
        select(d.c.lead_id, created, type_coerce(func.min(d.c.as_of), UTCDateTime()))
        .join(cut, cut.c.lead_id == d.c.lead_id)
        .where(d.c.as_of <= cut.c.cut)
        .group_by(d.c.lead_id, created)
    )


def _closes(event: Event, served: Sequence[Event]) -> bool:
    """Does ``event``, after the scores ``served`` up to its time, close the lead?

    The state is the one a replay holds at that moment, as far as the rules for this
    event read it: scored (``nurture``; from ``handed`` or ``rejected`` the event moves
    the lead alike, see the module's doc), created at the earliest ``created_at`` seen,
    first scored at the first score. A score at the event's very time counts: the replay
    orders it first.
    """
    seen = [s for s in served if s.at <= event.at]
    if not seen:
        return False  # feedback before the first score: the replay refuses it
    known = [s.created_at for s in seen if s.created_at is not None]
    state = LeadState(
        stage=Stage.NURTURE,
        created_at=min(known) if known else None,
        first_scored_at=min(s.at for s in seen),
    )
    outcome = step(state, event)
    stages = FINAL_STAGES if event.kind in FINAL_KINDS else _REJECTED
    return isinstance(outcome, Transition) and outcome.state.stage in stages


__all__ = ["CLOSING_KINDS", "FINAL_KINDS", "FINAL_STAGES", "certainly_closed"]
