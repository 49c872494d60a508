"""Flat CRM exports that train: an imported export trains, registers and scores a lead with
its extra fields, through the CLI and the registered pyfunc too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from scoring.model import LeadScorer
from scoring.settings import Settings
from tests.integration.importing_helpers import (
    SOURCES_EN,
    _deals,
    _write_csv,
    amocrm_ru,
    bitrix_ru,
    kommo_en,
)
from training.importing import (
    MappingError,
    import_export,
    load_mapping,
    parse_mapping,
)
from training.pipeline import run_training
from training.registry import download_scorer

# --- a flat import trains end to end and serves its extra fields -------------------------


@pytest.mark.slow
def test_flat_import_trains_registers_and_scores(tmp_path: Path) -> None:
    deals = _deals(900, seed=3, open_share=0.05)
    path = _write_csv(amocrm_ru(deals), tmp_path / "amocrm.csv", ";", "cp1251")
    imported = import_export(path, "amocrm")
    settings = Settings(home=tmp_path / "home")
    outcome = run_training(
        imported.history,
        settings,
        imported.train_config(seed=0),
        spec=imported.spec,
        data_source="amocrm-test",
    )
    won = outcome.result.info["evaluation"]["won"]
    assert won["roc_auc"] > 0.6  # the planted source/medium signal is found
    assert outcome.registration is not None
    assert set(outcome.result.split.unique()) >= {"train", "valid", "test"}
    assert "no_budget" in outcome.result.scorer.reason_classes

    folder = download_scorer(settings, outcome.registration.version, tmp_path / "dl")
    scorer = LeadScorer.load(folder)
    assert scorer.spec.use_touches is False
    # the calibration window is said on the run and in the scorer (issue 10, item 3)
    run = MlflowClient(settings.resolved_tracking_uri).get_run(outcome.registration.run_id)
    window = scorer.metadata["calibration_windows"]["won"]
    assert run.data.params["calibration_window_won"].startswith(f"{window['window']}: ")
    assert window["to"] in run.data.params["calibration_window_won"]
    assert run.data.params["calibration_method_won"] == scorer.stages[0].calibrator.method
    leads = [
        {"lead_id": "n1", "channel": "referral", "campaign": "b2b", "pipeline": "Продажи",
         "utm_source": "google", "utm_medium": "email"},
        {"lead_id": "n2", "channel": "paid_social", "campaign": "spring", "pipeline": "Продажи",
         "utm_source": "yandex", "utm_medium": "cpc"},
    ]  # fmt: skip
    scores = scorer.score_records(leads, as_of=["2025-01-10T10:00:00Z"] * 2, reasons=2)
    assert scores.p_won[0] > scores.p_won[1]  # referral + email beats paid social + cpc
    assert all(0 < p < 1 for p in scores.p_won)
    assert scores.unseen == [set(), set()]
    fields = {r["field"] for r in scores.reasons[0]["positive"] + scores.reasons[0]["negative"]}
    assert fields & {"channel", "utm_medium"}


@pytest.mark.slow
def test_cli_train_with_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.app import app

    path = tmp_path / "bitrix.xlsx"
    bitrix_ru(_deals(700, seed=4)).to_excel(path, index=False)
    monkeypatch.setenv("LEADSCORE_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        app, ["train", "--data", str(path), "--mapping", "bitrix24", "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "mapping 'bitrix24'" in result.output
    assert "registered leadscore v1" in result.output


@pytest.mark.slow
def test_flat_import_without_time_trains(tmp_path: Path) -> None:
    deals = _deals(800, seed=5, open_share=0.0)
    frame = kommo_en(deals).drop(columns=["Date created"])
    path = _write_csv(frame, tmp_path / "no_dates.csv", ",", "utf-8")
    mapping = load_mapping("amocrm")
    imported = import_export(path, mapping.__class__(**{**mapping.__dict__, "created_at": None}))
    outcome = run_training(
        imported.history,
        Settings(home=tmp_path / "home"),
        imported.train_config(seed=0),
        spec=imported.spec,
        register=False,
    )
    assert outcome.result.info["evaluation"]["won"]["roc_auc"] > 0.6


def test_join_outcome_by_presence_and_derived_calendar(tmp_path: Path) -> None:
    """Olist-style: converted = present in a second file whose columns are all sales-side."""
    mqls = pd.DataFrame(
        {
            "mql_id": ["m1", "m2", "m3"],
            "first_contact_date": ["2018-01-01", "2018-02-14", "2018-03-31"],
            "origin": ["social", "unknown", None],
        }
    )
    deals = pd.DataFrame({"mql_id": ["m2"], "won_date": ["2018-03-01 10:00:00"],
                          "lead_type": ["online_big"]})  # fmt: skip
    _write_csv(mqls, tmp_path / "mqls.csv", ",", "utf-8")
    _write_csv(deals, tmp_path / "deals.csv", ",", "utf-8")
    mapping = {
        "lead_id": "mql_id",
        "created_at": "first_contact_date",
        "join": {"file": "deals.csv", "on": "mql_id"},
        "features": {
            "origin": "origin",
            "contact_month": {"column": "first_contact_date", "derive": "month"},
            "contact_weekday": {"column": "first_contact_date", "derive": "weekday",
                                "type": "ordinal"},
        },
        "outcome": {"present": "won_date", "closed_at": "won_date"},
    }  # fmt: skip
    imported = import_export(tmp_path / "mqls.csv", parse_mapping(mapping))
    leads = imported.history.leads
    assert leads["contact_month"].tolist() == ["jan", "feb", "mar"]
    assert leads["contact_weekday"].tolist() == ["mon", "wed", "sat"]
    assert imported.spec.ordinal["contact_weekday"][0] == "mon"
    assert imported.summary["won"] == 1 and imported.summary["lost"] == 2
    won = imported.history.outcomes.iloc[0]
    assert won["lead_id"] == "m2" and won["closed_at"] == pd.Timestamp("2018-03-01 10:00", tz="UTC")
    assert {"won_date", "lead_type"} <= set(imported.summary["sales_side"])
    mapping["features"]["lead_type"] = "lead_type"
    with pytest.raises(MappingError, match="sales-side") as err:
        import_export(tmp_path / "mqls.csv", parse_mapping(mapping))
    assert err.value.column == "lead_type"
    mapping["join"]["file"] = "missing.csv"
    with pytest.raises(MappingError, match=r"missing\.csv"):
        import_export(tmp_path / "mqls.csv", parse_mapping(mapping))


@pytest.mark.slow
def test_registered_pyfunc_takes_typed_numbers_and_scores_like_the_api(tmp_path: Path) -> None:
    """The signature types numeric features as double and yes/no fields as boolean: a
    DataFrame with real numbers goes through ``mlflow.pyfunc.load_model`` (it was refused
    as "Can not safely convert ... to <U0" when every column was a string) and scores each
    lead as POST /v1/score does."""
    import mlflow
    from fastapi.testclient import TestClient
    from mlflow.models import get_model_info
    from mlflow.types import DataType

    from scoring.pyfunc import pyfunc_frame
    from serving.app import create_app
    from tests.model_fixtures import ADMIN_KEY
    from training.registry import configure, promote

    deals = _deals(1500, seed=6, open_share=0.0)
    export = pd.DataFrame(
        {
            "ID": deals["id"],
            "Created": [d.strftime("%Y-%m-%d %H:%M") for d in deals["created"]],
            "Source": [SOURCES_EN[s] for s in deals["source"]],
            "Medium": deals["medium"],
            "Budget": deals["budget"],
            "Visits": (deals["budget"] // 50_000 + (deals["medium"] == "email") * 3).astype(int),
            "Has website": np.where(deals["medium"] == "email", "yes", "no"),
            "Stage": deals["status"],
        }
    )
    path = _write_csv(export, tmp_path / "typed.csv", ",", "utf-8")
    mapping = {
        "lead_id": "ID",
        "created_at": "Created",
        "contract": {"channel": {"column": "Source", "other": "other"}},
        "features": {
            "utm_medium": "Medium",
            "budget": {"column": "Budget", "type": "numeric"},
            "visits": {"column": "Visits", "type": "numeric"},
            "has_website": {"column": "Has website", "type": "boolean"},
        },
        "outcome": {"column": "Stage", "won": ["won"], "lost": ["lost"]},
    }
    imported = import_export(path, parse_mapping(mapping))
    settings = Settings(
        home=tmp_path / "home",
        model_poll_seconds=0,
        bootstrap_admin_key=ADMIN_KEY,
        database_url=f"sqlite:///{tmp_path / 'serving.db'}",
    )
    config = imported.train_config(seed=0)
    run_training(imported.history, settings, config, spec=imported.spec, data_source="typed")
    assert promote(settings).promoted

    configure(settings)
    uri = f"models:/{settings.model_name}@champion"
    inputs = {c.name: c.type for c in get_model_info(uri).signature.inputs.inputs}
    assert inputs["budget"] == inputs["visits"] == DataType.double
    assert inputs["has_website"] == DataType.boolean
    assert inputs["channel"] == inputs["utm_medium"] == inputs["as_of"] == DataType.string

    as_of = "2025-01-10T10:00:00+00:00"
    leads = [
        {"lead_id": "t1", "channel": "referral", "utm_medium": "email", "budget": 420000.0,
         "visits": 11.0, "has_website": True},
        {"lead_id": "t2", "channel": "paid_search", "utm_medium": "cpc", "budget": 3000.5,
         "visits": 0.0, "has_website": False},
        {"lead_id": "t3", "channel": "seo", "utm_medium": None, "budget": None,
         "visits": 2.0, "has_website": None},
    ]  # fmt: skip
    typed = pd.DataFrame(
        {
            "as_of": [as_of] * 3,
            "channel": [lead["channel"] for lead in leads],
            "utm_medium": [lead["utm_medium"] for lead in leads],
            "budget": [lead["budget"] for lead in leads],
            "visits": [lead["visits"] for lead in leads],
            "has_website": [lead["has_website"] for lead in leads],
        }
    )
    assert typed["budget"].dtype == typed["visits"].dtype == np.float64
    model = mlflow.pyfunc.load_model(uri)
    through_pyfunc = model.predict(typed)["p_won"].to_numpy()
    records = [{**lead, "as_of": as_of} for lead in leads]
    rebuilt = model.predict(pyfunc_frame(records, imported.spec))["p_won"].to_numpy()
    np.testing.assert_allclose(rebuilt, through_pyfunc, rtol=1e-12)

    with TestClient(create_app(settings)) as client:
        over_http = []
        for lead in leads:
            body = {
                "lead_id": lead["lead_id"],
                "channel": lead["channel"],
                "as_of": as_of,
                "attributes": {k: lead[k] for k in ("utm_medium", "budget", "visits",
                                                    "has_website") if lead[k] is not None},
            }  # fmt: skip
            response = client.post("/v1/score", json=body, headers={"X-API-Key": ADMIN_KEY})
            assert response.status_code == 200, response.text
            over_http.append(response.json()["p_won"])
    np.testing.assert_allclose(through_pyfunc, over_http, atol=5e-7)  # the API rounds
    assert len(set(np.round(through_pyfunc, 6))) == 3  # the numbers do move the score
