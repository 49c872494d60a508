"""Reports through the JSON API: the endpoints, their roles and parameters, drift gauges."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.reports import (
    DIMENSIONS,
    reference_profile,
)
from serving.tables import Role
from tests.integration.reports_helpers import _in_unit
from tests.model_fixtures import Registry, admin_headers
from training.history import CRMHistory

# --- JSON API -------------------------------------------------------------------------------

ENDPOINTS = ("funnel", "rejections", "sla", "calibration", "drift")


def _lead_body(lead: pd.Series, touches: pd.DataFrame) -> dict[str, Any]:
    fields = ("lead_id", "channel", "campaign", "industry", "company_size", "country")
    body: dict[str, Any] = {f: str(lead[f]) for f in fields}
    body.update(
        region=str(lead["region"]),
        revenue_band=str(lead["revenue_band"]),
        seniority=str(lead["seniority"]),
        department=str(lead["department"]),
        created_at=lead["created_at"].isoformat(),
        as_of=lead["mql_at"].isoformat(),
        name="Jane Roe",  # PII is accepted by the API and must never reach a report
        email="jane.roe@example.com",
        touches=[
            {"at": t.isoformat(), "type": k}
            for t, k in zip(touches["at"], touches["type"], strict=True)
            if t < lead["mql_at"]
        ][-30:],
    )
    return body


@pytest.fixture(scope="module")
def served(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A server whose store holds 240 scored leads and their sales feedback and deals.

    Module-scoped (scoring and storing the feedback takes a few seconds), so the tests
    using it only read.
    """
    from serving.app import create_app

    root = tmp_path_factory.mktemp("reports-api")
    settings = registry.settings(
        registry.root / "serving-home", database_url=f"sqlite:///{root / 'db.sqlite'}"
    )
    with TestClient(create_app(settings)) as client:
        _fill_store(client, registry.history)
        yield client


