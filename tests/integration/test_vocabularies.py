"""Closed vocabularies (issue 13, item 7): an ordered band outside its levels is a 422 that
names the field and lists the levels; an open field's new value is scored and flagged;
a model trained through the CRM import path, with its own ordered feature, still scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from scoring.contract import COMPANY_SIZES, LEAD_ORDINAL_FEATURES
from tests.integration.importing_helpers import SOURCES_EN, _deals, _write_csv
from tests.model_fixtures import ADMIN_KEY, admin_headers
from tests.payloads import LEAD, PII


@pytest.fixture
def client(make_client) -> TestClient:  # type: ignore[no-untyped-def]
    return make_client()


def test_unknown_company_size_is_a_422_listing_the_bands(client: TestClient) -> None:
    body = {**LEAD, "company_size": "big", "as_of": "2026-03-30T09:00:00Z"}
    response = client.post("/v1/score", json=body, headers=admin_headers())
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert item["field"] == "company_size"
    for band in COMPANY_SIZES:
        assert band in item["message"]
    # nothing of the input is echoed: not the bad value, not the personal data
    assert "big" not in response.text
    for value in (*PII.values(), LEAD["industry"], LEAD["lead_id"]):
        assert value not in response.text

    batch = client.post(
        "/v1/score/batch",
        json={"leads": [LEAD, {**LEAD, "seniority": "ceo"}]},
        headers=admin_headers(),
    )
    assert batch.status_code == 422
    (item,) = batch.json()["detail"]
    assert item["field"] == "leads.1.seniority"
    assert "c_level" in item["message"] and "ceo" not in batch.text


@pytest.mark.parametrize("field", sorted(LEAD_ORDINAL_FEATURES))
def test_every_band_scores_and_null_means_unknown(client: TestClient, field: str) -> None:
    for value in (*LEAD_ORDINAL_FEATURES[field], None):
        response = client.post("/v1/score", json={**LEAD, field: value}, headers=admin_headers())
        assert response.status_code == 200, (value, response.text)
        assert response.json()["unseen_categories"] == []
    without = {k: v for k, v in LEAD.items() if k != field}
    assert client.post("/v1/score", json=without, headers=admin_headers()).status_code == 200


def test_a_new_industry_is_scored_and_flagged(client: TestClient) -> None:
    response = client.post(
        "/v1/score", json={**LEAD, "industry": "asteroid mining"}, headers=admin_headers()
    )
    assert response.status_code == 200, response.text
    assert response.json()["unseen_categories"] == ["industry"]


def test_the_bands_are_enums_in_the_openapi_schema(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for model in ("ScoreRequest", "Lead"):
        if model not in schemas:
            continue
        for field, levels in LEAD_ORDINAL_FEATURES.items():
            choices = schemas[model]["properties"][field]["anyOf"]
            assert {"type": "null"} in choices
            (band,) = [c for c in choices if "enum" in c]
            assert band["enum"] == list(levels)  # in order, smallest first
    # open fields stay open: no enum on industry or channel
    request = schemas["ScoreRequest"]["properties"]
    assert "enum" not in str(request["industry"]) and "enum" not in str(request["channel"])


# --- a model trained through the CRM import path ------------------------------------------


@pytest.mark.slow
def test_an_imported_model_with_its_own_ordinal_still_scores(tmp_path: Path) -> None:
    """The contract's bands are the same for every model (the importer maps a CRM's values
    onto them and refuses a mapping that reorders them); a mapping's own ordered feature
    has levels only this model knows, and the served model's levels are the ones checked."""
    from scoring.settings import Settings
    from serving.app import create_app
    from training.importing import import_export, parse_mapping
    from training.pipeline import run_training
    from training.registry import promote

    deals = _deals(1200, seed=5, open_share=0.0)
    rng = np.random.default_rng(5)
    tiers = np.array(["bronze", "silver", "gold"])
    export = pd.DataFrame(
        {
            "ID": deals["id"],
            "Created": [d.strftime("%Y-%m-%d %H:%M") for d in deals["created"]],
            "Source": [SOURCES_EN[s] for s in deals["source"]],
            "Employees": rng.choice([3, 25, 120, 350, 800, 2500, 9000], len(deals)),
            "Tier": np.where(
                deals["status"] == "won", "gold", tiers[rng.integers(0, 3, len(deals))]
            ),
            "Stage": deals["status"],
        }
    )
    path = _write_csv(export, tmp_path / "flat.csv", ",", "utf-8")
    mapping = {
        "lead_id": "ID",
        "created_at": "Created",
        "contract": {
            "channel": {"column": "Source", "other": "other"},
            "company_size": {"column": "Employees", "bands": True},
        },
        "features": {"tier": {"column": "Tier", "type": "ordinal", "order": list(tiers)}},
        "outcome": {"column": "Stage", "won": ["won"], "lost": ["lost"]},
    }
    imported = import_export(path, parse_mapping(mapping))
    assert imported.spec.ordinal == {"company_size": COMPANY_SIZES, "tier": tuple(tiers)}
    settings = Settings(
        home=tmp_path / "home",
        model_poll_seconds=0,
        bootstrap_admin_key=ADMIN_KEY,
        database_url=f"sqlite:///{tmp_path / 'serving.db'}",
    )
    run_training(
        imported.history, settings, imported.train_config(seed=0), spec=imported.spec,
        data_source="flat-ordinal",
    )  # fmt: skip
    assert promote(settings).promoted

    lead = {"lead_id": "f1", "channel": "referral", "as_of": "2025-01-10T10:00:00Z"}
    with TestClient(create_app(settings)) as client:

        def post(body: dict[str, object]) -> object:
            return client.post("/v1/score", json=body, headers={"X-API-Key": ADMIN_KEY})

        good = post({**lead, "company_size": "51-200", "attributes": {"tier": "gold"}})
        assert good.status_code == 200, good.text
        assert good.json()["unseen_categories"] == []
        assert post({**lead, "attributes": {}}).status_code == 200  # missing: unknown

        platinum = post({**lead, "attributes": {"tier": "platinum"}})
        assert platinum.status_code == 422, platinum.text
        (item,) = platinum.json()["detail"]
        assert item["field"] == "attributes.tier"
        assert "bronze, silver, gold" in item["message"] and "platinum" not in platinum.text

        big = post({**lead, "company_size": "big"})
        assert big.status_code == 422 and big.json()["detail"][0]["field"] == "company_size"

        batch = client.post(
            "/v1/score/batch",
            json={"leads": [lead, {**lead, "attributes": {"tier": 3}}]},
            headers={"X-API-Key": ADMIN_KEY},
        )
        assert batch.status_code == 422
        assert batch.json()["detail"][0]["field"] == "leads.1.attributes.tier"
