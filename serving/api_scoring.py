"""The scoring routes: ``POST /v1/score`` and ``POST /v1/score/batch``.

A function builds their router because the batch route's documented limit
(``maxItems``) is a setting. Scored leads are answered at once; their decision-log rows
are built and written on the decision log's thread.

Reason texts come in the language of ``Accept-Language`` (English by default; the answer
says which in ``Content-Language``); the decision log keeps them in English, with the
codes and parameters any language is worded from.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from scoring.reason_text import in_language
from scoring.settings import Settings
from serving.api_deps import NO_MODEL, Arrival, ModelDep, Scorer, SettingsDep
from serving.change_view import answer_changes, changes_in
from serving.decision_log import DecisionLog, build_rows, now
from serving.future_times import times_after
from serving.i18n import Translator
from serving.i18n.languages import negotiate
from serving.identity import identity_rows
from serving.json_body import CheckedJSONRoute
from serving.model_loading import LoadedModel
from serving.observability import Metrics
from serving.schemas import (
    BatchRequest,
    BatchResponse,
    Lead,
    ScoreRequest,
    ScoreResponse,
)
from serving.schemas_change import COUNTERFACTUALS_DESCRIPTION
from serving.score_answer import build_results
from serving.vocabularies import attribute_band_errors


def score_leads(
    model: LoadedModel,
    leads: Sequence[Lead],
    as_of: Sequence[datetime],
    reasons: int,
    request_id: str,
    decision_log: DecisionLog,
    counterfactuals: bool = False,
) -> list[dict[str, Any]]:
    """Score leads; return the API results and queue their decision-log rows (and the
    identities some leads carry, for their own table).

    With ``counterfactuals``, each result also says what would change its decision
    (:mod:`serving.change_view`), added before the rows are queued.

    The rows are built on the decision log's thread from the same records, scores and
    results (none of which change afterwards), stamped with this moment as ``scored_at``.
    """
    records = [lead.record() for lead in leads]
    scores = model.scorer.score_records(records, as_of, reasons=reasons)
    scored_at = now()
    results = build_results(
        model.scorer, records, as_of, scores, model.name, model.version, request_id
    )
    if counterfactuals:
        changes = answer_changes(model.scorer, records, as_of, scores.bands)
        for result, change in zip(results, changes, strict=True):
            result["what_would_change"] = change
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
    decision_log.submit_identities(identity_rows(leads))  # their own table, never the log
    return results


AcceptLanguage = Annotated[
    str | None,
    Header(description="Language of the reason texts: `en` (default) or `ru`, q-values honoured."),
]


def _answer(content: Any, lang: str) -> JSONResponse:
    return JSONResponse(content, headers={"Content-Language": lang, "Vary": "Accept-Language"})


def _in_language(results: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """The answers with reason and change texts in ``lang`` (copies: the log's rows read
    the originals)."""
    if lang == "en":
        return results
    t = Translator(lang)
    return [
        {
            **r,
            "reasons": in_language(r["reasons"], lang, t.value),
            **(
                {"what_would_change": changes_in(t, r["what_would_change"])}
                if "what_would_change" in r
                else {}
            ),
        }
        for r in results
    ]


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


def _durable(app: FastAPI) -> bool:
    """Whether a score must be committed before it is answered (``docs/webhooks.md``).

    While a subscription wants lead events, an answered crossing must not be lost to a
    crash in the decision log's few milliseconds of linger; otherwise the answer goes
    first, as always. The flag is re-read every few seconds by the poll in
    :func:`score` and :func:`score_batch`.
    """
    settings: Settings = app.state.settings
    return bool(settings.webhook_durable_scores and app.state.subscribers.value)


async def _refresh_subscribers(app: FastAPI) -> None:
    flag = app.state.subscribers
    if flag.stale():
        await run_in_threadpool(flag.refresh)


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
    lang: str = "en",
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
    results = score_leads(
        model, body.leads, as_of, k, request_id, decision_log, body.counterfactuals
    )
    _observe(app, results)
    if _durable(app):
        decision_log.flush()
    return _answer({"request_id": request_id, "results": _in_language(results, lang)}, lang)


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
    counterfactuals: Annotated[bool, Query(description=COUNTERFACTUALS_DESCRIPTION)] = False,
    accept_language: AcceptLanguage = None,
) -> JSONResponse:
    """Score one lead: calibrated P(SQL) and P(won), the handoff decision and why."""
    await _refresh_subscribers(request.app)
    refuse_future_times(body, arrival, settings)
    refuse_unknown_bands(model, [body], [()])
    request_id = uuid.uuid4().hex
    k = settings.top_reasons if reasons is None else reasons
    args = (model, [body], [body.as_of or arrival], k, request_id, request.app.state.decision_log)
    if counterfactuals:  # a few dozen re-scorings: off the event loop
        results = await run_in_threadpool(score_leads, *args, counterfactuals=True)
    else:
        results = score_leads(*args)
    _observe(request.app, results)
    if _durable(request.app):
        # someone is owed this lead's events: answer once the decision is committed
        await run_in_threadpool(request.app.state.decision_log.flush)
    lang = negotiate(accept_language)
    return _answer(_in_language(results, lang)[0], lang)


async def score_batch(
    request: Request,
    model: ModelDep,
    settings: SettingsDep,
    arrival: Arrival,
    _: Scorer,
    accept_language: AcceptLanguage = None,
) -> JSONResponse:
    """Score up to ``batch_max_leads`` leads at once (vectorised); reasons on request.

    The body (a ``BatchRequest``) is parsed by pydantic straight from the JSON bytes,
    after the key is checked: for a 1,000-lead batch that skips a ``json.loads`` of
    the ~1 MB body, a tenth of the request's time.
    """
    raw = await request.body()
    await _refresh_subscribers(request.app)
    return await run_in_threadpool(
        _score_batch,
        raw,
        arrival,
        model,
        settings,
        request.app.state.decision_log,
        request.app,
        negotiate(accept_language),
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
