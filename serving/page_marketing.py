"""The marketing overview (marketing): the funnel, attribution, rejection reasons, SLA.

Funnel by channel, the five attribution models' share of revenue by channel side by
side, rejection reasons by channel and segment, SLA compliance
(:func:`serving.reports.build_report` on the store) and the model version history
from the MLflow registry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from scoring.lifecycle import SlaClocks
from scoring.registry_client import list_versions
from serving.page_auth import MarketingUser
from serving.page_render import flush_decisions, page_now, render
from serving.reports.attribution import by_group
from serving.storage import Store

log = logging.getLogger("leadscore.pages")

router = APIRouter(include_in_schema=False)


def model_versions(settings: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The registry's versions of the served model, newest first, or ``([], error)``."""
    try:
        found = list_versions(settings)
    except Exception as exc:  # the registry is optional for this page
        log.warning("model registry not readable: %s", exc.__class__.__name__)
        return [], exc.__class__.__name__
    metric = settings.promotion_metric
    out = []
    for version in found:
        tags = dict(version.tags or {})
        promotion: dict[str, Any] = {}
        with contextlib.suppress(ValueError, TypeError):
            parsed = json.loads(tags.get("promotion") or "{}")
            promotion = parsed if isinstance(parsed, dict) else {}
        out.append(
            {
                "version": str(version.version),
                "aliases": sorted(version.aliases or []),
                "created": datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
                if version.creation_timestamp
                else None,
                "metric": _float(tags.get(metric)),
                "threshold": _float(tags.get("handoff_threshold")),
                "policy_method": tags.get("policy_method"),
                "promotion": promotion,
            }
        )
    out.sort(key=lambda v: int(v["version"]) if v["version"].isdigit() else 0, reverse=True)
    return out, None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


SEGMENTS: tuple[str, ...] = ("channel", "industry", "company_size")


PAGE_SECTIONS: tuple[str, ...] = ("funnel", "rejections", "sla", "attribution")


def _marketing_report(
    store: Store,
    clocks: SlaClocks,
    now: datetime,
    half_life_days: float | None = None,
    sections: tuple[str, ...] = PAGE_SECTIONS,
) -> dict[str, Any]:
    """Funnel, rejections, attribution and the SLA (judged at ``now``) from the roll-ups.
    ``sections``: the page's (the report benchmark times it without SLA too)."""
    from serving.report_sql import store_report
    from serving.reports import from_store

    def pandas_inputs() -> Any:
        return from_store(
            store.decisions_for_training(),
            store.feedback_frame(),
            clocks=clocks,
            as_of=now,
            half_life_days=half_life_days,
        )

    return store_report(
        store,
        pandas_inputs,
        group_by=SEGMENTS,
        sections=sections,
        reference_given=False,
        clocks=clocks,
        as_of=now,
        half_life_days=half_life_days,
    )


@router.get("/ui/marketing")
def marketing(request: Request, user: MarketingUser) -> Response:
    flush_decisions(request)
    store: Store = request.app.state.store
    clocks = SlaClocks.from_settings(request.app.state.settings)
    settings = request.app.state.settings
    report = _marketing_report(
        store, clocks, page_now(request), settings.attribution_half_life_days
    )
    versions, registry_error = model_versions(request.app.state.settings)
    funnel_rows = [r for r in report["funnel"]["rows"] if r["dimension"] == "channel"]
    funnel_rows.sort(key=lambda r: -(r["leads"] or 0))
    scale = max([r["leads"] or 0 for r in funnel_rows] + [1])
    rejections = report["rejections"]
    total_reasons = (rejections["total"] or {}).get("reasons", {})
    # (colour index, reason) of the tags used at all: unused tags would be empty columns
    shown_reasons = [
        (i, r) for i, r in enumerate(rejections["reasons"]) if total_reasons.get(r, {}).get("count")
    ]
    rejection_groups = {
        dim: sorted(
            (r for r in rejections["rows"] if r["dimension"] == dim and r["rejections"]),
            key=lambda r: -r["rejections"],
        )
        for dim in SEGMENTS
    }
    sla_rows = [r for r in report["sla"]["rows"] if r["dimension"] == "channel"]
    sla_rows.sort(key=lambda r: -(r["handed_over"] or 0))
    attribution = report["attribution"]
    notes = [
        *report.get("notes", []),
        *report["funnel"].get("notes", []),
        *attribution.get("notes", []),
        *report["rejections"].get("notes", []),
        *report["sla"].get("notes", []),
    ]
    return render(
        request,
        "marketing.html",
        user=user,
        active="marketing",
        report=report,
        period=report["period"],
        funnel_total=report["funnel"]["total"],
        funnel_rows=funnel_rows,
        funnel_scale=scale,
        attribution=attribution,
        attribution_rows=by_group(attribution, "channel"),
        shown_reasons=shown_reasons,
        rejection_total=rejections["total"],
        rejection_groups=rejection_groups,
        segments=SEGMENTS,
        sla_total=report["sla"]["total"],
        sla_rows=sla_rows,
        versions=versions,
        registry_error=registry_error,
        metric_name=request.app.state.settings.promotion_metric,
        notes=notes,
        warnings=report.get("warnings", []),
    )
