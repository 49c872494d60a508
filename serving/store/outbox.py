"""The outbox's tables for the worker, the admin API and the CLI (:class:`OutboxStore`):
subscriptions, claiming and settling deliveries, the delivery log, replays, promotions.

Events are written by their causes' transactions (:mod:`serving.store.outbox_writes`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update

from serving.outbox.deliver import Attempt
from serving.outbox.events import (
    EVENT_TYPES,
    LEAD_EVENTS,
    MODEL_PROMOTED,
    OutboxEvent,
    Subscription,
    model_payload,
)
from serving.outbox.signing import new_secret, secret_key
from serving.store.base import StoreBase
from serving.store.outbox_writes import subscribers, write_events
from serving.store.values import _text
from serving.tables import (
    NAME_LEN,
    SUBSCRIPTION_KINDS,
    URL_LEN,
    DeliveryAttempt,
    OutboxDelivery,
    WebhookSubscription,
)
from serving.tables import OutboxEvent as OutboxEventRow

# declarative classes type ``__table__`` as a FromClause; these are Tables
_SUBS = cast(Table, WebhookSubscription.__table__)
_EVENTS = cast(Table, OutboxEventRow.__table__)
_DELIVERIES = cast(Table, OutboxDelivery.__table__)
_ATTEMPTS = cast(Table, DeliveryAttempt.__table__)


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds (until its lease runs out): what to send, where."""

    delivery_id: int
    attempts: int
    subscription: Subscription
    event: OutboxEvent


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery, for :meth:`OutboxStore.record_outcomes`."""

    claimed: Claimed
    attempt: Attempt
    at: datetime
    duration_ms: float
    next_attempt_at: datetime | None  # None: delivered or dead
    dead: bool


def _subscription(row: Mapping[str, Any]) -> Subscription:
    return Subscription(
        id=row["id"],
        kind=row["kind"],
        url=row["url"],
        events=tuple(row["events"] or ()),
        secret=row["secret"],
        options=dict(row["options"] or {}),
    )


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    """A subscription for listing: everything but the secret."""
    return {k: v for k, v in dict(row).items() if k != "secret"}


class OutboxStore(StoreBase):
    """Subscriptions, claiming and settling deliveries, the delivery log, replays."""

    # --- subscriptions ----------------------------------------------------------------

    def create_subscription(
        self,
        url: str,
        events: Sequence[str],
        *,
        actor: str,
        secret: str | None = None,
        kind: str = "webhook",
        options: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Add a subscription; the answer is the only one that shows its secret.

        ``ValueError`` names the field at fault (unknown event type or kind, a URL that
        is not http(s), a webhook secret not in the ``whsec_<base64>`` form, an amoCRM
        subscription without its access token).
        """
        url = _text(url, "url", URL_LEN)
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        if kind not in SUBSCRIPTION_KINDS:
            raise ValueError(f"kind must be one of: {', '.join(SUBSCRIPTION_KINDS)}")
        chosen = list(dict.fromkeys(events))
        unknown = [e for e in chosen if e not in EVENT_TYPES]
        if not chosen or unknown:
            raise ValueError(f"events must be one or more of: {', '.join(EVENT_TYPES)}")
        if kind == "webhook":  # signs with it: whsec_<base64>
            secret = secret or new_secret()
            secret_key(secret)  # ValueError if malformed
        elif kind == "amocrm" and not secret:  # its long-lived token, sent as Bearer
            raise ValueError("secret must be the amoCRM account's long-lived access token")
        elif kind == "amocrm":
            secret = _text(secret, "secret", 4096)
        else:  # Bitrix24: the token is in the incoming-webhook URL
            secret = ""
        row = {
            "id": uuid.uuid4().hex,
            "kind": kind,
            "url": url,
            "events": chosen,
            "secret": secret,
            "options": dict(options or {}),
            "description": None
            if description is None
            else _text(description, "description", NAME_LEN),
            "created_at": self._now(),
            "created_by": _text(actor, "actor", NAME_LEN),
            "deleted_at": None,
        }
        with self._write.begin() as conn:
            conn.execute(insert(_SUBS), row)
        return row

    def list_subscriptions(self, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Subscriptions, oldest first, without their secrets."""
        query = select(_SUBS).order_by(_SUBS.c.created_at, _SUBS.c.id)
        if not include_deleted:
            query = query.where(_SUBS.c.deleted_at.is_(None))
        with self._engine.connect() as conn:
            return [_public(dict(r)) for r in conn.execute(query).mappings()]

    def delete_subscription(self, subscription_id: str) -> bool:
        """Stop a subscription: stamped deleted, its pending deliveries cancelled.

        Its delivery log stays. ``False`` when no active subscription has this id.
        """
        now = self._now()
        with self._write.begin() as conn:
            done = conn.execute(
                update(_SUBS)
                .where(_SUBS.c.id == subscription_id, _SUBS.c.deleted_at.is_(None))
                .values(deleted_at=now)
            ).rowcount
            if done:
                conn.execute(
                    update(_DELIVERIES)
                    .where(
                        _DELIVERIES.c.subscription_id == subscription_id,
                        _DELIVERIES.c.state == "pending",
                    )
                    .values(state="cancelled", claimed_until=None)
                )
        return bool(done)

    def has_subscribers(self, types: Iterable[str] = LEAD_EVENTS) -> bool:
        """Whether an active subscription wants one of ``types``."""
        with self._engine.connect() as conn:
            return bool(subscribers(conn, types))

    # --- the worker's side ------------------------------------------------------------

    def claim_deliveries(self, limit: int, lease_seconds: float) -> list[Claimed]:
        """Take up to ``limit`` due deliveries for ``lease_seconds``, oldest due first.

        PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers in several processes take
        disjoint rows without waiting on each other; SQLite: the write lock
        (``BEGIN IMMEDIATE``) makes the select-and-update one step. A row whose lease
        ran out (its worker died) is due again: delivery is at least once.
        """
        now = self._now()
        d = _DELIVERIES
        due = select(d.c.id).where(
            d.c.state == "pending",
            d.c.next_attempt_at <= now,
            or_(d.c.claimed_until.is_(None), d.c.claimed_until < now),
        )
        # an idle worker polls: a plain read first, so that it takes no write lock
        # (SQLite's is the whole database's) while nothing is due
        with self._engine.connect() as conn:
            if conn.execute(due.limit(1)).first() is None:
                return []
        due = due.order_by(d.c.next_attempt_at, d.c.id).limit(limit)
        with self._write.begin() as conn:
            taken = conn.execute(
                update(d)
                .where(d.c.id.in_(due.with_for_update(skip_locked=True).scalar_subquery()))
                .values(claimed_until=now + timedelta(seconds=lease_seconds))
                .returning(d.c.id, d.c.event_id, d.c.subscription_id, d.c.attempts)
            ).all()
            if not taken:
                return []
            event_ids = sorted({t.event_id for t in taken})
            sub_ids = sorted({t.subscription_id for t in taken})
            events = {
                r["id"]: r
                for r in conn.execute(select(_EVENTS).where(_EVENTS.c.id.in_(event_ids))).mappings()
            }
            subs = {
                r["id"]: _subscription(dict(r))
                for r in conn.execute(select(_SUBS).where(_SUBS.c.id.in_(sub_ids))).mappings()
            }
        return [
            Claimed(
                t.id,
                t.attempts,
                subs[t.subscription_id],
                OutboxEvent(
                    id=t.event_id,
                    type=events[t.event_id]["type"],
                    occurred_at=events[t.event_id]["occurred_at"],
                    payload=dict(events[t.event_id]["payload"]),
                ),
            )
            for t in sorted(taken, key=lambda t: t.id)
        ]

    def record_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """Settle claimed deliveries and append their attempts to the delivery log.

        Only a row still ``pending`` is moved: a slow worker whose lease ran out cannot
        undo another's success.
        """
        if not outcomes:
            return
        d = _DELIVERIES
        # one executemany: every row gets every column (a value it keeps is passed as is)
        settle = (
            update(d)
            .where(d.c.id == bindparam("b_id"), d.c.state == "pending")
            .values(
                state=bindparam("b_state"),
                attempts=bindparam("b_attempts"),
                claimed_until=None,
                last_status=bindparam("b_status"),
                last_error=bindparam("b_error"),
                delivered_at=bindparam("b_delivered_at", type_=d.c.delivered_at.type),
                next_attempt_at=func.coalesce(
                    bindparam("b_next", type_=d.c.next_attempt_at.type), d.c.next_attempt_at
                ),
            )
        )
        rows = [
            {
                "b_id": o.claimed.delivery_id,
                "b_state": "delivered" if o.attempt.ok else ("dead" if o.dead else "pending"),
                "b_attempts": o.claimed.attempts + 1,
                "b_status": o.attempt.status,
                "b_error": None if o.attempt.error is None else o.attempt.error[:255],
                "b_delivered_at": o.at if o.attempt.ok else None,
                "b_next": o.next_attempt_at,
            }
            for o in outcomes
        ]
        with self._write.begin() as conn:
            # an erasure may have deleted some meanwhile (with their events): log the rest
            ids = [o.claimed.delivery_id for o in outcomes]
            alive = set(conn.execute(select(d.c.id).where(d.c.id.in_(ids))).scalars())
            outcomes = [o for o in outcomes if o.claimed.delivery_id in alive]
            if not outcomes:
                return
            conn.execute(settle, [r for r in rows if r["b_id"] in alive])
            conn.execute(
                insert(_ATTEMPTS),
                [
                    {
                        "delivery_id": o.claimed.delivery_id,
                        "attempt": o.claimed.attempts + 1,
                        "at": o.at,
                        "ok": o.attempt.ok,
                        "status": o.attempt.status,
                        "error": None if o.attempt.error is None else o.attempt.error[:255],
                        "duration_ms": round(o.duration_ms, 3),
                    }
                    for o in outcomes
                ],
            )

    # --- the delivery log, replays, model promotions ----------------------------------

    def list_deliveries(
        self,
        *,
        state: str | None = None,
        subscription_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Deliveries, newest first, with their event's type (never its payload)."""
        if not 1 <= limit <= 10_000:
            raise ValueError("limit must be within [1, 10000]")
        if offset < 0:
            raise ValueError("offset must be >= 0")
        d = _DELIVERIES
        query = select(d, _EVENTS.c.type.label("event_type"), _EVENTS.c.lead_id).join(
            _EVENTS, _EVENTS.c.id == d.c.event_id
        )
        if state is not None:
            query = query.where(d.c.state == state)
        if subscription_id is not None:
            query = query.where(d.c.subscription_id == subscription_id)
        query = query.order_by(d.c.id.desc()).limit(limit).offset(offset)
        with self._engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def delivery_attempts(self, delivery_id: int) -> list[dict[str, Any]]:
        """One delivery's attempts, first first (the delivery log)."""
        query = (
            select(_ATTEMPTS)
            .where(_ATTEMPTS.c.delivery_id == delivery_id)
            .order_by(_ATTEMPTS.c.attempt, _ATTEMPTS.c.id)
        )
        with self._engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def delivery_counts(self) -> dict[str, int]:
        """Deliveries per state (``pending``, ``delivered``, ``dead``, ``cancelled``)."""
        d = _DELIVERIES
        with self._engine.connect() as conn:
            rows = conn.execute(select(d.c.state, func.count()).group_by(d.c.state)).all()
        return {state: int(n) for state, n in rows}

    def replay_dead(
        self, *, delivery_ids: Sequence[int] | None = None, subscription_id: str | None = None
    ) -> int:
        """Put dead letters back in the queue (due now, attempts from zero); the count.

        All of them, or those of ``delivery_ids`` / of one subscription. A delivery of a
        deleted subscription stays where it is.
        """
        d = _DELIVERIES
        active = select(_SUBS.c.id).where(_SUBS.c.deleted_at.is_(None))
        query = update(d).where(d.c.state == "dead", d.c.subscription_id.in_(active))
        if delivery_ids is not None:
            query = query.where(d.c.id.in_(list(delivery_ids)))
        if subscription_id is not None:
            query = query.where(d.c.subscription_id == subscription_id)
        with self._write.begin() as conn:
            result = conn.execute(
                query.values(state="pending", attempts=0, next_attempt_at=self._now())
            )
        return int(result.rowcount)

    def record_model_promoted(self, model_name: str, version: str) -> str | None:
        """Write ``model.promoted`` if ``version`` is not the champion last announced.

        The server calls it when it loads a champion (at start and when the alias
        moves). The id is derived from the model, the version and the one announced
        before, so several servers noticing the same move write one event. ``None``:
        nothing new, or nobody subscribes.
        """
        now = self._now()
        with self._write.begin() as conn:
            subs = subscribers(conn, [MODEL_PROMOTED])
            if not subs:
                return None
            last = conn.execute(
                select(_EVENTS.c.payload)
                .where(_EVENTS.c.type == MODEL_PROMOTED)
                .order_by(_EVENTS.c.occurred_at.desc(), _EVENTS.c.id.desc())
            ).scalars()
            previous = next(
                (p.get("version") for p in last if p.get("model_name") == model_name), None
            )
            if previous == version:
                return None
            digest = hashlib.sha256(f"{model_name}\0{version}\0{previous}".encode()).hexdigest()
            event_id = f"evt_model_{digest[:32]}"
            if conn.execute(select(_EVENTS.c.id).where(_EVENTS.c.id == event_id)).first():
                return None
            payload = model_payload(model_name, version, previous)
            write_events(conn, [(MODEL_PROMOTED, None, payload, now)], now, subs, ids=[event_id])
        return event_id
