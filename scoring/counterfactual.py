"""What would change the decision: the smallest realistic changes that move a lead across
the handoff line, each one re-scored through the model, never guessed.

A salesperson looking at a nurtured lead asks "what would it take?"; one looking at a
handed-over lead asks "how long do I have?". Both answers come from scoring modified
copies of the lead with the same :class:`~scoring.model.LeadScorer` (and so the same
policy) that made the decision:

* **up** — a lead below the line (nurtured, or disqualified): add touches sales or
  marketing can bring about (:data:`ACTIONS`) just before the same ``as_of``, and keep
  the changes that raise the decision (nurture → hand to sales; disqualify → nurture or
  better). Single touches first; pairs of different touches only if no single one
  crosses. Fit attributes (industry, size, revenue, seniority, country…) are never
  changed: nobody can act on them.
* **down** — a handed-over lead: the same lead scored later with no new touch (every
  day for two weeks, then every week, refined to the day around the first crossing) up
  to :data:`WAIT_HORIZON_DAYS`; the first day it is no longer handed over is the
  sales team's deadline ("no activity for 12 more days and it goes back to nurture"),
  the one change given.

Changes of the same size are ordered by the effort of their touches
(:data:`ACTIONS` is cheapest first) and at most ``limit`` are kept. Every candidate of
every lead is scored in one batch call. Time is always an argument: nothing here reads
the clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np

from scoring.contract import TouchType, as_utc
from scoring.model import LeadScorer
from scoring.policy import BANDS

ACTIONS: tuple[str, ...] = (
    TouchType.EMAIL_CLICK.value,
    TouchType.CONTENT_DOWNLOAD.value,
    TouchType.PRICING_PAGE_VIEW.value,
    TouchType.WEBINAR_ATTENDED.value,
    TouchType.CALL.value,
    TouchType.DEMO_REQUEST.value,
)
"""Touches sales or marketing can bring about, cheapest first: an e-mail worth clicking,
a content offer, a pricing page to revisit, a webinar invitation, a sales call, and the
biggest ask, a demo request. The order breaks ties between changes of the same size."""

ADD_TOUCH = "add_touch"
"""Step code prefix: ``add_touch.demo_request`` (params: ``type``, ``at``)."""
NO_ACTIVITY = "no_activity"
"""Step code of waiting without any touch (params: ``days``)."""

TOUCH_BEFORE = timedelta(minutes=1)
"""An added touch happens this long before ``as_of`` (features count touches strictly
before the scoring moment)."""
WAIT_HORIZON_DAYS = 120
"""How far ahead a handed-over lead's silence is followed: past the policy's 90-day decay
rule (``ThresholdPolicy.stale_after_days``), after which no lead with touches stays."""
DAILY_DAYS = 14
"""A wait is searched day by day for two weeks, then by the week (refined to the day)."""
MAX_CHANGES = 3

Direction = Literal["up", "down"]


@dataclass(frozen=True)
class Step:
    """One thing that happens: a code from this module and its parameters."""

    code: str
    params: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params)}


@dataclass(frozen=True)
class Change:
    """Steps that, together, move the lead across the line, and the score they give."""

    steps: tuple[Step, ...]
    as_of: datetime
    """The scoring moment of the modified lead (later than the lead's for a wait)."""
    p_won: float
    p_sql: float | None
    decision: str
    effort: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": [s.to_dict() for s in self.steps],
            "as_of": self.as_of.isoformat(),
            "p_won": round(self.p_won, 6),
            "p_sql": None if self.p_sql is None else round(self.p_sql, 6),
            "decision": self.decision,
        }


