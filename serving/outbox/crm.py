"""The CRM subscriber kinds and their deliverers, for the delivery worker to dispatch on."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from serving.outbox.amocrm import deliver_amocrm
from serving.outbox.attempt import Attempt
from serving.outbox.bitrix24 import deliver_bitrix24
from serving.outbox.events import OutboxEvent, Subscription

Deliverer = Callable[[Subscription, OutboxEvent, httpx.Client], Attempt]

CRM_DELIVERERS: dict[str, Deliverer] = {
    "amocrm": deliver_amocrm,
    "bitrix24": deliver_bitrix24,
}
"""``Subscription.kind`` → deliverer; the plain ``"webhook"`` kind is the worker's own."""

__all__ = ["CRM_DELIVERERS", "Deliverer"]
