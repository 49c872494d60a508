"""MLflow end to end, on a real temporary SQLite store (nothing of MLflow is mocked).

The module trains three challengers on one synthetic history, in the order a team would
meet them: a weak first model (promoted: there is no champion to beat), a deliberately
worse one (refused: the champion stays), and the default model (promoted: it wins on
recent data). The tests then read what MLflow recorded, and load the champion the way
a consumer of the registry would (``mlflow.pyfunc.load_model("models:/...@champion")``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.models import get_model_info
from mlflow.types import DataType

from scoring.contract import PII_COLUMNS
from scoring.model import LeadScorer
from scoring.pyfunc import pyfunc_frame
from scoring.settings import Settings
from tests.histories import synthetic_history
from training.history import CRMHistory
from training.pipeline import TrainingOutcome, run_training
from training.registry import (
    CHALLENGER,
    CHAMPION,
    PromotionDecision,
    configure,
    download_scorer,
    promote,
    resolve_version,
)
from training.train import TrainConfig

pytestmark = pytest.mark.slow

# 120 test days (~1,000 leads): enough for the gate's evidence rule to tell
# the default model from the weak one (60 days gave "not enough evidence")
TEST_DAYS = 120
# weak and worse by their trees: LightGBM only, or the logistic candidate would win
TREES = ("lightgbm",)
WEAK = TrainConfig(n_estimators=4, num_leaves=2, test_days=TEST_DAYS, families=TREES)
# one stump per stage
WORSE = TrainConfig(n_estimators=1, num_leaves=2, test_days=TEST_DAYS, families=TREES)
DEFAULT = TrainConfig(test_days=TEST_DAYS)
ENV = ("LEADSCORE_HOME", "LEADSCORE_TRACKING_URI", "LEADSCORE_REGISTRY_URI", "MLFLOW_TRACKING_URI")


@dataclass
class Story:
    settings: Settings
    client: MlflowClient
    history: CRMHistory
    runs: list[TrainingOutcome]
    decisions: list[PromotionDecision]
    champion_after: list[str | None]  # the champion alias right after each promote()


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    home = tmp_path_factory.mktemp("leadscore-home")
    with pytest.MonkeyPatch.context() as patch:
        for name in ENV:
            patch.delenv(name, raising=False)
        patch.setenv("LEADSCORE_HOME", str(home))
        settings = Settings()
        assert settings.home == home.resolve()
        history = synthetic_history(6000, months=24, seed=3)
        client = configure(settings)
        runs, decisions, champions = [], [], []
        for config in (WEAK, WORSE, DEFAULT):
            # the one-stump model is far below the logistic baseline: the refusal rule
            # would not register it (docs/training-rules.md), so it is forced past it
            runs.append(run_training(history, settings, config, force=config is WORSE))
            decisions.append(promote(settings, actor="test"))
            champions.append(resolve_version(client, settings, CHAMPION))
        yield Story(settings, client, history, runs, decisions, champions)


def test_the_store_is_the_temporary_one(story: Story) -> None:
    uri = story.settings.resolved_tracking_uri
    assert uri == f"sqlite:///{story.settings.home / 'mlflow.db'}"
    assert (story.settings.home / "mlflow.db").is_file()
    assert mlflow.get_tracking_uri() == uri


def test_each_run_registers_a_version_as_challenger(story: Story) -> None:
    versions = [run.registration.version for run in story.runs if run.registration]
    assert versions == ["1", "2", "3"]
    assert resolve_version(story.client, story.settings, CHALLENGER) == "3"
    tags = story.client.get_model_version(story.settings.model_name, "3").tags
    assert float(tags["handoff_threshold"]) == pytest.approx(
        story.runs[2].result.scorer.policy.handoff_threshold, abs=1e-6
    )
    assert tags["policy_method"] == "capacity"
    assert len(tags["data_sha256"]) == 64


def test_the_run_records_metrics_params_data_and_artifacts(story: Story) -> None:
    outcome = story.runs[2]
    assert outcome.registration is not None
    run = story.client.get_run(outcome.registration.run_id)
    metrics, params = run.data.metrics, run.data.params
    for name in (
        "test_roc_auc_won",
        "test_ece_won",
        "test_brier_won",
        "test_top_decile_lift_won",
        "test_roc_auc_sql",
        "test_ece_sql",
        "baseline_roc_auc_won",
    ):
        assert name in metrics, name
    evaluation = outcome.result.info["evaluation"]
    assert metrics["test_roc_auc_won"] == pytest.approx(evaluation["won"]["roc_auc"])
    assert params["n_estimators"] == "400"
    assert params["label_rules"] == "aware"
    assert params["policy_method"] == "capacity"
    assert params["data_rows_leads"] == str(len(story.history.leads))
    assert len(params["data_sha256"]) == 64
    assert params["data_snapshot_at"] == str(story.history.snapshot_at)
    # the family contest: both candidates' validation figures, and the family kept
    for stage, contest in outcome.result.info["families"].items():
        assert params[f"family_{stage}"] == contest["chosen"]
        for family, figures in contest["candidates"].items():
            logged = metrics[f"candidate_{family}_val_logloss_{stage}"]
            assert logged == pytest.approx(figures["val_log_loss"])
            assert f"candidate_{family}_val_roc_auc_{stage}" in metrics
    # the same data gives the same fingerprint in every run
    first = story.client.get_run(story.runs[0].registration.run_id)  # type: ignore[union-attr]
    assert first.data.params["data_sha256"] == params["data_sha256"]

    plots = {Path(a.path).name for a in story.client.list_artifacts(run.info.run_id, "plots")}
    assert {
        "calibration.png",
        "gain_lift.png",
        "feature_importance.png",
        "shap_summary.png",
    } <= plots
    top = {a.path for a in story.client.list_artifacts(run.info.run_id)}
    assert {"model_card.md", "policy.json"} <= top
    card = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/model_card.md")
    assert f"{evaluation['won']['roc_auc']:.4f}" in card
    assert "Handoff policy" in card


def test_the_first_model_is_promoted(story: Story) -> None:
    decision = story.decisions[0]
    assert decision.promoted
    assert decision.champion_before is None
    assert story.champion_after[0] == "1"
    assert "no champion" in decision.reason


def test_a_worse_challenger_is_refused_and_says_why(story: Story) -> None:
    decision = story.decisions[1]
    assert not decision.promoted
    assert (decision.challenger, decision.champion_before) == ("2", "1")
    assert story.champion_after[1] == "1"
    assert decision.scores["challenger"] < decision.scores["champion"]
    assert "champion v1 kept" in decision.reason
    assert "roc_auc_won" in decision.reason
    assert "below the margin" in decision.reason
    tag = story.client.get_model_version(story.settings.model_name, "2").tags["promotion"]
    assert json.loads(tag)["promoted"] is False


def test_a_better_challenger_is_promoted(story: Story) -> None:
    decision = story.decisions[2]
    assert decision.promoted
    assert (decision.challenger, decision.champion_before) == ("3", "1")
    assert story.champion_after[2] == "3"
    gain = decision.scores["challenger"] - decision.scores["champion"]
    assert gain >= story.settings.promotion_margin
    assert "beats champion v1" in decision.reason


def test_the_gate_scores_what_the_run_logged(story: Story) -> None:
    """promote() re-reads the test frame from MLflow; it must see the data training saw
    (a CSV round trip once turned region "NA" — North America — into a missing value)."""
    for run, decision in zip(story.runs[1:], story.decisions[1:], strict=True):
        assert run.registration is not None
        logged = run.registration.metrics["test_roc_auc_won"]
        assert decision.scores["challenger"] == pytest.approx(logged, abs=1e-12)


def test_promoting_the_champion_again_changes_nothing(story: Story) -> None:
    decision = promote(story.settings, "3")
    assert not decision.promoted
    assert "already champion" in decision.reason
    assert resolve_version(story.client, story.settings, CHAMPION) == "3"


def _json_records(story: Story, n: int) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Test-period leads as an API client sends them: JSON values, touches included."""
    result = story.runs[2].result
    rows = result.frame[result.split == "test"].head(n)
    leads = story.history.leads.set_index("lead_id").loc[rows["lead_id"]].reset_index()
    touches = story.history.touches[story.history.touches["lead_id"].isin(rows["lead_id"])]
    records = []
    for lead in leads.to_dict(orient="records"):
        mine = touches[touches["lead_id"] == lead["lead_id"]]
        lead["touches"] = [
            {"at": at, "type": kind} for at, kind in zip(mine["at"], mine["type"], strict=True)
        ]
        lead["as_of"] = lead["mql_at"]  # score each lead at its MQL moment, as training did
        records.append(lead)
    return json.loads(json.dumps(records, default=str)), rows


