"""What a subscriber receives: the event types, their payloads, and the two values the
deliverers work on (:class:`Subscription`, :class:`OutboxEvent`).

Payloads carry ids, scores, decisions and reason codes and texts: never a lead's name,
e-mail or phone (those are not in the decision log either), never a feedback comment.
The envelope is the one the Standard Webhooks specification suggests:
``{"type": ..., "timestamp": ..., "data": {...}}``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scoring.contract import HandoffDecision
from scoring.policy import BANDS

THRESHOLD_CROSSED = "lead.threshold_crossed"
DECISION_CHANGED = "lead.decision_changed"
FEEDBACK_RECORDED = "feedback.recorded"
MODEL_PROMOTED = "model.promoted"

EVENT_TYPES: tuple[str, ...] = (
    THRESHOLD_CROSSED,
    DECISION_CHANGED,
    FEEDBACK_RECORDED,
    MODEL_PROMOTED,
)
"""Every event a subscription may ask for."""

LEAD_EVENTS: frozenset[str] = frozenset({THRESHOLD_CROSSED, DECISION_CHANGED})
"""The events a new decision may cause (the decision writer looks for them only when
a subscription wants one)."""

TOP_REASONS = 3
"""Reasons each way a lead event carries (the strongest, as the decision log keeps them)."""

_HAND = HandoffDecision.HAND_TO_SALES.value
_BAND = {decision.value: index for index, decision in enumerate(BANDS)}


@dataclass(frozen=True)
class Subscription:
    """A subscriber: where to deliver (``url``), what (``events``), how (``kind``).

    ``kind`` picks the deliverer (``serving.outbox.deliver.DELIVERERS``); ``options``
    holds what a CRM adapter needs (its field ids), empty for a plain webhook.
    """

    id: str
    kind: str
    url: str
    events: tuple[str, ...]
    secret: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboxEvent:
    """One event: ``id`` is the ``webhook-id`` that stays the same across retries."""

    id: str
    type: str
    occurred_at: datetime
    payload: dict[str, Any]


def new_event_id() -> str:
    """A fresh event id (``evt_`` and 32 hex digits of a random UUID)."""
    return f"evt_{uuid.uuid4().hex}"


def envelope(event: OutboxEvent) -> bytes:
    """The request body of ``event``: compact JSON, keys sorted (the signature covers it)."""
    document = {
        "type": event.type,
        "timestamp": event.occurred_at.isoformat(),
        "data": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _top_reasons(reasons: Any) -> list[dict[str, Any]]:
    """The strongest reasons each way as ``code``, ``text``, ``direction`` (no raw values)."""
    picked: list[dict[str, Any]] = []
    if not isinstance(reasons, list):
        return picked
    for direction, positive in (("positive", True), ("negative", False)):
        side = [
            r
            for r in reasons
            if isinstance(r, Mapping) and (float(r.get("contribution") or 0.0) > 0) == positive
        ]
        side.sort(key=lambda r: abs(float(r.get("contribution") or 0.0)), reverse=True)
        picked += [
            {"code": r.get("code"), "text": r.get("text"), "direction": direction}
            for r in side[:TOP_REASONS]
        ]
    return picked


def lead_payload(row: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The payload of a lead event: the new decision, and the one it replaced (if any)."""
    decision = str(row["decision"])
    return {
        "lead_id": row["lead_id"],
        "decision_id": row["id"],
        "request_id": row["request_id"],
        "scored_at": row["scored_at"].isoformat(),
        "as_of": row["as_of"].isoformat(),
        "p_sql": row.get("p_sql"),
        "p_won": row["p_won"],
        "decision": decision,
        "band": _BAND.get(decision),
        "threshold": row["threshold"],
        "model_name": row["model_name"],
        "model_version": row["model_version"],
        "reasons": _top_reasons(row.get("reasons")),
        "previous_decision": None if previous is None else previous["decision"],
        "previous_p_won": None if previous is None else previous["p_won"],
        "previous_decision_id": None if previous is None else previous["id"],
    }


def lead_events(
    row: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> list[tuple[str, dict[str, Any]]]:
    """The events a new decision ``row`` causes after ``previous`` (the lead's last one).

    A *crossing* is a move into or out of ``hand_to_sales`` (the threshold, the way
    ``leadscore rescore`` counts them); a lead's first score crosses when it is a
    hand-over (from nothing, direction ``up``). A *decision change* needs a previous
    decision that differs (``nurture`` → ``disqualify`` is one, but no crossing).
    """
    events: list[tuple[str, dict[str, Any]]] = []
    before = None if previous is None else str(previous["decision"])
    after = str(row["decision"])
    if (after == _HAND) != (before == _HAND):
        payload = lead_payload(row, previous)
        payload["direction"] = "up" if after == _HAND else "down"
        events.append((THRESHOLD_CROSSED, payload))
    if before is not None and before != after:
        events.append((DECISION_CHANGED, lead_payload(row, previous)))
    return events


def feedback_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """The payload of ``feedback.recorded``: what sales said, never the comment."""
    return {
        "feedback_id": row["id"],
        "lead_id": row["lead_id"],
        "kind": row["kind"],
        "reason": row.get("reason"),
        "at": row["at"].isoformat(),
        "received_at": row["received_at"].isoformat(),
        "amount": row.get("amount"),
        "decision_id": row.get("decision_id"),
        "implied": bool(row.get("implied")),
    }


def model_payload(name: str, version: str, previous_version: str | None) -> dict[str, Any]:
    """The payload of ``model.promoted``: the champion now served, and the one before."""
    return {"model_name": name, "version": version, "previous_version": previous_version}
