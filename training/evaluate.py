"""Evaluation on the test period: ranking, calibration and what sales will feel.

Metrics (per stage, on the test rows where the stage label is known):

* ROC AUC and PR AUC — does the score rank converters first;
* Brier score, log loss and ECE (expected calibration error, 10 equal-count bins) —
  does "0.3" mean three in ten;
* top-decile lift and precision — how much better than random the best 10 % are;
* precision at sales capacity — of the leads the policy hands over, how many convert.

Also: the same metrics sliced by channel and segment, the oracle's AUC when the data
is synthetic, and plots for the MLflow run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

from scoring.features import FeatureSpec
from scoring.model import LeadScorer

SLICES: tuple[str, ...] = ("channel", "industry", "company_size")


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |observed rate - mean prediction| over equal-count bins."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, min(bins, len(y))):
        if len(chunk):
            total += len(chunk) * abs(y[chunk].mean() - p[chunk].mean())
    return total / len(y)


def ece_floor(p: np.ndarray, seed: int = 0, draws: int = 200) -> float:
    """The ECE a *perfectly calibrated* model would show on these predictions, from noise.

    Labels are drawn from ``p`` itself (so every prediction is exactly right) and the mean
    ECE over ``draws`` such label sets is returned. An ECE is only evidence of
    miscalibration above this floor: on 700 leads at 23 % the floor is ~0.04, so a target
    of 0.03 cannot be shown there at all.
    """
    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    # what expected_calibration_error does per draw, with the sort and the bins' mean
    # predictions done once: only the labels change between draws
    order = np.argsort(p, kind="stable")
    chunks = [c for c in np.array_split(order, min(10, len(p))) if len(c)]
    means = [p[c].mean() for c in chunks]
    errors = []
    for _ in range(draws):
        y = (rng.random(len(p)) < p).astype(float)
        total = 0.0
        for chunk, mean in zip(chunks, means, strict=True):
            total += len(chunk) * abs(y[chunk].mean() - mean)
        errors.append(total / len(p))
    return float(np.mean(errors))


def binary_metrics(
    y: np.ndarray, p: np.ndarray, handed: np.ndarray | None = None
) -> dict[str, float]:
    """All the numbers of the module docstring for one label/probability pair."""
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    out: dict[str, float] = {
        "rows": float(len(y)),
        "positive_rate": float(y.mean()) if len(y) else np.nan,
    }
    if len(y) == 0 or len(np.unique(y)) < 2:
        return out
    top = np.argsort(-p)[: max(1, len(p) // 10)]
    out.update(
        roc_auc=float(roc_auc_score(y, p)),
        pr_auc=float(average_precision_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        log_loss=float(log_loss(y, p, labels=[0, 1])),
        ece=float(expected_calibration_error(y, p)),
        ece_floor=ece_floor(p),
        top_decile_precision=float(y[top].mean()),
        top_decile_lift=float(y[top].mean() / y.mean()),
        mean_prediction=float(p.mean()),
    )
    if handed is not None and handed.any():
        out["precision_at_capacity"] = float(y[handed].mean())
        out["handoff_share"] = float(handed.mean())
    return out


def evaluate_split(
    scorer: LeadScorer,
    frame: pd.DataFrame,
    split: pd.Series,
    spec: FeatureSpec,
    part: str = "test",
    labels: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Metrics of ``scorer`` on one split; ``labels`` overrides the frame's label columns
    (the ablation scores every model against the same, rejection-aware, truth)."""
    rows = frame[split == part]
    if labels is not None:
        rows = rows.drop(columns=[c for c in labels.columns if c in rows]).join(labels)
    matrix, _ = scorer.encoder.encode(rows)
    scores = scorer.score_matrix(matrix)
    handed = scores.bands == 2
    result: dict[str, Any] = {"rows": len(rows)}
    stage_p = scorer.stage_probabilities(matrix)
    checks = {"won": ("y_won", scores.p_won)}
    if "sql" in stage_p:
        checks["sql"] = ("y_sql", stage_p["sql"])
    if "won_given_sql" in stage_p:
        checks["won_given_sql"] = ("y_won_given_sql", stage_p["won_given_sql"])
    for stage, (label, p) in checks.items():
        if label not in rows:
            continue
        known = rows[label].notna().to_numpy()
        result[stage] = binary_metrics(rows[label].to_numpy()[known], p[known], handed[known])
        if "p_won_true" in rows and stage == "won":
            truth = rows["p_won_true"].to_numpy()[known]
            result["oracle_won"] = binary_metrics(rows[label].to_numpy()[known], truth)
        if stage == "won":
            result["slices"] = _slices(rows[known], p[known], label)
    return result


