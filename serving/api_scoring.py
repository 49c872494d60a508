"""The scoring routes: ``POST /v1/score`` and ``POST /v1/score/batch``.

A function builds their router because the batch route's documented limit
(``maxItems``) is a setting. Scored leads are answered at once; their decision-log rows
are built and written on the decision log's thread.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from scoring.settings import Settings
from serving.api_deps import NO_MODEL, Arrival, ModelDep, Scorer, SettingsDep
from serving.decision_log import DecisionLog, build_rows, now
from serving.json_body import CheckedJSONRoute
from serving.model_loading import LoadedModel
from serving.observability import Metrics
from serving.schemas import (
    BatchRequest,
    BatchResponse,
    Lead,
    ScoreRequest,
    ScoreResponse,
    times_after,
)
from serving.score_answer import build_results
from serving.vocabularies import attribute_band_errors


def score_leads(
    model: LoadedModel,
    leads: Sequence[Lead],
    as_of: Sequence[datetime],
    reasons: int,
    request_id: str,
    decision_log: DecisionLog,
) -> list[dict[str, Any]]:
    """Score leads; return the API results and queue their decision-log rows.

    The rows are built on the decision log's thread from the same records, scores and
    results (none of which change afterwards), stamped with this moment as ``scored_at``.
    """
    records = [lead.record() for lead in leads]
    scores = model.scorer.score_records(records, as_of, reasons=reasons)
    scored_at = now()
    results = build_results(
        model.scorer, records, as_of, scores, model.name, model.version, request_id
    )
    decision_log.submit_lazy(
        len(records),
        functools.partial(
            build_rows,
            model.scorer,
            records,
            as_of,
            scores,
            results,
            model.name,
            model.version,
            request_id,
            scored_at,
        ),
    )
    return results


def _observe(app: FastAPI, results: list[dict[str, Any]]) -> None:
    metrics: Metrics = app.state.metrics
    decisions: dict[str, int] = {}  # one counter update per decision kind, not per lead
    for result in results:
        decisions[result["decision"]] = decisions.get(result["decision"], 0) + 1
        metrics.scores.observe(result["p_won"])
        for field in result["unseen_categories"]:
            metrics.unseen.labels(field).inc()
    for decision, n in decisions.items():
        metrics.decisions.labels(decision).inc(n)


def _component_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema for ``openapi_extra``: nested models point into components.

    They are there because other endpoints take them (``ScoreRequest`` by
    ``/v1/score``); a test checks every ``$ref`` of the OpenAPI document resolves.
    """
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


def _batch_schema(settings: Settings) -> dict[str, Any]:
    """``BatchRequest``'s schema with the server's batch limit (a setting) as ``maxItems``."""
    schema = _component_schema(BatchRequest)
    leads = schema["properties"]["leads"]
    leads["maxItems"] = settings.batch_max_leads
    leads["description"] = f"At most {settings.batch_max_leads} leads (LEADSCORE_BATCH_MAX_LEADS)."
    return schema


def refuse_future_times(body: BaseModel, arrival: datetime, settings: Settings) -> None:
    """A 422 naming each time in ``body`` later than the arrival plus the allowed skew."""
    late = times_after(body, arrival, settings.clock_skew)
    if late:
        raise RequestValidationError(late)


def refuse_unknown_bands(
    model: LoadedModel, leads: Sequence[Lead], loc: Sequence[tuple[Any, ...]]
) -> None:
    """A 422 naming each ordered attribute outside the served model's levels (with them)."""
    errors = attribute_band_errors(model.scorer.spec, [lead.attributes for lead in leads], loc)
    if errors:
        raise RequestValidationError(errors)


def _score_batch(
    raw: bytes,
    arrival: datetime,
    model: LoadedModel,
    settings: Settings,
    decision_log: DecisionLog,
    app: FastAPI,
) -> JSONResponse:
    try:
        body = BatchRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False)) from None
    if len(body.leads) > settings.batch_max_leads:
        return JSONResponse(
            {
                "detail": [
                    {
                        "field": "leads",
                        "message": f"at most {settings.batch_max_leads} leads per batch",
                    }
                ]
            },
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    refuse_future_times(body, arrival, settings)
    refuse_unknown_bands(model, body.leads, [("leads", i) for i in range(len(body.leads))])
    request_id = uuid.uuid4().hex
    default_as_of = body.as_of or arrival
    as_of = [lead.as_of or default_as_of for lead in body.leads]
    k = settings.top_reasons if body.reasons else 0
    results = score_leads(model, body.leads, as_of, k, request_id, decision_log)
    _observe(app, results)
    return JSONResponse({"request_id": request_id, "results": results})


# ``async`` on purpose: one lead scores in about a millisecond of CPU, less than the
# thread-pool hop a plain ``def`` endpoint costs. Batches stay in the thread pool.
async def score(
    body: ScoreRequest,
    request: Request,
    model: ModelDep,
    settings: SettingsDep,
    arrival: Arrival,
    _: Scorer,
    reasons: Annotated[int | None, Query(ge=0, le=20, description="Top reasons each way")] = None,
) -> JSONResponse:
    """Score one lead: calibrated P(SQL) and P(won), the handoff decision and why."""
    refuse_future_times(body, arrival, settings)
    refuse_unknown_bands(model, [body], [()])
    request_id = uuid.uuid4().hex
    k = settings.top_reasons if reasons is None else reasons
    results = score_leads(
        model, [body], [body.as_of or arrival], k, request_id, request.app.state.decision_log
    )
    _observe(request.app, results)
    return JSONResponse(results[0])


async def score_batch(
    request: Request,
    model: ModelDep,
    settings: SettingsDep,
    arrival: Arrival,
    _: Scorer,
) -> JSONResponse:
    """Score up to ``batch_max_leads`` leads at once (vectorised); reasons on request.

    The body (a ``BatchRequest``) is parsed by pydantic straight from the JSON bytes,
    after the key is checked: for a 1,000-lead batch that skips a ``json.loads`` of
    the ~1 MB body, a tenth of the request's time.
    """
    raw = await request.body()
    return await run_in_threadpool(
        _score_batch,
        raw,
        arrival,
        model,
        settings,
        request.app.state.decision_log,
        request.app,
    )


def scoring_router(settings: Settings) -> APIRouter:
    """The two scoring routes, the batch limit of ``settings`` in the batch's schema."""
    router = APIRouter(route_class=CheckedJSONRoute)
    router.add_api_route(
        "/v1/score",
        score,
        methods=["POST"],
        response_model=ScoreResponse,
        tags=["scoring"],
        responses=NO_MODEL,
    )
    router.add_api_route(
        "/v1/score/batch",
        score_batch,
        methods=["POST"],
        response_model=BatchResponse,
        tags=["scoring"],
        responses=NO_MODEL,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _batch_schema(settings)}},
            }
        },
    )
    return router
