"""The open leads' latest decisions, read with a few queries instead of the whole log.

``leadscore rescore`` re-scores the leads the lifecycle (``scoring.lifecycle``) calls
open. Loading the whole decision log and feedback table to find them costs time and
memory in proportion to the log (111k rows: 17 s, 1.7 GB), while the answer is a few
thousand rows. The rules stay in Python, where they are written once; SQL only narrows
down who needs them:

1. each lead's latest decision (``lead_id``, ``id``, ``decision``: no features), from a
   ``GROUP BY`` on the ``(lead_id, scored_at)`` index; a lead last scored
   ``disqualify`` is never re-scored, so it drops out here;
2. a lead without any feedback row is open, whatever its scores: a ``scored`` event
   only ever moves a lead to ``nurture`` or ``handed`` (``transitions._scored``), so
   no replay is needed;
3. a lead certainly closed (its acceptance or deal outcome stands, or its last sales
   event is a closing rejection: :mod:`serving.store.closed_leads`) drops out without a
   replay;
4. the leads that remain (latest decision not ``disqualify``, some feedback) get their
   history replayed by the same rules, from their feedback rows and only the scores
   that can change the outcome (:func:`_histories` says which and why), without the
   snapshots;
5. the open leads' latest decisions are then read in full, by id.

The result has the columns and order of :meth:`DecisionStore.decisions_for_training`,
so re-scoring cannot tell which path produced it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, null, select, type_coerce
from sqlalchemy.engine import Connection

from scoring.contract import HandoffDecision
from scoring.lifecycle import (
    OPEN_STAGES,
    Event,
    EventKind,
    feedback_row_event,
    replay,
    scored_event,
)
from serving.store.base import StoreBase
from serving.store.closed_leads import certainly_closed
from serving.store.decisions import _DECISION_COLUMNS
from serving.store.values import _frame
from serving.tables import Decision, Feedback, UTCDateTime

CHUNK = 500
"""Ids per ``IN (...)`` list: far below SQLite's bound-parameter limit, few round trips."""

_DISQUALIFY = HandoffDecision.DISQUALIFY.value
_HAND = HandoffDecision.HAND_TO_SALES.value
_NURTURE = HandoffDecision.NURTURE.value


def _ORDER(event: Event) -> tuple[Any, ...]:
    """The replay's order (``transitions._order``): time, scores first, implied steps next."""
    return (event.at, event.kind != EventKind.SCORED, not event.implied)


def _histories(conn: Connection, lead_ids: Sequence[str]) -> dict[str, list[Event]]:
    """The leads' lifecycle histories, with only the scores that can change a replay.

    A score does three things to a lead's state (``transitions._scored``): the first one
    starts the lifecycle, every one lowers ``created_at`` / ``first_scored_at`` to its
    own if earlier, and a ``hand_to_sales`` one (re-)hands a nurtured or rejected lead.
    So the replay is the same with, per lead, one score per distinct ``created_at`` at
    the earliest time it was seen (as ``nurture``; ``created_at`` is only checked
    against feedback, so only scores up to the last feedback event are read for it),
    the first score (it starts the lifecycle), plus the ``hand_to_sales`` scores
    (without ``created_at``: the first kind already carries it, no later), minus each
    ``hand_to_sales`` score that follows another with no feedback between (the lead is
    already handed, or further on, and a score never moves it back). What that saves:
    a nurtured lead re-scored daily for a year replays a handful of events, not 365.
    """
    d = Decision.__table__
    f = Feedback.__table__
    last_feedback = (
        select(f.c.lead_id, func.max(f.c.at).label("last"))
        .where(f.c.lead_id.in_(lead_ids))
        .group_by(f.c.lead_id)
        .subquery("last_feedback")
    )
    created = d.c.features["created_at"].as_string()
    # ``created_at`` is only checked against feedback: the snapshots are read only up
    # to the lead's last feedback event (later scores count by time and hand-over alone)
    first_seen: list[Any] = conn.execute(
        select(d.c.lead_id, created, type_coerce(func.min(d.c.as_of), UTCDateTime()))
        .join(last_feedback, last_feedback.c.lead_id == d.c.lead_id)
        .where(d.c.lead_id.in_(lead_ids), d.c.as_of <= last_feedback.c.last)
        .group_by(d.c.lead_id, created)
    ).all()  # type: ignore[assignment]
    seen = {(lead, at) for lead, _, at in first_seen}
    first_seen += [  # the first score starts the lifecycle, whenever it was
        row
        for row in conn.execute(
            select(d.c.lead_id, null(), type_coerce(func.min(d.c.as_of), UTCDateTime()))
            .where(d.c.lead_id.in_(lead_ids))
            .group_by(d.c.lead_id)
        )
        if (row[0], row[2]) not in seen
    ]
    handed = conn.execute(
        select(d.c.lead_id, d.c.as_of).where(d.c.lead_id.in_(lead_ids), d.c.decision == _HAND)
    ).all()
    feedback = conn.execute(
        select(f.c.lead_id, f.c.kind, f.c.at, f.c.reason, f.c.amount, f.c.contact_attempts,
               f.c.qualification, f.c.implied)
        .where(f.c.lead_id.in_(lead_ids))
        .order_by(f.c.at, f.c.received_at, f.c.implied.desc(), f.c.id)
    ).all()  # fmt: skip
    events: dict[str, list[Event]] = {lead: [] for lead in lead_ids}
    # ``at`` comes back aware and in UTC (``UTCDateTime``): what ``scored_event`` makes of it
    for lead, created_at, at in first_seen:
        events[lead].append(scored_event(at, _NURTURE, {"created_at": created_at}))
    for lead, at in handed:
        events[lead].append(Event(EventKind.SCORED, at, decision=_HAND))
    for row in feedback:
        events[row.lead_id].append(feedback_row_event(dict(row._mapping)))
    return {lead: _without_repeated_handoffs(history) for lead, history in events.items()}


