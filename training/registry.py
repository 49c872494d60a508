"""MLflow: runs, the registered model, and the promotion gate.

Every training run logs its parameters, a fingerprint of its data, its metrics, plots
and a model card, and registers one pyfunc model version (the scorer, its calibrators,
its threshold policy and its explanation metadata) with the alias ``challenger``.
:func:`promote` moves ``champion`` to the challenger only if it beats the champion on
the challenger's own test period — the most recent mature data — by a margin, on
enough evidence (``training.evidence``); otherwise it leaves the champion where it is
and says why ("not enough evidence" when the sample cannot tell). Aliases only: MLflow's
stages are deprecated.

Reading the registry (store URIs, aliases, downloading a version) is the ground floor's
:mod:`scoring.registry_client`, shared with serving; this module is what only training
does: log, register, decide.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
from mlflow import MlflowClient
from mlflow.models import ModelSignature, infer_signature

import scoring
from scoring.contract import PII_COLUMNS
from scoring.features import FeatureSpec, category_key
from scoring.model import LeadScorer
from scoring.pyfunc import (
    SCORER_ARTIFACT,
    LeadScorerModel,
    pyfunc_frame,
    pyfunc_params,
    pyfunc_schema,
)
from scoring.registry_client import (
    CHALLENGER,
    CHAMPION,
    download_scorer,
    environment_kept,
    resolve_version,
    use_store,
)
from scoring.settings import Settings
from training.dataset import touch_examples
from training.evaluate import evaluate_split, flat_metrics, model_card, plot_all
from training.evidence import metric_stage, weigh
from training.history import CRMHistory
from training.train import STAGE_LABELS, TrainConfig, TrainResult, family_metrics

TEST_FRAME = "evaluation/test_frame.parquet"
"""The challenger's test period as the gate reads it: :func:`gate_frame` of its rows."""
LEGACY_TEST_FRAME = "evaluation/test_frame.csv.gz"
"""Where runs logged before the Parquet frame keep their test period (whole lead rows):
the gate still reads it, so a challenger registered before an upgrade can be promoted."""
GATE_KEY = "lead_id"
"""The gate frame's row key: the CRM's opaque lead id, kept as it is (not hashed). It is
not personal data by itself (the contract's personal data is name, email and phone); the
serving store, the decision log and feedback carry the same id; the frame's exact feature
values (a lead's age to the second) would link a row to the CRM anyway, so a hash would
hide nothing; and an erasure can find and drop the lead's row by its id."""
ORACLE_COLUMNS: tuple[str, ...] = ("p_sql_true", "p_won_true")
"""The synthetic generator's true probabilities, which ``evaluate_split`` scores as the
oracle: labels of a kind, present only on synthetic data."""
# models from code (nothing pickled): MLflow runs the script, scoring/ is its code_paths
SCORING_PACKAGE = Path(scoring.__file__).resolve().parent
PYFUNC_SCRIPT = SCORING_PACKAGE / "pyfunc_script.py"
VERSION_TAGS = ("model_kind", "refusal_overridden")
"""Run tags of :func:`log_and_register` also set on the registered version."""


def configure(settings: Settings) -> MlflowClient:
    """:func:`use_store`, plus the experiment new runs go to.

    Inside ``mlflow run`` that is the experiment of the run it created (MLflow refuses to
    resume a run under another active experiment), and :func:`log_and_register` logs into
    that run; with MLFLOW_EXPERIMENT_ID set, that experiment; otherwise the one named
    ``settings.experiment_name``, created on first use — in a local store with its
    artifacts under ``home`` (MLflow's default is ``./mlruns`` of whatever folder the
    command runs in), in a tracking server where the server keeps them.
    """
    settings.ensure_home()
    client = use_store(settings)
    with environment_kept():
        if settings.in_mlflow_run:
            assert settings.mlflow_run_id is not None
            run = client.get_run(settings.mlflow_run_id)
            mlflow.set_experiment(experiment_id=run.info.experiment_id)
        elif settings.mlflow_experiment_id:
            mlflow.set_experiment(experiment_id=settings.mlflow_experiment_id)
        else:
            if client.get_experiment_by_name(settings.experiment_name) is None:
                location = settings.artifact_root.as_uri() if settings.is_local_store else None
                client.create_experiment(settings.experiment_name, artifact_location=location)
            mlflow.set_experiment(settings.experiment_name)
    return client