def _slices(
    rows: pd.DataFrame, p: np.ndarray, label: str
) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for col in SLICES:
        if col not in rows:
            continue
        out[col] = {}
        for value, idx in rows.groupby(col, observed=True).indices.items():
            y = rows[label].to_numpy()[idx]
            m = binary_metrics(y, p[idx])
            m = {
                k: v
                for k, v in m.items()
                if k in {"rows", "positive_rate", "roc_auc", "mean_prediction"}
            }
            out[col][str(value)] = m
    return out


def flat_metrics(evaluation: dict[str, Any], prefix: str = "test") -> dict[str, float]:
    """``{"test_roc_auc_won": 0.81, ...}`` for MLflow (only finite scalars)."""
    out: dict[str, float] = {}
    for stage, metrics in evaluation.items():
        if not isinstance(metrics, dict) or stage == "slices":
            continue
        for name, value in metrics.items():
            if isinstance(value, float | int) and np.isfinite(value):
                out[f"{prefix}_{name}_{stage}"] = float(value)
    return out


# --- plots ---------------------------------------------------------------------------


SHAP_SAMPLE = 20_000
"""Test rows the SHAP summary plot draws (a seeded sample when the test period is larger)."""


def plot_all(scorer: LeadScorer, frame: pd.DataFrame, split: pd.Series, folder: Path) -> list[Path]:
    """Calibration curve, cumulative gain/lift, feature importance and a SHAP summary."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = frame[(split == "test") & frame["y_won"].notna()]
    if rows.empty:  # a cold-start prior on data with no mature test period: nothing to plot
        return [_importance_plot(scorer, folder / "feature_importance.png")]
    matrix = scorer.encoder.transform(rows)
    scores = scorer.score_matrix(matrix)
    y = rows["y_won"].to_numpy()
    paths = [
        _calibration_plot(scorer, rows, matrix, folder / "calibration.png"),
        _gain_plot(y, scores.p_won, folder / "gain_lift.png"),
        _importance_plot(scorer, folder / "feature_importance.png"),
    ]
    # the SHAP summary is a scatter: a seeded sample draws the same picture as every test
    # row, and TreeSHAP on 200k rows (a 1M-lead history) would cost more than training
    if len(matrix) > SHAP_SAMPLE:
        pick = np.random.default_rng(0).choice(len(matrix), SHAP_SAMPLE, replace=False)
        matrix = matrix[np.sort(pick)]
    contrib = cast(np.ndarray, sum(stage.contributions(matrix) for stage in scorer.stages))
    field_contrib, _ = scorer.field_map.aggregate(contrib)
    paths.append(_shap_summary(field_contrib, scorer.field_map.fields, folder / "shap_summary.png"))
    return paths


def _figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas: no pyplot, so no global backend to switch at import
    and nothing to close (serving/report_charts.py draws its charts the same way)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _calibration_plot(
    scorer: LeadScorer, rows: pd.DataFrame, matrix: np.ndarray, path: Path
) -> Path:
    fig = _figure(5, 5)
    ax = fig.subplots()
    probs = scorer.stage_probabilities(matrix)
    pairs = {"won": ("y_won", np.prod(list(probs.values()), axis=0))}
    if "sql" in probs:
        pairs["sql"] = ("y_sql", probs["sql"])
    for name, (label, p) in pairs.items():
        known = rows[label].notna().to_numpy()
        y, q = rows[label].to_numpy()[known], p[known]
        order = np.argsort(q)
        bins = np.array_split(order, 10)
        ax.plot([q[b].mean() for b in bins], [y[b].mean() for b in bins], "o-", label=f"P({name})")
    top = max(ax.get_xlim()[1], ax.get_ylim()[1])
    ax.plot([0, top], [0, top], "k--", lw=1, label="perfect")
    ax.set(
        xlabel="predicted probability", ylabel="observed rate", title="Calibration (test period)"
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def _gain_plot(y: np.ndarray, p: np.ndarray, path: Path) -> Path:
    order = np.argsort(-p)
    gain = np.cumsum(y[order]) / max(y.sum(), 1)
    share = np.arange(1, len(y) + 1) / len(y)
    fig = _figure(10, 4)
    a1, a2 = fig.subplots(1, 2)
    a1.plot(share, gain, label="model")
    a1.plot([0, 1], [0, 1], "k--", lw=1, label="random")
    a1.set(
        xlabel="share of leads contacted",
        ylabel="share of won deals found",
        title="Cumulative gain",
    )
    a1.legend()
    deciles = np.array_split(order, 10)
    lift = [y[d].mean() / max(y.mean(), 1e-9) for d in deciles]
    a2.bar(range(1, 11), lift)
    a2.axhline(1, color="k", lw=1, ls="--")
    a2.set(xlabel="score decile (1 = best)", ylabel="lift", title="Lift by decile")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def _importance_plot(scorer: LeadScorer, path: Path) -> Path:
    # each stage's share of its own total: gain (trees) and mean |contribution| (linear)
    # are in different units, so a chain of both families is summed as shares
    shares = [s.importance() / max(float(s.importance().sum()), 1e-12) for s in scorer.stages]
    by_field = np.sum(shares, axis=0) @ scorer.field_map.matrix
    order = np.argsort(by_field)[-15:]
    fig = _figure(6, 5)
    ax = fig.subplots()
    ax.barh([scorer.field_map.fields[i] for i in order], by_field[order])
    ax.set(xlabel="share of importance (summed over stages)", title="Feature importance by field")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def _shap_summary(contrib: np.ndarray, fields: tuple[str, ...], path: Path) -> Path:
    """A SHAP summary from LightGBM's TreeSHAP contributions, per field."""
    mean_abs = np.abs(contrib).mean(axis=0)
    order = np.argsort(mean_abs)[-12:]
    rng = np.random.default_rng(0)
    fig = _figure(7, 5)
    ax = fig.subplots()
    for row, j in enumerate(order):
        values = contrib[:, j]
        jitter = rng.normal(0, 0.08, len(values))
        ax.scatter(values, row + jitter, s=3, alpha=0.4, c=np.sign(values), cmap="coolwarm")
    ax.set_yticks(range(len(order)), [fields[j] for j in order])
    ax.axvline(0, color="k", lw=1)
    ax.set(xlabel="SHAP contribution (log-odds, all stages)", title="SHAP summary (test period)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def model_card(
    name: str, info: dict[str, Any], baseline: dict[str, Any], data: dict[str, Any]
) -> str:
    """A short markdown model card: what it predicts, on what data, how well."""
    ev = info["evaluation"]
    won = ev.get("won", {})
    lines = [
        f"# Model card — {name}",
        "",
        "**Predicts** P(SQL | MQL), P(won | SQL) and their product P(won | MQL) for a marketing-"
        "qualified lead, from its firmographics and its touches *before* the scoring moment.",
        "",
        "## Data",
        *(f"- {k}: {v}" for k, v in data.items()),
        "",
        "## Test period (latest mature MQLs, never seen in training or calibration)",
        "| metric | model | logistic baseline |",
        "| --- | --- | --- |",
    ]
    for metric in (
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "ece",
        "ece_floor",
        "top_decile_lift",
        "precision_at_capacity",
    ):
        m = won.get(metric)
        b = baseline.get(metric)
        lines.append(f"| {metric} (MQL→won) | {_fmt(m)} | {_fmt(b)} |")
    if "sql" in ev:
        lines.append(f"| roc_auc (MQL→SQL) | {_fmt(ev['sql'].get('roc_auc'))} | |")
        lines.append(f"| ece (MQL→SQL) | {_fmt(ev['sql'].get('ece'))} | |")
        lines.append(f"| ece_floor (MQL→SQL) | {_fmt(ev['sql'].get('ece_floor'))} | |")
    if "oracle_won" in ev:
        lines.append(
            "| roc_auc of the generator's true probability | "
            f"{_fmt(ev['oracle_won'].get('roc_auc'))} | |"
        )
    families = info.get("families", {})
    if families:
        lines += [
            "",
            "## Model family per stage (validation period: log loss, ROC AUC)",
            "| stage | kept | candidates |",
            "| --- | --- | --- |",
        ]
    for stage, contest in families.items():
        figures = "; ".join(
            f"{family} {_fmt(c['val_log_loss'])}, {_fmt(c['val_roc_auc'])}"
            for family, c in contest["candidates"].items()
        )
        lines.append(f"| {stage} | {contest['chosen']} | {figures} |")
    policy = info["policy"]
    lines += [
        "",
        "## Handoff policy",
        f"- method: {policy['method']}; hand to sales when "
        f"P(won) ≥ {policy['handoff_threshold']:.4f}; "
        f"disqualify when P(SQL) < {policy['disqualify_below']}",
        "- inputs: " + ", ".join(f"{k}={_plain(v)}" for k, v in policy["inputs"].items()),
        "",
        "## Limits",
        "- Trained on the history it was given; check the drift section of the reports "
        "before trusting it on a new channel.",
        "- Personal data (name, email, phone) and free-text comments are never features.",
    ]
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "—"
