"""``leadscore rollups``: keep the report roll-ups current by hand.

``leadscore serve`` folds changed leads into the roll-ups every few seconds
(``LEADSCORE_ROLLUP_REFRESH_SECONDS``) and each report request folds in what is left.
Right after an upgrade that added the roll-ups (migration 0009), every lead of the log is
due: build them here first, before serving, so no request or scoring write waits for it.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from cli.errors import CommandGroup
from cli.options import open_store, progress

app = typer.Typer(
    cls=CommandGroup,
    help="The report roll-ups (per-lead summaries and per-day sums the reports read).",
    no_args_is_help=True,
)


@app.command("refresh")
def refresh(
    full: Annotated[
        bool | None,
        typer.Option(
            "--full/--incremental",
            help="Rebuild every roll-up from the log in one transaction, or recompute only "
            "the changed leads a chunk at a time (default: the full rebuild when most "
            "leads changed, as after an upgrade).",
        ),
    ] = None,
) -> None:
    """Fold every changed lead into the roll-ups; prints how many and how long it took."""
    from serving.store.rollups import refresh_rollups

    store = open_store()
    began = time.perf_counter()
    done = refresh_rollups(store.engine, full=full)
    progress(f"{done:,} lead(s) recomputed in {time.perf_counter() - began:.1f} s")
