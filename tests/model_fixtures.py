"""Fixtures with a real trained model in a real (temporary) MLflow registry.

Training takes a few seconds, so it happens once per test session: one small synthetic
history, one :class:`~training.train.TrainResult`, registered as version 1 and promoted
to ``champion`` in a SQLite MLflow store under a session temp folder. Tests that need
more versions register the same result again (``register_again``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from scoring.settings import Settings
from training.history import CRMHistory
from training.pipeline import run_training
from training.registry import log_and_register, promote
from training.synthetic import generate
from training.threshold import PolicyInputs
from training.train import TrainConfig, TrainResult

ADMIN_KEY = "lsk_test_admin_key_0123456789abcdef"


@dataclass
class Registry:
    """A session-wide MLflow store with a champion, and how to add versions to it."""

    root: Path
    tracking_uri: str
    history: CRMHistory
    result: TrainResult
    config: TrainConfig

    def settings(self, home: Path, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "home": home,
            "tracking_uri": self.tracking_uri,
            "model_poll_seconds": 0,
            "bootstrap_admin_key": ADMIN_KEY,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    def register_again(self) -> str:
        """Register the session's model as a new version (the challenger); return it."""
        registration = log_and_register(
            self.result, self.history, self.config, self.settings(self.root / "trainer")
        )
        return registration.version


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = tmp_path_factory.mktemp("registry")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    settings = Settings(home=root / "trainer", tracking_uri=tracking_uri)
    history = generate(4_000, months=18, seed=7)
    # ~7 MQLs a day in this small history: sales capacity of 2.5 a day hands over ~30 %.
    # On 4,000 leads of the (logit-additive) generator LightGBM trails the logistic
    # baseline by 0.052 test ROC AUC, past the refusal rule's 0.05: these tests need a
    # served model, not the best one, so the margin is wider (docs/training-rules.md)
    config = TrainConfig(seed=7, policy=PolicyInputs(daily_capacity=2.5), baseline_margin=0.1)
    outcome = run_training(history, settings, config, data_source="synthetic-test")
    decision = promote(settings)
    assert decision.promoted, decision.reason
    return Registry(root, tracking_uri, history, outcome.result, config)


@pytest.fixture
def make_client(registry: Registry, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Build started TestClients (lifespan run) on their own home and database."""
    from serving.app import create_app

    clients: list[TestClient] = []

    def build(home: Path | None = None, **overrides: object) -> TestClient:
        # One serving home (model cache) for the session unless a test needs its own;
        # each client gets its own empty database.
        overrides.setdefault("database_url", f"sqlite:///{tmp_path / f'db{len(clients)}.sqlite'}")
        settings = registry.settings(home or registry.root / "serving-home", **overrides)
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def admin_headers() -> dict[str, str]:
    return {"X-API-Key": ADMIN_KEY}
