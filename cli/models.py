"""``leadscore`` commands from a CRM history to a registered, promoted model.

``generate`` (synthetic history), ``train``, ``retrain``, ``promote``, ``evaluate``,
``benchmark`` and ``ablation``: the steps ``leadscore demo`` chains, for data scientists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.options import (
    DataOpt,
    ForceOpt,
    LabelRulesOpt,
    LeadsOpt,
    SeedOpt,
    open_store,
    progress,
)
from scoring.settings import Settings


def generate(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder to write the four CSV tables to; default: a folder under the "
            "home's data/, where `retrain` looks for the latest history."
        ),
    ] = None,
    leads: LeadsOpt = 20_000,
    months: int = 18,
    seed: SeedOpt = 42,
    drift: Annotated[bool, typer.Option(help="Plant a drift (paid_social quality falls).")] = False,
) -> None:
    """Generate a synthetic CRM history (four tables of the data contract)."""
    from training.synthetic import generate as make

    if out is None:
        out = Settings().ensure_home() / "data" / f"synthetic-{leads}-{seed}"
    progress(f"generating {leads:,} leads over {months} months (seed {seed})")
    history = make(leads, months=months, seed=seed, drift=drift)
    history.save(out)
    progress(f"wrote {out}: " + ", ".join(f"{k} {len(v):,}" for k, v in history.tables().items()))


def train_cmd(
    data: DataOpt = None,
    leads: LeadsOpt = 20_000,
    months: int = 18,
    seed: SeedOpt = 42,
    label_rules: LabelRulesOpt = "aware",
    threshold_method: Annotated[
        str | None,
        typer.Option(
            help="capacity, expected_value or acceptance_rate; default: the mapping's "
            "train.policy, else capacity"
        ),
    ] = None,
    daily_capacity: Annotated[
        float | None, typer.Option(help="Handoffs sales can take a day (default 12).")
    ] = None,
    promote_after: Annotated[bool, typer.Option("--promote/--no-promote")] = False,
    mapping: Annotated[
        str | None,
        typer.Option(
            help="--data is a flat CRM export (csv/xlsx): import it with this mapping, a YAML "
            "file or a built-in name (x_education, olist, amocrm, bitrix24). Stages, split "
            "and label rules then come from the mapping (docs/importing.md)."
        ),
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Train on a CRM history (or synthetic data), log to MLflow, register a challenger."""
    from training.pipeline import load_history, run_training
    from training.registry import promote
    from training.threshold import PolicyInputs
    from training.train import TrainConfig

    settings = Settings(seed=seed)
    # only the flags given: a mapping's train.policy wins over the defaults, not over them
    given = {"method": threshold_method, "daily_capacity": daily_capacity}
    given = {k: v for k, v in given.items() if v is not None}
    policy = PolicyInputs(**given)  # type: ignore[arg-type]
    spec = None
    if mapping is not None:
        from training.importing import load_mapping, training_inputs

        mapped = load_mapping(mapping).train.get("policy") or {}
        history, spec, config, source = training_inputs(
            data,
            mapping,
            seed=seed,
            policy=PolicyInputs(**(mapped | given)) if given else None,
            progress=progress,
        )
    else:
        history, source = load_history(data, leads=leads, months=months, seed=seed)
        progress(f"data: {source}, {len(history.leads):,} leads")
        config = TrainConfig(seed=seed, label_rules=label_rules, policy=policy)  # type: ignore[arg-type]
    # handed over: the tables are let go once the features are built (training.pipeline)
    outcome = run_training(
        history,
        settings,
        config,
        spec=spec,
        data_source=source,
        progress=progress,
        force=force,
        keep_history=False,
    )
    typer.echo(json.dumps(outcome.result.info["evaluation"].get("won", {}), indent=1))
    if outcome.registration is None:
        raise typer.Exit(1)
    if promote_after:
        decision = promote(settings)
        progress(("promoted: " if decision.promoted else "not promoted: ") + decision.reason)


def retrain(
    data: DataOpt = None,
    server: Annotated[
        str | None,
        typer.Option(help="A running server to reload at once, e.g. http://127.0.0.1:8000"),
    ] = None,
    admin_key: Annotated[str | None, typer.Option(envvar="LEADSCORE_ADMIN_KEY")] = None,
    maturity_days: Annotated[int, typer.Option(help="Days before a lead's labels count")] = 180,
    label_rules: LabelRulesOpt = "aware",
    seed: SeedOpt = 42,
    force: ForceOpt = False,
) -> None:
    """Retrain on the CRM history plus the feedback received through the API; gate; promote."""
    import httpx
    import pandas as pd

    from serving.erasure import ErasedLeads
    from training.history import CRMHistory
    from training.retrain import retrain as run_retrain
    from training.train import TrainConfig

    settings = Settings(seed=seed)
    folder = data or _latest_data(settings)
    base = CRMHistory.load(folder)
    store = open_store()
    progress(f"base history: {folder} ({len(base.leads):,} leads)")
    outcome = run_retrain(
        base,
        store.decisions_for_training(),
        store.feedback_frame(),
        settings,
        TrainConfig(seed=seed, maturity_days=maturity_days, label_rules=label_rules),  # type: ignore[arg-type]
        now=pd.Timestamp.now(tz="UTC"),  # the data's clock never goes past this run
        progress=progress,
        actor="cli-retrain",
        force=force,
        erased=ErasedLeads.load(store, settings),
    )
    if server and outcome.promotion.promoted:
        response = httpx.post(
            f"{server.rstrip('/')}/v1/admin/reload",
            headers={"X-API-Key": admin_key or ""},
            timeout=120,
        )
        progress(f"server reload: {response.status_code} {response.text[:200]}")


