"""Sales feedback: stored once per idempotency key, if the lead's lifecycle allows it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from scoring.contract import RejectionReason, as_utc
from scoring.feedback import (
    MAX_AMOUNT,
    MAX_COMMENT_CHARS,
    MAX_FIRST_RESPONSE_HOURS,
    feedback_violation,
)
from scoring.lifecycle import (
    Breach,
    Event,
    LifecycleViolation,
    Transition,
    check,
    feedback_row_event,
    new_breaches,
    scored_event,
)
from serving.outbox.events import FEEDBACK_RECORDED, feedback_payload
from serving.store.base import StoreBase, lock_lead
from serving.store.jsonclean import _sha256, canonical_json
from serving.store.outbox_writes import subscribers, write_events
from serving.store.values import (
    _frame,
    _number,
    _text,
    _timestamp,
    _unknown_keys,
    _vocabulary,
)
from serving.tables import (
    IDEMPOTENCY_KEY_LEN,
    LEAD_ID_LEN,
    NAME_LEN,
    Decision,
    Feedback,
    FeedbackKind,
)

_FEEDBACK_COLUMNS: tuple[str, ...] = tuple(c.name for c in Feedback.__table__.columns)
_FEEDBACK_FIELDS = frozenset(
    {
        "lead_id",
        "kind",
        "reason",
        "at",
        "contact_attempts",
        "first_response_hours",
        "amount",
        "comment",
        "qualification",
    }
)


class IdempotencyConflict(Exception):
    """An idempotency key was reused for a different request (the API answers 409).

    The message names the key only; the bodies may hold personal data.
    """

    def __init__(self, idempotency_key: str, *, other_actor: bool = False) -> None:
        super().__init__(
            f"idempotency key {idempotency_key!r} was already used "
            + ("by another API key" if other_actor else "for a different request")
        )
        self.idempotency_key = idempotency_key
        self.other_actor = other_actor
        # what the API answers (409): never the key itself, never the other body
        self.detail = (
            "Idempotency-Key was already used by another API key: send a key of your own"
            if other_actor
            else "Idempotency-Key was already used with a different body"
        )


def _event(normal: Mapping[str, Any], at: datetime) -> Event:
    """A normalised feedback body as a lifecycle event."""
    return Event(
        normal["kind"],
        at,
        reason=normal.get("reason"),
        amount=normal.get("amount"),
        contact_attempts=normal.get("contact_attempts"),
        qualification=normal.get("qualification"),
    )


def _implied_row(row: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The row of a step ``row``'s event implies (an acceptance before a ``won``).

    Stored under the event's key plus ``#implied-<kind>``, at the event's time, flagged
    ``implied``; its body hash covers what it says (lead, kind, time).
    """
    implied_body = {"lead_id": row["lead_id"], "kind": kind, "at": row["at"]}
    return {
        **{c: None for c in _FEEDBACK_COLUMNS},
        **implied_body,
        "id": uuid.uuid4().hex,
        "received_at": row["received_at"],
        "decision_id": row["decision_id"],
        "actor": row["actor"],
        "idempotency_key": f"{row['idempotency_key']}#implied-{kind}"[:IDEMPOTENCY_KEY_LEN],
        "body_hash": _sha256(canonical_json(implied_body)),
        "implied": True,
    }