def test_pyfunc_champion_scores_like_the_scorer(story: Story, tmp_path: Path) -> None:
    configure(story.settings)
    model = mlflow.pyfunc.load_model(f"models:/{story.settings.model_name}@{CHAMPION}")
    scorer = LeadScorer.load(download_scorer(story.settings, CHAMPION, tmp_path / "champion"))
    records, rows = _json_records(story, 60)
    frame = pyfunc_frame(records, scorer.spec)  # typed as the signature says
    served = model.predict(frame)
    direct = scorer.score_records(records, [r["as_of"] for r in records])
    np.testing.assert_allclose(served["p_won"].to_numpy(), direct.p_won, rtol=1e-12)
    np.testing.assert_allclose(served["p_sql"].to_numpy(), direct.p_sql, rtol=1e-12)
    assert list(served["decision"]) == scorer.policy.decisions(direct.p_won, direct.p_sql)
    assert (served["threshold"] == scorer.policy.handoff_threshold).all()
    # and the same leads scored from the training frame (features computed in pandas)
    trained = story.runs[2].result.scorer.predict_frame(rows)
    np.testing.assert_allclose(served["p_won"].to_numpy(), trained["p_won"].to_numpy(), rtol=1e-9)


def test_the_signature_types_each_field_without_personal_data(story: Story) -> None:
    configure(story.settings)
    info = get_model_info(f"models:/{story.settings.model_name}@{CHAMPION}")
    assert info.signature is not None
    inputs = {spec.name: spec.type for spec in info.signature.inputs.inputs}
    assert {"touches", "as_of", "channel", "company_size", "consent_email"} <= set(inputs)
    assert inputs["consent_email"] == inputs["consent_phone"] == DataType.boolean
    strings = set(inputs) - {"consent_email", "consent_phone"}
    assert all(inputs[name] == DataType.string for name in strings), inputs
    assert not PII_COLUMNS & set(inputs)