def _fill_store(client: TestClient, history: CRMHistory) -> None:
    leads = history.leads.sort_values("mql_at").iloc[:: len(history.leads) // 240][:240]
    touches = history.touches.groupby("lead_id")
    body = {
        "leads": [
            _lead_body(lead, touches.get_group(lead["lead_id"])) for _, lead in leads.iterrows()
        ]
    }
    response = client.post("/v1/score/batch", json=body, headers=admin_headers())
    assert response.status_code == 200, response.text
    client.app.state.decision_log.flush()  # feedback needs its lead scored (the lifecycle)
    store = client.app.state.store
    ids = set(leads["lead_id"])
    fb = history.feedback[history.feedback["lead_id"].isin(ids)]
    for i, row in enumerate(fb.itertuples()):
        event = {"lead_id": row.lead_id, "kind": row.decision, "at": row.at.isoformat()}
        if isinstance(row.reason, str):
            event["reason"] = row.reason
        if not pd.isna(row.contact_attempts):
            event["contact_attempts"] = int(row.contact_attempts)
        if not pd.isna(row.first_response_hours):
            event["first_response_hours"] = float(row.first_response_hours)
        store.add_feedback(event, idempotency_key=f"fb-{i}", actor="test")
    deals = history.outcomes[history.outcomes["lead_id"].isin(ids)]
    for i, row in enumerate(deals.itertuples()):
        event = {"lead_id": row.lead_id, "kind": row.outcome, "at": row.closed_at.isoformat()}
        if not pd.isna(row.amount):
            event["amount"] = float(row.amount)
        store.add_feedback(event, idempotency_key=f"deal-{i}", actor="test")


def test_report_endpoints_answer_marketing_and_admin(served: TestClient) -> None:
    store = served.app.state.store
    marketing = {"X-API-Key": store.create_api_key("m", Role.MARKETING)}
    for headers in (marketing, admin_headers()):
        for name in ENDPOINTS:
            response = served.get(f"/v1/reports/{name}", headers=headers)
            assert response.status_code == 200, (name, response.text)
            body = response.json()
            assert body["section"] == name and body["source"] == "store"
            assert "jane" not in response.text.lower()

    funnel = served.get("/v1/reports/funnel", headers=marketing).json()
    total = funnel["total"]
    assert total["leads"] == 240 and total["leads"] >= total["mql"] >= total["sql"] > 0
    assert {r["dimension"] for r in funnel["rows"]} == set(DIMENSIONS)
    assert all(_in_unit(r["mql_to_sql"]) for r in funnel["rows"])

    rejections = served.get(
        "/v1/reports/rejections", params={"group_by": ["channel", "region"]}, headers=marketing
    ).json()
    assert {r["dimension"] for r in rejections["rows"]} == {"channel", "region"}
    total = rejections["total"]
    assert total["rejections"] > 0
    assert sum(v["count"] for v in total["reasons"].values()) == total["rejections"]

    sla = served.get("/v1/reports/sla", headers=marketing).json()["total"]
    assert sla["decided"] > 0
    assert all(_in_unit(v) for k, v in sla.items() if k.endswith("_share"))

    calibration = served.get("/v1/reports/calibration", headers=marketing).json()
    assert calibration["available"] and calibration["stages"]["sql"]["n"] > 100
    assert {d["decision"] for d in calibration["by_decision"]} <= {
        "hand_to_sales",
        "nurture",
        "disqualify",
    }

    costs = json.dumps({"channels": {"seo": {"marketing": 1000, "sales": 100}}})
    with_costs = served.get(
        "/v1/reports/funnel", params={"costs": costs, "group_by": "channel"}, headers=marketing
    ).json()
    seo = next(r for r in with_costs["rows"] if r["group"] == "seo")
    assert seo["marketing_cost"] == 1000 and with_costs["total"]["marketing_cost"] == 1000

    cohort = served.get(
        "/v1/reports/funnel",
        params={"start": "2025-01-01T00:00:00Z", "end": "2025-07-01T00:00:00Z"},
        headers=marketing,
    ).json()
    assert 0 < cohort["total"]["leads"] < 240


def _gauges(client: TestClient) -> dict[str, float]:
    metrics = client.get("/metrics").text
    out: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("leadscore_drift_psi{"):
            feature = line.split('feature="', 1)[1].split('"', 1)[0]
            out[feature] = float(line.rsplit(" ", 1)[1])
    return out


def test_drift_endpoint_without_a_training_profile(
    served: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Halves of the served decisions; only PSIs above sampling noise reach the gauge.

    (Models trained here carry a profile; one imported from elsewhere may not.)
    """
    metadata = served.app.state.models.current.scorer.metadata
    monkeypatch.delitem(metadata, "reference_profile", raising=False)
    drift = served.get("/v1/reports/drift", headers=admin_headers()).json()
    assert drift["reference"] == "first half of the served decisions"
    assert drift["n_current"] + drift["n_reference"] == 240
    assert drift["score"]["feature"] == "p_won"
    entries = {f["feature"]: f for f in [*drift["features"], drift["score"]]}
    # 120 decisions a side: too few to judge a 30-campaign distribution
    assert entries["campaign"]["status"] == "insufficient_data"
    # the served fit/engagement percentiles are judged against the training distribution
    assert entries["fit_score"]["status"] != "insufficient_data"
    assert entries["fit_score"]["reference"].startswith("training")
    gauges = _gauges(served)
    judged = {k for k, e in entries.items() if e["status"] != "insufficient_data"}
    assert judged and judged <= set(gauges)
    assert "campaign" not in gauges


def test_drift_endpoint_against_the_models_training_profile(
    served: TestClient, registry: Registry
) -> None:
    """With a reference profile in the model's metadata, drift is measured against it."""
    result = registry.result
    train_rows = result.frame[result.split == "train"]
    train_rows = train_rows.assign(p_won=result.scorer.predict_frame(train_rows)["p_won"])
    metadata = served.app.state.models.current.scorer.metadata
    metadata["reference_profile"] = reference_profile(train_rows)
    try:
        drift = served.get("/v1/reports/drift", headers=admin_headers()).json()
    finally:
        del metadata["reference_profile"]
    assert drift["reference"].startswith("training data of leadscore v")
    assert drift["n_reference"] == len(train_rows) and drift["n_current"] == 240
    industry = next(f for f in drift["features"] if f["feature"] == "industry")
    assert industry["status"] != "insufficient_data" and industry["psi"] >= 0
    gauges = _gauges(served)
    assert "industry" in gauges and "p_won" in gauges
    assert all(math.isfinite(v) and v >= 0 for v in gauges.values())


@pytest.mark.parametrize("role", [Role.SCORER, Role.SALES])
def test_report_endpoints_refuse_other_roles(
    make_client: Callable[..., TestClient], role: Role
) -> None:
    client = make_client()
    key = client.app.state.store.create_api_key(f"k-{role.value}", role)
    for name in ENDPOINTS:
        response = client.get(f"/v1/reports/{name}", headers={"X-API-Key": key})
        assert response.status_code == 403, (name, response.text)
    assert client.get("/v1/reports/funnel").status_code == 401


def test_report_endpoints_validate_their_parameters(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    bad = [
        {"group_by": "email"},
        {"costs": "{not json"},
        {"costs": json.dumps({"channels": {"seo": {"marketing": -5}}})},
        {"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
    ]
    for params in bad:
        response = client.get("/v1/reports/funnel", params=params, headers=admin_headers())
        assert response.status_code == 422, (params, response.text)
    # an empty store still answers, with empty sections
    empty = client.get("/v1/reports/drift", headers=admin_headers())
    assert empty.status_code == 200 and empty.json()["status"] == "insufficient_data"
    funnel = client.get("/v1/reports/funnel", headers=admin_headers()).json()
    assert funnel["total"]["leads"] == 0 and np.isclose(funnel["total"]["revenue"], 0.0)