@dataclass(frozen=True)
class WhatWouldChange:
    """The changes for one lead; ``found`` is false when none within reach crosses."""

    direction: Direction
    changes: tuple[Change, ...] = field(default_factory=tuple)

    @property
    def found(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "found": self.found,
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass
class _Candidate:
    lead: int
    steps: tuple[Step, ...]
    record: Mapping[str, Any]
    as_of: datetime
    effort: int


def what_would_change(
    scorer: LeadScorer,
    records: Sequence[Mapping[str, Any]],
    as_of: Sequence[datetime],
    *,
    bands: Sequence[int] | np.ndarray | None = None,
    limit: int = MAX_CHANGES,
) -> list[WhatWouldChange]:
    """For each lead (a data-contract dict with its ``touches``), the changes that cross.

    ``bands`` are the leads' current bands (indices into :data:`~scoring.policy.BANDS`)
    when the caller has just scored them; otherwise the leads are scored here first.
    """
    moments = [as_utc(a) for a in as_of]
    if bands is None:
        bands = scorer.score_records(records, moments).bands
    current = [int(b) for b in bands]
    grids: dict[int, list[int]] = {}
    candidates: list[_Candidate] = []
    for i, (record, moment, band) in enumerate(zip(records, moments, current, strict=True)):
        if band == 2:
            grids[i] = _wait_grid(_wait_horizon(record, moment, scorer))
            candidates += _waits(i, record, moment, grids[i])
        else:
            candidates += _touches(i, record, moment)
    found = _crossing(scorer, candidates, current)
    # A wait crossing first on day d of the grid may cross earlier, between the grid's
    # previous day and d: those days are scored too (a second, small batch).
    between: list[_Candidate] = []
    for i, grid in grids.items():
        if found[i]:
            first = min(int(c.steps[0].params["days"]) for c in found[i])
            previous = max((d for d in grid if d < first), default=0)
            days = list(range(previous + 1, first))
            between += _waits(i, records[i], moments[i], days)
    for i, earlier in enumerate(_crossing(scorer, between, current)):
        found[i] += earlier
    out = []
    for i, changes in enumerate(found):
        by_size: dict[int, list[Change]] = {}
        for change in changes:
            by_size.setdefault(len(change.steps), []).append(change)
        smallest = sorted(by_size[min(by_size)], key=_order) if by_size else []
        # a wait: only the first day it drops; later days say nothing more
        out.append(
            WhatWouldChange(_direction(current[i]), tuple(smallest[: 1 if i in grids else limit]))
        )
    return out


def _crossing(
    scorer: LeadScorer, candidates: Sequence[_Candidate], current: Sequence[int]
) -> list[list[Change]]:
    """Score every candidate in one batch; per lead, the changes that cross its line."""
    found: list[list[Change]] = [[] for _ in current]
    if not candidates:
        return found
    scores = scorer.score_records([c.record for c in candidates], [c.as_of for c in candidates])
    for k, candidate in enumerate(candidates):
        band = int(scores.bands[k])
        if _crosses(current[candidate.lead], band):
            found[candidate.lead].append(
                Change(
                    steps=candidate.steps,
                    as_of=candidate.as_of,
                    p_won=float(scores.p_won[k]),
                    p_sql=None if scores.p_sql is None else float(scores.p_sql[k]),
                    decision=BANDS[band].value,
                    effort=candidate.effort,
                )
            )
    return found


def _direction(band: int) -> Direction:
    return "down" if band == 2 else "up"


def _crosses(before: int, after: int) -> bool:
    """Up: any better band (disqualify → nurture counts); down: out of the hand-over."""
    return after < 2 if before == 2 else after > before


def _order(change: Change) -> tuple[float, ...]:
    """Cheapest touches first; a wait is the shortest one (its only step's days)."""
    days = change.steps[0].params.get("days", 0) if change.steps else 0
    return (change.effort, float(days))


def _touches(lead: int, record: Mapping[str, Any], as_of: datetime) -> list[_Candidate]:
    """The lead with each action, then each pair of different actions, just before ``as_of``."""
    at = as_of - TOUCH_BEFORE
    at_text = at.isoformat()
    touches = list(record.get("touches") or ())
    out: list[_Candidate] = []
    for size in (1, 2):
        for combo in itertools.combinations(range(len(ACTIONS)), size):
            added = [{"at": at, "type": ACTIONS[j]} for j in combo]
            steps = tuple(
                Step(f"{ADD_TOUCH}.{a['type']}", {"type": a["type"], "at": at_text}) for a in added
            )
            out.append(
                _Candidate(
                    lead,
                    steps,
                    {**record, "touches": [*touches, *added]},
                    as_of,
                    effort=sum(j + 1 for j in combo),
                )
            )
    return out


def _wait_horizon(record: Mapping[str, Any], as_of: datetime, scorer: LeadScorer) -> int:
    """Days to follow a handed-over lead: up to the decay rule's first day, at most
    :data:`WAIT_HORIZON_DAYS`."""
    stale = scorer.policy.stale_after_days
    times = [moment(t["at"]) for t in record.get("touches") or ()]
    before = [t for t in times if t < as_of]
    if stale is None or not before:
        return WAIT_HORIZON_DAYS
    silent = (as_of - max(before)).total_seconds() / 86_400
    return max(1, min(WAIT_HORIZON_DAYS, int(stale - silent) + 1))


def _wait_grid(horizon: int) -> list[int]:
    """Every day for the first two weeks, then weekly, and the horizon itself.

    Scoring every day up to 120 would be ~90 rows a lead; the days between two grid days
    are scored only around the first crossing (:func:`what_would_change`).
    """
    days = set(range(1, min(horizon, DAILY_DAYS) + 1)) | set(range(DAILY_DAYS, horizon, 7))
    return sorted(days | {horizon})


def _waits(
    lead: int, record: Mapping[str, Any], as_of: datetime, days: Sequence[int]
) -> list[_Candidate]:
    """The lead scored ``days`` later, each, with no touch after ``as_of``."""
    quiet = {
        **record,
        "touches": [t for t in record.get("touches") or () if moment(t["at"]) < as_of],
    }
    return [
        _Candidate(
            lead,
            (Step(NO_ACTIVITY, {"days": d}),),
            quiet,
            as_of + timedelta(days=d),
            effort=0,
        )
        for d in days
    ]


def moment(value: Any) -> datetime:
    """A touch time as the request or the decision log holds it: a datetime or ISO text."""
    if isinstance(value, datetime):
        return as_utc(value)
    return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
