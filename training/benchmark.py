"""Model quality on public lead datasets, measured the same way every time.

Claims such as "calibrated" and "better than logistic regression" are only worth
something on data nobody at this project generated. This module scores two public,
real lead datasets (``shared/datasets``; see each PROVENANCE.txt) through the same
import path a customer's CRM export takes (``training.importing``), and compares, in
one run, on identical folds:

* **logistic regression** on one-hot categories and scaled numbers — the project's
  honest baseline, :func:`training.train.baseline_model`;
* **default LightGBM** — ``LGBMClassifier()`` with library defaults on the same
  encoded matrix (native categorical splits), i.e. what a data scientist would try first;
* **leadscore** — :func:`training.train.fit_scorer`, the training path itself: LightGBM
  with the mapping's settings, early-stopped and calibrated (Platt or isotonic, chosen
  by cross-validated log loss) on an inner validation split of the training folds.

Protocol: stratified K-fold (5 in the command line), ``shuffle=True, random_state=0``.
ROC AUC, PR AUC and Brier are the mean over folds (± standard deviation); ECE (10
equal-count bins) is computed on the pooled out-of-fold predictions, because a 1/5
fold holds too few rows per bin for the ECE of even a perfectly calibrated model to be
near 0 — the table reports that *floor* (the ECE of a model whose predictions are
exactly right, on the same row counts) next to it. leadscore trains on 80 % of each
training fold (20 % are its calibration data); the baselines train on all of it.

Feature sets per dataset are named *variants*; the leaky ones (sales-side columns
added back) are there to show what a leak looks like, never as a model to ship.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from scoring.features import FeatureSpec, LeadEncoder
from training.evaluate import binary_metrics, expected_calibration_error
from training.importing import ImportedExport, import_export
from training.train import (
    LGBM_KNOBS,
    TrainConfig,
    baseline_model,
    build_dataset,
    fit_scorer,
)

METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "brier")
MODELS: tuple[str, ...] = ("logistic", "lightgbm_default", "leadscore")
MODEL_SHORT: dict[str, str] = {"logistic": "LR", "lightgbm_default": "default LightGBM"}
MODEL_LABELS: dict[str, str] = {
    "logistic": "Logistic regression (one-hot)",
    "lightgbm_default": "LightGBM, `LGBMClassifier()` defaults",
    "leadscore": "leadscore (`fit_scorer`: tuned LightGBM + calibration)",
}


@dataclass(frozen=True)
class Variant:
    """A feature set: the mapping's features minus ``drop`` plus sales-side ``add``."""

    key: str
    title: str
    drop: tuple[str, ...] = ()
    add: tuple[tuple[str, str], ...] = ()  # (sales-side file column, feature name)
    leaky: bool = False
    reference: str = ""


@dataclass(frozen=True)
class Dataset:
    """A public dataset: where its file is, its mapping, and the variants to run."""

    key: str
    title: str
    file: str
    mapping: str
    variants: tuple[Variant, ...]
    note: str = ""


DATASETS: dict[str, Dataset] = {
    "x-education": Dataset(
        key="x-education",
        title="X Education leads (9,240 leads, 38.5 % converted, no timestamps)",
        file="x_education_leads/Leads.csv",
        mapping="x_education",
        variants=(
            Variant(
                "no_sales_side",
                "without sales-side columns (Tags, Lead Quality, Lead Profile, Asymmetrique*)",
                reference="LR 0.897 / LightGBM 0.905 ROC AUC",
            ),
            Variant(
                "no_last_activity",
                "also without Last Activity / Last Notable Activity (may postdate conversion)",
                drop=("last_activity", "last_notable_activity"),
                reference="LR 0.866 / LightGBM 0.872",
            ),
            Variant(
                "with_tags",
                "LEAKY: plus Tags (written by sales after contact)",
                add=(("Tags", "sales_tags"),),
                leaky=True,
                reference="Tags alone 0.92; all columns LR 0.981 / LightGBM 0.984",
            ),
        ),
    ),
    "olist": Dataset(
        key="olist",
        title="Olist marketing funnel (8,000 MQLs, 10.5 % converted)",
        file="olist_marketing_funnel/olist_marketing_qualified_leads_dataset.csv",
        mapping="olist",
        variants=(
            Variant(
                "mql_columns",
                "MQL columns: origin, landing page, contact month and weekday",
                reference="LR 0.715 / LightGBM 0.697 ROC AUC",
            ),
            Variant(
                "no_contact_month",
                "origin and landing page only (no spurious contact month/weekday)",
                drop=("contact_month", "contact_weekday"),
                reference="LR 0.682 / LightGBM 0.681",
            ),
        ),
        note=(
            "Converted = the MQL appears in the closed-deals file. Every closed-deal column "
            "exists only for converted MQLs (joining any of them gives AUC 1.000), so none is "
            "a feature. Contact month is a collection-window artefact: won_date starts "
            "2017-12-05, so MQLs of Jun-Nov 2017 convert at 0-4 %."
        ),
    ),
}


