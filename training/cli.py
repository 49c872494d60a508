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

app = typer.Typer(help="leadscore: calibrated, explainable lead scoring.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DataOpt = Annotated[
    Path | None,
    typer.Option(help="A CRM history folder (leads.csv, touches.csv, feedback.csv, outcomes.csv)."),
]
LeadsOpt = Annotated[
    int, typer.Option(help="Synthetic leads to generate when --data is not given.")
]
SeedOpt = Annotated[int, typer.Option(help="Seed: the same seed gives the same data and model.")]


def _progress(message: str) -> None:
    typer.echo(f"[{time.strftime('%H:%M:%S')}] {message}")


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the four CSV tables to.")],
    leads: LeadsOpt = 20_000,
    months: int = 18,
    seed: SeedOpt = 42,
    drift: Annotated[bool, typer.Option(help="Plant a drift (paid_social quality falls).")] = False,
) -> None:
    """Generate a synthetic CRM history (four tables of the data contract)."""
    from training.synthetic import generate as make

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
    label_rules: Annotated[str, typer.Option(help="aware (rejection tags) or plain")] = "aware",
    threshold_method: Annotated[
        str, typer.Option(help="capacity, expected_value or acceptance_rate")
    ] = "capacity",
    daily_capacity: Annotated[float, typer.Option(help="Handoffs sales can take a day.")] = 12.0,
    promote_after: Annotated[bool, typer.Option("--promote/--no-promote")] = False,
) -> None:
    """Train on a CRM history (or synthetic data), log to MLflow, register a challenger."""
    from training.pipeline import load_history, run_training
    from training.registry import promote
    from training.threshold import PolicyInputs
    from training.train import TrainConfig

    settings = Settings(seed=seed)
    history, source = load_history(data, leads=leads, months=months, seed=seed)
    _progress(f"data: {source}, {len(history.leads):,} leads")
    config = TrainConfig(
        seed=seed,
        label_rules=label_rules,  # type: ignore[arg-type]
        policy=PolicyInputs(method=threshold_method, daily_capacity=daily_capacity),  # type: ignore[arg-type]
    )
    outcome = run_training(history, settings, config, data_source=source, progress=_progress)
    typer.echo(json.dumps(outcome.result.info["evaluation"].get("won", {}), indent=1))
    if promote_after:
        decision = promote(settings)
        _progress(("promoted: " if decision.promoted else "not promoted: ") + decision.reason)


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
    from training.pipeline import load_history
    from training.registry import configure, download_scorer
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
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Serve the champion over HTTP (FastAPI; OpenAPI at /docs)."""
    import uvicorn

    uvicorn.run("serving.app:create_app", factory=True, host=host, port=port, workers=1)


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


if __name__ == "__main__":  # pragma: no cover
    app()
