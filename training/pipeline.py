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
from training.dataset import build_dataset
from training.evaluate import binary_metrics
from training.evidence import metric_stage
from training.history import CRMHistory
from training.memory import release_freed_memory
from training.refusal import refusal_reason
from training.registry import Registration, data_fingerprint, log_and_register
from training.threshold import policy_warnings
from training.train import (
    TrainConfig,
    TrainResult,
    baseline_model,
    split_rows,
    time_split,
    train,
    train_frame,
)
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


def fit_baseline(result: TrainResult, spec: FeatureSpec, label: str = "y_won") -> dict[str, Any]:
    """Logistic regression on ``label`` (MQL→won), fitted on the rows the model learned
    from (train + validation, as the refit does), scored on test."""
    frame, split = result.frame, result.split
    if label not in frame:
        return {}
    # only the columns the baseline reads: the row copies are ~0.1 GB smaller at 1M leads
    read = (*spec.categorical, *spec.ordinal, *spec.boolean, *spec.numeric_columns, label)
    columns = [c for c in read if c in frame.columns]
    train_rows = frame.loc[split.isin(["train", "valid"]) & frame[label].notna(), columns]
    test_rows = frame.loc[(split == "test") & frame[label].notna(), columns]
    if train_rows[label].nunique() < 2 or test_rows.empty:
        return {}
    model = baseline_model(spec).fit(train_rows, train_rows[label].astype(int))
    p = model.predict_proba(test_rows)[:, 1]
    return binary_metrics(test_rows[label].to_numpy(), p)


@dataclass
class TrainingOutcome:
    result: TrainResult
    baseline: dict[str, Any]
    registration: Registration | None
    report_rows: int
    refusal: str | None = None
    """Why the refusal rule (``training.refusal``) did not register the model, if it did not."""


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
    force: bool = False,
    keep_history: bool = True,
) -> TrainingOutcome:
    """Validate, train, compare with the baseline and (optionally) register a challenger.

    Three ends (docs/training-rules.md): a learned model that passes the refusal rule is
    registered; one that breaks it is not (one line says why; ``force`` registers it
    and records the overridden reason); data too small to learn from registers the
    documented prior of ``training.prior`` instead.

    ``keep_history=False`` is for a caller that hands the history over (``leadscore
    train``): its tables are emptied once validated, and the validated ones are let go
    as soon as the features are built (the data fingerprint and the example leads'
    touches taken first), so a million leads' tables (~1.3 GB) are not alive through
    the fits, the evaluation and the registration. The model is the same.
    """
    config = config or TrainConfig(seed=settings.seed)
    spec = spec or FeatureSpec()
    np.random.seed(config.seed)
    t0 = time.perf_counter()
    checked = validate_history(history, max_bad_share=config.max_bad_share)
    progress(f"validated: {checked.summary()} ({time.perf_counter() - t0:.1f}s)")
    if not keep_history:
        history.leads, history.touches, history.feedback, history.outcomes = (
            frame.iloc[:0] for frame in history.tables().values()
        )
    release_freed_memory()
    metadata = {
        "model_name": settings.model_name,
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "data_source": data_source,
    }
    stage, judged = metric_stage(settings.promotion_metric)
    fingerprint = None
    if keep_history:
        result = train(checked.history, config, spec, metadata, force=force, judged=judged)
        kept = checked.history
    else:
        fingerprint = data_fingerprint(checked.history)
        release_freed_memory()
        frame, kept = _handed_over_dataset(checked.history, config)
        checked.history = kept
        release_freed_memory()
        result = train_frame(
            frame, kept.snapshot_at, config, spec, metadata, force=force, judged=judged
        )
    prior = result.info["model_kind"] == "prior"
    won = result.info["evaluation"].get("won", {})
    if not prior:
        progress(
            f"trained {'+'.join(config.stages)}: test ROC AUC "
            f"{won.get('roc_auc', float('nan')):.3f}, ECE {won.get('ece', float('nan')):.3f} "
            f"({time.perf_counter() - t0:.1f}s)"
        )
    release_freed_memory()
    baseline = fit_baseline(result, spec) if not prior else {}
    if baseline:
        progress(f"logistic baseline: test ROC AUC {baseline.get('roc_auc', float('nan')):.3f}")
    refusal = None
    if not prior:
        judged_baseline = baseline if judged == "y_won" else fit_baseline(result, spec, judged)
        refusal = _refusal(result, judged_baseline, config, stage, judged)
    tags = dict(extra_tags or {})
    tags["model_kind"] = result.info["model_kind"]
    if refusal and not force:
        progress(f"refused, not registered: {refusal} (--force registers it anyway)")
        return TrainingOutcome(result, baseline, None, len(checked.report), refusal)
    if refusal:
        tags["refusal_overridden"] = refusal
        result.scorer.metadata["refusal_overridden"] = refusal
    warnings = policy_warnings(result.scorer.policy)
    if refusal:
        warnings.append(f"registered with --force past the refusal rule: {refusal}")
    result.scorer.metadata["warnings"] = warnings
    for warning in warnings:
        progress(f"warning: {warning}")
    registration = None
    if register:
        registration = log_and_register(
            result,
            kept,
            config,
            settings,
            baseline=baseline,
            data_source=data_source,
            extra_params={
                "validation_problems": len(checked.report),
                "force": force,
                **(extra_params or {}),
            },
            extra_tags=tags,
            fingerprint=fingerprint,
        )
        if prior:
            progress(
                f"too little data to learn ({'; '.join(result.info['cold_start'])}): registered "
                f"{settings.model_name} v{registration.version} as challenger, a prior "
                f"({result.info['prior']['rule']}), until a learned model beats it"
            )
        else:
            forced = f" despite the refusal rule ({refusal})" if refusal else ""
            progress(
                f"registered {settings.model_name} v{registration.version} as challenger"
                f"{forced} (run {registration.run_id}, {time.perf_counter() - t0:.1f}s)"
            )
    return TrainingOutcome(result, baseline, registration, len(checked.report), refusal)


