"""The ``leadscore`` command line.

``leadscore demo`` is the README's first command: synthetic CRM history → train →
register → promote → serve. The other commands are its steps, for data scientists.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from scoring.settings import Settings
from training.cli_errors import CommandGroup

app = typer.Typer(
    cls=CommandGroup,
    help="leadscore: calibrated, explainable lead scoring.",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    cls=CommandGroup, help="Manage API keys (stored hashed).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


@app.callback()
def _quiet_mlflow() -> None:
    """MLflow's INFO lines (creating tables, validating the input example) on every command
    bury the one line that says what happened; its warnings still show, and
    ``MLFLOW_LOGGING_LEVEL=INFO`` brings the rest back."""
    import logging
    import os

    level = os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow loads
    logging.getLogger("mlflow").setLevel(level.upper())  # in case it is loaded already


DataOpt = Annotated[
    Path | None,
    typer.Option(help="A CRM history folder (leads.csv, touches.csv, feedback.csv, outcomes.csv)."),
]
LeadsOpt = Annotated[
    int, typer.Option(help="Synthetic leads to generate when --data is not given.")
]
SeedOpt = Annotated[int, typer.Option(help="Seed: the same seed gives the same data and model.")]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Register a model the refusal rule turns down (recorded on the run; never "
        "promoted as the first model), or learn from data the cold-start rule would give a "
        "prior to. See docs/training-rules.md.",
    ),
]


def _label_rules(value: str) -> str:
    from typing import get_args

    from training.labels import LabelRules

    if value not in get_args(LabelRules):
        raise typer.BadParameter(f"use one of: {', '.join(get_args(LabelRules))}")
    return value


LabelRulesOpt = Annotated[
    str,
    typer.Option(
        help="aware (rejection tags), plain, or aware-provisional (deferred rejections "
        "count 0 until they come back); see docs/labels.md",
        callback=_label_rules,
    ),
]


def _progress(message: str) -> None:
    typer.echo(f"[{time.strftime('%H:%M:%S')}] {message}")


@app.command()
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
    _progress(f"generating {leads:,} leads over {months} months (seed {seed})")
    history = make(leads, months=months, seed=seed, drift=drift)
    history.save(out)
    _progress(f"wrote {out}: " + ", ".join(f"{k} {len(v):,}" for k, v in history.tables().items()))


@app.command(name="train")
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
            progress=_progress,
        )
    else:
        history, source = load_history(data, leads=leads, months=months, seed=seed)
        _progress(f"data: {source}, {len(history.leads):,} leads")
        config = TrainConfig(seed=seed, label_rules=label_rules, policy=policy)  # type: ignore[arg-type]
    outcome = run_training(
        history, settings, config, spec=spec, data_source=source, progress=_progress, force=force
    )
    typer.echo(json.dumps(outcome.result.info["evaluation"].get("won", {}), indent=1))
    if outcome.registration is None:
        raise typer.Exit(1)
    if promote_after:
        decision = promote(settings)
        _progress(("promoted: " if decision.promoted else "not promoted: ") + decision.reason)


@app.command()
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
    store = _store()
    _progress(f"base history: {folder} ({len(base.leads):,} leads)")
    outcome = run_retrain(
        base,
        store.decisions_for_training(),
        store.feedback_frame(),
        settings,
        TrainConfig(seed=seed, maturity_days=maturity_days, label_rules=label_rules),  # type: ignore[arg-type]
        now=pd.Timestamp.now(tz="UTC"),  # the data's clock never goes past this run
        progress=_progress,
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
        _progress(f"server reload: {response.status_code} {response.text[:200]}")


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


@app.command()
def simulate(
    weeks: int = 16,
    leads_per_week: int = 300,
    base_leads: Annotated[
        int | None, typer.Option(help="History size; default 78 weeks' worth")
    ] = None,
    seed: SeedOpt = 11,
    drift: Annotated[
        bool, typer.Option(help="A channel silently gets worse from --drift-week")
    ] = True,
    drift_week: int = 4,
    drift_channel: str = "paid_search",
    drift_volume: Annotated[
        float, typer.Option(help="The drifting channel's volume multiplier after the drift")
    ] = 3.0,
    retrain_every: Annotated[int, typer.Option(help="0 = frozen model")] = 1,
    label_rules: LabelRulesOpt = "aware",
    recency_half_life_days: Annotated[
        float, typer.Option(help="Retraining sample-weight half-life; 0 = all rows equal")
    ] = 28.0,
    retrain_trees: Annotated[
        int, typer.Option(help="Trees per stage when retraining; 0 = early stopping")
    ] = 100,
    home: Annotated[
        Path | None, typer.Option(help="Folder for this run (default: a new temp one)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the weekly table as CSV")] = None,
    control: Annotated[
        Path | None,
        typer.Option(help="Weekly CSV of the same run with --no-drift: recovery relative to it"),
    ] = None,
) -> None:
    """Run weeks of the funnel against a server: score, sales feedback, weekly retraining."""
    import tempfile

    from training.simulate import SimConfig, summarise
    from training.simulate import simulate as run

    cfg = SimConfig(
        weeks=weeks,
        leads_per_week=leads_per_week,
        base_leads=base_leads,
        seed=seed,
        drift=drift,
        drift_week=drift_week,
        drift_channel=drift_channel,
        drift_volume=drift_volume,
        retrain_every=retrain_every,
        label_rules=label_rules,  # type: ignore[arg-type]
        recency_half_life_days=recency_half_life_days or None,
        retrain_trees=retrain_trees,
    )
    folder = home or Path(tempfile.mkdtemp(prefix="leadscore-sim-"))
    _progress(f"simulation home: {folder}")
    table = run(folder, cfg, progress=_progress)
    typer.echo(table.to_markdown(index=False) if _has_tabulate() else table.to_string(index=False))
    typer.echo(json.dumps(summarise(table, drift_week, cfg.recover_within)))
    if control is not None:
        import pandas as pd

        relative = summarise(table, drift_week, cfg.recover_within, control=pd.read_csv(control))
        typer.echo(json.dumps({"relative_to_control": relative}))
    if out:
        table.to_csv(out, index=False)


def _has_tabulate() -> bool:
    import importlib.util

    return importlib.util.find_spec("tabulate") is not None


@app.command()
def rescore(
    as_of: Annotated[
        str | None, typer.Option(help="Score as of this moment (ISO); default: now")
    ] = None,
) -> None:
    """Re-score open leads (nurtured or awaiting sales) and list who crossed the threshold."""
    import tempfile

    import pandas as pd

    from scoring.model import LeadScorer
    from serving.rescore import rescore_open_leads
    from serving.schemas import time_bound
    from training.registry import CHAMPION, configure, download_scorer, resolve_version

    settings = Settings()
    now = pd.Timestamp.now(tz="UTC")
    moment = pd.Timestamp(as_of or now)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment
    latest, message = time_bound(now.to_pydatetime(), settings.clock_skew)
    if moment > latest:  # the API's rule: a decision as of the future cannot be true
        raise typer.BadParameter(message, param_hint="--as-of")
    client = configure(settings)
    version = resolve_version(client, settings, CHAMPION)
    if version is None:
        raise typer.BadParameter("no champion registered yet: run `leadscore train --promote`")
    with tempfile.TemporaryDirectory() as tmp:
        scorer = LeadScorer.load(download_scorer(settings, version, Path(tmp)))
    store = _store()
    crossings, rows = rescore_open_leads(
        scorer,
        store.decisions_for_training(),
        store.feedback_frame(),
        moment.to_pydatetime(),
        version,
        settings.model_name,
    )
    store.record_decisions(rows)
    _progress(f"re-scored {len(rows)} open leads as of {moment.isoformat()} with v{version}")
    for c in crossings:
        arrow = "↑ now hand to sales" if c.after == "hand_to_sales" else f"↓ now {c.after}"
        typer.echo(f"  {c.lead_id}: P(won) {c.p_won_before:.3f} → {c.p_won_after:.3f}  {arrow}")
    _progress(f"{len(crossings)} crossed the threshold")


@app.command(name="promote")
def promote_cmd(
    version: Annotated[str | None, typer.Option(help="Model version; default: @challenger")] = None,
) -> None:
    """Move @champion to the challenger if it beats the champion on recent data."""
    from training.registry import promote

    decision = promote(Settings(), version)
    _progress(("promoted: " if decision.promoted else "not promoted: ") + decision.reason)


@app.command(name="evaluate")
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
    _progress(f"{settings.model_name}@{version} on {source}")
    typer.echo(json.dumps(result, indent=1, default=float))
    params = {"model_version": version, "data_source": source}
    record_in_mlflow_run(settings, metrics=flat_metrics(result, prefix="eval"), params=params)


@app.command()
def demo(
    leads: LeadsOpt = 20_000,
    seed: SeedOpt = 42,
    host: str = "127.0.0.1",
    port: int = 8000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """The README's first command: synthetic history → train → register → promote → serve."""
    from serving.tables import Role
    from training.pipeline import run_training
    from training.registry import promote
    from training.synthetic import generate as make

    settings = Settings(seed=seed)
    settings.ensure_home()
    _progress(f"home: {settings.home} (set LEADSCORE_HOME to use another folder)")
    _progress(f"[1/4] generating a synthetic CRM history: {leads:,} leads over 18 months")
    history = make(leads, seed=seed)
    data_dir = history.save(settings.home / "data" / f"synthetic-{leads}-{seed}")
    _progress(f"      saved to {data_dir}")
    _progress("[2/4] validating, training (MQL→SQL, SQL→won), calibrating, logging to MLflow")
    outcome = run_training(
        history, settings, data_source=f"synthetic(n={leads},seed={seed})", progress=_progress
    )
    _progress("[3/4] promotion gate")
    decision = promote(settings, actor="demo")
    _progress(("promoted: " if decision.promoted else "not promoted: ") + decision.reason)
    store = _store()
    keys = {}
    for role in (Role.SCORER, Role.SALES, Role.ADMIN):
        store.revoke_api_key(f"demo-{role.value}")
        keys[role] = store.create_api_key(f"demo-{role.value}", role)
    base = f"http://{host}:{port}"
    won = outcome.result.info["evaluation"].get("won", {})
    lead = {
        "lead_id": "demo-1",
        "created_at": "2026-03-01T09:00:00Z",
        "channel": "webinar",
        "industry": "software",
        "company_size": "201-500",
        "seniority": "director",
        "department": "marketing",
        "touches": [
            {"at": "2026-03-20T10:00:00Z", "type": "webinar_attended"},
            {"at": "2026-03-27T10:00:00Z", "type": "pricing_page_view"},
            {"at": "2026-03-28T10:00:00Z", "type": "demo_request"},
        ],
        "as_of": "2026-03-30T09:00:00Z",
    }
    feedback = {
        "lead_id": "demo-1",
        "kind": "rejected",
        "reason": "too_early",
        "at": "2026-03-30T12:00:00Z",
        "contact_attempts": 3,
    }
    auc, ece = won.get("roc_auc", float("nan")), won.get("ece", float("nan"))
    typer.echo(
        f"""
==================================================================================
leadscore is trained on the latest mature period (test):
  P(won) ROC AUC {auc:.3f}, ECE {ece:.3f}
champion: {settings.model_name} v{decision.champion_after}

API keys (shown once; stored hashed):
  scorer: {keys[Role.SCORER]}
  sales:  {keys[Role.SALES]}
  admin:  {keys[Role.ADMIN]}

Try, once the server below is up:
  curl -s {base}/v1/score -H 'X-API-Key: {keys[Role.SCORER]}' \\
       -H 'Content-Type: application/json' -d '{json.dumps(lead)}'
  curl -s -X POST {base}/v1/feedback -H 'X-API-Key: {keys[Role.SALES]}' \\
       -H 'Idempotency-Key: demo-feedback-1' -H 'Content-Type: application/json' \\
       -d '{json.dumps(feedback)}'
  curl -s {base}/v1/leads/demo-1/decision -H 'X-API-Key: {keys[Role.SALES]}'
  open {base}/docs            (OpenAPI, try it out with a key)
  open {base}/ui/queue        (sales handoff queue; sign in with the sales key)
  mlflow ui --backend-store-uri {settings.resolved_tracking_uri} --port 5000
==================================================================================
"""
    )
    if serve_after:
        _progress(f"[4/4] serving on {base} (Ctrl+C to stop)")
        serve(host=host, port=port)


