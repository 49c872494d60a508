"""Scoring a lead through the API and hand-made decision rows: shared by the page tests
(and the browser and reason-model tests).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient

from tests.clients import hidden
from tests.model_fixtures import admin_headers

AS_OF = "2026-03-30T09:00:00Z"


def score(client: TestClient, lead: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        "/v1/score", json={**lead, "as_of": AS_OF}, params={"reasons": 5}, headers=admin_headers()
    )
    assert response.status_code == 200, response.text
    client.app.state.decision_log.flush()
    return response.json()


def decision_row(lead_id: str, decision: str, scored_at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "scored_at": scored_at,
        "as_of": scored_at,
        "model_name": "leadscore",
        "model_version": "1",
        "features": {"channel": extra.pop("channel", "seo"), "touches": []},
        "p_sql": 0.5,
        "p_won": extra.pop("p_won", 0.2),
        "fit_score": 60.0,
        "engagement_score": 40.0,
        "decision": decision,
        "threshold": 0.1,
        **extra,
    }


def _decision_form(client: TestClient, lead_id: str) -> dict[str, str]:
    html = client.get(f"/ui/leads/{lead_id}").text
    return {"csrf": hidden(html, "csrf"), "idem": hidden(html, "idem")}
