"""Report sections as CSV for Power BI and Tableau: one flat table per endpoint.

Both tools load a CSV with one header row and one value per cell directly; nested JSON
needs a transformation step in each. So every report endpoint's ``?format=csv`` answers
the section's *main table* — the rows a dashboard plots — with nested figures spread into
dotted columns (``reasons.no_budget.share``), one row per group:

funnel, rejections, sla
    The overall row (``dimension`` and ``group`` empty) and one row per group.
calibration
    One row per score band of each stage (``stage``, ``band``, ``n``, ``predicted``,
    ``observed``), then the service decisions (``stage`` = ``decision``).
drift
    One row per feature, the score first; the values the reference never saw in one
    ``new_values`` cell (``value=share;...``), so the columns do not depend on the data.
attribution
    Already long (tidy): one row per ``dimension, group, model`` with the credited
    ``mql, sql, won, revenue`` and ``revenue_share``.

Why one table per endpoint rather than one long ``section, metric, dimension, value``
file for the whole report: each endpoint already *is* one section, a wide table keeps
one lead group per row (what a BI bar chart or matrix binds to without a pivot), and
the column names are the JSON's own keys, documented once in the OpenAPI document.
The head of the JSON (period, notes, warnings) is not repeated on every row; a loader
that needs it reads the JSON.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def section_rows(section: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The flat rows of a report endpoint's JSON ``body`` (see the module's table)."""
    if section == "calibration":
        rows = [
            {"stage": stage, **{k: v for k, v in band.items()}}
            for stage, data in (body.get("stages") or {}).items()
            for band in data.get("bands", [])
        ]
        rows += [{"stage": "decision", **d} for d in body.get("by_decision") or []]
        return [flatten(r) for r in rows]
    if section == "drift":
        entries = [*([body["score"]] if body.get("score") else []), *body.get("features", [])]
        # new values are data (category names): one cell, so the columns stay the same
        return [flatten({**e, "new_values": _pairs(e.get("new_values"))}) for e in entries]
    if section == "attribution":
        return [flatten(r) for r in body.get("rows", [])]
    total = body.get("total")
    head = [{"dimension": None, "group": None, **total}] if isinstance(total, Mapping) else []
    return [flatten(r) for r in [*head, *body.get("rows", [])]]


def _pairs(values: Any) -> str | None:
    """``{"seo": 0.12, "x": 0.5}`` as ``seo=0.12;x=0.5`` (``None`` when there are none)."""
    if not isinstance(values, Mapping) or not values:
        return None
    return ";".join(f"{k}={v}" for k, v in values.items())


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested mapping as one level of dotted keys; a list of plain values as one
    ``;``-joined cell."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            out[name] = ";".join("" if v is None else str(v) for v in value)
        else:
            out[name] = value
    return out


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """RFC 4180 CSV with a header of every column any row has, in first-seen order;
    missing values are empty cells, booleans ``true``/``false``."""
    rows = list(rows)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buffer.getvalue()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A cell's text. Text (never a number) that a spreadsheet would run as a formula —
    a group name from a CRM such as ``=HYPERLINK(...)`` — gets a leading ``'`` (OWASP's
    CSV-injection advice), so opening the file in Excel runs nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return str(value)
