"""``leadscore serve`` and ``leadscore demo`` (the README's first command)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.options import LeadsOpt, SeedOpt, open_store, progress
from scoring.settings import Settings


def demo(
    leads: LeadsOpt = 20_000,
    seed: SeedOpt = 42,
    host: str = "127.0.0.1",
    port: int = 8000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """The README's first command: synthetic history → train → register → promote → serve.

    Before serving, the history's most recent MQLs are scored through the API (so the
    queue and the marketing page have content) and a key per role is made, printed with
    the sign-in link of its page.
    """
    from cli.demo_leads import (
        DEMO_LEADS,
        prescore_in_process,
        recent_leads,
        sign_in_lines,
        write_leads_file,
    )
    from serving.tables import Role
    from training.pipeline import run_training
    from training.registry import promote
    from training.synthetic import generate as make

    settings = Settings(seed=seed)
    settings.ensure_home()
    progress(f"home: {settings.home} (set LEADSCORE_HOME to use another folder)")
    progress(f"[1/5] generating a synthetic CRM history: {leads:,} leads over 18 months")
    history = make(leads, seed=seed)
    data_dir = history.save(settings.home / "data" / f"synthetic-{leads}-{seed}")
    progress(f"      saved to {data_dir}")
    progress("[2/5] validating, training (MQL→SQL, SQL→won), calibrating, logging to MLflow")
    outcome = run_training(
        history, settings, data_source=f"synthetic(n={leads},seed={seed})", progress=progress
    )
    progress("[3/5] promotion gate")
    decision = promote(settings, actor="demo")
    progress(("promoted: " if decision.promoted else "not promoted: ") + decision.reason)
    store = open_store()
    keys = {}
    for role in (Role.SCORER, Role.SALES, Role.MARKETING, Role.ADMIN):
        store.revoke_api_key(f"demo-{role.value}")
        keys[role] = store.create_api_key(f"demo-{role.value}", role)
    progress(f"[4/5] scoring the {DEMO_LEADS} most recent MQLs through the API (for the pages)")
    demo_leads = recent_leads(history, DEMO_LEADS)
    scored = prescore_in_process(settings, keys[Role.SCORER], demo_leads)
    progress(f"      {scored} leads scored: they are on the handoff queue and marketing page")
    leads_file = write_leads_file(demo_leads, settings.home / "data" / "demo-leads.parquet")
    base = f"http://{host}:{port}"
    sign_in = "\n".join(sign_in_lines(base, {r.value: k for r, k in keys.items()}))
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
  scorer: {keys[Role.SCORER]}   (for the API: /v1/score)

Sign in to the pages (open the link, paste the key):
{sign_in}

Try, once the server below is up:
  curl -s {base}/v1/score -H 'X-API-Key: {keys[Role.SCORER]}' \\
       -H 'Content-Type: application/json' -d '{json.dumps(lead)}'
  curl -s -X POST {base}/v1/feedback -H 'X-API-Key: {keys[Role.SALES]}' \\
       -H 'Idempotency-Key: demo-feedback-1' -H 'Content-Type: application/json' \\
       -d '{json.dumps(feedback)}'
  curl -s {base}/v1/leads/demo-1/decision -H 'X-API-Key: {keys[Role.SALES]}'
  open {base}/docs            (OpenAPI, try it out with a key; works offline)
  leadscore score --engine spark --input {leads_file} --output scores.parquet
                              (the same leads in batch; --engine local: one process)
  mlflow ui --backend-store-uri {settings.resolved_tracking_uri} --port 5000
==================================================================================
"""
    )
    if serve_after:
        progress(f"[5/5] serving on {base} (Ctrl+C to stop)")
        serve(host=host, port=port)


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