@app.command()
def benchmark(
    dataset: Annotated[str, typer.Option(help="x-education, olist or all")] = "all",
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Folder with the public datasets; default ../shared/datasets."),
    ] = None,
    folds: Annotated[int, typer.Option(help="Stratified CV folds.")] = 5,
    seed: SeedOpt = 0,
    write: Annotated[
        Path | None, typer.Option(help="Update this dataset's section of a markdown file.")
    ] = None,
) -> None:
    """Model quality on public lead datasets: logistic regression vs LightGBM vs leadscore."""
    from training.benchmark import DATASETS, run_benchmark, to_markdown, write_markdown

    keys = list(DATASETS) if dataset == "all" else [dataset]
    for key in keys:
        if key not in DATASETS:
            raise typer.BadParameter(f"unknown dataset {key!r}; choose from {list(DATASETS)}")
        result = run_benchmark(key, data_dir, folds=folds, seed=seed, progress=_progress)
        typer.echo(to_markdown(result))
        if write is not None:
            _progress(f"updated {write_markdown(result, write)}")


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="Folder for index.html, its PNG charts and JSON.")],
    data: DataOpt = None,
    costs: Annotated[
        Path | None,
        typer.Option(help="Spend per channel (JSON/YAML/CSV): enables CAC, LTV:CAC, ROMI."),
    ] = None,
    from_store: Annotated[
        bool, typer.Option("--from-store", help="Also report the serving decision log.")
    ] = False,
    leads: LeadsOpt = 20_000,
    months: int = 18,
    seed: SeedOpt = 42,
    drift: Annotated[bool, typer.Option(help="Synthetic data only: plant a drift.")] = False,
    start: Annotated[str | None, typer.Option(help="Leads from this date (ISO).")] = None,
    end: Annotated[str | None, typer.Option(help="Leads before this date (ISO).")] = None,
    model: Annotated[
        str | None, typer.Option(help="Registered version/alias to score the history with.")
    ] = None,
) -> None:
    """Funnel, rejection reasons, SLA, calibration and drift as HTML with PNG charts."""
    from serving.report_html import report_command

    for path in report_command(
        out,
        data=data,
        costs=costs,
        from_store=from_store,
        leads=leads,
        months=months,
        seed=seed,
        drift=drift,
        start=start,
        end=end,
        model=model,
        settings=Settings(seed=seed),
        progress=_progress,
    ):
        _progress(f"wrote {path}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="uvicorn's per-request log line (costs a little CPU per request).",
        ),
    ] = True,
) -> None:
    """Serve the champion over HTTP (FastAPI; OpenAPI at /docs).

    uvicorn picks uvloop and httptools (both dependencies) over asyncio and h11.
    """
    import uvicorn

    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=1,
        access_log=access_log,
    )


