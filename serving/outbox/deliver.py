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

import httpx

from serving.outbox.attempt import MAX_RETRY_AFTER, Attempt, retry_after_seconds
from serving.outbox.crm import CRM_DELIVERERS
from serving.outbox.events import OutboxEvent, Subscription, envelope
from serving.outbox.signing import headers

USER_AGENT = "leadscore-webhooks/1"
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 410, 413, 422})
"""Answers that a retry will not change: the delivery goes to the dead letter at once
(after the target is fixed, ``leadscore webhooks replay`` sends it again)."""


Deliverer = Callable[[Subscription, OutboxEvent, httpx.Client], Attempt]


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


DELIVERERS: dict[str, Deliverer] = {"webhook": deliver_webhook, **CRM_DELIVERERS}
"""A subscription's ``kind`` → its deliverer: the signed webhook, amoCRM and Bitrix24."""

__all__ = [
    "DELIVERERS",
    "MAX_RETRY_AFTER",
    "Attempt",
    "Deliverer",
    "attempt_from_response",
    "deliver_webhook",
    "retry_after_seconds",
]
