"""What a subscriber asked for and what happened: :class:`Subscription`, :class:`OutboxEvent`.

The shapes the delivery worker (issue 16, item 1) hands to every deliverer, plain webhook
or CRM write-back alike, so that a deliverer never reads the database itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Subscription:
    """One subscriber: where events go, which ones, and how to sign in there.

    ``kind``: ``"webhook"`` | ``"amocrm"`` | ``"bitrix24"``. ``url``: the receiver; for
    amoCRM the account address ``https://<subdomain>.amocrm.ru``, for Bitrix24 the
    incoming-webhook URL ``https://<portal>/rest/<user>/<code>/``. ``secret``: the signing
    secret of a webhook, amoCRM's long-lived access token (sent as Bearer); unused by
    Bitrix24, whose code is in the URL. ``options``: per kind (the CRM field map, see
    docs/crm-write-back.md).
    """

    id: str
    kind: str
    url: str
    events: tuple[str, ...]
    secret: str
    options: dict[str, Any]


@dataclass(frozen=True)
class OutboxEvent:
    """One event written to the outbox in the transaction that caused it."""

    id: str
    type: str
    occurred_at: datetime
    payload: dict[str, Any]
