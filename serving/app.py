"""The leadscore HTTP API (FastAPI).

Start it with ``leadscore serve`` (or ``uvicorn serving.app:create_app --factory``).
Everything stateful — the model, the database, the decision log writer, the model
poller — is created in the lifespan, never at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError

from scoring.lifecycle import LifecycleViolation, SlaClocks
from scoring.settings import Settings
from serving.auth import Principal, Role, optional_principal, require_roles
from serving.decision_log import DecisionLog, build_results, build_rows, now
from serving.erasure import erase
from serving.json_body import CheckedJSONRoute, unreadable_body_errors
from serving.model_loading import LoadedModel, ModelManager, ModelUnavailable
from serving.observability import Metrics, ObservabilityMiddleware
from serving.ratelimit import make_limiter
from serving.schemas import (
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    FeedbackRequest,
    FeedbackResponse,
    Lead,
    ModelInfo,
    ScoreRequest,
    ScoreResponse,
    error_items,
    times_after,
)
from serving.storage import IdempotencyConflict, Store, make_engine, upgrade

log = logging.getLogger("leadscore.api")

Clock = Callable[[], datetime]

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
}
"""Answers any route may give: the key check (401/403/429), the body limit and validation."""

NO_MODEL: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "no model loaded yet (see `/readyz`)"},
}
"""What a route that needs the served model answers before one is loaded."""

NO_DECISION: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no decision stored for this lead"},
}


# --- application state -------------------------------------------------------------------


# These three are ``async`` although they never await: FastAPI runs a plain ``def``
# dependency in the thread pool, a hop that costs more than the attribute lookup itself
# on every request. Nothing here may block.


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def request_time(request: Request) -> datetime:
    """When the request arrived, by the server's clock (``app.state.clock``).

    The default scoring moment and the bound on every time a request carries (see
    :func:`~serving.schemas.times_after`). A dependency, so tests set the clock.
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


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.ensure_home()
    engine = make_engine(settings.resolved_database_url)
    await run_in_threadpool(upgrade, engine)
    store = Store(engine, clocks=SlaClocks.from_settings(settings))
    if settings.bootstrap_admin_key:
        await run_in_threadpool(
            store.ensure_api_key, settings.bootstrap_admin_key, "bootstrap-admin", Role.ADMIN
        )
    app.state.store = store
    app.state.decision_log = DecisionLog(store)
    app.state.decision_log.start()
    manager = ModelManager(settings)
    app.state.models = manager
    try:
        await run_in_threadpool(manager.start)
        app.state.metrics.model_version.set(float(manager.version or 0))
    except ModelUnavailable as exc:
        log.error("starting without a model: %s", exc)
    poller = asyncio.create_task(_poll(app)) if settings.model_poll_seconds > 0 else None
    # Everything allocated so far (libraries, the model) lives as long as the process:
    # move it out of the cyclic garbage collector's reach. Otherwise each full
    # collection walks those ~300k objects, a pause of 100+ ms in some unlucky request.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        if poller is not None:
            poller.cancel()
        app.state.decision_log.close()
        manager.close()
        engine.dispose()
        app.state.auth_limiter.close()
        gc.unfreeze()  # what this app held may be collected again (tests start many apps)


async def _poll(app: FastAPI) -> None:
    """Swap to a new champion when the alias moves (the checks run off the event loop)."""
    manager: ModelManager = app.state.models
    while True:
        await asyncio.sleep(app.state.settings.model_poll_seconds)
        message = await run_in_threadpool(manager.try_refresh)
        if message.startswith("swapped"):
            app.state.metrics.model_version.set(float(manager.version or 0))
            log.info(message)


