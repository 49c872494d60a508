"""JSON report endpoints for dashboards (Power BI, Tableau): ``/v1/reports/...``.

Every endpoint computes one section of :func:`serving.reports.build_report` from the
serving store — the decision log and the sales feedback — for the leads first scored in
``[start, end)``, grouped by ``group_by``. Rows are flat (``dimension``, ``group``, then
the figures), so a BI tool can load them as one table; ``?format=csv`` answers that
table as CSV (:mod:`serving.report_csv`). Readable by ``marketing`` (and ``admin``).
The drift endpoint also sets the ``leadscore_drift_psi`` gauge in ``/metrics``, so an
alert rule can watch it.

Wire it in with ``app.include_router(serving.report_api.router)``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response

from scoring.lifecycle import SlaClocks
from serving.auth import Principal, Role, require_roles
from serving.report_csv import CSV_MEDIA_TYPE, section_rows, to_csv
from serving.report_sql import store_report
from serving.reports import (
    DIMENSIONS,
    GROUPABLE,
    CostInputs,
    ReportData,
    from_store,
)
from serving.reports.notes import Note
from serving.schemas import EARLIEST_YEAR, LATEST_YEAR, BoundedTime

router = APIRouter(prefix="/v1/reports", tags=["reports"])

Marketing = Annotated[Principal, Depends(require_roles(Role.MARKETING))]
Start = Annotated[
    BoundedTime | None,
    Query(
        description="Leads first scored at or after this moment (ISO 8601 text; naive = UTC; "
        f"years {EARLIEST_YEAR}-{LATEST_YEAR})."
    ),
]
End = Annotated[
    BoundedTime | None,
    Query(description="Leads first scored before this moment; later than `start`."),
]
GroupField = Literal[GROUPABLE]  # type: ignore[valid-type]
"""The lead fields a report may group by: an enum in the OpenAPI document."""
GroupBy = Annotated[
    list[GroupField] | None,
    Query(
        description="Group rows by these lead fields (repeat the parameter); default: "
        + ", ".join(DIMENSIONS)
        + ". Allowed: "
        + ", ".join(GROUPABLE)
        + ".",
        max_length=len(GROUPABLE),
    ),
]

Format = Annotated[
    Literal["json", "csv"],
    Query(
        alias="format",
        description="`json` (default) or `csv`: the section's rows as one flat table with a "
        "header row, for Power BI and Tableau (nested figures in dotted columns).",
    ),
]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


def _answer(section: str, body: dict[str, Any], fmt: str) -> Response:
    """The section as JSON, or its flat table as CSV (``?format=csv``)."""
    if fmt == "csv":
        return Response(
            to_csv(section_rows(section, body)),
            media_type=CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{section}.csv"'},
        )
    return JSONResponse(body)


def _unprocessable(field: str, message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[{"field": field, "message": message}]
    )


def _group_by(values: list[str] | None) -> list[str]:
    """The fields to group by, each once (their type, :data:`GroupField`, refused others)."""
    if not values:
        return list(DIMENSIONS)
    return list(dict.fromkeys(values))


def _flush(request: Request) -> None:
    """Write the decisions still pending in the background log, so a report counts them."""
    decision_log = getattr(request.app.state, "decision_log", None)
    if decision_log is not None:
        decision_log.flush()


def _reference(request: Request) -> tuple[dict[str, Any] | None, str | None]:
    """The served model's drift reference profile and its name, if it carries one."""
    state = request.app.state
    profile: dict[str, Any] | None = None
    name: str | None = None
    models = getattr(state, "models", None)
    current = getattr(models, "current", None)
    if current is not None:
        stored = current.scorer.metadata.get("reference_profile")
        if isinstance(stored, dict) and stored.get("columns"):
            profile = stored
            name = Note(
                "reference.model",
                f"training data of {current.name} v{current.version}",
                name=current.name,
                version=current.version,
            )
    return profile, name


def _clocks(request: Request) -> SlaClocks | None:
    """The deployment's SLA clocks (its settings'), if the app has settings."""
    settings = getattr(request.app.state, "settings", None)
    return SlaClocks.from_settings(settings) if settings is not None else None


def _store_inputs(request: Request, now: datetime) -> ReportData:
    """The store's decision log and feedback as report inputs (the pandas path)."""
    state = request.app.state
    store = state.store
    decisions = store.decisions_for_training()
    feedback = store.feedback_frame()
    profile, name = _reference(request)
    settings = getattr(state, "settings", None)
    return from_store(
        decisions,
        feedback,
        reference=profile,
        reference_name=name,
        clocks=_clocks(request),
        as_of=now,  # open SLA clocks are judged now
        half_life_days=getattr(settings, "attribution_half_life_days", None),
    )