def record_in_mlflow_run(
    settings: Settings, *, metrics: dict[str, float], params: dict[str, Any]
) -> str | None:
    """Inside ``mlflow run``, record a command's results in the run it created.

    ``train`` and ``retrain`` log into that run through :func:`log_and_register`; a
    command that trains nothing (``evaluate``) would otherwise leave it empty. Outside
    ``mlflow run`` this does nothing and returns None; inside, it returns the run id.
    """
    if not settings.in_mlflow_run:
        return None
    configure(settings)
    with mlflow.start_run(run_id=settings.mlflow_run_id) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        return run.info.run_id


def data_fingerprint(history: CRMHistory) -> dict[str, Any]:
    """Row counts, date range and a content hash: which data a model was trained on."""
    digest = hashlib.sha256()
    info: dict[str, Any] = {}
    for name, frame in history.tables().items():
        info[f"rows_{name}"] = len(frame)
        # row hashes a million rows at a time: the same bytes, a tenth of the memory
        for start in range(0, len(frame), 1_000_000):
            rows = frame.iloc[start : start + 1_000_000]
            digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    info["mql_from"] = str(history.leads["mql_at"].min())
    info["mql_to"] = str(history.leads["mql_at"].max())
    info["snapshot_at"] = str(history.snapshot_at)
    info["sha256"] = digest.hexdigest()
    return info


@dataclass
class Registration:
    run_id: str
    version: str
    metrics: dict[str, float]