# --- errors --------------------------------------------------------------------------------


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each bad field; never echoes the submitted value (it may be personal data).

    A body that could not be read at all (see :mod:`serving.json_body`) is one error
    naming the problem, not a complaint about each field it lacks.
    """
    errors = unreadable_body_errors(exc.errors()) or exc.errors()
    return JSONResponse(
        {"detail": error_items(errors)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s on %s", exc.__class__.__name__, request.url.path)
    return JSONResponse({"detail": "internal error"}, status_code=500)


# --- scoring --------------------------------------------------------------------------------


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
    request_id = uuid.uuid4().hex
    default_as_of = body.as_of or arrival
    as_of = [lead.as_of or default_as_of for lead in body.leads]
    k = settings.top_reasons if body.reasons else 0
    results = score_leads(model, body.leads, as_of, k, request_id, decision_log)
    _observe(app, results)
    return JSONResponse({"request_id": request_id, "results": results})


def create_app(settings: Settings | None = None, *, clock: Clock = now) -> FastAPI:
    """Build the app. Nothing is loaded until the lifespan starts.

    ``clock`` is the server's time (aware, UTC): tests pass their own.
    """
    settings = settings or Settings()
    app = FastAPI(
        title="leadscore",
        version="0.1.0",
        summary="Calibrated lead scores, handoff decisions and reasons; sales feedback in.",
        lifespan=lifespan,
        responses=ERRORS,
    )
    # Every route reads its JSON body after the key check (and names what is wrong with it)
    app.router.route_class = CheckedJSONRoute
    app.state.settings = settings
    app.state.clock = clock
    app.state.metrics = Metrics()
    app.state.auth_limiter = make_limiter(settings)
    app.add_middleware(
        ObservabilityMiddleware, metrics=app.state.metrics, max_body_bytes=settings.max_body_bytes
    )
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)

    # ``async`` on purpose: one lead scores in about a millisecond of CPU, less than the
    # thread-pool hop a plain ``def`` endpoint costs. Batches stay in the thread pool.
    @app.post("/v1/score", response_model=ScoreResponse, tags=["scoring"], responses=NO_MODEL)
    async def score(
        body: ScoreRequest,
        request: Request,
        model: ModelDep,
        settings: SettingsDep,
        arrival: Arrival,
        _: Scorer,
        reasons: Annotated[
            int | None, Query(ge=0, le=20, description="Top reasons each way")
        ] = None,
    ) -> JSONResponse:
        """Score one lead: calibrated P(SQL) and P(won), the handoff decision and why."""
        refuse_future_times(body, arrival, settings)
        request_id = uuid.uuid4().hex
        k = settings.top_reasons if reasons is None else reasons
        results = score_leads(
            model, [body], [body.as_of or arrival], k, request_id, request.app.state.decision_log
        )
        _observe(request.app, results)
        return JSONResponse(results[0])

    @app.post(
        "/v1/score/batch",
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

    @app.get("/v1/leads/{lead_id}/decision", tags=["sales"], responses=NO_DECISION)
    def last_decision(
        lead_id: Annotated[str, Path(max_length=64, pattern=r"^[\w.:\-]+$")],
        request: Request,
        store: StoreDep,
        _: Sales,
    ) -> dict[str, Any]:
        """The last decision served for a lead, with its reasons (for sales review)."""
        request.app.state.decision_log.flush()
        row = store.last_decision(lead_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no decision for this lead")
        return {k: v for k, v in row.items() if k != "features"}

    @app.delete(
        "/v1/leads/{lead_id}",
        tags=["admin"],
        responses={200: {"description": "Erased (also when nothing was stored): the row counts"}},
    )
    def erase_lead(
        lead_id: Annotated[str, Path(max_length=64, pattern=r"^[\w.:\-]+$")],
        request: Request,
        store: StoreDep,
        settings: SettingsDep,
        principal: Admin,
    ) -> dict[str, Any]:
        """Erase a lead: its decisions, feedback (comments included) and history rows.

        Recorded (who, when, how many rows; a keyed hash instead of the id), after which
        the lead is a 404 everywhere. Scoring the same id again later is allowed: that is
        a new lead as far as leadscore is concerned (``docs/privacy.md``).
        """
        # a score still queued for the log would otherwise be written after the erasure
        request.app.state.decision_log.flush()
        summary = erase(store, settings, [lead_id], actor=principal.name)
        return {
            "erased": True,
            "decisions": summary.decisions,
            "feedback": summary.feedback,
            "history_rows": summary.history_rows,
        }

    @app.post(
        "/v1/feedback",
        response_model=FeedbackResponse,
        status_code=status.HTTP_201_CREATED,
        tags=["sales"],
        responses={
            409: {
                "model": ErrorResponse,
                "description": "Idempotency-Key reused with another body or by another key, "
                "or the event cannot follow the lead's history (`detail[].rule` names the "
                "lifecycle rule)",
            }
        },
    )
    def feedback(
        body: FeedbackRequest,
        request: Request,
        store: StoreDep,
        settings: SettingsDep,
        arrival: Arrival,
        principal: Sales,
        idempotency_key: Annotated[
            str,
            Header(
                min_length=8,
                max_length=128,
                pattern=r"^[\w.:\-]+$",
                description="One key per feedback event: a retry with the same key and "
                "body gets the same answer.",
            ),
        ],
    ) -> JSONResponse:
        """Record a sales event (``docs/lifecycle.md``). 201 only after a durable commit.

        An event the lead's lifecycle refuses is a 409 (out of order) or a 422 (an
        impossible value, or a time after now plus the allowed clock skew) whose
        ``detail`` names the field and the rule.
        """
        refuse_future_times(body, arrival, settings)
        request.app.state.decision_log.flush()
        metrics: Metrics = request.app.state.metrics
        try:
            row, created = store.add_feedback(
                body.model_dump(exclude_none=True, mode="json"),
                idempotency_key=idempotency_key,
                actor=principal.name,
                on_breach=metrics.count_breach,
            )
        except IdempotencyConflict as conflict:
            return JSONResponse(
                {"detail": conflict.detail},
                status_code=status.HTTP_409_CONFLICT,
            )
        except LifecycleViolation as exc:
            return JSONResponse(
                {"detail": [exc.violation.as_detail()]}, status_code=exc.violation.status
            )
        except ValueError as exc:
            return JSONResponse(
                {"detail": [{"field": "body", "message": str(exc)}]},
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        if created:
            request.app.state.metrics.feedback.labels(row["kind"]).inc()
        payload = {
            "id": row["id"],
            "lead_id": row["lead_id"],
            "kind": row["kind"],
            "received_at": row["received_at"].isoformat(),
            "decision_id": row["decision_id"],
        }
        return JSONResponse(
            payload,
            status_code=status.HTTP_201_CREATED,
            headers={"Idempotent-Replayed": "true" if not created else "false"},
        )

    @app.get("/v1/model", response_model=ModelInfo, tags=["model"], responses=NO_MODEL)
    def model_info(model: ModelDep, _: Reader) -> dict[str, Any]:
        """The serving model: version, training date, test metrics, threshold policy."""
        meta = model.scorer.metadata
        return {
            "name": model.name,
            "version": model.version,
            "alias": "champion",
            "loaded_at": model.loaded_at,
            "source": model.source,
            "trained_at": meta.get("trained_at"),
            "metrics": meta.get("metrics", {}),
            "policy": model.scorer.policy.to_dict(),
            "stages": model.scorer.stage_names,
            # a prior is not a learned model: say so (docs/training-rules.md)
            "model_kind": meta.get("model_kind", "learned"),
            "prior": meta.get("prior"),
            "warnings": meta.get("warnings", []),
            "promotion": model.promotion,
            "reason_model": {
                "reliable": model.scorer.reason_reliable,
                **{k: v for k, v in model.scorer.reason_quality.items() if k != "reliable"},
            },
            "families": meta.get("families", {}),
        }

    @app.post("/v1/admin/reload", tags=["admin"])
    async def reload(request: Request, _: Admin) -> dict[str, Any]:
        """Check the registry now and swap if the champion moved."""
        manager: ModelManager = request.app.state.models
        message = await run_in_threadpool(manager.try_refresh)
        request.app.state.metrics.model_version.set(float(manager.version or 0))
        return {"result": message, "version": manager.version}

    @app.post("/v1/admin/promote", tags=["admin"])
    async def promote(request: Request, principal: Admin) -> dict[str, Any]:
        """Run the promotion gate (challenger vs champion on recent data), then reload."""
        from training.registry import promote as run_gate

        settings: Settings = request.app.state.settings
        decision = await run_in_threadpool(run_gate, settings, None, principal.name)
        manager: ModelManager = request.app.state.models
        message = await run_in_threadpool(manager.try_refresh)
        return {
            "promoted": decision.promoted,
            "reason": decision.reason,
            "reload": message,
            "version": manager.version,
        }

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["ops"],
        responses={
            200: {"description": "`status`, `version` and `source` of the served model"},
            503: {"description": '`{"status": "no model"}`: not ready to score'},
        },
    )
    async def readyz(
        request: Request,
        caller: Annotated[Principal | None, Depends(optional_principal)],
    ) -> JSONResponse:
        """A model is loaded and the API can score.

        Anyone (a load balancer) gets the status, version and source; why the last
        load failed names internal paths and the registry's address, so only an admin
        key sees ``error``. No key is needed, and a wrong one is not refused here.
        """
        manager: ModelManager = request.app.state.models
        admin = caller is not None and caller.role is Role.ADMIN
        body: dict[str, Any]
        if manager.current is None:
            body = {"status": "no model"}
            code = status.HTTP_503_SERVICE_UNAVAILABLE
        else:
            body = {"status": "ready", "version": manager.version, "source": manager.current.source}
            code = status.HTTP_200_OK
        if admin and manager.last_error:
            body["error"] = manager.last_error
        return JSONResponse(body, status_code=code)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics(request: Request) -> Response:
        """Prometheus metrics: requests, latency, decisions, score distribution."""
        return Response(
            generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    from serving.report_api import router as reports_router

    app.include_router(reports_router)  # /v1/reports/{funnel,rejections,sla,calibration,drift}

    from serving.pages import install as install_pages

    install_pages(app)  # /ui: sign-in, handoff queue, lead page, marketing overview
    return app
