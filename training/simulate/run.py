"""A whole run: the first champion on a base history, a server, the weeks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from scoring.settings import Settings
from training.history import CRMHistory
from training.pipeline import Progress, run_training
from training.registry import promote
from training.simulate.config import ServedTables, SimConfig, sim_train_config
from training.simulate.server import running_server
from training.simulate.weeks import Simulation
from training.synthetic import generate
from training.train import TrainConfig


def prepare(settings: Settings, cfg: SimConfig, progress: Progress = print) -> CRMHistory:
    """Base history and a first champion trained on it (the state before the simulation)."""
    base = generate(cfg.history_leads, months=18, seed=cfg.seed)
    weekly = sim_train_config(cfg)
    # the refusal rule's margin, tree size and family of the simulation (sim_train_config)
    config = TrainConfig(
        seed=cfg.seed,
        label_rules=cfg.label_rules,
        baseline_margin=weekly.baseline_margin,
        num_leaves=weekly.num_leaves,
        families=weekly.families,
    )
    config.policy = weekly.policy
    run_training(base, settings, config, data_source="simulation-base", progress=progress)
    decision = promote(settings, actor="simulation")
    progress(f"champion v{decision.champion_after}: {decision.reason}")
    return base


def simulate(
    home: Path,
    cfg: SimConfig,
    open_served: Callable[[Settings], ServedTables],
    progress: Progress = print,
) -> pd.DataFrame:
    """Prepare a fresh home, start a server, run the weeks; the weekly table.

    ``open_served`` opens the server's store for these settings (``cli.simulate`` passes the
    serving store's reader).
    """
    settings = Settings(home=home, seed=cfg.seed, promotion_metric="roc_auc_sql")
    base = prepare(settings, cfg, progress)
    with running_server(settings) as url:
        progress(f"server at {url}")
        return Simulation(url, settings, base, cfg, open_served(settings), progress).run()