@dataclass
class ModelScore:
    """One model on one variant: per-fold metrics and pooled out-of-fold predictions."""

    folds: list[dict[str, float]] = field(default_factory=list)
    oof: np.ndarray | None = None
    seconds: float = 0.0

    def mean(self, metric: str) -> float:
        return float(np.mean([f[metric] for f in self.folds]))

    def std(self, metric: str) -> float:
        return float(np.std([f[metric] for f in self.folds]))


@dataclass
class VariantResult:
    variant: Variant
    features: list[str]
    rows: int
    positive_rate: float
    scores: dict[str, ModelScore]
    ece: dict[str, float]
    ece_floor: dict[str, float]
    reason_model: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchmarkResult:
    dataset: Dataset
    folds: int
    seed: int
    config: TrainConfig
    variants: list[VariantResult]
    left_out: list[str]
    seconds: float

    def variant(self, key: str) -> VariantResult:
        return next(v for v in self.variants if v.variant.key == key)


def default_data_dir() -> Path:
    """``../shared/datasets`` from the current folder, else next to the repository."""
    here = Path("../shared/datasets")
    if here.is_dir():
        return here.resolve()
    return Path(__file__).resolve().parents[2] / "shared" / "datasets"


def dataset_path(dataset: str | Dataset, data_dir: Path | None = None) -> Path:
    ds = DATASETS[dataset] if isinstance(dataset, str) else dataset
    return (data_dir or default_data_dir()) / ds.file


