"""What the ``leadscore`` commands share: their common options, the progress line, the store.

Options used by more than one command group live here so that ``--seed``, ``--data`` or
``--label-rules`` read the same everywhere.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scoring.settings import Settings

if TYPE_CHECKING:
    from serving.storage import Store

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


def progress(message: str) -> None:
    typer.echo(f"[{time.strftime('%H:%M:%S')}] {message}")


def open_store(settings: Settings | None = None) -> Store:
    """The serving store of these settings' home (created and migrated on first use)."""
    from serving.storage import Store, make_engine, upgrade

    settings = settings or Settings()
    settings.ensure_home()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    return Store(engine)
