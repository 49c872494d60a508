"""``leadscore simulate``: weeks of the funnel against a server (``training.simulate``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.options import LabelRulesOpt, SeedOpt, open_store, progress
from scoring.settings import Settings

if TYPE_CHECKING:  # the simulation (training, MLflow) loads when it runs, not with the app
    from training.simulate import ServedTables


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
    progress(f"simulation home: {folder}")
    table = run(folder, cfg, served_tables, progress=progress)
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


def served_tables(settings: Settings) -> ServedTables:
    """The simulation server's store, read as retraining reads it, afresh each time."""
    store = open_store(settings)
    return lambda: (store.decisions_for_training(), store.feedback_frame())
