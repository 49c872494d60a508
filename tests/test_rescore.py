"""Re-scoring and decay: a lead that goes cold drops below the threshold, a warm one crosses it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from serving.rescore import rescore_open_leads
from tests.model_fixtures import Registry, admin_headers
from tests.test_api import LEAD

T0 = datetime(2026, 4, 1, 9, tzinfo=UTC)


def _burst(days_before: list[float]) -> list[dict[str, str]]:
    kinds = ["demo_request", "pricing_page_view", "webinar_attended", "content_download"]
    return [
        {"at": (T0 - timedelta(days=d)).isoformat(), "type": kinds[i % len(kinds)]}
        for i, d in enumerate(days_before)
    ]


def test_engagement_decays_as_time_passes(registry: Registry) -> None:
    scorer = registry.result.scorer
    warm = {**LEAD, "touches": _burst([0.5, 1, 2, 3, 4, 6])}
    moments = [T0 + timedelta(days=d) for d in (0, 30, 90, 180)]
    p_won = [scorer.score_records([warm], [m]).p_won[0] for m in moments]
    engagement = [scorer.score_records([warm], [m]).engagement_score[0] for m in moments]
    assert engagement == sorted(engagement, reverse=True) and engagement[0] > engagement[-1]
    assert p_won[0] > p_won[-1]


def test_bulk_rescore_reports_who_crossed(
    registry: Registry, make_client: Callable[..., TestClient]
) -> None:
    client = make_client()
    warm = {
        **LEAD,
        "lead_id": "warm-then-cold",
        # an average fit: engagement is what carries it over the line
        "industry": "retail",
        "company_size": "11-50",
        "seniority": "manager",
        "touches": _burst([0.5, 1, 2, 3, 4, 6]),
        "as_of": T0.isoformat(),
    }
    first = client.post("/v1/score", json=warm, headers=admin_headers()).json()
    assert first["decision"] == "hand_to_sales", first
    store = client.app.state.store
    client.app.state.decision_log.flush()

    later = T0 + timedelta(days=180)
    crossings, rows = rescore_open_leads(
        registry.result.scorer, store.decisions_for_training(), store.feedback_frame(), later, "1"
    )
    assert [c.lead_id for c in crossings] == ["warm-then-cold"]
    assert (
        crossings[0].after != "hand_to_sales"
        and crossings[0].p_won_after < crossings[0].p_won_before
    )
    store.record_decisions(rows)
    latest = store.last_decision("warm-then-cold")
    assert latest["decision"] == crossings[0].after
    assert latest["features"]["touches"], "the timeline survives re-scoring"

    # sales closed it: a closed lead is no longer re-scored
    client.post(
        "/v1/feedback",
        json={
            "lead_id": "warm-then-cold",
            "kind": "rejected",
            "reason": "too_early",
            "at": later.isoformat(),
        },
        headers={**admin_headers(), "Idempotency-Key": "rescore-closed-1"},
    )
    again, _ = rescore_open_leads(
        registry.result.scorer, store.decisions_for_training(), store.feedback_frame(), later, "1"
    )
    assert again == []