def _lead_ids_file(path: Path) -> list[str]:
    """Lead ids from a CSV file: its ``lead_id`` column, or its only column."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint="--file") from None
    if not rows:
        raise typer.BadParameter(f"{path} holds no lead ids", param_hint="--file")
    header = [cell.strip() for cell in rows[0]]
    if "lead_id" in header:
        col, rows = header.index("lead_id"), rows[1:]
    elif len(header) == 1:
        col = 0
    else:
        raise typer.BadParameter(
            f"{path} has several columns and none is called lead_id", param_hint="--file"
        )
    ids = [row[col].strip() for row in rows if len(row) > col and row[col].strip()]
    if not ids:
        raise typer.BadParameter(f"{path} holds no lead ids", param_hint="--file")
    return ids


@app.command()
def erase(
    lead_id: Annotated[
        list[str] | None, typer.Option(help="A lead to erase (repeat the option for more).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option(help="A CSV of lead ids (a lead_id column, or one column).")
    ] = None,
    older_than: Annotated[
        int | None,
        typer.Option(min=1, help="Erase leads with no score and no feedback for this many days."),
    ] = None,
    retention: Annotated[
        bool,
        typer.Option(
            "--retention", help="Apply LEADSCORE_RETENTION_DAYS (for a daily scheduled run)."
        ),
    ] = False,
) -> None:
    """Erase leads: their decisions, feedback and history rows go; the erasure is recorded.

    See docs/privacy.md. Prints counts only, never a lead id.
    """
    import getpass
    from datetime import UTC, datetime

    from serving.erasure import erase as run_erase
    from serving.erasure import erase_inactive

    by_id = bool(lead_id) or file is not None
    if sum((by_id, older_than is not None, retention)) != 1:
        raise typer.BadParameter(
            "give --lead-id/--file, or --older-than DAYS, or --retention (one of them)"
        )
    settings = Settings()
    days = older_than
    if retention:
        if settings.retention_days is None:
            raise typer.BadParameter(
                "LEADSCORE_RETENTION_DAYS is not set", param_hint="--retention"
            )
        days = settings.retention_days
    store = _store()
    actor = f"cli:{getpass.getuser()}"[:128]
    if days is not None:
        summary = erase_inactive(store, settings, days, now=datetime.now(UTC), actor=actor)
    else:
        ids = [*(i.strip() for i in lead_id or []), *(_lead_ids_file(file) if file else [])]
        if not all(ids):
            raise typer.BadParameter("a lead id must not be empty", param_hint="--lead-id")
        try:
            summary = run_erase(store, settings, ids, actor=actor)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--lead-id") from None
    _progress(
        f"erased {summary.leads} leads: {summary.decisions} decisions, {summary.feedback} "
        f"feedback events, {summary.history_rows} rows of history files"
    )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. 'hubspot-sync'.")],
    role: Annotated[str, typer.Option(help="scorer, sales, marketing or admin")] = "scorer",
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    store = _store()
    typer.echo(store.create_api_key(name, role))


@keys_app.command("revoke")
def keys_revoke(name: str) -> None:
    """Revoke every key with this name."""
    _store().revoke_api_key(name)
    _progress(f"revoked {name}")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (names, roles, dates — never the keys)."""
    for row in _store().list_api_keys():
        typer.echo(json.dumps(row, default=str))


def _store():
    from serving.storage import Store, make_engine, upgrade

    settings = Settings()
    settings.ensure_home()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    return Store(engine)


@app.command()
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
    _progress(f"data: {source}, {len(history.leads):,} leads; training aware and plain")
    result = label_ablation(history, TrainConfig(seed=seed))
    typer.echo(format_table(result))
    typer.echo(f"training rows whose y_sql differs: {json.dumps(result['label_changes'])}")


if __name__ == "__main__":  # pragma: no cover
    app()
