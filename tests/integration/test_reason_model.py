"""The rejection-reason model is shown only when it beats its baselines (issue 10, item 4).

Tags that carry no signal must give "no reliable estimate", the informative tags of the
synthetic history must give a likely reason, and a rejection without a tag is never a
class of its own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from scoring.contract import SalesDecision
from scoring.explain import NO_RELIABLE_ESTIMATE
from scoring.model import MANIFEST, LeadScorer
from serving.schemas import ScoreResponse
from serving.tables import Role
from tests.clients import signed_in
from tests.integration.pages_helpers import score
from tests.model_fixtures import Registry, admin_headers
from tests.payloads import HOT
from training.synthetic import generate
from training.threshold import PolicyInputs
from training.train import TrainConfig, train


@pytest.fixture(scope="module")
def noise_scorer() -> LeadScorer:
    """A scorer trained on the synthetic history with its rejection tags shuffled among
    the rejected leads: the tags then carry no information about the lead."""
    history = generate(3_000, months=18, seed=11)
    fb = history.feedback
    rejected = (fb["decision"] == SalesDecision.REJECTED.value).to_numpy()
    shuffled = fb["reason"].to_numpy(dtype=object).copy()
    shuffled[rejected] = np.random.default_rng(0).permutation(shuffled[rejected])
    history = dataclasses.replace(history, feedback=fb.assign(reason=shuffled))
    config = TrainConfig(seed=7, policy=PolicyInputs(daily_capacity=2.5), label_rules="plain")
    return train(history, config, force=True).scorer


def _serve(client: TestClient, scorer: LeadScorer, folder: Path, version: str) -> None:
    """Serve ``scorer`` with every lead handed to sales (threshold 0), so each answer
    must carry either a likely reason or the note."""
    scorer.policy = dataclasses.replace(scorer.policy, handoff_threshold=0.0)
    scorer.save(folder)
    client.app.state.models.activate(folder, version)


def test_uninformative_tags_give_no_reliable_estimate(noise_scorer: LeadScorer) -> None:
    quality = noise_scorer.reason_quality
    valid = quality["valid"]
    assert quality["reliable"] is False
    assert not (
        valid["top1_accuracy"] > valid["baseline_top1_accuracy"]
        and valid["log_loss"] < valid["prior_log_loss"]
    )
    assert noise_scorer.reason_model is not None  # fitted, judged, and not shown
    assert not noise_scorer.reason_reliable


def test_informative_tags_pass_the_gate(registry: Registry) -> None:
    scorer = registry.result.scorer
    valid = scorer.reason_quality["valid"]
    assert scorer.reason_reliable
    assert valid["top1_accuracy"] > valid["baseline_top1_accuracy"]
    assert valid["log_loss"] < valid["prior_log_loss"]
    test = registry.result.info["evaluation"]["reason"]
    assert test["rows"] > 100 and test["top1_accuracy"] > test["baseline_top1_accuracy"]


def test_api_and_lead_page_say_no_reliable_estimate(
    make_client: Callable[..., TestClient], noise_scorer: LeadScorer, tmp_path: Path
) -> None:
    client = make_client()
    _serve(client, noise_scorer, tmp_path / "noise", "2")
    body = score(client, HOT)
    ScoreResponse.model_validate(body)
    assert body["decision"] == "hand_to_sales"
    assert body["likely_rejection"] is None
    assert body["likely_rejection_note"] == NO_RELIABLE_ESTIMATE
    model = client.get("/v1/model", headers=admin_headers()).json()
    assert model["reason_model"]["reliable"] is False
    assert model["reason_model"]["valid"] == noise_scorer.reason_quality["valid"]
    signed_in(client, Role.SALES)
    html = client.get(f"/ui/leads/{HOT['lead_id']}").text
    assert "no reliable estimate" in html
    html_ru = client.get(f"/ui/leads/{HOT['lead_id']}", headers={"Accept-Language": "ru"}).text
    assert "нет надёжной оценки" in html_ru


def test_api_shows_a_likely_reason_when_the_model_earns_it(
    make_client: Callable[..., TestClient], registry: Registry, tmp_path: Path
) -> None:
    client = make_client()
    folder = registry.result.scorer.save(tmp_path / "copy")
    _serve(client, LeadScorer.load(folder), tmp_path / "good", "2")
    body = score(client, HOT)
    assert body["decision"] == "hand_to_sales"
    assert body["likely_rejection"]["reason"] in registry.result.scorer.reason_classes
    assert body["likely_rejection_note"] is None
    signed_in(client, Role.SALES)
    assert body["likely_rejection"]["text"] in client.get(f"/ui/leads/{HOT['lead_id']}").text


def test_a_model_saved_before_the_verdict_gives_no_estimate(
    registry: Registry, tmp_path: Path
) -> None:
    """Rule: a saved model without ``reason_quality`` was never checked against its
    baselines, so it loads with no likely reason rather than an unchecked one."""
    folder = registry.result.scorer.save(tmp_path / "old")
    meta: dict[str, Any] = json.loads((folder / "scorer.json").read_text())
    del meta["reason_quality"]
    text = json.dumps(meta)
    (folder / "scorer.json").write_text(text)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["scorer.json"] = hashlib.sha256(text.encode()).hexdigest()
    (folder / MANIFEST).write_text(json.dumps(manifest))
    old = LeadScorer.load(folder)
    assert old.reason_model is not None and not old.reason_reliable
    old.policy = dataclasses.replace(old.policy, handoff_threshold=0.0)
    scores = old.score_records([{**HOT, "touches": []}], ["2026-03-30T09:00:00Z"])
    assert scores.likely_rejection == [None]
