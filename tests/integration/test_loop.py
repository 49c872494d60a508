"""The whole loop against a real server process.

score → sales feedback over HTTP → retrain on history + feedback → promotion gate →
the running server answers with the new version. The first champion is deliberately
weak (three stumps), so the challenger trained on the same history plus the feedback
is genuinely better and the gate has a real reason to promote it.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from cli.simulate import served_tables as cli_served_tables
from scoring.settings import Settings
from training.pipeline import run_training
from training.registry import promote
from training.simulate import SIM_ADMIN_KEY, SimConfig, Simulation, running_server, sim_train_config
from training.synthetic import generate
from training.train import TrainConfig


@pytest.mark.slow
def test_feedback_retrain_promote_and_serve_the_new_version(tmp_path: Path) -> None:
    cfg = SimConfig(weeks=2, leads_per_week=150, base_leads=4_000, seed=5, drift=False)
    settings = Settings(home=tmp_path, seed=cfg.seed, promotion_metric="roc_auc_sql")
    base = generate(cfg.history_leads, months=18, seed=cfg.seed)
    # one stump per stage, far below the logistic baseline: a margin wide enough to let
    # the refusal rule register it (docs/training-rules.md), weak enough that the week-1
    # challenger beats it on the gate's evidence rule (3 trees were within its noise)
    weak = TrainConfig(
        seed=cfg.seed,
        n_estimators=1,
        num_leaves=2,
        families=("lightgbm",),  # weak by its trees: the logistic candidate would win
        baseline_margin=0.4,
        policy=sim_train_config(cfg).policy,
    )
    run_training(base, settings, weak, data_source="weak-first-champion")
    assert promote(settings).champion_after == "1"

    with running_server(settings) as url:
        served_tables = cli_served_tables(settings)
        table = Simulation(url, settings, base, cfg, served_tables, progress=lambda _: None).run()
        headers = {"X-API-Key": SIM_ADMIN_KEY}
        served = httpx.get(f"{url}/v1/model", headers=headers).json()
        review = httpx.get(f"{url}/v1/leads/{_any_handed_lead(settings)}/decision", headers=headers)

    week1, week2 = table.iloc[0], table.iloc[1]
    assert week1["handoffs"] > 0 and week1["accepted"] + week1["rejected"] > 0
    assert week1["model_version"] == "1"
    assert week1["promoted"] == "v2", "the better challenger was not promoted"
    assert week2["model_version"] == "2", "the server did not switch to the new champion"
    assert served["version"] == "2"
    assert review.status_code == 200 and review.json()["decision"] == "hand_to_sales"

    from mlflow import MlflowClient

    client = MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)
    run = client.get_run(client.get_model_version("leadscore", "2").run_id)
    # the run records which feedback it used: every lead scored in week 1, their feedback
    assert int(run.data.params["feedback_decisions"]) == week1["mqls"]
    assert int(run.data.params["feedback_sales_decisions"]) > 0
    assert run.data.params["feedback_first_at"] != "None"

    # the reports render from the simulation's data (decision log + feedback), every
    # section filled: what the simulation served, what sales did, how the scores held up
    from cli.report import report_command

    (page,) = report_command(tmp_path / "report", from_store=True, settings=settings)
    report = json.loads((page.parent / "index.json").read_text())
    assert report["funnel"]["rows"] and report["funnel"]["total"]["mql"] > 0
    assert report["rejections"]["rows"] and report["rejections"]["total"]["rejections"] > 0
    assert report["sla"]["rows"] and report["sla"]["total"]["decided"] > 0
    assert report["calibration"]["available"] and report["calibration"]["by_decision"]
    assert report["drift"]["features"] and report["drift"]["score"] is not None
    html = page.read_text()
    for heading in ("Funnel", "Rejection reasons", "SLA", "Calibration", "Drift"):
        assert heading in html, heading


def _any_handed_lead(settings: Settings) -> str:
    from serving.storage import Store, make_engine

    store = Store(make_engine(settings.resolved_database_url))
    return str(store.feedback_frame()["lead_id"].iloc[0])


def test_simulate_command_defaults_are_the_documented_scenario() -> None:
    """``leadscore simulate`` with no options runs ``SimConfig()``: docs/loop.md's figures."""
    import inspect

    from cli.simulate import simulate as command

    defaults = {name: p.default for name, p in inspect.signature(command).parameters.items()}
    config = SimConfig()
    for name in (
        "weeks", "leads_per_week", "base_leads", "seed", "drift", "drift_week",
        "drift_channel", "drift_volume", "retrain_every", "label_rules",
        "recency_half_life_days", "retrain_trees",
    ):  # fmt: skip
        assert defaults[name] == getattr(config, name), name


def test_the_weekly_table_names_the_gate_verdict_not_just_kept() -> None:
    """The gate's "not enough evidence" and a refused retrain are not "kept" in the table."""
    from training.registry import PromotionDecision
    from training.simulate import gate_verdict

    def decision(promoted: bool, challenger: str | None, verdict: str) -> PromotionDecision:
        return PromotionDecision(promoted, challenger, "1", "1", "", {}, verdict)

    assert gate_verdict(decision(True, "5", "promote")) == "v5"
    assert gate_verdict(decision(False, "5", "keep")) == "kept"
    assert gate_verdict(decision(False, "5", "not_enough_evidence")) == "not enough evidence"
    assert gate_verdict(decision(False, None, "none")) == "no new challenger"
