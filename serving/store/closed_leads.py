"""Leads certainly closed, found in SQL without replaying their histories.

Finding the open leads (:mod:`serving.store.open_leads`) replays the lifecycle of every
lead that has feedback. Most of those leads are closed for good (20,000 of 22,000 in
``bench/rescore_bench.py``), and replaying them was most of the time spent finding the
open leads (docs/benchmarks.md). This pre-filter drops the leads a replay would
*certainly* call closed, by two rules that follow from the state machine
(``scoring.lifecycle.transitions``):

1. **An accepted, won or lost lead stays closed.** From ``accepted`` a lead only moves
   to ``won`` or ``lost`` (another sales decision is refused), nothing moves a won or
   lost lead, and a score never moves any of the three. From ``nurture``, ``handed``
   or ``rejected`` a legal ``accepted``, ``won`` or ``lost`` event moves the lead to
   one of them. So if one such event of a lead is legal where it stands, the lead is
   closed, whatever came before or after it.
2. **A lead whose last sales event is a closing rejection** (``not_icp``, a duplicate,
   ``competitor_won``: :data:`~scoring.lifecycle.CLOSING_REASONS`) stays closed unless
   a later ``hand_to_sales`` score re-hands it (a score at the same instant does not:
   the replay orders it first). So if the lead's last feedback row, alone at its time,
   is such a rejection, legal where it stands, and no hand-over score follows it, the
   lead is closed (``rejected``, or ``accepted``/``won``/``lost`` if it was already).

"Legal where it stands" is what :func:`scoring.lifecycle.step` checks for these events:

* the event's own values (:func:`scoring.lifecycle.value_violation`). SQL keeps only
  rows whose values are certainly legal — no qualification, no contact attempts or a
  non-negative count, a finite amount or none, a positive one for ``won`` — and leaves
  the rest (a qualification's criteria, say) to the replay;
* a score served at or before the event (else: ``not_scored``) and the event not dated
  before the lead's creation as known then (else: ``before_created``): the earliest
  ``created_at`` of the scores served up to the event. Creation times are text in the
  score snapshots and are parsed here as the replay parses them
  (:func:`scoring.lifecycle.scored_event`), never compared as text in SQL. Of the
  events a rule may use, the latest is checked: it sees every score an earlier one
  sees, so if any passes, it does. (``before_scored`` and ``out_of_order`` cannot
  refuse an event the replay reaches in time order.)

Everything else — refused values, feedback before the first score, ties in time at the
end of a history, re-handed leads — is left to the full replay: the pre-filter only
ever answers "closed" when the replay would, and says nothing otherwise.
``tests/integration/test_closed_leads.py`` compares the open set with and without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    exists,
    func,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.engine import Connection

from scoring.contract import HandoffDecision
from scoring.lifecycle import CLOSING_REASONS, EventKind, scored_event
from serving.tables import Decision, Feedback, UTCDateTime

_HAND = HandoffDecision.HAND_TO_SALES.value
_NURTURE = HandoffDecision.NURTURE.value
_INF = float("inf")

FINAL_KINDS: tuple[str, ...] = (
    EventKind.ACCEPTED.value,
    EventKind.LOST.value,
    EventKind.WON.value,
)
"""The feedback kinds of rule 1: the lead ends ``accepted``, ``won`` or ``lost``."""


def certainly_closed(conn: Connection, candidates: Iterable[str]) -> set[str]:
    """The ``candidates`` a full lifecycle replay would certainly call closed.

    One read: per lead, the moment of the event a rule may close it with, joined to the
    distinct ``created_at`` of the scores served up to then; Python parses those and
    compares. See the module's doc for why that is safe.
    """
    wanted = set(candidates)
    created_by: dict[tuple[str, datetime], list[datetime]] = {}
    for lead, moment, created in conn.execute(_moments_with_creation()):
        if lead in wanted:
            known = created_by.setdefault((lead, moment), [])
            parsed = scored_event(moment, _NURTURE, {"created_at": created}).created_at
            if parsed is not None:
                known.append(parsed)
    return {
        lead for (lead, moment), known in created_by.items() if not known or min(known) <= moment
    }


def _values_legal() -> ColumnElement[bool]:
    """The feedback rows whose values :func:`scoring.lifecycle.value_violation` certainly
    accepts for the kinds used here (a subset: a qualification is left to the replay)."""
    f = Feedback.__table__
    return and_(
        or_(f.c.qualification.is_(None), cast(f.c.qualification, String) == "null"),
        or_(f.c.contact_attempts.is_(None), f.c.contact_attempts >= 0),
        or_(f.c.amount.is_(None), and_(f.c.amount > -_INF, f.c.amount < _INF)),
        or_(f.c.kind != EventKind.WON.value, f.c.amount > 0),
    )


def _moments_with_creation() -> Select[Any]:
    """``(lead_id, moment, created_at)``: each lead's rule-1 and rule-2 moments, with
    the distinct ``created_at`` of the scores served up to each (no row: no score yet)."""
    f = Feedback.__table__
    d = Decision.__table__
    other = Feedback.__table__.alias("other")
    final = (  # rule 1: the latest legal acceptance or outcome
        select(f.c.lead_id, type_coerce(func.max(f.c.at), UTCDateTime()).label("at"))
        .where(f.c.kind.in_(FINAL_KINDS), _values_legal())
        .group_by(f.c.lead_id)
    )
    last = select(f.c.lead_id, func.max(f.c.at).label("at")).group_by(f.c.lead_id).subquery()
    rejection = (  # rule 2: the last feedback row, a legal closing rejection
        select(f.c.lead_id, f.c.at)
        .join(last, and_(f.c.lead_id == last.c.lead_id, f.c.at == last.c.at))
        .where(
            f.c.kind == EventKind.REJECTED.value,
            f.c.reason.in_(sorted(CLOSING_REASONS)),
            _values_legal(),
            ~exists().where(other.c.lead_id == f.c.lead_id, other.c.at == f.c.at,
                            other.c.id != f.c.id),  # alone at its time
            ~exists().where(d.c.lead_id == f.c.lead_id, d.c.decision == _HAND,
                            d.c.as_of > f.c.at),  # not re-handed since
        )
    )  # fmt: skip
    moments = union_all(final, rejection).subquery("moments")
    created = d.c.features["created_at"].as_string()
    at = type_coerce(moments.c.at, UTCDateTime())
    return (
        select(moments.c.lead_id, at, created)
        .join(d, and_(d.c.lead_id == moments.c.lead_id, d.c.as_of <= moments.c.at))
        .group_by(moments.c.lead_id, moments.c.at, created)
    )


__all__ = ["FINAL_KINDS", "certainly_closed"]