def _handed_over_dataset(
    history: CRMHistory, config: TrainConfig
) -> tuple[pd.DataFrame, CRMHistory]:
    """:func:`build_dataset` of a history handed over, and that history reduced to what
    registration still reads: the snapshot and the touches of the leads that can be the
    input example (``training.registry``: the first two test-period rows, else the last
    two). With a time split on the leads' own MQL moments (no served features) those
    leads are known before the features are built, so the ten million touches of a
    million leads go as soon as their features are computed."""
    served = history.extra.get("served_features")
    early = config.split == "time" and not (isinstance(served, pd.DataFrame) and len(served))
    touches = history.touches
    if early:
        mql_at = history.leads["mql_at"].reset_index(drop=True)
        ids = _example_leads(
            history.leads["lead_id"], time_split(mql_at, history.snapshot_at, config)
        )
        touches = touches[touches["lead_id"].isin(ids)]
    frame = build_dataset(history, config.label_rules, release_touches=early)
    if not early:
        ids = _example_leads(frame["lead_id"], split_rows(frame, history.snapshot_at, config))
        touches = touches[touches["lead_id"].isin(ids)]
    kept = CRMHistory(
        leads=history.leads.iloc[:0],
        touches=touches,
        feedback=history.feedback.iloc[:0],
        outcomes=history.outcomes.iloc[:0],
        snapshot_at=history.snapshot_at,
        extra=history.extra,
    )
    return frame, kept


def _example_leads(lead_ids: pd.Series, split: pd.Series) -> list[str]:
    """The leads the input example may be drawn from: the first two of the test period
    and the last two (``training.registry.log_and_register``)."""
    ids = lead_ids.to_numpy(dtype=object)
    test = ids[split.to_numpy() == "test"]
    return [*test[:2], *ids[-2:]]


def _refusal(
    result: TrainResult, baseline: dict[str, Any], config: TrainConfig, stage: str, label: str
) -> str | None:
    """:func:`training.refusal.refusal_reason` on the test period of ``result``, judged on
    the promotion metric's ``stage`` and ``label`` (MQL→won by default)."""
    test = result.frame[(result.split == "test") & result.frame[label].notna()]
    p = np.array([])
    if len(test):
        probs = result.scorer.stage_probabilities(result.scorer.encoder.transform(test))
        p = np.prod(list(probs.values()), axis=0) if stage == "won" else probs[stage]
    return refusal_reason(
        p,
        result.info["evaluation"].get(stage, {}),
        baseline,
        margin=config.baseline_margin,
        min_class_rows=config.min_class_rows,
        min_auc=config.min_test_auc,
    )
