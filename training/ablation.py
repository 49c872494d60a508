"""Label ablation: do the rejection-aware label rules make a better scorer than plain ones?

The question behind ``training.labels``: sales' rejection tags are treated as evidence
(``too_early`` is "not yet", ``duplicate`` says nothing about the buyer). The *plain*
rules ignore the tags: the first decision only, every rejection a 0. This module trains
the scorer twice on the same leads and the same time split, once per rule set, and
scores both models against **one** truth — the rejection-aware labels of the test
period, i.e. what eventually happened (a ``too_early`` lead that came back and bought is
a win). Scoring each model against its own labels would be circular: plain labels call
the returners 0, so a plain model would be graded by the rules it was trained on.

On synthetic data the generator's true probabilities (``p_won_true``, ``p_sql_true``)
give a second, label-free truth: the mean absolute error against them is measured on
*every* test lead, including those whose deal is still open.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from scoring.features import FeatureSpec
from training.evaluate import evaluate_split
from training.history import CRMHistory
from training.labels import LabelRules
from training.train import (
    STAGE_LABELS,
    TrainConfig,
    build_dataset,
    fit_scorer,
    stratified_split,
    time_split,
)

RULES: tuple[LabelRules, ...] = ("aware", "plain")
LABELS: tuple[str, ...] = ("y_sql", "y_won_given_sql", "y_won")
REPORTED: tuple[str, ...] = (
    "rows",
    "positive_rate",
    "mean_prediction",
    "roc_auc",
    "log_loss",
    "brier",
    "ece",
    "top_decile_lift",
)


def label_ablation(
    history: CRMHistory, config: TrainConfig | None = None, spec: FeatureSpec | None = None
) -> dict[str, Any]:
    """Train with ``aware`` and ``plain`` labels; evaluate both on the aware test labels.

    Returns ``{"split_rows", "label_changes", "models": {rules: metrics}, "oracle"}``;
    ``models[rules]`` holds per-stage metrics (``won``, ``sql``) against the aware
    truth and, on synthetic data, ``oracle_mae_won`` / ``oracle_mae_sql``.
    """
    config = config or TrainConfig()
    spec = spec or FeatureSpec()
    frames = {rules: build_dataset(history, rules) for rules in RULES}
    aware = frames["aware"]
    if not all(f["lead_id"].equals(aware["lead_id"]) for f in frames.values()):
        raise ValueError("label rule sets produced different lead orders")  # pragma: no cover
    if config.split == "stratified":
        split = stratified_split(aware[STAGE_LABELS[config.stages[-1]]], config)
    else:
        split = time_split(aware["mql_at"], history.snapshot_at, config)
    truth = aware[[c for c in LABELS if c in aware]]
    test = (split == "test").to_numpy()

    result: dict[str, Any] = {
        "split_rows": {k: int(v) for k, v in split.value_counts().items()},
        "label_changes": _label_changes(frames, split),
        "models": {},
    }
    for rules in RULES:
        frame = frames[rules]
        scorer, _ = fit_scorer(frame, split, spec, replace(config, label_rules=rules))
        evaluation = evaluate_split(scorer, frame, split, spec, labels=truth)
        metrics: dict[str, Any] = {
            stage: {k: v for k, v in evaluation[stage].items() if k in REPORTED}
            for stage in ("won", "sql")
            if stage in evaluation
        }
        if "oracle_won" in evaluation:
            result["oracle"] = {k: v for k, v in evaluation["oracle_won"].items() if k in REPORTED}
        if "p_won_true" in frame:
            predicted = scorer.predict_frame(frame[test])
            metrics["oracle_mae_won"] = _mae(predicted["p_won"], frame.loc[test, "p_won_true"])
            if "p_sql" in predicted and "p_sql_true" in frame:
                metrics["oracle_mae_sql"] = _mae(predicted["p_sql"], frame.loc[test, "p_sql_true"])
        result["models"][rules] = metrics
    return result


def _mae(predicted: pd.Series, true: pd.Series) -> float:
    return float(np.mean(np.abs(predicted.to_numpy() - true.to_numpy())))


def _label_changes(frames: dict[str, pd.DataFrame], split: pd.Series) -> dict[str, int]:
    """How many training rows get a different y_sql under plain than under aware rules."""
    train = (split == "train").to_numpy()
    aware = frames["aware"].loc[train, "y_sql"].to_numpy()
    plain = frames["plain"].loc[train, "y_sql"].to_numpy()
    return {
        "aware_1_plain_0": int(np.sum((aware == 1) & (plain == 0))),
        "aware_excluded_plain_0": int(np.sum(np.isnan(aware) & (plain == 0))),
        "aware_0_plain_0": int(np.sum((aware == 0) & (plain == 0))),
        "train_rows": int(train.sum()),
    }


def format_table(result: dict[str, Any]) -> str:
    """The ablation as a markdown table (the CLI prints it; docs/labels.md quotes it)."""
    header = (
        "| labels | AUC won | log loss won | Brier won | ECE won | AUC SQL | ECE SQL "
        "| MAE vs true P(won) |"
    )
    lines = [header, "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for rules, m in result["models"].items():
        won, sql = m.get("won", {}), m.get("sql", {})
        lines.append(
            f"| {rules} | {_f(won.get('roc_auc'))} | {_f(won.get('log_loss'))} "
            f"| {_f(won.get('brier'))} | {_f(won.get('ece'))} | {_f(sql.get('roc_auc'))} "
            f"| {_f(sql.get('ece'))} | {_f(m.get('oracle_mae_won'))} |"
        )
    if "oracle" in result:
        o = result["oracle"]
        lines.append(
            f"| generator's true P(won) | {_f(o.get('roc_auc'))} | {_f(o.get('log_loss'))} "
            f"| {_f(o.get('brier'))} | {_f(o.get('ece'))} | | | 0 |"
        )
    return "\n".join(lines)


def _f(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) and np.isfinite(value) else "—"
