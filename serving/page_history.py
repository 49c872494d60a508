"""What the sales pages add about a lead beyond its last decision (issue 13 items 4, 5):
its identity (name, company, CRM link) and its score history as a small chart with the
trend word.

Both pages that use these (the queue and the lead page) are sales/admin pages
(``SalesUser``): a marketing key never reaches them, so the identity is never shown to
marketing. The chart is drawn by ``templates/_score_history.html`` as inline SVG from the
coordinates computed here (no script: the pages' CSP allows none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request

from serving.identity import shown_identity
from serving.page_render import clamp, page_now
from serving.storage import Store
from serving.store.history import score_changes, score_history
from serving.trend import DEAD_BAND, TREND_DAYS, trend_word

CHART_POINTS = 60
"""The newest decisions drawn on the lead page's chart (the API pages through all)."""

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 420, 120, 10


def with_identities(request: Request, rows: Sequence[dict[str, Any]]) -> None:
    """Add ``row["identity"]`` (name, company, link; each may be ``None``) to each row."""
    store: Store = request.app.state.store
    template = request.app.state.settings.crm_url_template
    found = store.identities([row["lead_id"] for row in rows])
    for row in rows:
        row["identity"] = shown_identity(row["lead_id"], found.get(row["lead_id"]), template)


def lead_identity(request: Request, lead_id: str) -> dict[str, Any]:
    """The lead page's identity of ``lead_id`` (see :func:`with_identities`)."""
    rows: list[dict[str, Any]] = [{"lead_id": lead_id}]
    with_identities(request, rows)
    identity: dict[str, Any] = rows[0]["identity"]
    return identity


def chart(points: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """SVG coordinates of P(won) (a line) and each decision's threshold (a step line).

    ``points`` oldest first. The y scale runs from 0 to a little above the largest of
    the scores and thresholds, as the lead page's gauge does; x is by position, so a
    burst of rescoring stays readable. ``None`` for fewer than two points.
    """
    if len(points) < 2:
        return None
    top = max(0.05, *(1.15 * p["p_won"] for p in points), *(1.15 * p["threshold"] for p in points))
    width, height, pad = CHART_WIDTH, CHART_HEIGHT, CHART_PAD
    step = (width - 2 * pad) / (len(points) - 1)

    def y(value: float) -> float:
        return pad + (height - 2 * pad) * (1 - clamp(value / top))

    dots = [
        {**p, "x": pad + i * step, "y": y(p["p_won"]), "ty": y(p["threshold"])}
        for i, p in enumerate(points)
    ]
    return {
        "width": width,
        "height": height,
        "top": top,
        "line": " ".join(f"{d['x']:.1f},{d['y']:.1f}" for d in dots),
        "threshold": " ".join(f"{d['x']:.1f},{d['ty']:.1f}" for d in dots),
        "dots": dots,
    }


def lead_history(request: Request, lead_id: str) -> dict[str, Any]:
    """The lead page's history block: the chart, the newest entries, change and trend."""
    store: Store = request.app.state.store
    rows, total = score_history(store, lead_id, limit=CHART_POINTS)
    change = score_changes(store, [lead_id], page_now(request)).get(lead_id)
    return {
        "chart": chart(rows[::-1]),
        "rows": rows[:10],
        "total": total,
        "change": change,
        "trend": trend_word(change),
        "days": TREND_DAYS,
        "dead_band": DEAD_BAND,
    }
