"""The admin API of score push: subscriptions, the delivery log, dead-letter replays.

Admin only: a subscription decides where lead scores go. The secret is shown once, in
the answer that creates the subscription; listings never show it. Errors name the
field (``url``, ``events``, ``secret``, ``kind``) and never echo a value.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import Field

from serving.api_deps import Admin, StoreDep
from serving.json_body import CheckedJSONRoute
from serving.outbox.events import EVENT_TYPES
from serving.schemas import ErrorResponse, Strict
from serving.tables import DELIVERY_STATES, SUBSCRIPTION_KINDS

log = logging.getLogger("leadscore.webhooks")

# every body is read after the key check, and an unreadable one is a 422 naming why
router = APIRouter(prefix="/v1/admin/webhooks", tags=["admin"], route_class=CheckedJSONRoute)

_NO_SUBSCRIPTION: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no active subscription with this id"}
}

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
Kind = Literal[SUBSCRIPTION_KINDS]  # type: ignore[valid-type]
State = Literal[DELIVERY_STATES]  # type: ignore[valid-type]


class SubscriptionRequest(Strict):
    """A new subscription: where, which events, and (optionally) its secret."""

    url: str = Field(max_length=2048, description="http(s) URL the events are POSTed to.")
    events: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))
    secret: str | None = Field(
        default=None,
        max_length=4096,  # an amoCRM long-lived token is a JWT of several hundred bytes
        description="kind webhook: signing secret `whsec_<base64>` (24-64 bytes), default "
        "a new one; amocrm: the account's long-lived access token; bitrix24: unused "
        "(the token is in the incoming-webhook URL).",
    )
    kind: Kind = "webhook"
    options: dict[str, Any] = Field(
        default_factory=dict, description="Adapter settings (CRM field ids); empty for webhooks."
    )
    description: str | None = Field(default=None, max_length=128)


MAX_ID = 2**31 - 1
"""Delivery ids are 32-bit integers (the ``Integer`` column on PostgreSQL)."""

DeliveryId = Annotated[int, Field(ge=1, le=MAX_ID)]


class ReplayRequest(Strict):
    """Which dead letters to send again: the listed ones, one subscription's, or all."""

    delivery_ids: list[DeliveryId] | None = Field(default=None, max_length=10_000)
    subscription_id: str | None = Field(default=None, max_length=32)


def _field_error(exc: ValueError) -> RequestValidationError:
    """A store ``ValueError`` (it starts with the field's name) as a 422 naming it."""
    message = str(exc)
    field = message.split(" ", 1)[0]
    return RequestValidationError(
        [{"loc": ("body", field), "msg": message, "type": "value_error", "input": None}]
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_subscription(
    body: SubscriptionRequest, request: Request, store: StoreDep, principal: Admin
) -> dict[str, Any]:
    """Subscribe a URL to events; the answer is the only place its secret is shown."""
    try:
        made = store.create_subscription(
            body.url,
            list(body.events),
            actor=principal.name,
            secret=body.secret,
            kind=body.kind,
            options=body.options,
            description=body.description,
        )
    except ValueError as exc:
        raise _field_error(exc) from None
    request.app.state.subscribers.refresh()  # this server's scores wait for commits now
    return made


@router.get("")
def list_subscriptions(
    store: StoreDep,
    _: Admin,
    include_deleted: Annotated[bool, Query(description="Also the deleted ones")] = False,
) -> list[dict[str, Any]]:
    """The subscriptions (never their secrets)."""
    return store.list_subscriptions(include_deleted=include_deleted)


@router.delete(
    "/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NO_SUBSCRIPTION
)
def delete_subscription(
    subscription_id: Annotated[str, Path(max_length=32, pattern=r"^[0-9a-f]+$")],
    request: Request,
    store: StoreDep,
    _: Admin,
) -> Response:
    """Stop a subscription; its undelivered events are cancelled, its log kept."""
    if not store.delete_subscription(subscription_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no active subscription with this id")
    request.app.state.subscribers.refresh()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/deliveries")
def list_deliveries(
    store: StoreDep,
    _: Admin,
    state: State | None = None,
    subscription_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[dict[str, Any]]:
    """Deliveries, newest first: state, attempts, last answer, next try (no payloads)."""
    return store.list_deliveries(
        state=state, subscription_id=subscription_id, limit=limit, offset=offset
    )


@router.get("/deliveries/{delivery_id}/attempts")
def delivery_attempts(
    delivery_id: Annotated[int, Path(ge=1, le=MAX_ID)], store: StoreDep, _: Admin
) -> list[dict[str, Any]]:
    """The delivery log of one delivery: every attempt, its answer and duration."""
    return store.delivery_attempts(delivery_id)


@router.post("/deliveries/replay")
def replay(body: ReplayRequest, store: StoreDep, _: Admin) -> dict[str, int]:
    """Send dead letters again (attempts start over): the listed, one subscription's, or all."""
    count = store.replay_dead(delivery_ids=body.delivery_ids, subscription_id=body.subscription_id)
    return {"replayed": count}


def announce_champion(app: FastAPI) -> None:
    """``model.promoted`` for the champion now served, if not announced yet.

    The server announces what it notices (at start, and when the alias is seen to move:
    the poller, ``/v1/admin/reload``, ``/v1/admin/promote``), whichever way it moved:
    ``leadscore promote``, a retrain, MLflow's UI. Never fails the caller.
    """
    version = app.state.models.version
    if version is None:
        return
    try:
        app.state.store.record_model_promoted(app.state.settings.model_name, version)
    except Exception as exc:
        log.error("could not record model.promoted: %s", exc.__class__.__name__)


async def announce_champion_async(app: FastAPI) -> None:
    await run_in_threadpool(announce_champion, app)
