"""Model quality on any lead export, measured the same way every time.

Claims such as "calibrated" and "better than logistic regression" are only worth
something on data nobody at this project generated. This module takes a flat CRM export
and its mapping through the same import path training uses (``training.importing``),
and compares, in one run, on identical rows and splits:

* **logistic regression** on one-hot categories and scaled numbers — the project's
  honest baseline, :func:`training.train.baseline_model`;
* **default LightGBM** — ``LGBMClassifier()`` with library defaults on the same
  encoded matrix (native categorical splits), i.e. what a data scientist would try first;
* **leadscore** — :func:`training.train.fit_scorer`, the training path itself.

Two protocols (:func:`benchmark_export`; ``auto`` picks the first that applies):

* **out of time** (``time``) when the export has a date column: the split
  ``leadscore train`` uses (test = the latest 20 % of leads, validation the 20 % before);
  leadscore early-stops on validation and learns from both, the baselines fit on both.
  One test period has no folds, so the spread (± and the paired differences) is the
  standard deviation over 200 bootstrap resamples of the test rows;
* **cross-validated** (``cv``) otherwise: stratified K-fold, ``shuffle=True``; leadscore
  splits each training fold 80/20 (stratified) to early-stop, then learns from all of it.
  Spreads are over folds. ECE is computed on the pooled out-of-fold predictions.

Every ECE comes with its *floor* (:func:`training.evaluate.ece_floor`): the ECE a
perfectly calibrated model shows on the same predictions from sampling noise alone.

The public datasets (``shared/datasets``; see each PROVENANCE.txt) are presets of the
same path: a file, a mapping, named feature sets (*variants*; the leaky ones add
sales-side columns back to show what a leak looks like) and the protocols to run.
Markdown: :mod:`training.benchmark_report`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from scoring.features import FeatureSpec
from training.benchmark_models import FITTERS, leadscore_fit, pool_reason
from training.benchmark_presets import ALL_FEATURES, DATASETS, Dataset, Variant
from training.evaluate import binary_metrics, ece_floor, expected_calibration_error
from training.importing import ImportedExport, import_export
from training.train import TrainConfig, build_dataset, time_split

Protocol = Literal["time", "cv"]
PROTOCOLS: tuple[str, ...] = ("auto", "time", "cv", "both")
METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "brier")
MODELS: tuple[str, ...] = ("logistic", "lightgbm_default", "leadscore")
MODEL_SHORT: dict[str, str] = {"logistic": "LR", "lightgbm_default": "default LightGBM"}
MODEL_LABELS: dict[str, str] = {
    "logistic": "Logistic regression (one-hot)",
    "lightgbm_default": "LightGBM, `LGBMClassifier()` defaults",
    "leadscore": (
        "leadscore (`fit_scorer`: LightGBM or logistic regression, the validation winner, "
        "+ calibration)"
    ),
}
MIN_CLASS_ROWS = 10
"""Fewest labelled leads of each class a benchmark runs on (2 folds of 5): below that,
every figure would be noise, and the command says so instead."""
MIN_TEST_CLASS_ROWS = 5
"""Fewest of each class the out-of-time test period needs; else cross-validation."""
BOOTSTRAP = 200


class BenchmarkError(ValueError):
    """An export the benchmark cannot measure anything on (one class, too few rows)."""


@dataclass
class ModelScore:
    """One model on one variant and protocol.

    ``folds`` holds the metrics of each test part (K folds, or the one test period);
    ``auc_draws`` the ROC AUCs the spread is taken over (per fold, or per bootstrap
    resample of the test period — the same resamples for every model, so differences
    are paired); ``oof`` the pooled test predictions (NaN for rows never tested).
    """

    folds: list[dict[str, float]] = field(default_factory=list)
    oof: np.ndarray | None = None
    seconds: float = 0.0
    auc_draws: np.ndarray | None = None

    def mean(self, metric: str) -> float:
        return float(np.mean([f[metric] for f in self.folds]))

    def std(self, metric: str) -> float:
        if metric == "roc_auc" and self.auc_draws is not None and len(self.folds) == 1:
            return float(np.std(self.auc_draws))
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
    protocol: str = "cv"
    test_rows: int = 0
    test_period: str = ""


@dataclass
class BenchmarkResult:
    dataset: Dataset
    folds: int
    seed: int
    config: TrainConfig
    variants: list[VariantResult]
    left_out: list[str]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def variant(self, key: str, protocol: str | None = None) -> VariantResult:
        return next(
            v
            for v in self.variants
            if v.variant.key == key and (protocol is None or v.protocol == protocol)
        )


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
    protocols: Sequence[str] | None = None,
    config_overrides: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchmarkResult:
    """A public dataset's preset: its file, mapping, variants and protocols."""
    ds = DATASETS[dataset]
    path = dataset_path(ds, data_dir)
    if not path.is_file():
        raise FileNotFoundError(2, f"{ds.key}: not found (pass --data-dir)", str(path))
    if variants is not None:
        ds = replace(ds, variants=tuple(v for v in ds.variants if v.key in variants))
    return benchmark_export(
        path,
        ds.mapping,
        dataset=ds if protocols is None else replace(ds, protocols=tuple(protocols)),
        folds=folds,
        seed=seed,
        models=models,
        config_overrides=config_overrides,
        progress=progress,
    )


