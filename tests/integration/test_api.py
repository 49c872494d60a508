"""The scoring API as a client sees it: happy paths, roles, bad input, idempotency."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving.tables import Role
from tests.clients import key
from tests.conftest import BOTH_DATABASES
from tests.model_fixtures import Registry, admin_headers
from tests.payloads import FEEDBACK, LEAD, PII, SCORED_BEFORE_FEEDBACK


@pytest.fixture
def client(request: pytest.FixtureRequest) -> TestClient:
    """A started app on an empty SQLite database, or PostgreSQL under :data:`ON_POSTGRES_TOO`.

    The PostgreSQL schema (``postgres_url``, one per test, so runs sharing the server do
    not see each other) is requested before the app, so it is dropped after the app stops.
    """
    overrides: dict[str, object] = {}
    if getattr(request, "param", "sqlite") == "postgres":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    make_client: Callable[..., TestClient] = request.getfixturevalue("make_client")
    return make_client(**overrides)


ON_POSTGRES_TOO = pytest.mark.parametrize("client", BOTH_DATABASES, indirect=True)
"""For the tests of what the API stores (feedback, decisions, keys): run them on both
databases. The others run on SQLite only: the app's setup is most of each test's time, and
doubling all of them would add minutes to the suite for paths that store nothing new."""


def score(client: TestClient, body: dict[str, Any], **params: Any) -> Any:
    return client.post("/v1/score", json=body, headers=admin_headers(), params=params)


# --- happy paths -------------------------------------------------------------------------


def test_score_returns_calibrated_stages_decision_and_reasons(client: TestClient) -> None:
    response = score(client, {**LEAD, "as_of": "2026-03-30T09:00:00Z"}, reasons=20)
    assert response.status_code == 200, response.text
    body = response.json()
    assert 0 < body["p_won"] <= body["p_sql"] < 1
    assert body["decision"] in {"hand_to_sales", "nurture", "disqualify"}
    # each of the three is rounded to 6 decimals on its own: up to 1.5e-6 apart
    assert math.isclose(
        body["distance_to_threshold"], body["p_won"] - body["threshold"], abs_tol=1.5e-6
    )
    assert 0 <= body["fit_score"] <= 100 and 0 <= body["engagement_score"] <= 100
    assert body["model"] == {"name": "leadscore", "version": "1"}
    reasons = body["reasons"]["positive"] + body["reasons"]["negative"]
    assert reasons and all(r["text"] and "_" not in r["text"].split()[0] for r in reasons)
    assert any("demo" in r["text"] for r in body["reasons"]["positive"])
    assert body["unseen_categories"] == []
    assert not any(value in response.text for value in PII.values())


def test_decision_follows_the_threshold(client: TestClient, registry: Registry) -> None:
    hot = score(client, {**LEAD, "as_of": "2026-03-30T09:00:00Z"}).json()
    cold = score(
        client,
        {
            **LEAD,
            "lead_id": "cold",
            "industry": "government",
            "company_size": "1-10",
            "seniority": "intern",
            "touches": [],
            "as_of": "2026-03-30T09:00:00Z",
        },
    ).json()
    assert hot["p_won"] > cold["p_won"]
    for body in (hot, cold):
        handed = body["p_won"] >= body["threshold"]
        assert (body["decision"] == "hand_to_sales") == handed
    if hot["decision"] == "hand_to_sales":
        assert hot["likely_rejection"]["reason"] in registry.result.scorer.reason_classes
        assert hot["likely_rejection"]["text"]


def test_unseen_category_is_flagged_not_dropped(client: TestClient) -> None:
    body = score(client, {**LEAD, "industry": "asteroid mining", "region": "Lunar"}).json()
    assert body["unseen_categories"] == ["industry", "region"]
    assert body["p_won"] > 0


def test_batch_matches_single_scores(client: TestClient) -> None:
    leads = [{**LEAD, "lead_id": f"b{i}", "touches": LEAD["touches"][: i % 4]} for i in range(8)]
    as_of = "2026-03-30T09:00:00Z"
    batch = client.post(
        "/v1/score/batch",
        json={"leads": leads, "as_of": as_of, "reasons": True},
        headers=admin_headers(),
    )
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["lead_id"] for r in results] == [lead["lead_id"] for lead in leads]
    for lead, result in zip(leads, results, strict=True):
        single = score(client, {**lead, "as_of": as_of}).json()
        assert math.isclose(single["p_won"], result["p_won"], rel_tol=1e-9)
        assert single["reasons"] == result["reasons"]
    no_reasons = client.post("/v1/score/batch", json={"leads": leads}, headers=admin_headers())
    assert all(r["reasons"] is None for r in no_reasons.json()["results"])


def test_batch_size_limit_names_the_field(make_client: Callable[..., TestClient]) -> None:
    client = make_client(batch_max_leads=5)
    response = client.post("/v1/score/batch", json={"leads": [LEAD] * 6}, headers=admin_headers())
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "leads"


@ON_POSTGRES_TOO
def test_last_decision_for_sales_review(client: TestClient) -> None:
    score(client, {**LEAD, "as_of": "2026-03-30T09:00:00Z"})
    latest = score(client, {**LEAD, "touches": [], "as_of": "2026-04-30T09:00:00Z"}).json()
    response = client.get("/v1/leads/api-lead-1/decision", headers=key(client, Role.SALES))
    assert response.status_code == 200
    decision = response.json()
    assert decision["p_won"] == pytest.approx(latest["p_won"])
    assert decision["model_version"] == "1"
    assert decision["reasons"]
    assert not any(value in response.text for value in PII.values())
    assert client.get("/v1/leads/nobody/decision", headers=admin_headers()).status_code == 404


def test_model_endpoint_describes_the_serving_version(client: TestClient) -> None:
    body = client.get("/v1/model", headers=key(client, Role.SCORER)).json()
    assert body["version"] == "1" and body["source"] == "registry"
    assert body["stages"] == ["sql", "won_given_sql"]
    assert 0 < body["policy"]["handoff_threshold"] < 1
    assert body["metrics"]["test_roc_auc_won"] > 0.6


def test_model_endpoint_shows_the_family_contest(client: TestClient) -> None:
    """Per stage: the family kept and both candidates' validation figures (the session
    model is trained on 4,000 leads, where the logistic regression wins)."""
    body = client.get("/v1/model", headers=key(client, Role.SCORER)).json()
    assert set(body["families"]) == {"sql", "won_given_sql"}
    for contest in body["families"].values():
        assert set(contest["candidates"]) == {"lightgbm", "logistic"}
        best = min(contest["candidates"].values(), key=lambda c: c["val_log_loss"])
        assert contest["candidates"][contest["chosen"]]["val_log_loss"] == pytest.approx(
            best["val_log_loss"], abs=1e-4
        )
        assert all(0.5 < c["val_roc_auc"] <= 1 for c in contest["candidates"].values())
    assert "candidate_logistic_val_logloss_sql" in body["metrics"]


def test_ops_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    score(client, LEAD)
    metrics = client.get("/metrics").text
    assert 'leadscore_requests_total{method="POST",route="/v1/score",status="200"}' in metrics
    assert "leadscore_decisions_total" in metrics and "leadscore_p_won_bucket" in metrics


# --- feedback ---------------------------------------------------------------------------


@ON_POSTGRES_TOO
def test_feedback_is_idempotent(client: TestClient) -> None:
    sales = key(client, Role.SALES)
    score(client, SCORED_BEFORE_FEEDBACK)
    first = client.post(
        "/v1/feedback", json=FEEDBACK, headers={**sales, "Idempotency-Key": "fb-000001"}
    )
    assert first.status_code == 201, first.text
    assert first.json()["decision_id"]
    again = client.post(
        "/v1/feedback", json=FEEDBACK, headers={**sales, "Idempotency-Key": "fb-000001"}
    )
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post(
        "/v1/feedback",
        json={**FEEDBACK, "reason": "no_budget"},
        headers={**sales, "Idempotency-Key": "fb-000001"},
    )
    assert other.status_code == 409
    assert client.app.state.store.count_feedback() == 1
    frame = client.app.state.store.feedback_frame()
    assert frame.loc[0, "reason"] == "too_early"


@ON_POSTGRES_TOO
def test_feedback_outcomes_are_stored(client: TestClient) -> None:
    sales = key(client, Role.SALES)
    for lead_id in ("x1", "x2", "x3"):
        score(client, {**LEAD, "lead_id": lead_id, "as_of": "2026-02-01T09:00:00Z"})
    for i, body in enumerate(
        [
            {"lead_id": "x1", "kind": "accepted", "at": "2026-03-01T10:00:00Z"},
            {"lead_id": "x1", "kind": "won", "at": "2026-06-01T10:00:00Z", "amount": 72_000},
            {"lead_id": "x2", "kind": "returned_to_nurture", "at": "2026-03-01T10:00:00Z"},
            {"lead_id": "x3", "kind": "lost", "at": "2026-06-01T10:00:00Z"},
        ]
    ):
        response = client.post(
            "/v1/feedback", json=body, headers={**sales, "Idempotency-Key": f"fb-x-{i:04d}"}
        )
        assert response.status_code == 201, response.text
    # the lost deal without a recorded acceptance: the acceptance it implies is stored too
    assert client.app.state.store.count_feedback() == 5
    assert client.app.state.store.count_feedback(kind="accepted") == 2


# --- roles --------------------------------------------------------------------------------

ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, set[Role]]] = [
    ("POST", "/v1/score", LEAD, {Role.SCORER}),
    ("POST", "/v1/score/batch", {"leads": [LEAD]}, {Role.SCORER}),
    ("GET", "/v1/leads/api-lead-1/decision", None, {Role.SALES}),
    ("POST", "/v1/feedback", FEEDBACK, {Role.SALES}),
    ("GET", "/v1/model", None, {Role.SCORER, Role.SALES, Role.MARKETING}),
    ("POST", "/v1/admin/reload", None, set()),
]


@ON_POSTGRES_TOO
@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), ENDPOINTS, ids=[e[1] for e in ENDPOINTS]
)
def test_every_endpoint_refuses_the_wrong_role(
    client: TestClient, method: str, path: str, body: dict[str, Any] | None, allowed: set[Role]
) -> None:
    assert client.request(method, path, json=body).status_code == 401
    assert (
        client.request(method, path, json=body, headers={"X-API-Key": "lsk_nope"}).status_code
        == 401
    )
    score(client, SCORED_BEFORE_FEEDBACK)
    for role in Role:
        headers = {**key(client, role), "Idempotency-Key": f"roles-{role.value}-key"}
        status = client.request(method, path, json=body, headers=headers).status_code
        if role in allowed or role is Role.ADMIN:
            assert status in {200, 201}, (role, status)
        else:
            assert status == 403, (role, status)


@ON_POSTGRES_TOO
def test_revoked_key_is_refused(client: TestClient) -> None:
    store = client.app.state.store
    raw = store.create_api_key("rotating", Role.SCORER)
    assert client.post("/v1/score", json=LEAD, headers={"X-API-Key": raw}).status_code == 200
    store.revoke_api_key("rotating")
    assert client.post("/v1/score", json=LEAD, headers={"X-API-Key": raw}).status_code == 401


# --- bad input ------------------------------------------------------------------------------


def _without(field: str) -> dict[str, Any]:
    return {k: v for k, v in LEAD.items() if k != field}


MALFORMED_SCORES: list[tuple[str, Any, str]] = [
    ("unknown field", {**LEAD, "compnay_size": "11-50"}, "compnay_size"),
    ("missing lead_id", _without("lead_id"), "lead_id"),
    ("empty lead_id", {**LEAD, "lead_id": ""}, "lead_id"),
    ("lead_id with spaces", {**LEAD, "lead_id": "a b"}, "lead_id"),
    ("lead_id too long", {**LEAD, "lead_id": "x" * 65}, "lead_id"),
    ("bad date", {**LEAD, "created_at": "yesterday"}, "created_at"),
    ("bad as_of", {**LEAD, "as_of": "2026-13-45"}, "as_of"),
    ("year 3000", {**LEAD, "created_at": "3000-01-01T00:00:00Z"}, "created_at"),
    (
        "touch in 1066",
        {**LEAD, "touches": [{"at": "1066-10-14T09:00:00Z", "type": "call"}]},
        "touches.0.at",
    ),
    ("number as industry", {**LEAD, "industry": 42}, "industry"),
    ("huge string", {**LEAD, "industry": "x" * 5000}, "industry"),
    (
        "touch type unknown",
        {**LEAD, "touches": [{"at": "2026-03-01T00:00:00Z", "type": "hug"}]},
        "touches.0.type",
    ),
    ("touch without time", {**LEAD, "touches": [{"type": "demo_request"}]}, "touches.0.at"),
    (
        "touch extra field",
        {**LEAD, "touches": [{"at": "2026-03-01T00:00:00Z", "type": "chat", "x": 1}]},
        "touches.0.x",
    ),
    ("touches not a list", {**LEAD, "touches": "many"}, "touches"),
    ("consent not bool", {**LEAD, "consent_email": "perhaps"}, "consent_email"),
    ("NaN attribute", {**LEAD, "attributes": {"visits": float("nan")}}, "attributes.visits"),
    ("Infinity attribute", {**LEAD, "attributes": {"visits": float("inf")}}, "attributes.visits"),
    ("absurd attribute", {**LEAD, "attributes": {"visits": 1e300}}, "attributes.visits"),
    ("email too long", {**LEAD, "email": "a" * 400 + "@example.org"}, "email"),
    ("body is a list", [LEAD], "body"),
    ("body is not JSON", "{not json", "body"),
]


@pytest.mark.parametrize(
    ("case", "body", "field"), MALFORMED_SCORES, ids=[c[0] for c in MALFORMED_SCORES]
)
def test_malformed_score_is_a_422_naming_the_field(
    client: TestClient, case: str, body: Any, field: str
) -> None:
    _assert_422_naming(client, "/v1/score", body, field)


def _assert_422_naming(client: TestClient, path: str, body: Any, field: str) -> None:
    """``body`` (JSON data, or raw text) gets a 422 naming ``field`` and echoing nothing."""
    content = body if isinstance(body, str) else json.dumps(body, allow_nan=True)
    response = client.post(
        path, content=content, headers={**admin_headers(), "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    fields = [item["field"] for item in response.json()["detail"]]
    assert any(f == field or f.startswith(field) for f in fields), fields
    for value in (*PII.values(), "x" * 100, "yesterday", "perhaps"):
        assert value not in response.text


MALFORMED_BATCHES: list[tuple[str, Any, str]] = [
    *[  # every malformed lead, inside a batch: the field is named under its position
        (case, {"leads": [LEAD, body]}, f"leads.1.{field}")
        for case, body, field in MALFORMED_SCORES
        if isinstance(body, dict)
    ],
    ("no leads", {"as_of": "2026-04-01T00:00:00Z"}, "leads"),
    ("empty leads", {"leads": []}, "leads"),
    ("unknown batch field", {"leads": [LEAD], "reason": True}, "reason"),
    ("reasons not a bool", {"leads": [LEAD], "reasons": "maybe"}, "reasons"),
    ("bad batch as_of", {"leads": [LEAD], "as_of": "soon"}, "as_of"),
    ("batch body is a list", [LEAD], "body"),
    ("batch body is not JSON", "{not json", "body"),
    ("batch body is empty", "", "body"),
]


@pytest.mark.parametrize(
    ("case", "body", "field"), MALFORMED_BATCHES, ids=[c[0] for c in MALFORMED_BATCHES]
)
def test_malformed_batch_is_a_422_naming_the_field(
    client: TestClient, case: str, body: Any, field: str
) -> None:
    _assert_422_naming(client, "/v1/score/batch", body, field)


MALFORMED_FEEDBACK: list[tuple[str, dict[str, Any], str]] = [
    ("rejected without reason", {**FEEDBACK, "reason": None}, "reason"),
    ("reason on acceptance", {**FEEDBACK, "kind": "accepted"}, "reason"),
    ("unknown kind", {**FEEDBACK, "kind": "maybe"}, "kind"),
    ("unknown reason", {**FEEDBACK, "reason": "too_expensive"}, "reason"),
    ("negative attempts", {**FEEDBACK, "contact_attempts": -1}, "contact_attempts"),
    ("absurd amount", {**FEEDBACK, "kind": "won", "reason": None, "amount": 1e30}, "amount"),
    ("negative hours", {**FEEDBACK, "first_response_hours": -3}, "first_response_hours"),
    ("missing time", {k: v for k, v in FEEDBACK.items() if k != "at"}, "at"),
    ("comment too long", {**FEEDBACK, "comment": "olga.petrova@example.org " * 200}, "comment"),
    ("unknown field", {**FEEDBACK, "email": PII["email"]}, "email"),
]


@ON_POSTGRES_TOO
@pytest.mark.parametrize(
    ("case", "body", "field"), MALFORMED_FEEDBACK, ids=[c[0] for c in MALFORMED_FEEDBACK]
)
def test_malformed_feedback_is_a_422_naming_the_field(
    client: TestClient, case: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(
        "/v1/feedback", json=body, headers={**admin_headers(), "Idempotency-Key": "bad-feedback-1"}
    )
    assert response.status_code == 422, response.text
    assert field in [item["field"] for item in response.json()["detail"]]
    assert PII["email"] not in response.text
    assert client.app.state.store.count_feedback() == 0


@ON_POSTGRES_TOO
def test_feedback_needs_an_idempotency_key(client: TestClient) -> None:
    response = client.post("/v1/feedback", json=FEEDBACK, headers=admin_headers())
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "idempotency-key"


def test_body_size_limit_is_a_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=4096)
    big = {**LEAD, "touches": [{"at": "2026-03-01T00:00:00Z", "type": "page_view"}] * 200}
    response = client.post("/v1/score", json=big, headers=admin_headers())
    assert response.status_code == 413

    def chunks():  # no Content-Length: the limit must hold for a streamed body too
        yield json.dumps(big).encode()

    streamed = client.post(
        "/v1/score",
        content=chunks(),
        headers={**admin_headers(), "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/score",
        "/v1/score/batch",
        "/v1/leads/{lead_id}/decision",
        "/v1/feedback",
        "/v1/model",
    ):
        assert path in paths


def test_openapi_references_resolve(client: TestClient) -> None:
    """Every ``$ref`` points at a schema that exists, the batch body's included."""
    doc = client.get("/openapi.json").json()
    refs = set(re.findall(r'"\$ref":\s*"([^"]+)"', json.dumps(doc)))
    assert "#/components/schemas/ScoreRequest" in refs
    for ref in refs:
        node = doc
        for part in ref.removeprefix("#/").split("/"):
            assert part in node, ref
            node = node[part]
    body = doc["paths"]["/v1/score/batch"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    assert set(schema["properties"]) == {"leads", "as_of", "reasons", "counterfactuals"}
    assert schema["properties"]["leads"]["items"] == {"$ref": "#/components/schemas/ScoreRequest"}


def test_no_personal_data_in_logs(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    score(client, LEAD)
    client.post("/v1/score", json={**LEAD, "bogus": 1})
    client.post(
        "/v1/feedback", json=FEEDBACK, headers={**admin_headers(), "Idempotency-Key": "log-test-1"}
    )
    assert not any(v in caplog.text for v in PII.values())


@ON_POSTGRES_TOO
def test_decision_log_keeps_no_personal_data(client: TestClient) -> None:
    score(client, LEAD)
    client.app.state.decision_log.flush()
    frame = client.app.state.store.decisions_for_training()
    dumped = frame.to_json()
    assert not any(value in dumped for value in PII.values())
    features = frame.iloc[-1]["features"]
    assert features["industry"] == "software"
    assert np.isfinite(features["engagement_recency"])


@ON_POSTGRES_TOO
def test_decision_log_rounds_features_as_python_does(client: TestClient) -> None:
    """Stored engagement features are ``round(v, 6)``, not numpy's rounding.

    ``np.round(3.0000005, 6)`` is 3.0 and ``round(3.0000005, 6)`` is 3.000001: retraining
    reads these values back, and one ulp of difference changed a whole simulation run.
    """
    from serving.decision_log import build_rows, now
    from serving.schemas import ScoreRequest
    from serving.store.jsonclean import _clean

    scorer = client.app.state.models.current.scorer
    request = ScoreRequest.model_validate({**LEAD, "as_of": "2026-04-01T09:00:00Z"})
    records, as_of = [request.record()], [request.as_of]
    scores = scorer.score_records(records, as_of)
    n_touch = len(scorer.feature_names) - len(scorer.spec.input_columns)
    halfway = 3.0000005 + np.arange(n_touch)  # every one rounds differently in numpy
    scores.matrix[0, -n_touch:] = halfway
    result = {"p_sql": 0.1, "p_won": 0.1, "fit_score": 1.0, "engagement_score": 1.0}
    result |= {"decision": "nurture", "threshold": 0.2, "reasons": None}
    (row,) = build_rows(scorer, records, as_of, scores, [result], "m", "1", "r", now())
    stored = [row["features"][name] for name in scorer.feature_names[-n_touch:]]
    assert stored == [round(v, 6) for v in halfway.tolist()]
    # built clean, so the store takes it as it is: the same as cleaning it would give
    assert row["features"] == _clean(dict(row["features"]))