def run_benchmark(
    dataset: str,
    data_dir: Path | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    variants: Sequence[str] | None = None,
    models: Sequence[str] = MODELS,
    config_overrides: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchmarkResult:
    """Cross-validate the three models on every variant of one dataset."""
    say = progress or (lambda _: None)
    ds = DATASETS[dataset]
    path = dataset_path(ds, data_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{ds.key}: {path} not found (pass --data-dir)")
    t0 = time.perf_counter()
    imported = import_export(path, ds.mapping)
    config = imported.train_config(seed=seed, **(config_overrides or {}))
    base = build_dataset(imported.history, config.label_rules).reset_index(drop=True)
    labelled = base["y_won"].notna().to_numpy()
    base = base[labelled].reset_index(drop=True)
    y = base["y_won"].to_numpy(dtype=int)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_ids = list(splitter.split(np.zeros(len(y)), y))
    say(f"{ds.key}: {len(y):,} labelled leads, positive rate {y.mean():.3f}, {folds} folds")

    results: list[VariantResult] = []
    for variant in ds.variants:
        if variants is not None and variant.key not in variants:
            continue
        frame, spec = _variant_frame(base, imported, variant)
        scores = {m: ModelScore(oof=np.full(len(y), np.nan)) for m in models}
        reason_hits: list[dict[str, float]] = []
        for k, (train_idx, test_idx) in enumerate(fold_ids):
            train_rows, test_rows = frame.iloc[train_idx], frame.iloc[test_idx]
            for model in models:
                start = time.perf_counter()
                if model == "leadscore":
                    p, reason_eval = _leadscore(frame, train_idx, test_idx, spec, config, k)
                    if reason_eval:
                        reason_hits.append(reason_eval)
                else:
                    p = FITTERS[model](train_rows, y[train_idx], test_rows, spec, seed)
                score = scores[model]
                score.seconds += time.perf_counter() - start
                score.folds.append(binary_metrics(y[test_idx], p))
                assert score.oof is not None
                score.oof[test_idx] = p
        ece = {m: expected_calibration_error(y, s.oof) for m, s in scores.items()}
        floor = {m: _ece_floor(s.oof, seed) for m, s in scores.items()}
        result = VariantResult(
            variant=variant,
            features=list(spec.input_columns),
            rows=len(y),
            positive_rate=float(y.mean()),
            scores=scores,
            ece=ece,
            ece_floor=floor,
            reason_model=_pool_reason(reason_hits),
        )
        results.append(result)
        say(
            f"  {variant.key}: "
            + ", ".join(
                f"{m} AUC {s.mean('roc_auc'):.3f} ECE {ece[m]:.3f}" for m, s in scores.items()
            )
        )
    return BenchmarkResult(
        dataset=ds,
        folds=folds,
        seed=seed,
        config=config,
        variants=results,
        left_out=list(imported.summary["sales_side"]),
        seconds=time.perf_counter() - t0,
    )


def paired_difference(v: VariantResult, model: str, other: str) -> tuple[float, float]:
    """Per-fold ROC AUC of ``model`` minus ``other`` (same folds): mean and sd.

    The folds are shared, so this difference is far less noisy than comparing the two
    means: it is the honest way to say "better" or "a tie".
    """
    a = np.array([f["roc_auc"] for f in v.scores[model].folds])
    b = np.array([f["roc_auc"] for f in v.scores[other].folds])
    return float((a - b).mean()), float((a - b).std())


def _variant_frame(
    base: pd.DataFrame, imported: ImportedExport, variant: Variant
) -> tuple[pd.DataFrame, FeatureSpec]:
    """The training frame and spec of one variant (sales-side columns joined if asked)."""
    spec = imported.spec
    missing = [c for c in variant.drop if c not in spec.input_columns]
    if missing:
        raise ValueError(f"variant {variant.key}: no such features {missing}")
    keep = lambda cols: tuple(c for c in cols if c not in variant.drop)  # noqa: E731
    spec = replace(
        spec,
        categorical=keep(spec.categorical),
        ordinal={k: v for k, v in spec.ordinal.items() if k not in variant.drop},
        boolean=keep(spec.boolean),
        numeric=keep(spec.numeric),
    )
    frame = base
    if variant.add:
        side = imported.sales_side.drop_duplicates("lead_id").set_index("lead_id")
        frame = base.copy()
        for column, name in variant.add:
            frame[name] = frame["lead_id"].map(side[column]).to_numpy()
        spec = replace(spec, categorical=(*spec.categorical, *(n for _, n in variant.add)))
    return frame, spec


def _logistic(
    train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, spec: FeatureSpec, seed: int
) -> np.ndarray:
    return baseline_model(spec).fit(train, y).predict_proba(test)[:, 1]


def _lightgbm_default(
    train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, spec: FeatureSpec, seed: int
) -> np.ndarray:
    """Library defaults on the encoded matrix; only the seed, the log level and the thread
    count are set (one thread: on a busy machine OpenMP's spinning threads make LightGBM
    ~10x slower, and the fitted model is the same)."""
    encoder = LeadEncoder(spec).fit(train)
    model = lgb.LGBMClassifier(random_state=seed, verbose=-1, n_jobs=1)
    model.fit(encoder.transform(train), y, categorical_feature=encoder.categorical_indices_)
    return model.predict_proba(encoder.transform(test))[:, 1]


FITTERS: dict[str, Callable[..., np.ndarray]] = {
    "logistic": _logistic,
    "lightgbm_default": _lightgbm_default,
}


def _leadscore(
    frame: pd.DataFrame,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    spec: FeatureSpec,
    config: TrainConfig,
    fold: int,
) -> tuple[np.ndarray, dict[str, float]]:
    """The training path: an inner 80/20 stratified split of the training fold."""
    y = frame["y_won"].to_numpy()
    split = pd.Series("immature", index=frame.index, name="split")
    rng = np.random.default_rng(config.seed + 1000 * (fold + 1))
    for value in (0.0, 1.0):
        idx = train_idx[y[train_idx] == value].copy()
        rng.shuffle(idx)
        n_valid = round(len(idx) * 0.2)
        split.iloc[idx[:n_valid]] = "valid"
        split.iloc[idx[n_valid:]] = "train"
    split.iloc[test_idx] = "test"
    scorer, _ = fit_scorer(frame, split, spec, config)
    test = frame.iloc[test_idx]
    matrix = scorer.encoder.transform(test)
    p = scorer.stage_probabilities(matrix)["won"]
    return p, _reason_eval(scorer, frame.iloc[train_idx], test, matrix)


def _reason_eval(
    scorer: Any, train: pd.DataFrame, test: pd.DataFrame, matrix: np.ndarray
) -> dict[str, float]:
    """Top-1 accuracy of the rejection-reason model on the fold's rejected leads."""
    if scorer.reason_model is None:
        return {}
    classes = list(scorer.reason_classes)
    rejected = (test["first_decision"] == "rejected").to_numpy()
    known = rejected & test["first_reason"].isin(classes).to_numpy()
    if not known.any():
        return {}
    proba = scorer.reason_model.predict(matrix[known]).reshape(known.sum(), -1)
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    truth = test["first_reason"].to_numpy()[known]
    train_reasons = train.loc[train["first_decision"] == "rejected", "first_reason"]
    majority = train_reasons[train_reasons.isin(classes)].value_counts().idxmax()
    return {
        "rows": float(known.sum()),
        "correct": float((predicted == truth).sum()),
        "majority_correct": float((truth == majority).sum()),
        "classes": float(len(classes)),
    }


def _pool_reason(hits: list[dict[str, float]]) -> dict[str, Any]:
    if not hits:
        return {}
    rows = sum(h["rows"] for h in hits)
    return {
        "rows": int(rows),
        "accuracy": sum(h["correct"] for h in hits) / rows,
        "majority_accuracy": sum(h["majority_correct"] for h in hits) / rows,
        "classes": int(max(h["classes"] for h in hits)),
    }


def _ece_floor(p: np.ndarray | None, seed: int, draws: int = 200) -> float:
    """Mean ECE of perfectly calibrated predictions ``p`` (labels drawn from ``p``)."""
    if p is None:
        return float("nan")
    rng = np.random.default_rng(seed)
    return float(
        np.mean([expected_calibration_error(rng.random(len(p)) < p, p) for _ in range(draws)])
    )


# --- the report ----------------------------------------------------------------------------


def to_markdown(result: BenchmarkResult) -> str:
    """One dataset's section of ``docs/benchmarks.md`` (between its markers)."""
    ds, cfg = result.dataset, result.config
    lines = [
        f"### {ds.title}",
        "",
        f"Reproduce: `leadscore benchmark --dataset {ds.key} --folds {result.folds}` "
        f"(seed {result.seed}; {result.seconds:.0f} s on this machine). "
        f"Sales-side columns left out of every non-leaky variant: "
        f"{', '.join(result.left_out) or 'none'}.",
        "",
    ]
    if ds.note:
        lines += [ds.note, ""]
    lines += [
        "| feature set | model | ROC AUC | PR AUC | Brier | ECE (floor) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for v in result.variants:
        label = v.variant.title + (
            f" — published: {v.variant.reference}" if v.variant.reference else ""
        )
        for i, (model, score) in enumerate(v.scores.items()):
            first = label if i == 0 else ""
            bold = "**" if model == "leadscore" else ""
            lines.append(
                f"| {first} | {bold}{MODEL_LABELS[model]}{bold} | "
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
        if diffs:
            lines.append(
                f"- {v.variant.key}: leadscore minus {', '.join(diffs)} ROC AUC "
                "(paired, per fold: mean ± sd)"
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
                f"Rejection-reason model ({v.variant.key}, {r['classes']} classes, "
                f"{r['rows']:,} rejected leads out of fold): top-1 accuracy "
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
    """Replace this dataset's marked block in ``path`` (create it if needed)."""
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


__all__ = [
    "DATASETS",
    "MODELS",
    "BenchmarkResult",
    "Dataset",
    "Variant",
    "dataset_path",
    "default_data_dir",
    "paired_difference",
    "run_benchmark",
    "to_markdown",
    "write_markdown",
]