def benchmark_export(
    path: str | Path,
    mapping: str | Path,
    *,
    dataset: Dataset | None = None,
    protocol: str = "auto",
    folds: int = 5,
    seed: int = 0,
    models: Sequence[str] = MODELS,
    config_overrides: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchmarkResult:
    """Benchmark the three models on a flat export: out of time if it has dates, else CV.

    ``protocol``: ``auto`` (time when the export has a date column, else cv), ``time``,
    ``cv`` or ``both``; a preset's own ``protocols`` win. An export the time split cannot
    be measured on (a test period without both classes) falls back to cross-validation
    and says so in ``notes``. Fewer labelled leads than ``folds`` × 5 per class run on
    fewer folds; fewer than :data:`MIN_CLASS_ROWS` per class raise
    :class:`BenchmarkError`.
    """
    say = progress or (lambda _: None)
    path = Path(path)
    if protocol not in PROTOCOLS:
        raise BenchmarkError(f"unknown protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
    t0 = time.perf_counter()
    imported = import_export(path, mapping)
    if dataset is None:
        key = "".join(c if c.isalnum() else "-" for c in path.stem.lower()).strip("-")
        dataset = Dataset(
            key=key or "export",
            title=f"{path.name} (mapping {imported.mapping.name})",
            file=path.name,
            mapping=str(mapping),
            protocols=(protocol,),
        )
    config = imported.train_config(seed=seed, **(config_overrides or {}))
    full = build_dataset(imported.history, config.label_rules).reset_index(drop=True)
    split = time_split(full["mql_at"], imported.history.snapshot_at, config)
    labelled = full["y_won"].notna().to_numpy()
    base, split = full[labelled].reset_index(drop=True), split[labelled].reset_index(drop=True)
    y = base["y_won"].to_numpy(dtype=int)
    counts = np.bincount(y, minlength=2)
    if counts.min() < MIN_CLASS_ROWS:
        raise BenchmarkError(
            f"{path.name}: {len(y):,} labelled leads ({counts[1]:,} won, {counts[0]:,} lost); "
            f"a benchmark needs at least {MIN_CLASS_ROWS} of each to measure anything"
        )
    notes: list[str] = []
    plan = _protocols(dataset.protocols, imported.has_time, split, y, notes)
    folds_used = int(max(2, min(folds, counts.min() // 5)))
    if folds_used < folds and "cv" in plan:
        notes.append(
            f"{folds_used} folds instead of {folds}: {counts.min()} leads in the smaller class"
        )
    say(
        f"{dataset.key}: {len(y):,} labelled leads, positive rate {y.mean():.3f}, "
        f"protocols {', '.join(plan)}" + "".join(f"; {n}" for n in notes)
    )
    results: list[VariantResult] = []
    for proto in plan:
        parts = _parts(proto, y, split, folds_used, seed)
        for variant in dataset.variants:
            frame, spec = _variant_frame(base, imported, variant)
            result = _measure(frame, y, spec, config, parts, proto, models, seed, split)
            result.variant = variant
            results.append(result)
            say(
                f"  {proto} {variant.key}: "
                + ", ".join(
                    f"{m} AUC {s.mean('roc_auc'):.3f} ECE {result.ece[m]:.3f}"
                    for m, s in result.scores.items()
                )
            )
    return BenchmarkResult(
        dataset=dataset,
        folds=folds_used,
        seed=seed,
        config=config,
        variants=results,
        left_out=list(imported.summary["sales_side"]),
        seconds=time.perf_counter() - t0,
        notes=notes,
    )


def _protocols(
    wanted: Sequence[str], has_time: bool, split: pd.Series, y: np.ndarray, notes: list[str]
) -> list[Protocol]:
    """The protocols to run, in order; ``time`` only where the time split can be measured."""
    plan: list[Protocol] = []
    for w in wanted:
        if w == "auto":
            plan.append("time" if has_time else "cv")
        elif w == "both":
            plan += ["cv", "time"]
        else:
            plan.append(w)
    if "time" in plan:
        problem = ""
        if not has_time:
            problem = "the export has no date column"
        else:
            for part, rows in (("test", split == "test"), ("train + validation",
                               split.isin(["train", "valid"]))):  # fmt: skip
                c = np.bincount(y[rows.to_numpy()], minlength=2)
                if c.min() < MIN_TEST_CLASS_ROWS:
                    problem = (
                        f"its {part} period has {c[1]} won and {c[0]} lost leads "
                        f"(needs {MIN_TEST_CLASS_ROWS} of each)"
                    )
                    break
        if problem:
            notes.append(f"no out-of-time test: {problem}; cross-validated instead")
            plan = [p if p != "time" else "cv" for p in plan]
    return list(dict.fromkeys(plan))


def _parts(
    proto: Protocol, y: np.ndarray, split: pd.Series, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(learned rows, test rows) per fold, or the one time split."""
    if proto == "time":
        learned = np.flatnonzero(split.isin(["train", "valid"]).to_numpy())
        return [(learned, np.flatnonzero((split == "test").to_numpy()))]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def _measure(
    frame: pd.DataFrame,
    y: np.ndarray,
    spec: FeatureSpec,
    config: TrainConfig,
    parts: list[tuple[np.ndarray, np.ndarray]],
    proto: Protocol,
    models: Sequence[str],
    seed: int,
    time_parts: pd.Series,
) -> VariantResult:
    """Every model on the same parts: per-part metrics, pooled predictions, ECE and floor."""
    scores = {m: ModelScore(oof=np.full(len(y), np.nan)) for m in models}
    reason_hits: list[dict[str, float]] = []
    for k, (train_idx, test_idx) in enumerate(parts):
        train_rows, test_rows = frame.iloc[train_idx], frame.iloc[test_idx]
        for model in models:
            start = time.perf_counter()
            if model == "leadscore":
                inner = time_parts if proto == "time" else None
                try:
                    p, reason_eval = leadscore_fit(
                        frame, train_idx, test_idx, spec, config, k, inner
                    )
                except ValueError as exc:  # fit_scorer's data refusals (one class in a part)
                    raise BenchmarkError(f"leadscore cannot be fitted ({proto}): {exc}") from exc
                if reason_eval:
                    reason_hits.append(reason_eval)
            else:
                p = FITTERS[model](train_rows, y[train_idx], test_rows, spec, seed)
            score = scores[model]
            score.seconds += time.perf_counter() - start
            score.folds.append(binary_metrics(y[test_idx], p))
            assert score.oof is not None
            score.oof[test_idx] = p
    tested = np.unique(np.concatenate([t for _, t in parts]))
    if proto == "time":
        _bootstrap(scores, y, tested, seed)
    else:
        for s in scores.values():
            s.auc_draws = np.array([f["roc_auc"] for f in s.folds])
    ece = {m: expected_calibration_error(y[tested], s.oof[tested]) for m, s in scores.items()}  # type: ignore[index]
    floor = {m: ece_floor(s.oof[tested], seed) for m, s in scores.items()}  # type: ignore[index]
    period = ""
    if proto == "time":
        mql = frame["mql_at"].iloc[tested]
        period = f"{mql.min():%Y-%m-%d} → {mql.max():%Y-%m-%d}"
    return VariantResult(
        variant=ALL_FEATURES,
        features=list(spec.input_columns),
        rows=len(y),
        positive_rate=float(y.mean()),
        scores=scores,
        ece=ece,
        ece_floor=floor,
        reason_model=pool_reason(reason_hits),
        protocol=proto,
        test_rows=len(tested),
        test_period=period,
    )


def _bootstrap(scores: dict[str, ModelScore], y: np.ndarray, test: np.ndarray, seed: int) -> None:
    """ROC AUC of every model on the same bootstrap resamples of the test rows."""
    rng = np.random.default_rng(seed)
    draws = [rng.choice(test, len(test)) for _ in range(BOOTSTRAP)]
    draws = [d for d in draws if len(np.unique(y[d])) == 2]
    for s in scores.values():
        assert s.oof is not None
        s.auc_draws = np.array([roc_auc_score(y[d], s.oof[d]) for d in draws])


def paired_difference(v: VariantResult, model: str, other: str) -> tuple[float, float]:
    """ROC AUC of ``model`` minus ``other`` on the same rows: difference and its sd.

    Per fold under cross-validation, per bootstrap resample of the test period out of
    time: the rows are shared, so this difference is far less noisy than comparing the
    two means — the honest way to say "better" or "a tie".
    """
    a, b = v.scores[model], v.scores[other]
    assert a.auc_draws is not None and b.auc_draws is not None
    sd = float((a.auc_draws - b.auc_draws).std())
    return a.mean("roc_auc") - b.mean("roc_auc"), sd


def _variant_frame(
    base: pd.DataFrame, imported: ImportedExport, variant: Variant
) -> tuple[pd.DataFrame, FeatureSpec]:
    """The training frame and spec of one variant (sales-side columns joined if asked)."""
    spec = imported.spec
    missing = [c for c in variant.drop if c not in spec.input_columns]
    if missing:
        raise BenchmarkError(f"variant {variant.key}: no such features {missing}")
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
    if not spec.input_columns:
        raise BenchmarkError(f"variant {variant.key}: the mapping maps no feature column")
    return frame, spec


def run_command(
    *,
    dataset: str | None,
    data: Path | None,
    mapping: str | None,
    data_dir: Path | None,
    protocol: str,
    folds: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> list[BenchmarkResult]:
    """``leadscore benchmark``: ``--data FILE --mapping M`` for any export, or a preset."""
    if data is not None or mapping is not None:
        if dataset is not None:
            raise BenchmarkError("give either --dataset or --data with --mapping, not both")
        if data is None or mapping is None:
            raise BenchmarkError("--data and --mapping go together: the export and its mapping")
        return [
            benchmark_export(
                data, mapping, protocol=protocol, folds=folds, seed=seed, progress=progress
            )
        ]
    keys = list(DATASETS) if dataset in (None, "all") else [dataset]
    unknown = [k for k in keys if k not in DATASETS]
    if unknown:
        raise BenchmarkError(
            f"unknown dataset {unknown[0]!r}: choose from {', '.join(DATASETS)} or all, "
            "or give --data FILE --mapping M"
        )
    chosen = None if protocol == "auto" else [protocol]
    return [
        run_benchmark(k, data_dir, folds=folds, seed=seed, protocols=chosen, progress=progress)
        for k in keys
    ]


__all__ = [
    "DATASETS",
    "MODELS",
    "BenchmarkError",
    "BenchmarkResult",
    "Dataset",
    "Variant",
    "benchmark_export",
    "dataset_path",
    "default_data_dir",
    "paired_difference",
    "run_benchmark",
    "run_command",
]