def log_and_register(
    result: TrainResult,
    history: CRMHistory,
    config: TrainConfig,
    settings: Settings,
    *,
    baseline: dict[str, Any] | None = None,
    data_source: str = "synthetic",
    extra_params: dict[str, Any] | None = None,
    extra_tags: dict[str, str] | None = None,
    fingerprint: dict[str, Any] | None = None,
) -> Registration:
    """Log a finished training run to MLflow and register it as the challenger.

    ``fingerprint``: :func:`data_fingerprint` taken before ``history`` was let go (then
    ``history`` need only hold the touches of the example leads)."""
    client = configure(settings)
    fingerprint = fingerprint or data_fingerprint(history)
    metrics = flat_metrics(result.info["evaluation"])
    reason_quality = result.scorer.reason_quality
    metrics.update(flat_metrics({"reason": reason_quality.get("valid", {})}, prefix="valid"))
    if baseline:
        metrics.update(flat_metrics({"won": baseline}, prefix="baseline"))
    families = result.scorer.metadata.get("families", {})
    metrics.update(family_metrics(families))
    scorer = result.scorer
    scorer.metadata.update(
        {
            "data": fingerprint,
            "data_source": data_source,
            "metrics": metrics,
            "label_rules": config.label_rules,
        }
    )
    with (
        mlflow.start_run(run_name=f"train-{data_source}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        tmp_path = Path(tmp)
        mlflow.log_params({**config.params(), **(extra_params or {})})
        mlflow.log_params({f"data_{k}": v for k, v in fingerprint.items()})
        mlflow.log_params(
            {
                "reason_model_reliable": bool(reason_quality.get("reliable")),
                "reason_model_rule": reason_quality.get("rule", "no reason model"),
            }
        )
        # each stage's calibrator: which labelled window it learned from (drift: the
        # latest; a ``shift`` window also says its intercept) and how (Platt or isotonic)
        mlflow.log_params(
            {
                f"calibration_{key}_{stage}": result.info[stage][name]
                for stage in config.stages
                for key, name in (("window", "calibration_window"), ("method", "calibration"))
                if name in result.info.get(stage, {})
            }
        )
        mlflow.log_params({f"family_{stage}": f["chosen"] for stage, f in families.items()})
        mlflow.set_tags({"data_source": data_source, **(extra_tags or {})})
        mlflow.log_metrics(metrics)
        mlflow.log_dict(result.info, "evaluation/evaluation.json")
        mlflow.log_dict(scorer.policy.to_dict(), "policy.json")
        for path in plot_all(scorer, result.frame, result.split, tmp_path / "plots"):
            mlflow.log_artifact(str(path), "plots")
        card = model_card(settings.model_name, result.info, baseline or {}, fingerprint)
        mlflow.log_text(card, "model_card.md")
        test_rows = result.frame[result.split == "test"]
        test_path = tmp_path / PurePosixPath(TEST_FRAME).name
        gate_frame(test_rows, scorer.spec).to_parquet(test_path, index=False)
        mlflow.log_artifact(str(test_path), str(PurePosixPath(TEST_FRAME).parent))

        scorer_dir = scorer.save(tmp_path / SCORER_ARTIFACT)
        # the latest leads when the test period is empty (a cold-start prior on a history
        # with nothing mature yet): an empty example cannot show the typed signature
        example_rows = test_rows if len(test_rows) else result.frame.tail(2)
        example_records = touch_examples(example_rows, history.touches, n=2)
        example = pyfunc_frame(example_records, scorer.spec)
        output = LeadScorerModel._predict_with(scorer, example)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_SCRIPT),
            code_paths=[str(SCORING_PACKAGE)],
            artifacts={SCORER_ARTIFACT: str(scorer_dir)},
            # stated, not inferred: two example rows cannot tell a number from a gap
            signature=ModelSignature(
                inputs=pyfunc_schema(scorer.spec),
                outputs=infer_signature(output).inputs,
                params=pyfunc_params(),
            ),
            input_example=example,
            registered_model_name=settings.model_name,
            await_registration_for=60,
            # stated, not inferred: MLflow's inference runs the model in a subprocess
            pip_requirements=model_requirements(),
        )
        version = str(info.registered_model_version)
        run_id = run.info.run_id
    client.set_registered_model_alias(settings.model_name, CHALLENGER, version)
    for key, value in {
        "handoff_threshold": f"{scorer.policy.handoff_threshold:.6f}",
        "policy_method": scorer.policy.method,
        "data_sha256": fingerprint["sha256"],
        settings.promotion_metric: str(metrics.get(f"test_{settings.promotion_metric}")),
        # what the gate and /v1/model must know: a prior, or a model forced past refusal
        **{k: v for k, v in (extra_tags or {}).items() if k in VERSION_TAGS},
    }.items():
        client.set_model_version_tag(settings.model_name, version, key, value)
    return Registration(run_id, version, metrics)


SERVING_PACKAGES = ("mlflow", "lightgbm", "numpy", "pandas", "scikit-learn", "babel")


