"""The benchmark as markdown: one section per export, between markers in a docs file.

``leadscore benchmark --write docs/benchmarks.md`` replaces the section of the export it
ran on and leaves the rest of the page alone, so the tables are always the output of a
run, never edited by hand.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from training.benchmark import MODEL_LABELS, MODEL_SHORT, BenchmarkResult, paired_difference
from training.train import LGBM_KNOBS, TrainConfig


def _reproduce(result: BenchmarkResult) -> str:
    ds = result.dataset
    if ds.preset:
        what = f"--dataset {ds.key}"
    else:
        what = f"--data {ds.file} --mapping {ds.mapping} --protocol {ds.protocols[0]}"
    return f"leadscore benchmark {what} --folds {result.folds}"


def _protocol_cell(result: BenchmarkResult, proto: str, test_rows: int, period: str) -> str:
    if proto == "time":
        return f"out of time: test {period} ({test_rows:,} leads)"
    return f"{result.folds}-fold CV"


def to_markdown(result: BenchmarkResult) -> str:
    """One export's section of ``docs/benchmarks.md`` (between its markers)."""
    ds, cfg = result.dataset, result.config
    lines = [
        f"### {ds.title}",
        "",
        f"Reproduce: `{_reproduce(result)}` (seed {result.seed}; {result.seconds:.0f} s on "
        f"this machine). Sales-side columns left out of every non-leaky variant: "
        f"{', '.join(result.left_out) or 'none'}.",
        "",
    ]
    if ds.note:
        lines += [ds.note, ""]
    lines += [f"Note: {n}." for n in result.notes]
    lines += [
        "| protocol | feature set | model | ROC AUC | PR AUC | Brier | ECE (floor) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v in result.variants:
        label = v.variant.title + (
            f" — published: {v.variant.reference}"
            if v.variant.reference and v.protocol == "cv"
            else ""
        )
        proto = _protocol_cell(result, v.protocol, v.test_rows, v.test_period)
        for i, (model, score) in enumerate(v.scores.items()):
            first = f"| {proto} | {label} " if i == 0 else "| | "
            bold = "**" if model == "leadscore" else ""
            lines.append(
                f"{first}| {bold}{MODEL_LABELS[model]}{bold} | "
                f"{score.mean('roc_auc'):.3f} ± {score.std('roc_auc'):.3f} | "
                f"{score.mean('pr_auc'):.3f} | {score.mean('brier'):.4f} | "
                f"{v.ece[model]:.3f} ({v.ece_floor[model]:.3f}) |"
            )
    lines.append("")
    for v in result.variants:
        if "leadscore" not in v.scores:
            continue
        diffs = [
            f"{MODEL_SHORT[m]} {mean:+.3f} ± {sd:.3f}"
            for m in v.scores
            if m != "leadscore"
            for mean, sd in [paired_difference(v, "leadscore", m)]
        ]
        how = (
            "paired, per fold: mean ± sd"
            if v.protocol == "cv"
            else "paired, on the test period ± sd over 200 bootstrap resamples of it"
        )
        if diffs:
            lines.append(
                f"- {v.protocol} {v.variant.key}: leadscore minus {', '.join(diffs)} "
                f"ROC AUC ({how})"
            )
    lines.append("")
    lines.append(
        f"leadscore settings: learning_rate {cfg.learning_rate}, num_leaves {cfg.num_leaves}, "
        f"min_child_samples {cfg.min_child_samples}, up to {cfg.n_estimators} trees "
        f"(early stopping {cfg.early_stopping_rounds}), label rules `{cfg.label_rules}`"
        + "".join(f", {k} {v}" for k, v in _changed_knobs(cfg).items())
        + "."
    )
    for v in result.variants:
        r = v.reason_model
        if r and not v.variant.leaky:
            lines.append(
                f"Rejection-reason model ({v.protocol} {v.variant.key}, {r['classes']} "
                f"classes, {r['rows']:,} tagged rejected leads tested): top-1 accuracy "
                f"{r['accuracy']:.3f} vs {r['majority_accuracy']:.3f} for always "
                "predicting the most common reason."
            )
            break
    return "\n".join(lines) + "\n"


def _changed_knobs(cfg: TrainConfig) -> dict[str, Any]:
    """The LightGBM knobs (:data:`training.train.LGBM_KNOBS`) set away from their default."""
    default = TrainConfig()
    return {k: getattr(cfg, k) for k in LGBM_KNOBS if getattr(cfg, k) != getattr(default, k)}


def marker(key: str) -> tuple[str, str]:
    return f"<!-- benchmark:{key}:start -->", f"<!-- benchmark:{key}:end -->"


def write_markdown(result: BenchmarkResult, path: Path) -> Path:
    """Replace this export's marked block in ``path`` (create it if needed)."""
    start, end = marker(result.dataset.key)
    block = f"{start}\n{to_markdown(result)}{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


__all__ = ["marker", "to_markdown", "write_markdown"]
