"""One attempt to deliver one event to one subscriber, and the interface adapters plug into.

A deliverer is a function ``(subscription, event, client) -> Attempt``: it makes its
request(s) with the worker's ``httpx.Client`` and says how it went; the worker does the
rest (the delivery log, back-off, the dead letter). :data:`DELIVERERS` maps a
subscription's ``kind`` to its deliverer: the plain signed webhook here, the CRM
adapters (amoCRM, Bitrix24) add theirs. A deliverer must not raise for what a target
answers; an exception is logged as a failed attempt (retried) by its class name only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from serving.outbox.events import OutboxEvent, Subscription, envelope
from serving.outbox.signing import headers

USER_AGENT = "leadscore-webhooks/1"
MAX_RETRY_AFTER = 3600.0
"""The longest ``Retry-After`` honoured (seconds): a target cannot park events for days."""

PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 410, 413, 422})
"""Answers that a retry will not change: the delivery goes to the dead letter at once
(after the target is fixed, ``leadscore webhooks replay`` sends it again)."""


@dataclass(frozen=True)
class Attempt:
    """How one delivery attempt went."""

    ok: bool  # delivered (2xx)
    status: int | None  # HTTP status, None if no answer
    retry_after: float | None  # seconds the target asked to wait (Retry-After / 429), else None
    error: str | None  # short text for the delivery log, never PII
    permanent: bool = False  # True: do not retry (e.g. 400/401/404 from the target) → dead letter


Deliverer = Callable[[Subscription, OutboxEvent, httpx.Client], Attempt]


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (a number of seconds or an HTTP date), capped; else None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
        seconds = when - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def attempt_from_response(response: httpx.Response) -> Attempt:
    """An :class:`Attempt` from a target's answer: 2xx ok, listed 4xx permanent, else retry."""
    status = response.status_code
    if 200 <= status < 300:
        return Attempt(ok=True, status=status, retry_after=None, error=None)
    wait = retry_after_seconds(response.headers.get("retry-after"))
    permanent = status in PERMANENT_STATUSES
    return Attempt(
        ok=False, status=status, retry_after=wait, error=f"HTTP {status}", permanent=permanent
    )


def attempt_from_error(exc: httpx.HTTPError) -> Attempt:
    """An :class:`Attempt` for a request that got no answer (refused, timed out, ...)."""
    return Attempt(ok=False, status=None, retry_after=None, error=exc.__class__.__name__)


def deliver_webhook(
    subscription: Subscription, event: OutboxEvent, client: httpx.Client
) -> Attempt:
    """POST the event to the subscription's URL, signed per Standard Webhooks.

    A fresh ``webhook-timestamp`` (and so signature) per attempt, the same ``webhook-id``
    across attempts, as the specification says; redirects are not followed (a moved
    endpoint answers 3xx, retried, until the subscription is fixed).
    """
    body = envelope(event)
    signed = headers(subscription.secret, event.id, int(time.time()), body)
    try:
        response = client.post(
            subscription.url,
            content=body,
            headers={
                **signed,
                "content-type": "application/json",
                "user-agent": USER_AGENT,
            },
        )
    except httpx.HTTPError as exc:
        return attempt_from_error(exc)
    return attempt_from_response(response)


DELIVERERS: dict[str, Deliverer] = {"webhook": deliver_webhook}
"""A subscription's ``kind`` → its deliverer (the CRM adapters register theirs here)."""
