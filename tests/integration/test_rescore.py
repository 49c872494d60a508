"""Re-scoring and decay: a lead that goes cold drops below the threshold, a warm one crosses it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
from fastapi.testclient import TestClient

from cli.rescore import open_leads, rescore_open_leads
from scoring.policy import BANDS, STALE_AFTER_DAYS, ThresholdPolicy
from tests.model_fixtures import Registry, admin_headers
from tests.payloads import LEAD

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

    # rejected "too early": back to nurture (DOMAIN.md), so it is still re-scored
    def reject(reason: str, at: datetime, key: str) -> None:
        answer = client.post(
            "/v1/feedback",
            json={"lead_id": "warm-then-cold", "kind": "rejected", "reason": reason,
                  "at": at.isoformat()},
            headers={**admin_headers(), "Idempotency-Key": key},
        )  # fmt: skip
        assert answer.status_code == 201, answer.text

    reject("too_early", later, "rescore-nurture-1")
    _, rows = rescore_open_leads(
        registry.result.scorer,
        store.decisions_for_training(),
        store.feedback_frame(),
        later + timedelta(days=1),
        "1",
    )
    assert [r["lead_id"] for r in rows] == ["warm-then-cold"]
    # rejected as not in the ICP: nurturing cannot change that, it is no longer re-scored
    reject("not_icp", later + timedelta(days=2), "rescore-closed-1")
    closed, rows = rescore_open_leads(
        registry.result.scorer, store.decisions_for_training(), store.feedback_frame(), later, "1"
    )
    assert closed == [] and rows == []


def test_a_lead_returned_to_nurture_is_rescored_and_can_be_handed_again() -> None:
    """The lifecycle decides who is open: a returned lead is, a won one is not."""
    decisions = pd.DataFrame(
        {
            "lead_id": ["back", "won", "fresh"],
            "scored_at": [T0, T0, T0],
            "as_of": [T0, T0, T0],
            "decision": ["hand_to_sales", "hand_to_sales", "nurture"],
            "features": [{}, {}, {}],
        }
    )
    feedback = pd.DataFrame(
        {
            "lead_id": ["back", "won"],
            "kind": ["returned_to_nurture", "won"],
            "at": [T0 + timedelta(hours=2), T0 + timedelta(days=30)],
            "reason": [None, None],
            "amount": [None, 20_000.0],
            "contact_attempts": [None, None],
        }
    )
    assert sorted(open_leads(decisions, feedback)["lead_id"]) == ["back", "fresh"]


def test_a_top_fit_lead_silent_for_216_days_is_not_handed_over(registry: Registry) -> None:
    """Engagement decays: after 90 silent days no hand-over on fit alone (docs/lifecycle.md)."""
    scorer = registry.result.scorer
    top = {**LEAD, "touches": _burst([0.5, 1, 2, 3, 4, 6])}
    fresh = scorer.score_records([top], [T0])
    assert BANDS[fresh.bands[0]] == "hand_to_sales"
    silent = scorer.score_records([top], [T0 + timedelta(days=216)])
    # the model alone still hands it over (it never saw such a silence in training)...
    assert silent.p_won[0] >= scorer.policy.handoff_threshold
    # ...the decay rule nurtures it, and says so in the policy the model carries
    assert BANDS[silent.bands[0]] == "nurture"
    assert scorer.policy.to_dict()["stale_after_days"] == STALE_AFTER_DAYS
    # a lead without any touch on record is not "silent": fit alone still counts
    untouched = scorer.score_records([{**LEAD, "touches": []}], [T0 + timedelta(days=216)])
    no_rule = ThresholdPolicy(**{**scorer.policy.to_dict(), "stale_after_days": None})
    assert untouched.bands[0] == no_rule.decide(untouched.p_won, untouched.p_sql)[0]