def _latest_data(settings: Settings) -> Path:
    """The newest history folder the demo or ``generate`` left under the home folder."""
    folders = sorted((settings.home / "data").glob("*/leads.csv"), key=lambda p: p.stat().st_mtime)
    if not folders:
        raise typer.BadParameter(
            f"not given, and no history under {settings.home / 'data'}: give --data FOLDER "
            "or run `leadscore generate` first",
            param_hint="--data",
        )
    return folders[-1].parent


def promote_cmd(
    version: Annotated[str | None, typer.Option(help="Model version; default: @challenger")] = None,
    actor: Annotated[
        str, typer.Option(help="Who promotes: recorded with the decision on the version.")
    ] = "cli",
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the decision as one JSON object (what POST /v1/admin/promote reads).",
        ),
    ] = False,
) -> None:
    """Move @champion to the challenger if it beats the champion on recent data."""
    from dataclasses import asdict

    from training.registry import promote

    decision = promote(Settings(), version, actor=actor)
    if as_json:
        typer.echo(json.dumps(asdict(decision), default=float))
        return
    progress(("promoted: " if decision.promoted else "not promoted: ") + decision.reason)


def evaluate_cmd(
    version: Annotated[str, typer.Option(help="Model version or alias")] = "champion",
    data: DataOpt = None,
    leads: LeadsOpt = 20_000,
    months: int = 18,
    seed: SeedOpt = 42,
) -> None:
    """Evaluate a registered model on a history's test period."""
    import tempfile

    from scoring.model import LeadScorer
    from training.evaluate import flat_metrics
    from training.pipeline import load_history
    from training.registry import configure, download_scorer, record_in_mlflow_run
    from training.train import TrainConfig, build_dataset, time_split

    settings = Settings(seed=seed)
    configure(settings)
    history, source = load_history(data, leads=leads, months=months, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        scorer = LeadScorer.load(download_scorer(settings, version, Path(tmp)))
    from training.evaluate import evaluate_split

    frame = build_dataset(history)
    split = time_split(frame["mql_at"], history.snapshot_at, TrainConfig(seed=seed))
    result = evaluate_split(scorer, frame, split, scorer.spec)
    result.pop("slices", None)
    progress(f"{settings.model_name}@{version} on {source}")
    typer.echo(json.dumps(result, indent=1, default=float))
    params = {"model_version": version, "data_source": source}
    record_in_mlflow_run(settings, metrics=flat_metrics(result, prefix="eval"), params=params)


def benchmark(
    dataset: Annotated[
        str | None, typer.Option(help="A public dataset preset: x-education, olist or all.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Any flat CRM export (csv/xlsx) to benchmark.")
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option(help="--data's mapping: a YAML file or a built-in name (docs/importing.md)."),
    ] = None,
    protocol: Annotated[
        str,
        typer.Option(help="auto (out of time if the export has dates, else CV), time, cv, both."),
    ] = "auto",
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Folder with the public datasets; default ../shared/datasets."),
    ] = None,
    folds: Annotated[int, typer.Option(help="Stratified CV folds.")] = 5,
    seed: SeedOpt = 0,
    write: Annotated[
        Path | None, typer.Option(help="Update this export's section of a markdown file.")
    ] = None,
) -> None:
    """Model quality on any export: logistic regression vs LightGBM vs leadscore, same rows."""
    from training.benchmark import run_command
    from training.benchmark_report import to_markdown, write_markdown

    for result in run_command(
        dataset=dataset,
        data=data,
        mapping=mapping,
        data_dir=data_dir,
        protocol=protocol,
        folds=folds,
        seed=seed,
        progress=progress,
    ):
        typer.echo(to_markdown(result))
        if write is not None:
            progress(f"updated {write_markdown(result, write)}")


def ablation(
    data: DataOpt = None,
    leads: LeadsOpt = 20_000,
    months: int = 18,
    seed: SeedOpt = 42,
) -> None:
    """Train with rejection-aware and plain labels; compare both on the aware test truth."""
    from training.ablation import format_table, label_ablation
    from training.pipeline import load_history
    from training.train import TrainConfig

    history, source = load_history(data, leads=leads, months=months, seed=seed)
    progress(f"data: {source}, {len(history.leads):,} leads; training aware and plain")
    result = label_ablation(history, TrainConfig(seed=seed))
    typer.echo(format_table(result))
    typer.echo(f"training rows whose y_sql differs: {json.dumps(result['label_changes'])}")
