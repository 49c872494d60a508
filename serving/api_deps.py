"""What the API's routes depend on: the app's state as FastAPI dependencies, the roles,
and the error answers every route documents.

These are ``async`` although they never await: FastAPI runs a plain ``def`` dependency
in the thread pool, a hop that costs more than the attribute lookup itself on every
request. Nothing here may block.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from scoring.settings import Settings
from serving.auth import Principal, Role, require_roles
from serving.model_loading import LoadedModel
from serving.schemas import ErrorResponse
from serving.storage import Store

Scorer = Annotated[Principal, Depends(require_roles(Role.SCORER))]
Sales = Annotated[Principal, Depends(require_roles(Role.SALES))]
Reader = Annotated[Principal, Depends(require_roles(Role.SCORER, Role.SALES, Role.MARKETING))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or invalid API key"},
    403: {"model": ErrorResponse, "description": "the key's role may not do this"},
    429: {
        "model": ErrorResponse,
        "description": "too many failed authentications; wait `Retry-After` seconds",
    },
    413: {"model": ErrorResponse, "description": "request body too large"},
    422: {"model": ErrorResponse, "description": "invalid input; `detail` names each field"},
    503: {
        "model": ErrorResponse,
        "description": "the database is busy or unreachable; try again after `Retry-After` seconds",
    },
}
"""Answers any route may give: the key check (401/403/429), the body limit, validation,
and a database that cannot answer now."""

NO_MODEL: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorResponse,
        "description": "no model loaded yet (see `/readyz`), or the database is busy",
    },
}
"""What a route that needs the served model answers before one is loaded."""

NO_DECISION: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no decision stored for this lead"},
}


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def request_time(request: Request) -> datetime:
    """When the request arrived, by the server's clock (``app.state.clock``).

    The default scoring moment and the bound on every time a request carries (see
    :func:`~serving.future_times.times_after`). A dependency, so tests set the clock.
    """
    return request.app.state.clock()


async def get_model(request: Request) -> LoadedModel:
    model = request.app.state.models.current
    if model is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no model loaded yet")
    return model


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
Arrival = Annotated[datetime, Depends(request_time)]