class FeedbackStore(StoreBase):
    """Feedback: :meth:`add_feedback` (checked against the lifecycle), the reads."""

    @staticmethod
    def normalize_feedback(body: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a feedback body and return it normalised (``None`` fields dropped).

        The normal form (UTC ISO ``at``, floats as floats, vocabulary values as strings)
        is what the body hash covers, so a retry that formats the same request differently
        is still recognised as the same request. The rules are the feedback contract's
        (:func:`scoring.feedback.feedback_violation`, as the API applies them), raised as a
        :class:`~scoring.lifecycle.LifecycleViolation` (422) naming the field and the rule;
        a value of the wrong type is a ``ValueError`` naming the field. Neither echoes a
        value. Unlike the API, ``at`` may be left out: the store records the receipt time.
        """
        _unknown_keys(body, _FEEDBACK_FIELDS, "feedback")
        attempts = body.get("contact_attempts")
        if isinstance(attempts, np.integer):
            attempts = int(attempts)
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise ValueError("comment must be a string")
        if comment is not None and len(comment) > MAX_COMMENT_CHARS:
            raise ValueError(f"comment is longer than {MAX_COMMENT_CHARS} characters")
        qualification = body.get("qualification")
        if qualification is not None:
            if not isinstance(qualification, Mapping):
                raise ValueError("qualification must be an object")
            qualification = {str(k): v for k, v in qualification.items() if v is not None}
            qualification["framework"] = str(qualification.get("framework", "bant")).lower()
        at = body.get("at")
        normal: dict[str, Any] = {
            "lead_id": _text(body.get("lead_id"), "lead_id", LEAD_ID_LEN),
            "kind": _vocabulary(body.get("kind"), "kind", FeedbackKind, required=True),
            "reason": _vocabulary(body.get("reason"), "reason", RejectionReason, required=False),
            "at": None if at is None else _timestamp(at, "at").isoformat(),
            "contact_attempts": attempts,
            "first_response_hours": _number(
                body.get("first_response_hours"),
                "first_response_hours",
                required=False,
                lo=0.0,
                hi=MAX_FIRST_RESPONSE_HOURS,
            ),
            "amount": _number(body.get("amount"), "amount", required=False, lo=0.0, hi=MAX_AMOUNT),
            "qualification": qualification,
            "comment": comment,
        }
        problem = feedback_violation(
            normal["kind"],
            reason=normal["reason"],
            amount=normal["amount"],
            contact_attempts=attempts,
            qualification=qualification,
        )
        if problem is not None:
            raise LifecycleViolation(problem)
        return {k: v for k, v in normal.items() if v is not None}

    def add_feedback(
        self,
        body: Mapping[str, Any],
        *,
        idempotency_key: str,
        actor: str,
        on_breach: Callable[[Breach], None] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Store one feedback event exactly once per idempotency key, if the lifecycle allows.

        Returns ``(row, created)``. A retry (same key, same normalised body, same actor)
        returns the stored row with ``created=False`` before any rule is checked, so a
        retry always gets the first answer; the same key with another body or from
        another actor raises :class:`IdempotencyConflict`. A new event is checked against
        the lead's decisions and feedback (:func:`scoring.lifecycle.check`): a broken
        rule raises :class:`~scoring.lifecycle.LifecycleViolation`; the steps it implies
        (an acceptance before a ``won``) are stored first, as rows of their own flagged
        ``implied``, under the key plus ``#implied-<kind>``. ``on_breach`` hears each SLA
        breach the event reveals (for the metrics). The row is linked to the lead's
        latest decision at receipt. Race-safe: concurrent requests with one key meet at
        the unique constraint, and the losers re-read the winner's row; events for one
        lead are checked one at a time (SQLite's write lock, a PostgreSQL advisory lock).
        """
        key = _text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LEN)
        actor_name = _text(actor, "actor", NAME_LEN)
        normal = self.normalize_feedback(body)
        body_hash = _sha256(canonical_json(normal))
        revealed: list[Breach] = []
        try:
            with self._write.begin() as conn:
                existing = self._feedback_by_key(conn, key)
                if existing is not None:
                    return self._replay(existing, key, body_hash, actor_name), False
                lock_lead(conn, normal["lead_id"])
                # Again under the lead's lock: a racer with this key (another thread or
                # server process) may have committed while we waited for it, and its
                # event is now in the lead's history, where a repeat of it (a second
                # `accepted`) would be refused as out of order instead of replayed.
                # PostgreSQL's READ COMMITTED gives this statement a fresh snapshot.
                existing = self._feedback_by_key(conn, key)
                if existing is not None:
                    return self._replay(existing, key, body_hash, actor_name), False
                row, revealed = self._insert_checked(conn, normal, key, body_hash, actor_name)
        except IntegrityError:
            # Most likely a concurrent request with the same key won the race; if not,
            # the original error stands.
            with self._engine.connect() as conn:
                existing = self._feedback_by_key(conn, key)
            if existing is None:
                raise
            return self._replay(existing, key, body_hash, actor_name), False
        if on_breach is not None:
            for breach in revealed:
                on_breach(breach)
        return row, True

    def _insert_checked(
        self, conn: Connection, normal: Mapping[str, Any], key: str, body_hash: str, actor: str
    ) -> tuple[dict[str, Any], list[Breach]]:
        """Check the event against the lead's history, store it (after its implied steps).

        Returns the stored row and the SLA breaches the event reveals.
        """
        received_at = self._now()
        at = _timestamp(normal["at"], "at") if "at" in normal else received_at
        event = _event(normal, at)
        lead_id = normal["lead_id"]
        histories, latest = self._lifecycle_histories(conn, [lead_id])
        history, decision_id = histories[lead_id], latest.get(lead_id)
        outcome = check(history, event)
        if not isinstance(outcome, Transition):
            raise LifecycleViolation(outcome)
        comment = normal.get("comment")
        row: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "lead_id": lead_id,
            "kind": normal["kind"],
            "reason": normal.get("reason"),
            "at": at,
            "received_at": received_at,
            "contact_attempts": normal.get("contact_attempts"),
            "first_response_hours": normal.get("first_response_hours"),
            "amount": normal.get("amount"),
            # PostgreSQL text cannot hold NUL; the hash keeps the original.
            "comment": None if comment is None else comment.replace("\x00", "\ufffd"),
            "decision_id": decision_id,
            "actor": actor,
            "idempotency_key": key,
            "body_hash": body_hash,
            "implied": False,
            "qualification": normal.get("qualification"),
        }
        stored = [_implied_row(row, step.kind) for step in outcome.implied] + [row]
        for one in stored:
            conn.execute(insert(Feedback.__table__), one)
        # feedback.recorded for each row, in this transaction (nothing if nobody subscribes)
        subs = subscribers(conn, [FEEDBACK_RECORDED])
        if subs:
            events = [
                (FEEDBACK_RECORDED, lead_id, feedback_payload(one), received_at) for one in stored
            ]
            write_events(conn, events, received_at, subs)
        return row, new_breaches(history, event, received_at, self._clocks)

    def lifecycle_events(self, lead_ids: Sequence[str]) -> dict[str, list[Event]]:
        """Each lead's history as lifecycle events (scores, then feedback); for the queue."""
        with self._engine.connect() as conn:
            return self._lifecycle_histories(conn, lead_ids)[0]

    @staticmethod
    def _lifecycle_histories(
        conn: Connection, lead_ids: Sequence[str]
    ) -> tuple[dict[str, list[Event]], dict[str, str]]:
        """The leads' events (scores and feedback) and each one's latest decision id."""
        ids = list(dict.fromkeys(lead_ids))
        events: dict[str, list[Event]] = {lead_id: [] for lead_id in ids}
        latest: dict[str, str] = {}
        if not ids:
            return events, latest
        decisions = Decision.__table__
        scored = conn.execute(
            select(
                decisions.c.id,
                decisions.c.lead_id,
                decisions.c.as_of,
                decisions.c.decision,
                # only the creation time: the snapshot may hold thousands of touches
                decisions.c.features["created_at"].as_string().label("created_at"),
            )
            .where(decisions.c.lead_id.in_(ids))
            .order_by(decisions.c.scored_at, decisions.c.id)
        ).all()
        for r in scored:
            events[r.lead_id].append(
                scored_event(r.as_of, r.decision, {"created_at": r.created_at})
            )
            latest[r.lead_id] = r.id
        f = Feedback.__table__
        rows = conn.execute(
            select(
                f.c.lead_id,
                f.c.kind,
                f.c.at,
                f.c.reason,
                f.c.amount,
                f.c.contact_attempts,
                f.c.qualification,
                f.c.implied,
            )
            .where(f.c.lead_id.in_(ids))
            .order_by(f.c.at, f.c.received_at, f.c.implied.desc(), f.c.id)
        ).all()
        for r in rows:
            events[r.lead_id].append(feedback_row_event(r._mapping))
        return events, latest

    @staticmethod
    def _feedback_by_key(conn: Connection, key: str) -> dict[str, Any] | None:
        table = Feedback.__table__
        found = conn.execute(select(table).where(table.c.idempotency_key == key)).mappings().first()
        return dict(found) if found is not None else None

    @staticmethod
    def _replay(existing: dict[str, Any], key: str, body_hash: str, actor: str) -> dict[str, Any]:
        if existing["actor"] != actor:
            raise IdempotencyConflict(key, other_actor=True)
        if existing["body_hash"] != body_hash:
            raise IdempotencyConflict(key)
        return existing

    def feedback_frame(
        self, since: datetime | None = None, *, include_comment: bool = False
    ) -> pd.DataFrame:
        """All feedback as a frame for retraining, in order of receipt.

        ``since`` filters on ``received_at`` (what arrived since the last run). Comments
        are left out unless asked for: free text is never a feature and may hold PII.
        """
        table = Feedback.__table__
        where = () if since is None else (table.c.received_at >= as_utc(since),)
        with self._engine.connect() as conn:
            return feedback_rows_frame(conn, *where, include_comment=include_comment)

    def count_feedback(self, *, kind: FeedbackKind | str | None = None) -> int:
        """How many feedback rows there are (of one ``kind``, if given)."""
        table = Feedback.__table__
        query = select(func.count()).select_from(table)
        if kind is not None:
            query = query.where(
                table.c.kind == _vocabulary(kind, "kind", FeedbackKind, required=True)
            )
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


def feedback_rows_frame(
    conn: Connection, *where: Any, include_comment: bool = False
) -> pd.DataFrame:
    """The feedback matching ``where`` as :meth:`FeedbackStore.feedback_frame` reads it
    (in order of receipt): the report roll-ups read a few leads' this way."""
    table = Feedback.__table__
    columns = [c for c in _FEEDBACK_COLUMNS if include_comment or c != "comment"]
    # an implied step before the event that implied it (they share ``received_at``)
    query = (
        select(*(table.c[c] for c in columns))
        .where(*where)
        .order_by(table.c.received_at, table.c.implied.desc(), table.c.id)
    )
    return _frame(conn.execute(query).mappings().all(), columns, table)
