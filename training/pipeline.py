"""The training job end to end: data → validation → training → baseline → MLflow.

The command line, the MLproject entry points and the tests all call :func:`run_training`,
so there is one way a model gets trained and registered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring.features import FeatureSpec
from scoring.settings import Settings
from training.evaluate import binary_metrics
from training.history import CRMHistory
from training.registry import Registration, log_and_register
from training.train import TrainConfig, TrainResult, baseline_model, train
from training.validate import validate_history

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def load_history(
    data: Path | None, *, leads: int, months: int, seed: int, drift: bool = False
) -> tuple[CRMHistory, str]:
    """A CRM history folder, or the synthetic generator when no folder is given."""
    if data is not None:
        return CRMHistory.load(data), str(data)
    from training.synthetic import generate

    return generate(
        leads, months=months, seed=seed, drift=drift
    ), f"synthetic(n={leads},seed={seed})"


def fit_baseline(result: TrainResult, spec: FeatureSpec) -> dict[str, Any]:
    """Logistic regression on MQL→won, trained on the same train rows, scored on test."""
    frame, split = result.frame, result.split
    train_rows = frame[(split == "train") & frame["y_won"].notna()]
    test_rows = frame[(split == "test") & frame["y_won"].notna()]
    if train_rows["y_won"].nunique() < 2 or test_rows.empty:
        return {}
    model = baseline_model(spec).fit(train_rows, train_rows["y_won"].astype(int))
    p = model.predict_proba(test_rows)[:, 1]
    return binary_metrics(test_rows["y_won"].to_numpy(), p)


@dataclass
class TrainingOutcome:
    result: TrainResult
    baseline: dict[str, Any]
    registration: Registration | None
    report_rows: int


def run_training(
    history: CRMHistory,
    settings: Settings,
    config: TrainConfig | None = None,
    *,
    spec: FeatureSpec | None = None,
    data_source: str = "synthetic",
    register: bool = True,
    progress: Progress = _quiet,
    extra_params: dict[str, Any] | None = None,
    extra_tags: dict[str, str] | None = None,
) -> TrainingOutcome:
    """Validate, train, compare with the baseline and (optionally) register a challenger."""
    config = config or TrainConfig(seed=settings.seed)
    spec = spec or FeatureSpec()
    np.random.seed(config.seed)
    t0 = time.perf_counter()
    checked = validate_history(history, max_bad_share=config.max_bad_share)
    progress(f"validated: {checked.summary()} ({time.perf_counter() - t0:.1f}s)")
    metadata = {
        "model_name": settings.model_name,
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "data_source": data_source,
    }
    result = train(checked.history, config, spec, metadata)
    won = result.info["evaluation"].get("won", {})
    progress(
        f"trained {'+'.join(config.stages)}: test ROC AUC {won.get('roc_auc', float('nan')):.3f}, "
        f"ECE {won.get('ece', float('nan')):.3f} ({time.perf_counter() - t0:.1f}s)"
    )
    baseline = fit_baseline(result, spec)
    if baseline:
        progress(f"logistic baseline: test ROC AUC {baseline.get('roc_auc', float('nan')):.3f}")
    registration = None
    if register:
        registration = log_and_register(
            result,
            checked.history,
            config,
            settings,
            baseline=baseline,
            data_source=data_source,
            extra_params={"validation_problems": len(checked.report), **(extra_params or {})},
            extra_tags=extra_tags,
        )
        progress(
            f"registered {settings.model_name} v{registration.version} as challenger "
            f"(run {registration.run_id}, {time.perf_counter() - t0:.1f}s)"
        )
    return TrainingOutcome(result, baseline, registration, len(checked.report))
