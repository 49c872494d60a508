"""Score write-back into Bitrix24 leads: ``crm.lead.update`` through an incoming webhook.

The request, as Bitrix24 documents it (pages cited in docs/crm-write-back.md): ``POST
<webhook URL>crm.lead.update.json`` with the JSON body ``{"id": N, "fields": {"UF_CRM_…":
value, ...}, "params": {"REGISTER_SONET_EVENT": "N"}}``; the webhook URL
``https://<portal>/rest/<user id>/<code>/`` is the credential, so there is no header to
send. ``"N"``: a score update is not news for the activity stream, and must not notify
the lead's owner on every re-score. Answers: 200 ``{"result": true, "time": {...}}``;
otherwise ``{"error": CODE, "error_description": ...}`` with a 4xx/5xx status:
503 ``QUERY_LIMIT_EXCEEDED`` (the leaky bucket overflowed) and 429
``OPERATION_TIME_LIMIT`` (method blocked for its execution time) and 500 are retried;
401 (``INVALID_CREDENTIALS``, ``expired_token``, ``NO_AUTH_FOUND``, ``insufficient_scope``
...), 400 (``Not found``, ``ID is not defined or invalid``), 403 and 404
(``ERROR_METHOD_NOT_FOUND``) fail permanently, with what to fix.

The client sends at most 2 requests a second per portal (the drain rate of ordinary
plans; :mod:`serving.outbox.crm_limits`), so it never fills the bucket.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from serving.outbox.attempt import Attempt
from serving.outbox.crm_limits import BITRIX24_MAX_PER_SECOND, parse_retry_after, window_for
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
METHOD = "crm.lead.update.json"
USER_FIELD = re.compile(r"^UF_CRM_[A-Z0-9_]+$")
_WEBHOOK_PATH = re.compile(r"^/rest/\d+/[^/\s]+/$")

_AUTH_ERRORS: dict[str, str] = {
    "INVALID_CREDENTIALS": "no active incoming webhook with this user and code (deleted, "
    "or a wrong URL); create one with the crm scope and update the subscription's url",
    "NO_AUTH_FOUND": "the URL carries no webhook code; use the full incoming-webhook URL",
    "expired_token": "the access token has expired; an incoming webhook's code does not "
    "expire, so use the incoming-webhook URL",
    "insufficient_scope": "the webhook lacks the crm scope; grant it in the webhook's settings",
    "ACCESS_DENIED": "REST API is not available on this portal's plan",
    "OVERLOAD_LIMIT": "REST API blocked for overload by Bitrix24 support; ask them to lift it",
    "user_access_error": "the webhook's user has no access",
    "INVALID_REQUEST": "Bitrix24 requires https",
}


def webhook_url(url: str) -> str:
    """The incoming-webhook URL ending in ``/``; anything else is a configuration error."""
    text = url.strip()
    if not text.endswith("/"):
        text += "/"
    parts = urlsplit(text)
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.query
        or not _WEBHOOK_PATH.match(parts.path)
    ):
        raise CrmConfigError(
            "url must be the incoming-webhook URL https://<portal>/rest/<user id>/<code>/"
        )
    return text


def request_body(payload: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """``{"id": N, "fields": {UF_CRM_…: value}, "params": {"REGISTER_SONET_EVENT": "N"}}``."""
    names = field_map(options)
    for name, code in names.items():
        if not isinstance(code, str) or not USER_FIELD.match(code):
            raise CrmConfigError(
                f"options.fields.{name} must be a lead user field code, UF_CRM_<NAME>"
            )
    values = field_values(payload, options)
    return {
        "id": crm_lead_id(payload),
        "fields": {names[name]: value for name, value in values.items()},
        "params": {"REGISTER_SONET_EVENT": "N"},
    }


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("error_description") or "")[:200]


def outcome(response: httpx.Response, lead: int) -> Attempt:
    """What Bitrix24's answer means for the outbox (see the module's docstring)."""
    status = response.status_code
    code, description = _error(response)
    if status == 200 and not code:
        try:
            done = response.json().get("result") is True
        except (ValueError, AttributeError):
            done = False
        if done:
            return Attempt(ok=True, status=status, retry_after=None, error=None)
        return Attempt(
            False, status, None, "Bitrix24: answered 200 without result true", permanent=True
        )
    if status == 503 or code == "QUERY_LIMIT_EXCEEDED":
        wait = parse_retry_after(response.headers.get("retry-after"), 1.0)
        return Attempt(False, status, wait, "Bitrix24: QUERY_LIMIT_EXCEEDED, retrying")
    if status == 429 or code == "OPERATION_TIME_LIMIT":
        wait = parse_retry_after(response.headers.get("retry-after"), 60.0)
        return Attempt(False, status, wait, "Bitrix24: OPERATION_TIME_LIMIT, retrying")
    if status >= 500:
        return Attempt(False, status, None, f"Bitrix24: server error {status} {code}, retrying")
    if code in _AUTH_ERRORS or status == 401:
        hint = _AUTH_ERRORS.get(code, "the webhook is not accepted")
        error = f"Bitrix24: {status} {code or 'Unauthorized'} — {hint}"
    elif code == "ERROR_NOT_FOUND" or description.lower().startswith("not found"):
        error = f"Bitrix24: {status} — no lead {lead} on this portal"
    elif code == "ERROR_METHOD_NOT_FOUND" or status == 404:
        error = "Bitrix24: 404 method not found — the URL is not a REST webhook with crm scope"
    else:
        error = f"Bitrix24: {status} {code} {description}".rstrip()
    return Attempt(False, status, None, error, permanent=True)


def deliver_bitrix24(
    subscription: Subscription, event: OutboxEvent, client: httpx.Client
) -> Attempt:
    """Write the event's score into the lead's ``UF_CRM_*`` fields; other events are done.

    The CRM lead is ``payload["crm_id"]`` if present, else ``payload["lead_id"]``.
    """
    if event.type not in LEAD_EVENTS:
        return Attempt(ok=True, status=None, retry_after=None, error=None)
    options = subscription.options
    try:
        url = webhook_url(subscription.url)
        body = request_body(event.payload, options)
        max_wait = float(options.get("max_wait", DEFAULT_MAX_WAIT))
    except (ValueError, TypeError) as exc:  # CrmConfigError is a ValueError
        return Attempt(False, None, None, f"Bitrix24: {exc}", permanent=True)
    if not body["fields"]:
        return Attempt(ok=True, status=None, retry_after=None, error=None)
    window = window_for("bitrix24", urlsplit(url).netloc, BITRIX24_MAX_PER_SECOND)
    if not window.acquire(max_wait):
        return Attempt(False, None, 1.0, "Bitrix24: over 2 requests a second queued here")
    try:
        response = client.post(
            url + METHOD, json=body, timeout=float(options.get("timeout", DEFAULT_TIMEOUT))
        )
    except httpx.HTTPError as exc:
        return Attempt(False, None, None, f"Bitrix24: no answer ({type(exc).__name__}), retrying")
    return outcome(response, int(body["id"]))


__all__ = ["deliver_bitrix24", "outcome", "request_body", "webhook_url"]