def _section(
    request: Request,
    section: str,
    *,
    start: datetime | None,
    end: datetime | None,
    group_by: list[str],
    costs: CostInputs | None = None,
) -> dict[str, Any]:
    if start is not None and end is not None and end <= start:
        raise _unprocessable("end", "end must be after start")
    _flush(request)
    profile, name = _reference(request)
    now = datetime.now(UTC)  # open SLA clocks are judged now
    report = store_report(
        request.app.state.store,
        lambda: _store_inputs(request, now),
        costs=costs,
        group_by=group_by,
        start=start,
        end=end,
        sections=[section],
        reference_given=profile is not None,
        drift_reference=profile,
        reference_name=name,
        clocks=_clocks(request),
        as_of=now,
        half_life_days=getattr(
            getattr(request.app.state, "settings", None), "attribution_half_life_days", None
        ),
    )
    body = report.pop(section)
    notes = [*report.pop("notes"), *body.pop("notes", [])]
    body.pop("warnings", None)  # the report's warnings include the section's
    return {**report, **body, "notes": notes}


def _costs(
    request: Request,
    costs: str | None,
    retention_multiple: float | None,
    gross_margin: float | None,
) -> CostInputs:
    base: CostInputs = getattr(request.app.state, "report_costs", None) or CostInputs()
    data = base.to_dict()
    if costs:
        try:
            given = json.loads(costs)
        except ValueError:
            raise _unprocessable("costs", "costs is not valid JSON") from None
        if not isinstance(given, dict):
            raise _unprocessable("costs", "costs must be a JSON object")
        data.update(given)
    if retention_multiple is not None:
        data["retention_multiple"] = retention_multiple
    if gross_margin is not None:
        data["gross_margin"] = gross_margin
    try:
        return CostInputs.from_dict(data)
    except ValueError as exc:
        raise _unprocessable("costs", str(exc)) from None


@router.get("/funnel", responses=CSV_RESPONSE)
def funnel(
    request: Request,
    _: Marketing,
    start: Start = None,
    end: End = None,
    group_by: GroupBy = None,
    costs: Annotated[
        str | None,
        Query(
            max_length=20_000,
            description='Spend for the period as JSON: {"channels": {"paid_search": '
            '{"marketing": 120000, "sales": 40000}}, "campaigns": {...}}. Enables CAC, '
            "LTV:CAC and ROMI.",
        ),
    ] = None,
    retention_multiple: Annotated[
        float | None,
        Query(gt=0, le=100, description="LTV = average won amount × this (default 3)."),
    ] = None,
    gross_margin: Annotated[
        float | None,
        Query(gt=0, le=1, description="Profit = won revenue × this, for ROMI (default 1)."),
    ] = None,
    fmt: Format = "json",
) -> Response:
    """Lead → MQL → SQL → won by channel, campaign and segment; CAC, LTV:CAC, ROMI."""
    inputs = _costs(request, costs, retention_multiple, gross_margin)
    body = _section(
        request, "funnel", start=start, end=end, group_by=_group_by(group_by), costs=inputs
    )
    return _answer("funnel", body, fmt)


@router.get("/rejections", responses=CSV_RESPONSE)
def rejections(
    request: Request,
    _: Marketing,
    start: Start = None,
    end: End = None,
    group_by: GroupBy = None,
    fmt: Format = "json",
) -> Response:
    """Rejection reason tags per group: counts, shares, lift — what marketing must fix."""
    body = _section(request, "rejections", start=start, end=end, group_by=_group_by(group_by))
    return _answer("rejections", body, fmt)


@router.get("/sla", responses=CSV_RESPONSE)
def sla(
    request: Request,
    _: Marketing,
    start: Start = None,
    end: End = None,
    group_by: GroupBy = None,
    fmt: Format = "json",
) -> Response:
    """Handoff SLA: accept/reject within 8 h, first contact within 24 h, ≥ 3 attempts."""
    body = _section(request, "sla", start=start, end=end, group_by=_group_by(group_by))
    return _answer("sla", body, fmt)


@router.get("/calibration", responses=CSV_RESPONSE)
def calibration(
    request: Request,
    _: Marketing,
    start: Start = None,
    end: End = None,
    fmt: Format = "json",
) -> Response:
    """Predicted vs observed conversion by score band (P(SQL) vs accepted, P(won) vs won)."""
    body = _section(request, "calibration", start=start, end=end, group_by=[])
    return _answer("calibration", body, fmt)


@router.get("/drift", responses=CSV_RESPONSE)
def drift(
    request: Request,
    _: Marketing,
    start: Start = None,
    end: End = None,
    fmt: Format = "json",
) -> Response:
    """PSI per feature and for P(won) against the training reference; sets the gauge."""
    body = _section(request, "drift", start=start, end=end, group_by=[])
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        for entry in [*body["features"], *([body["score"]] if body["score"] else [])]:
            # a PSI from too few rows is mostly noise: leave the gauge as it was
            if entry["psi"] is not None and entry["status"] != "insufficient_data":
                metrics.drift_psi.labels(entry["feature"]).set(entry["psi"])
    return _answer("drift", body, fmt)


@router.get("/attribution", responses=CSV_RESPONSE)
def attribution(
    request: Request,
    _: Marketing,
    start: Start = None,
    end: End = None,
    fmt: Format = "json",
) -> Response:
    """First touch, last touch, linear, U-shaped and time-decay credit of MQLs, SQLs, won
    deals and revenue per channel and campaign, with each model's share of revenue."""
    body = _section(request, "attribution", start=start, end=end, group_by=[])
    return _answer("attribution", body, fmt)
