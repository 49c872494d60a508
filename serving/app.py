"""The leadscore HTTP API (FastAPI): :func:`create_app` assembles it.

Start it with ``leadscore serve`` (or ``uvicorn serving.app:create_app --factory``).
Everything stateful — the model, the database, the decision log writer, the model
poller — is created in the lifespan, never at import. The routes live in their own
modules: scoring (:mod:`serving.api_scoring`), the core routes (:mod:`serving.api_core`),
the reports (:mod:`serving.report_api`) and the pages (:mod:`serving.pages`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from fastapi import FastAPI, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from scoring.lifecycle import SlaClocks
from scoring.settings import Settings
from serving.api_core import router as core_router
from serving.api_decisions import router as decisions_router
from serving.api_deps import ERRORS
from serving.api_history import router as history_router
from serving.api_scoring import scoring_router
from serving.api_webhooks import announce_champion_async
from serving.api_webhooks import router as webhooks_router
from serving.auth import Role
from serving.collector import few_collections
from serving.decision_log import DecisionLog, now
from serving.docs_assets import install_docs
from serving.json_body import CheckedJSONRoute, unreadable_body_errors
from serving.model_loading import ModelManager, ModelUnavailable
from serving.observability import Metrics, ObservabilityMiddleware
from serving.outbox.worker import OutboxWorker, SubscriberFlag
from serving.pages import install as install_pages
from serving.ratelimit import make_limiter, retry_after_header
from serving.report_api import router as reports_router
from serving.rollup_process import RollupRefresher
from serving.schemas import error_items
from serving.storage import Store, make_engine, upgrade

log = logging.getLogger("leadscore.api")

Clock = Callable[[], datetime]


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
    app.state.decision_log = DecisionLog(store, on_failed=app.state.metrics.decision_log_failed.inc)
    app.state.decision_log.start()
    manager = ModelManager(settings)
    app.state.models = manager
    try:
        await run_in_threadpool(manager.start)
        app.state.metrics.model_version.set(float(manager.version or 0))
    except ModelUnavailable as exc:
        log.error("starting without a model: %s", exc)
    app.state.subscribers = SubscriberFlag(store)
    await run_in_threadpool(app.state.subscribers.refresh)
    await announce_champion_async(app)
    worker = OutboxWorker.from_settings(store, settings) if settings.webhook_worker else None
    if worker is not None:
        worker.start()
    poller = asyncio.create_task(_poll(app)) if settings.model_poll_seconds > 0 else None
    # the reports' refreshes go through the refresher's process too, not just the timer's
    refresher = RollupRefresher(settings.resolved_database_url, engine)
    store.use_rollup_refresher(refresher.refresh, settings.rollup_wait_seconds)
    rollups = (
        asyncio.create_task(_refresh_rollups(app, refresher))
        if settings.rollup_refresh_seconds > 0
        else None
    )
    # Everything allocated so far (libraries, the model) lives as long as the process:
    # move it out of the cyclic garbage collector's reach. Otherwise each full
    # collection walks those ~300k objects, a pause of 100+ ms in some unlucky request.
    # And collect seldom: a 1,000-lead batch with reasons makes a few hundred thousand
    # short-lived objects, freed by reference counting, and the default thresholds ran
    # the collector through them for ~15 % of the batch's CPU (docs/benchmarks.md).
    gc.collect()
    # the thresholds are put back, and what this app held may be collected again, when it
    # stops (tests start many apps)
    with few_collections():
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
            if rollups is not None:
                rollups.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await rollups
            await run_in_threadpool(refresher.close)  # an unfinished refresh rolls back
            app.state.decision_log.close()
            if worker is not None:
                worker.close()
            manager.close()
            engine.dispose()
            app.state.auth_limiter.close()


async def _poll(app: FastAPI) -> None:
    """Swap to a new champion when the alias moves (the checks run off the event loop)."""
    manager: ModelManager = app.state.models
    while True:
        await asyncio.sleep(app.state.settings.model_poll_seconds)
        message = await run_in_threadpool(manager.try_refresh)
        if message.startswith("swapped"):
            app.state.metrics.model_version.set(float(manager.version or 0))
            log.info(message)
            await announce_champion_async(app)


async def _refresh_rollups(app: FastAPI, refresher: RollupRefresher) -> None:
    """Keep the report roll-ups current off the request path, in the refresher's process
    (:mod:`serving.rollup_process`: not the GIL or the memory of the scoring), so a report
    request seldom finds a changed lead to fold in; it still checks, for freshness. A
    failed refresh is logged and tried again at the next tick."""
    settings = app.state.settings
    while True:
        await asyncio.sleep(settings.rollup_refresh_seconds)
        try:
            done = await run_in_threadpool(refresher.refresh)
        except Exception as exc:
            log.error("refreshing the report roll-ups failed: %s", exc.__class__.__name__)
            continue
        if done:
            log.debug("report roll-ups: %d lead(s) recomputed", done)


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


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 with ``Retry-After`` when the database cannot answer now: SQLite locked past its
    busy timeout by a long write (a roll-up refresh), a PostgreSQL connection lost. Nothing
    the request carried was accepted, so the client may send it again."""
    log.error("database busy or unreachable on %s: %s", request.url.path, exc.__class__.__name__)
    return JSONResponse(
        {"detail": "the database is busy or unreachable; try again shortly"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers=retry_after_header(5),
    )


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s on %s", exc.__class__.__name__, request.url.path)
    return JSONResponse({"detail": "internal error"}, status_code=500)


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
        docs_url=None,  # served with local files by install_docs (no CDN)
        redoc_url=None,
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
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(Exception, unexpected_error)
    app.include_router(scoring_router(settings))  # /v1/score, /v1/score/batch
    app.include_router(core_router)  # leads, feedback, model, admin, ops
    app.include_router(history_router)  # /v1/leads/{id}/scores
    app.include_router(webhooks_router)  # /v1/admin/webhooks: subscriptions, deliveries
    app.include_router(reports_router)  # /v1/reports/{funnel,...,drift,attribution}
    app.include_router(decisions_router)  # /v1/decisions: the log, paged for BI loads
    install_pages(app)  # /ui: sign-in, handoff queue, lead page, marketing overview
    install_docs(app)  # /docs, /redoc and their files, from the app (works offline)
    return app