def _without_repeated_handoffs(history: list[Event]) -> list[Event]:
    """``history`` in replay order, less each hand-over score that follows another one
    with only scores between (see :func:`_histories`)."""
    kept: list[Event] = []
    handed_since_feedback = False
    for event in sorted(history, key=_ORDER):
        if event.kind != EventKind.SCORED:
            handed_since_feedback = False
        elif event.decision == _HAND:
            if handed_since_feedback and event.created_at is None:
                continue
            handed_since_feedback = True
        kept.append(event)
    return kept


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class OpenLeadStore(StoreBase):
    """:meth:`open_lead_decisions`: what ``leadscore rescore`` reads."""

    def latest_decision_ids(self) -> dict[str, tuple[str, str]]:
        """Each lead's latest decision as ``lead_id -> (decision id, decision)``.

        Latest by ``scored_at``, ties broken by the larger id, as
        :meth:`DecisionStore.last_decision` does.
        """
        d = Decision.__table__
        newest = (
            select(d.c.lead_id, func.max(d.c.scored_at).label("newest"))
            .group_by(d.c.lead_id)
            .subquery("newest")
        )
        query = select(d.c.lead_id, d.c.id, d.c.decision).join(
            newest, and_(d.c.lead_id == newest.c.lead_id, d.c.scored_at == newest.c.newest)
        )
        latest: dict[str, tuple[str, str]] = {}
        with self._engine.connect() as conn:
            for lead_id, decision_id, decision in conn.execute(query):
                known = latest.get(lead_id)
                if known is None or decision_id > known[0]:
                    latest[lead_id] = (decision_id, decision)
        return latest

    def open_lead_ids(self) -> list[str]:
        """The latest decision ids of the leads re-scoring is for (see the module's doc)."""
        latest = self.latest_decision_ids()
        candidates = {lead: ids for lead, ids in latest.items() if ids[1] != _DISQUALIFY}
        f = Feedback.__table__
        with self._engine.connect() as conn:
            closed = certainly_closed(conn, candidates)
            with_feedback = sorted(
                lead
                for (lead,) in conn.execute(select(f.c.lead_id).distinct())
                if lead in candidates and lead not in closed
            )
            for chunk in _chunks(with_feedback):
                for lead, history in _histories(conn, chunk).items():
                    if replay(history).state.stage not in OPEN_STAGES:
                        closed.add(lead)
        return [ids[0] for lead, ids in candidates.items() if lead not in closed]

    def open_lead_decisions(self) -> pd.DataFrame:
        """The open leads' latest decisions, oldest first, in the decision log's columns."""
        frames = list(self.open_lead_batches())
        if not frames:
            return _frame([], _DECISION_COLUMNS, Decision.__table__)
        frame = pd.concat(frames, ignore_index=True)
        return frame.sort_values(["scored_at", "id"], kind="stable", ignore_index=True)

    def open_lead_batches(self, size: int = 2_000) -> Iterator[pd.DataFrame]:
        """:meth:`open_lead_decisions` ``size`` rows at a time, each frame oldest first.

        Which leads are open is decided once, before the first frame: decisions stored
        while the batches are read (the re-scores) do not change the set.
        """
        table = Decision.__table__
        ids = sorted(self.open_lead_ids())
        for start in range(0, len(ids), size):
            rows: list[Any] = []
            with self._engine.connect() as conn:
                for chunk in _chunks(ids[start : start + size]):
                    query = select(table).where(table.c.id.in_(chunk))
                    rows.extend(conn.execute(query).mappings())
            frame = _frame(rows, _DECISION_COLUMNS, table)
            yield frame.sort_values(["scored_at", "id"], kind="stable", ignore_index=True)
