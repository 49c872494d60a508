"""The lead page (sales): why a lead was handed over or not, and its history.

Scores per stage, the decision against the threshold, fit vs engagement, the reasons as
a chart, the likely objection, the model version, the touch timeline and the feedback
so far (without comments: free text may hold personal data). Its forms are
:mod:`serving.page_forms`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from scoring.contract import LEAD_COLUMNS, NOT_FEATURES, RejectionReason
from scoring.lifecycle import SlaClocks
from serving.change_view import lead_changes
from serving.i18n import Translator
from serving.page_auth import PageUser, SalesUser
from serving.page_history import lead_history, lead_identity
from serving.page_render import clamp, error_page, flush_decisions, language, page_now, render
from serving.storage import Store
from serving.store.queue import feedback_history, lead_state

router = APIRouter(include_in_schema=False)

LEAD_ID_PATTERN = re.compile(r"^[\w.:\-]{1,64}$")
PROFILE_FIELDS: tuple[str, ...] = tuple(c for c in LEAD_COLUMNS if c not in NOT_FEATURES)
"""Lead fields shown on the lead page: the decision log keeps no personal data anyway."""


def _lead_state(request: Request, lead_id: str) -> dict[str, Any]:
    """The lead's queue row with its SLA timers, breaches and stage ({} if never scored)."""
    store: Store = request.app.state.store
    now = page_now(request)
    clocks = SlaClocks.from_settings(request.app.state.settings)
    return lead_state(store, lead_id, now, clocks) or {}


def _reasons(decision: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Reasons for the chart, strongest first within each sign, scaled to the largest."""
    items = [
        r
        for r in decision.get("reasons") or []
        if isinstance(r, Mapping) and isinstance(r.get("contribution"), int | float)
    ]
    positive = sorted((r for r in items if r["contribution"] > 0), key=lambda r: -r["contribution"])
    negative = sorted((r for r in items if r["contribution"] < 0), key=lambda r: r["contribution"])
    scale = max((abs(r["contribution"]) for r in items), default=0.0) or 1.0
    return [
        {
            "field": str(r.get("field", "")),
            "code": r.get("code"),
            "params": r.get("params"),
            "text": str(r.get("text", "")),
            "contribution": float(r["contribution"]),
            "share": abs(float(r["contribution"])) / scale,
            "positive": r["contribution"] > 0,
        }
        for r in [*positive, *negative]
    ]


def _timeline(features: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The touch timeline, newest first, with days before the scoring moment."""
    as_of = _parse_time(features.get("as_of"))
    out = []
    for touch in features.get("touches") or []:
        if not isinstance(touch, Mapping):
            continue
        at = _parse_time(touch.get("at"))
        if at is None:
            continue
        days = (as_of - at).days if as_of is not None else None
        out.append({"at": at, "type": str(touch.get("type", "")), "days": days})
    out.sort(key=lambda t: t["at"], reverse=True)
    return out


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _timeline_strip(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dots for the SVG strip: x in [0, 1] from the first touch to the scoring moment."""
    if not timeline:
        return []
    first = min(t["at"] for t in timeline)
    last = max(t["at"] for t in timeline)
    span = (last - first).total_seconds() or 1.0
    return [{**t, "x": (t["at"] - first).total_seconds() / span} for t in timeline]


def _disqualify_line(request: Request, decision: Mapping[str, Any]) -> float | None:
    """The P(SQL) disqualify line of the policy that made the decision, if still loaded."""
    models = getattr(request.app.state, "models", None)
    current = getattr(models, "current", None)
    if current is None or str(current.version) != str(decision["model_version"]):
        return None
    return float(current.scorer.policy.disqualify_below)


def _gauge(p_won: float, threshold: float) -> dict[str, float]:
    """Positions (0..1) of P(won) and the threshold on one scale for the gauge."""
    top = min(1.0, max(2.0 * threshold, 1.15 * p_won, 0.05))
    return {"top": top, "value": clamp(p_won / top), "threshold": clamp(threshold / top)}


def lead_view(
    request: Request,
    user: PageUser,
    lead_id: str,
    *,
    errors: list[dict[str, str]] | None = None,
    form: Mapping[str, str] | None = None,
    note_errors: list[dict[str, str]] | None = None,
    note_form: Mapping[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    store: Store = request.app.state.store
    decision = store.last_decision(lead_id)
    if decision is None:
        t = Translator(language(request)[0])
        return error_page(
            request, 404, "error.not_found.title", t("error.no_lead", lead_id=lead_id), user
        )
    state = _lead_state(request, lead_id)
    features = decision.get("features") or {}
    timeline = _timeline(features)
    form = dict(form or {})
    form.setdefault("idem", f"ui-{uuid.uuid4().hex}")
    note_form = dict(note_form or {})
    note_form.setdefault("idem", f"ui-{uuid.uuid4().hex}")
    fit = decision["fit_score"] if decision["fit_score"] >= 0 else None
    engagement = decision["engagement_score"] if decision["engagement_score"] >= 0 else None
    return render(
        request,
        "lead.html",
        user=user,
        active="queue",
        status_code=status_code,
        here=f"/ui/leads/{lead_id}",
        lead_id=lead_id,
        d=decision,
        state=state,
        distance=decision["p_won"] - decision["threshold"],
        ratio=decision["p_won"] / decision["threshold"] if decision["threshold"] > 0 else None,
        gauge=_gauge(decision["p_won"], decision["threshold"]),
        disqualify_line=_disqualify_line(request, decision),
        fit=fit,
        engagement=engagement,
        reasons=_reasons(decision),
        change=lead_changes(request, decision, Translator(language(request)[0])),
        profile=[(f, features[f]) for f in PROFILE_FIELDS if features.get(f) not in (None, "")],
        created_at=_parse_time(features.get("created_at")),
        timeline=timeline,
        strip=_timeline_strip(timeline),
        history=feedback_history(store, lead_id),
        reasons_vocabulary=[r.value for r in RejectionReason],
        errors=errors or [],
        error_fields={e["field"] for e in errors or []},
        form=form,
        note_errors=note_errors or [],
        note_form=note_form,
        notice=notice,
        # issue 13 items 4-5: who the lead is (sales/admin page) and its score history
        identity=lead_identity(request, lead_id),
        score_history=lead_history(request, lead_id),
    )


def valid_lead_id(lead_id: str) -> bool:
    return bool(LEAD_ID_PATTERN.match(lead_id))


def not_found(request: Request, user: PageUser, lead_id: str) -> HTMLResponse:
    t = Translator(language(request)[0])
    shown = lead_id if valid_lead_id(lead_id) else "?"
    return error_page(
        request, 404, "error.not_found.title", t("error.no_lead", lead_id=shown), user
    )


@router.get("/ui/leads/{lead_id}")
def lead_page(
    request: Request,
    lead_id: str,
    user: SalesUser,
    noted: Annotated[str | None, Query(max_length=4)] = None,
) -> Response:
    if not valid_lead_id(lead_id):
        return not_found(request, user, lead_id)
    flush_decisions(request)
    t = Translator(language(request)[0])
    return lead_view(request, user, lead_id, notice=t("lead.noted") if noted else None)
