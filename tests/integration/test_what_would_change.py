"""What would change the decision, through the API and the lead page (issue 13 item 3).

Each suggested change is sent back to ``POST /v1/score`` as the modified lead it
describes; the decision and P(won) that come back must be the ones promised.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.tables import Role
from tests.clients import signed_in
from tests.integration.pages_helpers import AS_OF, decision_row, score
from tests.model_fixtures import admin_headers
from tests.payloads import COLD, HOT, LEAD


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def _score(client: TestClient, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = client.post("/v1/score", json=body, headers=admin_headers(), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _changed(body: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """The request the change describes: its touches added, or scored later with none new."""
    touches = list(body["touches"])
    for step in change["steps"]:
        if step["code"] == "no_activity":
            touches = [t for t in touches if t["at"] < body["as_of"]]
        else:
            touches.append({"at": step["params"]["at"], "type": step["params"]["type"]})
    return {**body, "touches": touches, "as_of": change["as_of"]}


MIDDLING = {
    **LEAD,
    "lead_id": "middling",
    "company_size": "11-50",
    "touches": [{"at": "2026-03-20T10:00:00Z", "type": "page_view"}],
}
"""Nurtured by the session's model, a touch or two below the line."""


@pytest.mark.parametrize(
    ("lead", "expected"),
    [
        ({**LEAD, "as_of": AS_OF}, True),  # handed over: the 90-day decay rule ends it
        ({**MIDDLING, "as_of": AS_OF}, True),
        ({**COLD, "as_of": AS_OF}, None),  # whatever the model says, but true to it
    ],
    ids=["hot", "middling", "cold"],
)
def test_each_change_gives_the_promised_decision_when_sent_back(
    client: TestClient, lead: dict[str, Any], expected: bool | None
) -> None:
    answer = _score(client, lead, counterfactuals="true")
    found = answer["what_would_change"]
    assert expected is None or found["found"] is expected
    assert found["direction"] == ("down" if answer["decision"] == "hand_to_sales" else "up")
    assert found["found"] == bool(found["changes"]) and len(found["changes"]) <= 3
    for change in found["changes"]:
        again = _score(client, _changed(lead, change))
        assert again["decision"] == change["decision"] != answer["decision"]
        assert again["p_won"] == pytest.approx(change["p_won"], abs=1e-6)
        assert change["text"] and "add_touch" not in change["text"]
        assert all(s["code"].startswith(("add_touch.", "no_activity")) for s in change["steps"])


def test_the_field_appears_only_when_asked(client: TestClient) -> None:
    body = {**LEAD, "as_of": AS_OF}
    assert "what_would_change" not in _score(client, body)
    assert "what_would_change" not in _score(client, body, counterfactuals="false")
    batch = {"leads": [body, {**COLD, "as_of": AS_OF}]}
    plain = client.post("/v1/score/batch", json=batch, headers=admin_headers()).json()
    assert all("what_would_change" not in r for r in plain["results"])
    asked = client.post(
        "/v1/score/batch", json={**batch, "counterfactuals": True}, headers=admin_headers()
    )
    assert asked.status_code == 200, asked.text
    single = _score(client, body, counterfactuals="true")["what_would_change"]
    results = asked.json()["results"]
    assert all("what_would_change" in r for r in results)
    assert results[0]["what_would_change"] == single  # batch and single agree
    refused = client.post(
        "/v1/score/batch", json={**batch, "counterfactuals": "yes"}, headers=admin_headers()
    )
    assert refused.status_code == 422 and "counterfactuals" in refused.text


def test_the_field_and_switches_are_in_the_openapi_document(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "what_would_change" in schemas["ScoreResponse"]["properties"]
    assert {"direction", "found", "changes"} <= set(schemas["WhatWouldChange"]["properties"])
    batch = document["paths"]["/v1/score/batch"]["post"]["requestBody"]["content"]
    assert "counterfactuals" in batch["application/json"]["schema"]["properties"]
    parameters = document["paths"]["/v1/score"]["post"]["parameters"]
    assert "counterfactuals" in {p["name"] for p in parameters}


def test_the_lead_page_shows_the_changes_in_english_and_russian(client: TestClient) -> None:
    signed_in(client, Role.SALES)
    leads = (HOT, COLD, MIDDLING)
    answers = [score(client, lead) for lead in leads]
    expected = {
        lead["lead_id"]: _score(client, {**lead, "as_of": AS_OF}, counterfactuals="true")
        for lead in leads
    }
    assert any(e["what_would_change"]["direction"] == "up" for e in expected.values())
    for answer in answers:
        found = expected[answer["lead_id"]]["what_would_change"]
        english = client.get(f"/ui/leads/{answer['lead_id']}?lang=en").text
        russian = client.get(f"/ui/leads/{answer['lead_id']}?lang=ru").text
        assert 'id="what-would-change"' in english
        assert "What would change the decision" in english
        assert "Что изменило бы решение" in russian
        for change in found["changes"]:
            assert f"If the lead {change['text']}" in english
            shown = f"{100 * change['p_won']:.1f}"
            assert f"P(won) would be {shown}%" in english
            assert f"P(сделка) станет {shown.replace('.', ',')}%" in russian
        if found["found"]:
            assert "Если лид" in russian and "If the lead" not in russian
        else:
            assert "would not" in english or "No touch" in english


def test_the_lead_page_says_so_when_the_decision_cannot_be_redone(client: TestClient) -> None:
    """A decision of another model version: nothing is re-scored with the wrong model."""
    signed_in(client, Role.SALES)
    at = datetime(2026, 3, 30, 9, tzinfo=UTC)
    client.app.state.store.record_decisions(
        [decision_row("other-model", "nurture", at, model_version="7")]
    )
    english = client.get("/ui/leads/other-model?lang=en").text
    assert "Not available: the model now served did not make this decision" in english
    assert "If the lead" not in english