def model_requirements() -> list[str]:
    """The packages the pyfunc needs, pinned to the versions it was trained with."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in SERVING_PACKAGES]


@dataclass
class PromotionDecision:
    promoted: bool
    challenger: str | None
    champion_before: str | None
    champion_after: str | None
    reason: str
    scores: dict[str, float]
    verdict: str = "none"
    """``promote``, ``keep``, ``not_enough_evidence`` (``training.evidence``), ``first``,
    ``refused`` (a version registered with ``--force``) or ``none`` (nothing to decide)."""
    evidence: dict[str, Any] | None = None


def promote(
    settings: Settings, challenger: str | None = None, actor: str = "cli"
) -> PromotionDecision:
    """Move ``champion`` to the challenger only on enough evidence that it wins by the margin.

    The evidence rule is :mod:`training.evidence`; a version registered past the refusal
    rule with ``--force`` (tag ``refusal_overridden``) is not promoted as the first model
    (nothing to measure it against), and must win on evidence like any other later.
    Every decision is written to the challenger's version (tag ``promotion``) and its run
    (tag ``promotion_verdict``, artifact ``promotion.json``), where ``/v1/model`` finds it.
    """
    client = configure(settings)
    challenger = challenger or resolve_version(client, settings, CHALLENGER)
    champion = resolve_version(client, settings, CHAMPION)
    if challenger is None:
        return PromotionDecision(False, None, champion, champion, "no challenger registered", {})
    if champion == challenger:
        return PromotionDecision(
            False, challenger, champion, champion, "the challenger is already champion", {}
        )
    version = client.get_model_version(settings.model_name, challenger)
    overridden = version.tags.get("refusal_overridden")
    if overridden and champion is None:
        reason = (
            f"challenger v{challenger} was registered with --force past the refusal rule "
            f"({overridden}): with no champion to measure it against, it is not promoted"
        )
        decision = PromotionDecision(
            False, challenger, champion, champion, reason, {}, verdict="refused"
        )
        _record(client, settings, version.run_id, decision, actor)
        return decision
    if champion is None:
        reason = "first model: no champion to beat"
        if version.tags.get("model_kind") == "prior":
            reason += " (a prior: too little data to learn)"
        decision = PromotionDecision(True, challenger, None, challenger, reason, {}, "first")
        _set_champion(client, settings, challenger)
        _record(client, settings, version.run_id, decision, actor)
        return decision

    metric_name = settings.promotion_metric
    frame = _test_frame(client, version.run_id)
    split = pd.Series("test", index=frame.index)
    scores: dict[str, float] = {}
    paired: dict[str, np.ndarray] = {}
    stage, label = metric_stage(metric_name)
    known = frame[label].notna().to_numpy() if label in frame else np.zeros(len(frame), bool)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for role, ref in (("challenger", challenger), ("champion", champion)):
            scorer = LeadScorer.load(download_scorer(settings, ref, tmp_path / role))
            evaluation = evaluate_split(scorer, frame, split, scorer.spec)
            metric = flat_metrics(evaluation, prefix="test").get(f"test_{metric_name}")
            scores[role] = float("nan") if metric is None else metric
            paired[role] = _stage_scores(scorer, frame[known], stage)
    evidence = weigh(
        frame.loc[known, label].to_numpy(),
        paired["challenger"],
        paired["champion"],
        metric=metric_name,
        margin=settings.promotion_margin,
        min_rows=settings.promotion_min_rows,
        min_positives=settings.promotion_min_positives,
        confidence=settings.promotion_confidence,
        resamples=settings.promotion_bootstrap,
        seed=settings.seed,
    )
    gain = scores["challenger"] - scores["champion"]
    measured = (
        f"challenger v{challenger} {metric_name} {scores['challenger']:.4f} vs champion "
        f"v{champion} {scores['champion']:.4f} ({gain:+.4f}) on {evidence.rows} labelled rows "
        f"with {evidence.positives} positives"
    )
    if evidence.ci_low is not None:
        measured += (
            f", {evidence.confidence:.0%} interval of the gain "
            f"[{evidence.ci_low:+.4f}, {evidence.ci_high:+.4f}]"
        )
    if evidence.verdict == "promote":
        reason = (
            f"challenger v{challenger} {metric_name} {scores['challenger']:.4f} beats champion "
            f"v{champion} {scores['champion']:.4f} by {gain:+.4f} "
            f"(margin {settings.promotion_margin}; {measured})"
        )
        _set_champion(client, settings, challenger)
        promoted, after = True, challenger
    elif evidence.verdict == "keep":
        reason = (
            f"champion v{champion} kept: {measured}; the gain is below the margin "
            f"{settings.promotion_margin} on the challenger's test period"
        )
        promoted, after = False, champion
    else:
        need = (
            f"needs {settings.promotion_min_rows} labelled rows and "
            f"{settings.promotion_min_positives} positives and negatives"
        )
        reason = (
            f"not enough evidence, champion v{champion} kept and v{challenger} stays "
            f"challenger: {measured} ({need}, and an interval clear of 0 and the margin)"
        )
        promoted, after = False, champion
    decision = PromotionDecision(
        promoted, challenger, champion, after, reason, scores, evidence.verdict,
        evidence.to_dict(),
    )  # fmt: skip
    _record(client, settings, version.run_id, decision, actor)
    return decision


def _stage_scores(scorer: LeadScorer, rows: pd.DataFrame, stage: str) -> np.ndarray:
    """The probability a metric of ``stage`` judges, clipped as ``binary_metrics`` does."""
    matrix, _ = scorer.encoder.encode(rows)
    probs = scorer.stage_probabilities(matrix)
    if stage == "won":
        p = np.prod(list(probs.values()), axis=0)
    elif stage in probs:
        p = probs[stage]
    else:
        p = np.full(len(rows), np.nan)
    return np.clip(p, 1e-6, 1 - 1e-6)


def gate_frame(rows: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """``rows`` cut down to what the promotion gate scores: key, feature columns, labels.

    An allow-list, not a deny-list: the rows come from the whole leads table, and nothing
    but these columns may reach an MLflow artifact — not personal data (name, email,
    phone), not free text (``job_title``), not a column an importer or a later contract
    adds. The features are the model's (``spec``) plus the data contract's default ones,
    so a champion trained on the default features can be scored on a challenger's frame.
    Object columns pyarrow cannot type (mixed values, e.g. features as serving stored
    them) are spelled as the encoder spells categories, so Parquet can hold them.
    """
    default = FeatureSpec()
    allowed = {
        GATE_KEY,
        *spec.input_columns,
        *spec.numeric_columns,
        *default.input_columns,
        *default.numeric_columns,
        *STAGE_LABELS.values(),
        *ORACLE_COLUMNS,
    }
    frame = rows[[c for c in rows.columns if c in allowed]].reset_index(drop=True)
    for col in frame.select_dtypes(include="object").columns:
        try:
            pa.array(frame[col], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            frame[col] = [None if pd.isna(v) else category_key(v) for v in frame[col]]
    return frame


def _test_frame(client: MlflowClient, run_id: str) -> pd.DataFrame:
    """The challenger's test period exactly as its run logged it.

    Parquet keeps the types; a run logged before it (``LEGACY_TEST_FRAME``, a CSV of
    whole lead rows) is read the old way, its personal-data columns dropped on reading.
    """
    logged = {f.path for f in client.list_artifacts(run_id, str(PurePosixPath(TEST_FRAME).parent))}
    legacy = TEST_FRAME not in logged and LEGACY_TEST_FRAME in logged
    with tempfile.TemporaryDirectory() as tmp:
        test_file = mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path=LEGACY_TEST_FRAME if legacy else TEST_FRAME,
            dst_path=str(Path(tmp) / "data"),
        )
        if not legacy:
            return pd.read_parquet(test_file)
        # keep_default_na=False: region "NA" (North America) must not become NaN
        frame = pd.read_csv(
            test_file, dtype={"lead_id": str}, keep_default_na=False, na_values=[""]
        )
    frame = frame.drop(columns=[c for c in frame.columns if c in PII_COLUMNS])
    for col in ("created_at", "mql_at"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def _set_champion(client: MlflowClient, settings: Settings, version: str) -> None:
    client.set_registered_model_alias(settings.model_name, CHAMPION, version)


def _record(
    client: MlflowClient,
    settings: Settings,
    run_id: str | None,
    decision: PromotionDecision,
    actor: str,
) -> None:
    """The decision and its evidence on the challenger's version and run."""
    payload = {
        "promoted": decision.promoted,
        "by": actor,
        "verdict": decision.verdict,
        "reason": decision.reason,
        "champion_before": decision.champion_before,
        "evidence": decision.evidence,
        "at": pd.Timestamp.now(tz="UTC").isoformat(),
    }
    assert decision.challenger is not None
    client.set_model_version_tag(
        settings.model_name, decision.challenger, "promotion", json.dumps(payload)
    )
    if run_id:
        client.set_tag(run_id, "promotion_verdict", decision.verdict)
        client.log_dict(run_id, payload, "promotion.json")
