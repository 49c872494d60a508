"""The API's core routes: a lead's last decision and its erasure, sales feedback, the
served model, the admin actions and the operations endpoints.

Scoring is :mod:`serving.api_scoring`, the reports :mod:`serving.report_api`, the pages
:mod:`serving.pages`; :func:`serving.app.create_app` assembles them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from scoring.lifecycle import LifecycleViolation
from scoring.reason_text import render_reason
from scoring.settings import Settings
from serving.api_deps import (
    NO_DECISION,
    NO_MODEL,
    Admin,
    Arrival,
    ModelDep,
    Reader,
    Sales,
    SettingsDep,
    StoreDep,
)
from serving.api_webhooks import announce_champion_async
from serving.auth import Principal, Role, optional_principal
from serving.erasure import erase
from serving.feedback import FeedbackRequest, FeedbackResponse, record_feedback
from serving.i18n.languages import negotiate
from serving.jobs import JobFailed, run_promotion
from serving.json_body import CheckedJSONRoute
from serving.model_loading import ModelManager
from serving.schemas import ErrorResponse, ModelInfo
from serving.storage import IdempotencyConflict

router = APIRouter(route_class=CheckedJSONRoute)


@router.get("/v1/leads/{lead_id}/decision", tags=["sales"], responses=NO_DECISION)
def last_decision(
    lead_id: Annotated[str, Path(max_length=64, pattern=r"^[\w.:\-]+$")],
    request: Request,
    store: StoreDep,
    _: Sales,
    accept_language: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """The last decision served for a lead, with its reasons (for sales review), their
    texts in the language of ``Accept-Language`` (English by default)."""
    request.app.state.decision_log.flush()
    row = store.last_decision(lead_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no decision for this lead")
    lang = negotiate(accept_language)
    reasons = [
        {**r, "text": render_reason(r, lang)} if isinstance(r, dict) else r
        for r in row.get("reasons") or []
    ]
    return {k: v for k, v in row.items() if k != "features"} | {"reasons": reasons}


@router.delete(
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


@router.post(
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
    try:
        row, created = record_feedback(
            request.app.state,
            body,
            idempotency_key=idempotency_key,
            actor=principal.name,
            now=arrival,
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


@router.get("/v1/model", response_model=ModelInfo, tags=["model"], responses=NO_MODEL)
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


@router.post("/v1/admin/reload", tags=["admin"])
async def reload(request: Request, _: Admin) -> dict[str, Any]:
    """Check the registry now and swap if the champion moved."""
    manager: ModelManager = request.app.state.models
    message = await run_in_threadpool(manager.try_refresh)
    request.app.state.metrics.model_version.set(float(manager.version or 0))
    await announce_champion_async(request.app)
    return {"result": message, "version": manager.version}


@router.post(
    "/v1/admin/promote",
    tags=["admin"],
    responses={
        503: {"model": ErrorResponse, "description": "the promotion job failed or timed out"}
    },
)
async def promote(request: Request, principal: Admin) -> dict[str, Any]:
    """Run the promotion gate (challenger vs champion on recent data), then reload.

    The gate is the ``leadscore promote`` job, run in a child process
    (``serving.jobs``): the server itself never trains or judges a model.
    """
    settings: Settings = request.app.state.settings
    try:
        decision = await run_in_threadpool(run_promotion, settings, principal.name)
    except JobFailed as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    manager: ModelManager = request.app.state.models
    message = await run_in_threadpool(manager.try_refresh)
    await announce_champion_async(request.app)
    return {
        "promoted": decision["promoted"],
        "reason": decision["reason"],
        "reload": message,
        "version": manager.version,
    }


@router.get("/healthz", tags=["ops"])
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
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
    key sees ``error``. No key is needed, and a wrong one is not refused here. When
    answered decisions could not be stored, ``decision_log_failed_rows`` says how many
    (since this process started; also ``leadscore_decision_log_failed_rows_total``).
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
    failed = request.app.state.decision_log.failed_rows
    if failed:  # answered, but not in the log: the operator must know (docs/deployment.md)
        body["decision_log_failed_rows"] = failed
    return JSONResponse(body, status_code=code)


@router.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latency, decisions, score distribution."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
