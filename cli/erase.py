"""``leadscore erase``: a lead's personal data out of every store (docs/privacy.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.options import open_store, progress
from scoring.settings import Settings


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
    store = open_store()
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
    progress(
        f"erased {summary.leads} leads: {summary.decisions} decisions, {summary.feedback} "
        f"feedback events, {summary.history_rows} rows of history files"
    )
