"""The handoff SLA clocks, each measured on its own event, and the breaches they report.

The sales decision against the handoff, the first contact (a ``contacted`` event)
against the handoff, the SQL confirmation (a qualification on the acceptance, or a later
``qualified`` event) against the acceptance, and the contact attempts recorded on a
``no_response`` rejection. :func:`sla_breaches` takes the moment ``as_of`` as an
argument: this module never reads the clock.

The handoff is the ``as_of`` of the ``hand_to_sales`` score (the moment the score is
about), not the time the service logged it: a lead scored through the API with a past
``as_of``, or re-scored by ``leadscore rescore``, was handed over at that moment, and the
sales events it is measured against carry their own event times too. The pages' SLA box
and breach flag both read :func:`sla_state`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scoring.contract import RejectionReason
from scoring.lifecycle.states import OUTCOMES, SALES_DECISIONS, Event, EventKind
from scoring.lifecycle.transitions import replay
from scoring.settings import Settings


def _sla_default(name: str) -> Any:
    """The default of the setting ``sla_<name>``: the SLA's windows are defined there once."""
    return Settings.model_fields[f"sla_{name}"].default


@dataclass(frozen=True)
class SlaClocks:
    """The handoff SLA (DOMAIN.md), each clock measured on its own event.

    The defaults are the settings' (``LEADSCORE_SLA_*``); a running service passes its
    own through :meth:`from_settings`.
    """

    decision_hours: float = _sla_default("decision_hours")  # accept/reject/return, from handoff
    sql_confirm_hours: float = _sla_default("sql_confirm_hours")  # qualify, from acceptance
    first_contact_hours: float = _sla_default("first_contact_hours")  # ``contacted``, from handoff
    min_contact_attempts: int = _sla_default("min_contact_attempts")  # before ``no_response``

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


@dataclass(frozen=True)
class SlaState:
    """One lead's SLA as of a moment: its breaches, and the handoff still awaiting a sales
    decision (``waiting_since``: the handing score's ``as_of``; ``None`` when there is
    none, or sales decided or gave the lead back), with whether it had its first contact."""

    breaches: list[Breach]
    waiting_since: datetime | None
    contacted: bool


def sla_state(events: Iterable[Event], as_of: datetime, clocks: SlaClocks) -> SlaState:
    """The SLA of one lead's history as of ``as_of`` (see :func:`sla_breaches`)."""
    watch = _SlaWatch(as_of, clocks)
    for event in replay(events).events:
        if event.kind == EventKind.SCORED:
            watch.scored(event)
        else:
            watch.feedback(event)
    waiting = watch.handed_at if not watch.decided and watch.given_back_at is None else None
    return SlaState(watch.finish(), waiting, watch.contacted)


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
    return sla_state(events, as_of, clocks).breaches


@dataclass
class _SlaWatch:
    """The clocks of one lead's history as :func:`sla_breaches` walks it, event by event."""

    as_of: datetime
    clocks: SlaClocks
    breaches: list[Breach] = field(default_factory=list)
    handed_at: datetime | None = None
    given_back_at: datetime | None = None  # the lead left sales: rejected, returned, closed
    decided: bool = False
    contacted: bool = False
    accepted_at: datetime | None = None
    confirm_pending: bool = False

    def _late(self, rule: str, start: datetime, hours: float, at: datetime) -> None:
        """A closed breach of ``rule`` if ``at`` came after ``start`` + ``hours``."""
        due = start + timedelta(hours=hours)
        if at > due:
            self.breaches.append(Breach(rule, due, start, False))

    def scored(self, event: Event) -> None:
        """A hand-over starts a new handoff unless one is running or the deal is open."""
        if event.decision == "hand_to_sales" and (
            self.handed_at is None or (self.given_back_at is not None and self.accepted_at is None)
        ):
            self.close_handoff()
            self.handed_at, self.decided, self.contacted = event.at, False, False
            self.given_back_at = None

    def feedback(self, event: Event) -> None:
        """A sales event: the handoff's clocks, the attempts rule, the confirmation clock."""
        kind = event.kind
        if self.handed_at is not None and kind in SALES_DECISIONS and not self.decided:
            self.decided = True
            self._late("decision_late", self.handed_at, self.clocks.decision_hours, event.at)
        if self.handed_at is not None and kind == EventKind.CONTACTED and not self.contacted:
            self.contacted = True
            hours = self.clocks.first_contact_hours
            self._late("first_contact_late", self.handed_at, hours, event.at)
        if kind in (EventKind.REJECTED, EventKind.RETURNED_TO_NURTURE, *OUTCOMES):
            self.given_back_at = self.given_back_at or event.at
        if (
            kind == EventKind.REJECTED
            and event.reason == RejectionReason.NO_RESPONSE
            and (event.contact_attempts or 0) < self.clocks.min_contact_attempts
        ):
            self.breaches.append(Breach("no_response_few_attempts", event.at, event.at, False))
        self._confirmation(event)

    def _confirmation(self, event: Event) -> None:
        """The SQL confirmation clock: started by an acceptance, stopped by a qualification
        or a close (closed unconfirmed: late if it closed past the due)."""
        kind = event.kind
        if kind == EventKind.ACCEPTED and self.accepted_at is None and not event.implied:
            self.accepted_at = event.at
            self.confirm_pending = event.qualification is None
        stops = kind == EventKind.QUALIFIED or kind in OUTCOMES
        if stops and self.confirm_pending and self.accepted_at is not None:
            self.confirm_pending = False
            hours = self.clocks.sql_confirm_hours
            self._late("sql_confirm_late", self.accepted_at, hours, event.at)

    def close_handoff(self) -> None:
        """The current handoff's clocks still open at its end (a re-hand or ``as_of``)."""
        if self.handed_at is None:
            return
        due = self.handed_at + timedelta(hours=self.clocks.decision_hours)
        if not self.decided and self.as_of > due:
            self.breaches.append(Breach("decision_late", due, self.handed_at, True))
        due = self.handed_at + timedelta(hours=self.clocks.first_contact_hours)
        if not self.contacted:
            if self.given_back_at is None and self.as_of > due:
                self.breaches.append(Breach("first_contact_late", due, self.handed_at, True))
            elif self.given_back_at is not None and self.given_back_at > due:
                self.breaches.append(Breach("first_contact_late", due, self.handed_at, False))

    def finish(self) -> list[Breach]:
        """The breaches, with the clocks still running at ``as_of``."""
        if self.confirm_pending and self.accepted_at is not None:
            due = self.accepted_at + timedelta(hours=self.clocks.sql_confirm_hours)
            if self.as_of > due:
                self.breaches.append(Breach("sql_confirm_late", due, self.accepted_at, True))
        self.close_handoff()
        return self.breaches


def new_breaches(
    before: Iterable[Event], event: Event, as_of: datetime, clocks: SlaClocks
) -> list[Breach]:
    """The *closed* breaches that ``event`` reveals (for counting each breach once)."""
    previous = {(b.rule, b.started_at) for b in sla_breaches(before, as_of, clocks) if not b.open}
    now = sla_breaches([*before, event], as_of, clocks)
    return [b for b in now if not b.open and (b.rule, b.started_at) not in previous]