def test_a_relative_sqlite_uri_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow resolves ``sqlite:///rel.db`` against the current folder: a command run
    elsewhere would open an empty store. Settings pins it once."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings(home=tmp_path / "home", tracking_uri="sqlite:///rel.db")
    expected = f"sqlite:///{tmp_path.resolve() / 'rel.db'}"
    assert settings.resolved_tracking_uri == expected
    assert settings.resolved_registry_uri == expected
    monkeypatch.chdir(tmp_path / "..")
    assert settings.resolved_tracking_uri == expected  # resolved once, not per use
    assert Settings(tracking_uri="sqlite:////abs/x.db").resolved_tracking_uri == (
        "sqlite:////abs/x.db"
    )
    assert Settings(home=Path("rel-home")).home.is_absolute()


def test_the_ground_floor_reads_versions_and_aliases(story: Story) -> None:
    """``scoring.registry_client``, what serving reads the registry with, sees what
    training wrote: every version, each alias on its version, a version's tags."""
    from scoring.registry_client import alias_version, list_versions, version_tags

    versions = {str(v.version): v.aliases for v in list_versions(story.settings)}
    assert versions == {"1": [], "2": [], "3": [CHALLENGER, CHAMPION]}
    assert alias_version(story.settings, CHAMPION) == "3"
    assert json.loads(version_tags(story.settings, "2")["promotion"])["by"] == "test"
