"""The ``leadscore`` application: every command, registered in one place.

``leadscore demo`` is the README's first command: synthetic CRM history → train →
register → promote → serve. The other commands are its steps, for data scientists.

A command is a function in the module of its group (:mod:`cli.models`,
:mod:`cli.report`, ...), registered below; the order here is the order of ``--help``.
"""

from __future__ import annotations

import typer

from cli import (
    erase,
    keys,
    models,
    report,
    rescore,
    rollups,
    score,
    serve,
    simulate,
    touches,
    webhooks,
)
from cli.errors import CommandGroup

app = typer.Typer(
    cls=CommandGroup,
    help="leadscore: calibrated, explainable lead scoring.",
    no_args_is_help=True,
)
app.add_typer(keys.app, name="keys")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(rollups.app, name="rollups")


@app.callback()
def _quiet_mlflow() -> None:
    """MLflow's INFO lines (creating tables, validating the input example) on every command
    bury the one line that says what happened; its warnings still show, and
    ``MLFLOW_LOGGING_LEVEL=INFO`` brings the rest back."""
    import logging
    import os

    level = os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow loads
    logging.getLogger("mlflow").setLevel(level.upper())  # in case it is loaded already


app.command()(models.generate)
app.command(name="import-touches")(touches.import_touches)
app.command(name="train")(models.train_cmd)
app.command()(models.retrain)
app.command()(simulate.simulate)
app.command()(rescore.rescore)
app.command()(score.score)
app.command(name="promote")(models.promote_cmd)
app.command(name="evaluate")(models.evaluate_cmd)
app.command()(serve.demo)
app.command()(models.benchmark)
app.command()(report.report)
app.command()(serve.serve)
app.command()(erase.erase)
app.command()(models.ablation)
