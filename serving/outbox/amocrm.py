"""Score write-back into amoCRM leads (API v4): one ``PATCH /api/v4/leads/{id}`` per event.

The request, as amoCRM documents it (pages cited in docs/crm-write-back.md): the body is
``{"custom_fields_values": [{"field_id": N, "values": [{"value": V}]}, ...]}``, sent with
``Authorization: Bearer <long-lived token>`` to the account's own address
(``https://<subdomain>.amocrm.ru``). Answers: 200 with the lead's id; 400 with
``validation-errors`` (a field id the account lacks, a value the field refuses); 401 when
the token is expired, revoked or wrong; 403 when the account refuses this address;
429 past 7 requests a second. Only 429, 5xx and network faults are worth retrying: the
others say the subscription itself is wrong, so they fail permanently with a message
that says what to fix, and the outbox dead-letters the event for a replay once fixed.

The client keeps under 7 requests a second per account itself
(:mod:`serving.outbox.crm_limits`), so a burst of threshold crossings queues here
instead of being refused there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from serving.outbox.attempt import Attempt
from serving.outbox.crm_limits import AMOCRM_MAX_PER_SECOND, parse_retry_after, window_for
from serving.outbox.crm_values import (
    LEAD_EVENTS,
    CrmConfigError,
    crm_lead_id,
    field_map,
    field_values,
)
from serving.outbox.events import OutboxEvent, Subscription

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_WAIT = 10.0
"""Longest wait for a slot under the rate limit before giving the event back to the worker."""


def account_url(url: str) -> str:
    """``scheme://host[:port]`` of the account; a path, query or missing host is an error."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CrmConfigError("url must be the account's address, https://<subdomain>.amocrm.ru")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise CrmConfigError(
            "url must be the account's address only (https://<subdomain>.amocrm.ru), without a path"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _token(secret: str) -> str:
    token = secret.strip()
    if not token or any(c.isspace() for c in token):
        raise CrmConfigError(
            "secret must be the account's long-lived access token (one line, no spaces)"
        )
    return token


def request_body(payload: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """``{"custom_fields_values": [...]}`` for the mapped fields the payload has."""
    ids = field_map(options)
    for name, field_id in ids.items():
        if isinstance(field_id, bool) or not isinstance(field_id, int) or field_id <= 0:
            raise CrmConfigError(f"options.fields.{name} must be an amoCRM field id (integer)")
    values = field_values(payload, options)
    return {
        "custom_fields_values": [
            {"field_id": ids[name], "values": [{"value": value}]} for name, value in values.items()
        ]
    }


def _validation_summary(response: httpx.Response) -> str:
    """The codes and paths of amoCRM's ``validation-errors`` (not the values sent)."""
    try:
        body = response.json()
    except ValueError:
        return "no details"
    found = []
    for entry in body.get("validation-errors", []) if isinstance(body, dict) else []:
        for error in entry.get("errors", []) if isinstance(entry, dict) else []:
            if isinstance(error, dict):
                found.append(f"{error.get('code', '?')} at {error.get('path', '?')}")
    return "; ".join(found) if found else str(body.get("detail", "no details"))[:200]


def outcome(response: httpx.Response, lead: int) -> Attempt:
    """What amoCRM's answer means for the outbox (see the module's docstring)."""
    status = response.status_code
    if 200 <= status < 300:
        return Attempt(ok=True, status=status, retry_after=None, error=None)
    if status == 429:
        wait = parse_retry_after(response.headers.get("retry-after"), 1.0)
        return Attempt(False, status, wait, "amoCRM: too many requests (429), retrying")
    if status >= 500:
        return Attempt(False, status, None, f"amoCRM: server error {status}, retrying")
    if status == 401:
        error = (
            "amoCRM: 401 Unauthorized — the access token is expired, revoked or wrong; "
            "generate a new long-lived token (the integration's Keys and scopes tab) and "
            "put it in the subscription's secret, then replay"
        )
    elif status == 403:
        error = (
            "amoCRM: 403 Forbidden — the account refuses this address (IP allow-list) or "
            "has blocked the integration"
        )
    elif status == 400:
        error = f"amoCRM: 400 request validation failed: {_validation_summary(response)}"
    elif status == 404:
        error = f"amoCRM: 404 — no lead {lead} in this account (or a wrong account URL)"
    else:
        error = f"amoCRM: refused the update ({status})"
    return Attempt(False, status, None, error, permanent=True)


def deliver_amocrm(subscription: Subscription, event: OutboxEvent, client: httpx.Client) -> Attempt:
    """Write the event's score into the lead's custom fields; other events are done at once.

    The CRM lead is ``payload["crm_id"]`` if present, else ``payload["lead_id"]``.
    """
    if event.type not in LEAD_EVENTS:
        return Attempt(ok=True, status=None, retry_after=None, error=None)
    options = subscription.options
    try:
        base = account_url(subscription.url)
        token = _token(subscription.secret)
        lead = crm_lead_id(event.payload)
        body = request_body(event.payload, options)
        max_wait = float(options.get("max_wait", DEFAULT_MAX_WAIT))
    except (ValueError, TypeError) as exc:  # CrmConfigError is a ValueError
        return Attempt(False, None, None, f"amoCRM: {exc}", permanent=True)
    if not body["custom_fields_values"]:
        return Attempt(ok=True, status=None, retry_after=None, error=None)
    window = window_for("amocrm", urlsplit(base).netloc, AMOCRM_MAX_PER_SECOND)
    if not window.acquire(max_wait):
        return Attempt(False, None, 1.0, "amoCRM: over 7 requests a second queued here")
    try:
        response = client.patch(
            f"{base}/api/v4/leads/{lead}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=float(options.get("timeout", DEFAULT_TIMEOUT)),
        )
    except httpx.HTTPError as exc:
        return Attempt(False, None, None, f"amoCRM: no answer ({type(exc).__name__}), retrying")
    return outcome(response, lead)


__all__ = ["account_url", "deliver_amocrm", "outcome", "request_body"]
