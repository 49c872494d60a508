"""``leadscore import-touches``: web-analytics exports joined to a CRM history folder.

A command of its own that writes a new history folder, rather than options of ``train``:
``train --data FOLDER`` and ``retrain --data FOLDER`` both read a history folder, so one
import feeds both (and every later retrain), and the joined ``touches.csv`` can be looked
at before anything trains on it. Flat exports (``train --mapping``) carry no touches.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from cli.options import progress


def import_touches(
    data: Annotated[
        Path,
        typer.Option(
            help="A CRM history folder (leads.csv, touches.csv, ...; docs/data-contract.md)."
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="Folder to write the history with the joined touches to.")
    ],
    metrika_visits: Annotated[
        Path | None, typer.Option(help="Yandex Metrika Logs API export of visits (ym:s:*, TSV).")
    ] = None,
    metrika_hits: Annotated[
        Path | None,
        typer.Option(help="The same counter's hits export (ym:pv:*, TSV): page views from it."),
    ] = None,
    ga4: Annotated[
        Path | None,
        typer.Option(help="GA4 BigQuery export (events_*): newline-delimited JSON or .parquet."),
    ] = None,
    join_key: Annotated[
        str, typer.Option(help="client_id, user_id or email_sha256 (docs/web-analytics.md).")
    ] = "client_id",
    mapping: Annotated[
        Path | None,
        typer.Option(help="Touch mapping YAML (pages, goals, events, channels, lead columns)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a non-empty --out.")] = False,
) -> None:
    """Join Metrika / GA4 touches (with their UTM tags) to a history's leads; write a new folder."""
    from training.webtouches import (
        join_touches,
        load_touch_mapping,
        read_ga4,
        read_history,
        read_metrika,
    )

    if metrika_visits is None and ga4 is None:
        raise typer.BadParameter("give --metrika-visits, --ga4 or both", param_hint="--ga4")
    if metrika_hits is not None and metrika_visits is None:
        raise typer.BadParameter(
            "hits need their visits export (goals and UTM tags come from it)",
            param_hint="--metrika-visits",
        )
    if out.exists() and any(out.iterdir()) and not force:
        raise typer.BadParameter(
            f"{out} is not empty (add --force to overwrite)", param_hint="--out"
        )
    if out.resolve() == data.resolve():
        raise typer.BadParameter(
            "must differ from --data: the CRM folder stays as it is", param_hint="--out"
        )
    touch_mapping = load_touch_mapping(mapping)
    history = read_history(data, touch_mapping)
    stats: Counter[str] = Counter()
    analytics = {}
    if metrika_visits is not None:
        analytics["metrika"] = read_metrika(metrika_visits, metrika_hits, touch_mapping, stats)
    if ga4 is not None:
        analytics["ga4"] = read_ga4(ga4, touch_mapping, stats)
    joined, report = join_touches(history, analytics, join_key, touch_mapping, stats)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("leads.csv", "feedback.csv", "outcomes.csv", "SNAPSHOT"):
        if (data / name).exists():
            shutil.copyfile(data / name, out / name)  # byte for byte: nothing re-typed
    joined.touches.to_csv(out / "touches.csv", index=False)
    for line in report.lines():
        progress(line)
    progress(f"wrote {out}: touches {len(joined.touches):,} (CRM {len(history.touches):,})")
